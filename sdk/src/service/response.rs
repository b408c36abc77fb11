//! Checking a response before its body is read: status codes ([wire rule](crate::wire) R1.11), faults (R4.1-R4.3)
//! and bodies that are not XML (R4.4).

use quick_xml::events::Event;
use quick_xml::Reader;

use super::{MethodWire, RawResponse};
use crate::error::{Error, ErrorKind, Fault};

/// The kind of a method, as far as reading its response is concerned ([wire rule](crate::wire) R1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResponseKind {
    /// get: one object.
    Get,
    /// list: a list document.
    List,
    /// add: the created object, or nothing with 202 (R1.11).
    Add,
    /// update: the updated object.
    Update,
    /// remove: nothing is read.
    Remove,
    /// action: an `<action>` document, an error if it carries a `<fault>` (R4.3).
    Action,
}

pub(super) fn is_xml(content_type: Option<&str>) -> bool {
    match content_type {
        // No content type: judge by the body.
        None => true,
        Some(ct) => {
            let mime = ct.split(';').next().unwrap_or("").trim();
            mime.eq_ignore_ascii_case("application/xml") || mime.eq_ignore_ascii_case("text/xml")
        }
    }
}

/// Checks `raw` for method `M` and reads its output ([wire rule](crate::wire) R1.6, R1.11, R4.3, R4.4).
///
/// `base_path` is the API's path, for the hint of a 404 that is not the engine's.
pub(crate) fn check<M: MethodWire>(raw: RawResponse, base_path: &str) -> Result<M::Output, Error> {
    let status = raw.status;
    let xml = is_xml(raw.content_type.as_deref());
    if !(200..300).contains(&status) {
        // R4.4 [rec]: classify by status first, then attach what the body holds.
        // 401/403, 404 and 409 keep their kind; another status is a fault if the body is
        // one, else a response that is not what was expected (an HTML page, an empty body).
        let fault = if xml { parse_fault(&raw.body) } else { None };
        let wrong_path = status == 404
            && fault.is_none()
            && (M::RESPONSE == ResponseKind::List || (!xml && !raw.body.is_empty()));
        let err = match (Error::from_status(status, &raw.reason), fault) {
            (e, Some(f)) => e.fault(f),
            (e, None) if matches!(e.kind(), ErrorKind::Fault) => {
                Error::new(ErrorKind::UnexpectedResponse)
                    .status(status)
                    .response_body(raw.content_type.as_deref(), &raw.body)
            }
            (e, None) => e.response_body(raw.content_type.as_deref(), &raw.body),
        };
        // A collection always exists and the engine's 404 is XML or empty: a 404 of a list,
        // or with another document, is most likely from outside the API.
        if wrong_path {
            return Err(err.hint(wrong_path_hint(base_path)));
        }
        return Err(err);
    }
    let empty = raw.body.iter().all(u8::is_ascii_whitespace);
    match M::RESPONSE {
        // R1.6: nothing is read on success; R1.11: 202 with an empty body is fine.
        ResponseKind::Remove => return M::read(b""),
        // R1.11 [rec]: an add answered 202 without a body created nothing yet.
        ResponseKind::Add if empty && status == 202 => {
            return Err(Error::new(ErrorKind::Accepted)
                .status(status)
                .reason(&raw.reason));
        }
        // R1.11: an action answered 202 without a body continues in the background: an
        // action without output returns an empty document, one with an output cannot.
        ResponseKind::Action if empty && status == 202 => {
            if M::OUTPUT_TAG.is_empty() {
                return M::read(b"");
            }
            return Err(Error::new(ErrorKind::Accepted).status(status));
        }
        _ => {}
    }
    if !xml || empty {
        return Err(Error::with_message(
            ErrorKind::UnexpectedResponse,
            if empty {
                "the response has no body".to_owned()
            } else {
                "the response is not XML".to_owned()
            },
        )
        .status(status)
        .response_body(raw.content_type.as_deref(), &raw.body));
    }
    if M::RESPONSE == ResponseKind::Action {
        // R4.3: a fault in a 2xx action response is still an error.
        if let Some(f) = parse_fault(&raw.body) {
            return Err(Error::new(ErrorKind::Fault).status(status).fault(f));
        }
    }
    M::read(&raw.body).map_err(|e| match e.kind() {
        ErrorKind::Xml => e
            .status(status)
            .response_body(raw.content_type.as_deref(), &raw.body),
        _ => e.status(status),
    })
}

/// The hint of a 404 that names no object of the engine.
pub(crate) fn wrong_path_hint(base_path: &str) -> String {
    format!("is {base_path} the right path of the API (usually /ovirt-engine/api)?")
}

/// Reads the fault of an error or action document: a root `<fault>`, or an `<action>` with a
/// `<fault>` child ([wire rule](crate::wire) R4.3). `None` for any other document or bytes that are not XML.
pub fn parse_fault(body: &[u8]) -> Option<Fault> {
    let mut reader = Reader::from_reader(body);
    let mut buf = Vec::new();
    // Depth of the element being read; the fault is the root (depth 1) or a child of a root
    // `<action>` (depth 2).
    let mut depth = 0usize;
    let mut root_is_action = false;
    let mut fault_depth: Option<usize> = None;
    let mut field: Option<bool> = None; // Some(true) = reason, Some(false) = detail
    let mut fault = Fault::default();
    loop {
        let event = reader.read_event_into(&mut buf).ok()?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let is_empty = matches!(event, Event::Empty(_));
                depth += 1;
                let name = e.local_name();
                let name = name.as_ref();
                if depth == 1 {
                    match name {
                        b"fault" => fault_depth = Some(1),
                        b"action" => root_is_action = true,
                        _ => return None,
                    }
                } else if depth == 2 && root_is_action && name == b"fault" {
                    fault_depth = Some(2);
                } else if fault_depth.is_some_and(|d| depth == d + 1) {
                    field = match name {
                        b"reason" => Some(true),
                        b"detail" => Some(false),
                        _ => None,
                    };
                }
                if is_empty {
                    if fault_depth == Some(depth) {
                        return Some(fault);
                    }
                    depth -= 1;
                    field = None;
                }
            }
            Event::Text(t) => {
                if let Some(is_reason) = field {
                    let text = t.unescape().ok()?;
                    let slot = if is_reason {
                        &mut fault.reason
                    } else {
                        &mut fault.detail
                    };
                    slot.get_or_insert_with(String::new).push_str(&text);
                }
            }
            Event::CData(t) => {
                if let Some(is_reason) = field {
                    let text = String::from_utf8_lossy(&t).into_owned();
                    let slot = if is_reason {
                        &mut fault.reason
                    } else {
                        &mut fault.detail
                    };
                    slot.get_or_insert_with(String::new).push_str(&text);
                }
            }
            Event::End(_) => {
                if fault_depth == Some(depth) {
                    return Some(fault);
                }
                depth = depth.checked_sub(1)?;
                field = None;
                if depth == 0 {
                    return None;
                }
            }
            Event::Eof => return None,
            _ => {}
        }
        buf.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_fault_is_read() {
        // docs/wire.md R4.1 example.
        let f = parse_fault(
            b"<fault><reason>Incomplete parameters</reason><detail>Vm [name] required for add</detail></fault>",
        )
        .unwrap();
        assert_eq!(f.reason.as_deref(), Some("Incomplete parameters"));
        assert_eq!(f.detail.as_deref(), Some("Vm [name] required for add"));
    }

    #[test]
    fn fault_inside_action_is_read() {
        // docs/wire.md R3.10 / R4.3 example.
        let f = parse_fault(
            b"<?xml version='1.0'?><action><status>failed</status><fault><reason>Operation Failed</reason><detail>[Cannot start VM &amp; more]</detail></fault></action>",
        )
        .unwrap();
        assert_eq!(f.reason.as_deref(), Some("Operation Failed"));
        assert_eq!(f.detail.as_deref(), Some("[Cannot start VM & more]"));
    }

    #[test]
    fn documents_without_fault_give_none() {
        assert_eq!(
            parse_fault(b"<action><status>complete</status></action>"),
            None
        );
        assert_eq!(
            parse_fault(b"<vm><fault><reason>x</reason></fault></vm>"),
            None
        );
        assert_eq!(parse_fault(b"<html><body>Bad gateway</body></html>"), None);
        assert_eq!(parse_fault(b"not xml at all"), None);
        assert_eq!(parse_fault(b""), None);
        assert_eq!(parse_fault(b"<fault><reason>unterminated"), None);
    }

    #[test]
    fn nested_fault_members_are_not_taken_for_the_fault() {
        let f = parse_fault(
            b"<action><vm><fault><reason>inner</reason></fault></vm><fault><reason>outer</reason></fault></action>",
        )
        .unwrap();
        assert_eq!(f.reason.as_deref(), Some("outer"));
    }

    #[test]
    fn xml_content_types_are_recognised() {
        assert!(is_xml(Some("application/xml")));
        assert!(is_xml(Some("application/xml;charset=UTF-8")));
        assert!(is_xml(Some("Text/XML")));
        assert!(!is_xml(Some("text/html")));
        assert!(is_xml(None));
    }
}
