//! Reading a list document incrementally, as its bytes arrive.

use std::marker::PhantomData;

use quick_xml::events::Event;
use quick_xml::Reader;

use super::{FromXml, XmlError, XmlReader, XmlType};

/// Reads the items of a list document (`<vms><vm/>...</vms>`, [wire rule](crate::wire) R1.6) from its bytes
/// as they arrive, for example from the chunks of a response body: each item is read as soon
/// as its end tag is in, and the bytes before it are dropped, so the whole body is never held
/// in memory.
///
/// Items are read by the same generated readers as [`from_str_list`](super::from_str_list);
/// the children of the list that are not items (`<actions>`, `<size>`, ...) are skipped, as
/// [`XmlReader::list`](super::XmlReader::list) skips them (R3.5).
///
/// ```
/// use ovirt::types::Vm;
/// use ovirt::xml::ListReader;
/// let mut reader = ListReader::<Vm>::new();
/// let mut names = Vec::new();
/// for chunk in [&b"<vms><vm id=\"1\"><name>a</na"[..], b"me></vm><vm id=\"2\"/>", b"</vms>"] {
///     for vm in reader.push(chunk).unwrap() {
///         names.push(vm.name);
///     }
/// }
/// reader.finish().unwrap();
/// assert_eq!(names, [Some("a".to_string()), None]);
/// ```
pub struct ListReader<T> {
    /// Bytes not yet consumed: the rest of an unfinished item (or of the root's start tag).
    buf: Vec<u8>,
    /// Bytes of the document dropped (for error positions: `buf[i]` for `i` past the root's
    /// start tag is byte `dropped + i` of the document).
    dropped: u64,
    /// Where the root's start tag is in `buf`. It is kept there while items are read, so the
    /// tokenizer sees the root open when it meets the root's end tag.
    root: (usize, usize),
    /// The root's tag as found (`list_tag` or a spelling the spec accepts for it).
    root_tag: Vec<u8>,
    /// The root element expected (`vms`).
    list_tag: &'static str,
    /// The item element (`vm`); every other child but `<actions>`, `<link>`, ... is an item
    /// too (R3.5).
    item_tag: &'static str,
    state: State,
    item: PhantomData<fn() -> T>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the root start tag.
    Prolog,
    /// Inside the root: `buf` starts between two children.
    Items,
    /// After the root's end tag (or an empty root).
    Done,
}

impl<T> std::fmt::Debug for ListReader<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListReader")
            .field("buffered", &self.buf.len())
            .field("state", &self.state)
            .finish()
    }
}

impl<T: FromXml + XmlType> Default for ListReader<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: FromXml + XmlType> ListReader<T> {
    /// A reader expecting a document whose root is `T::LIST_TAG` (`vms`) with items tagged
    /// `T::TAG` (`vm`).
    pub fn new() -> Self {
        Self::for_tags(T::LIST_TAG, T::TAG)
    }
}

impl<T: FromXml> ListReader<T> {
    /// A reader expecting a document whose root is `list_tag` (or a spelling the spec
    /// accepts for it) with items tagged `item_tag`: the tags a list method's spec gives,
    /// which may differ from the item type's own (`<bricks><brick>` holds `GlusterBrick`s).
    pub fn for_tags(list_tag: &'static str, item_tag: &'static str) -> Self {
        ListReader {
            buf: Vec::new(),
            dropped: 0,
            root: (0, 0),
            root_tag: Vec::new(),
            list_tag,
            item_tag,
            state: State::Prolog,
            item: PhantomData,
        }
    }

    /// Takes the next bytes of the document and returns the items they complete, in
    /// document order. An error is final: the document is malformed.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<T>, XmlError> {
        let mut items = Vec::new();
        self.push_into(bytes, &mut items)?;
        Ok(items)
    }

    /// Like [`push`](Self::push), appending the items to `items`; on an error, the items
    /// completed before the malformed part are there.
    pub fn push_into(&mut self, bytes: &[u8], items: &mut Vec<T>) -> Result<(), XmlError> {
        self.buf.extend_from_slice(bytes);
        let consumed = self.scan(items, false)?;
        self.drop_consumed(consumed);
        Ok(())
    }

    /// Drops the bytes before `consumed`, keeping the root's start tag while items are read.
    fn drop_consumed(&mut self, consumed: usize) {
        if self.state != State::Items {
            self.buf.drain(..consumed);
            self.dropped += consumed as u64;
            return;
        }
        let (start, end) = self.root;
        if consumed > end {
            self.buf.drain(end..consumed);
            self.dropped += (consumed - end) as u64;
        }
        if start > 0 {
            self.buf.drain(..start);
            self.dropped += start as u64;
            self.root = (0, end - start);
        }
    }

    /// Ends the document: an error if it stopped before the root's end tag or has more than
    /// white space, comments or processing instructions after it.
    pub fn finish(mut self) -> Result<(), XmlError> {
        let mut items = Vec::new();
        self.scan(&mut items, true)?;
        if !items.is_empty() {
            // `push` reads every complete item, so none can be left at the end.
            return Err(self.error("unread items at the end of the document", 0));
        }
        if self.state != State::Done {
            return Err(self.error(
                format!("document ends inside <{}>", self.list_tag),
                self.buf.len(),
            ));
        }
        Ok(())
    }

    fn error(&self, message: impl Into<String>, at: usize) -> XmlError {
        XmlError::new(message, self.dropped + at as u64)
    }

    /// Reads what `buf` holds; returns how many bytes are done with. Without `last`, an
    /// error of the tokenizer is taken for bytes still to come and scanning stops there.
    fn scan(&mut self, items: &mut Vec<T>, last: bool) -> Result<usize, XmlError> {
        let buf = std::mem::take(&mut self.buf);
        let result = self.scan_buf(&buf, items, last);
        self.buf = buf;
        result
    }

    fn scan_buf(&mut self, buf: &[u8], items: &mut Vec<T>, last: bool) -> Result<usize, XmlError> {
        let mut reader = Reader::from_reader(buf);
        let cfg = reader.config_mut();
        cfg.trim_text(false);
        cfg.expand_empty_elements = false;
        // Scanning starts between children, so the root's end tag has no start here; the
        // item readers check the names inside items.
        cfg.check_end_names = false;
        // While items are read, `buf` starts with the root's start tag (read again here).
        let mut root_pending = self.state == State::Items;
        let mut consumed = if root_pending { self.root.1 } else { 0 };
        // Depth below the root: 0 between children; start offset of the child being read.
        let mut depth = 0usize;
        let mut child_start = 0usize;
        loop {
            let before = reader.buffer_position() as usize;
            let event = match reader.read_event() {
                Ok(e) => e,
                Err(e) if last => return Err(self.error(e.to_string(), before)),
                Err(_) => return Ok(consumed),
            };
            let after = reader.buffer_position() as usize;
            if root_pending {
                // The root's start tag, already checked; anything before it was dropped.
                root_pending = false;
                if matches!(event, Event::Start(_)) {
                    continue;
                }
                return Err(self.error("the list reader lost its place", before));
            }
            match (self.state, event) {
                (_, Event::Eof) => {
                    return Ok(if depth == 0 { after } else { consumed });
                }
                (State::Prolog, Event::Start(s)) => {
                    self.check_root(s.name().into_inner(), before)?;
                    self.root = (before, after);
                    self.state = State::Items;
                    consumed = after;
                }
                (State::Prolog, Event::Empty(s)) => {
                    self.check_root(s.name().into_inner(), before)?;
                    self.state = State::Done;
                    consumed = after;
                }
                (State::Prolog, Event::Text(t)) if !t.iter().all(u8::is_ascii_whitespace) => {
                    return Err(self.error("text before the root element", before));
                }
                (State::Prolog, Event::End(_) | Event::CData(_)) => {
                    return Err(self.error("unexpected content before the root element", before));
                }
                (State::Items, Event::Start(_)) => {
                    if depth == 0 {
                        child_start = before;
                    }
                    depth += 1;
                }
                (State::Items, Event::Empty(_)) if depth == 0 => {
                    self.read_item(buf, before, after, items)?;
                    consumed = after;
                }
                (State::Items, Event::End(e)) => {
                    if depth == 0 {
                        if e.name().into_inner() != self.root_tag {
                            return Err(self.error(
                                format!(
                                    "expected </{}>, found </{}>",
                                    String::from_utf8_lossy(&self.root_tag),
                                    String::from_utf8_lossy(e.name().into_inner())
                                ),
                                before,
                            ));
                        }
                        self.state = State::Done;
                        consumed = after;
                    } else {
                        depth -= 1;
                        if depth == 0 {
                            self.read_item(buf, child_start, after, items)?;
                            consumed = after;
                        }
                    }
                }
                (State::Done, Event::Start(_) | Event::Empty(_)) => {
                    return Err(self.error("content after the root element", before));
                }
                (State::Done, Event::Text(t)) if !t.iter().all(u8::is_ascii_whitespace) => {
                    return Err(self.error("text after the root element", before));
                }
                (State::Done, Event::End(_) | Event::CData(_)) => {
                    return Err(self.error("content after the root element", before));
                }
                // Text, comments, CDATA between children, declarations, processing
                // instructions: nothing to read.
                _ => {
                    if depth == 0 {
                        consumed = after;
                    }
                }
            }
        }
    }

    fn check_root(&mut self, name: &[u8], at: usize) -> Result<(), XmlError> {
        if super::reader::root_matches(self.list_tag, name) {
            self.root_tag = name.to_vec();
            return Ok(());
        }
        Err(self.error(
            format!(
                "expected root element <{}>, found <{}>",
                self.list_tag,
                String::from_utf8_lossy(name)
            ),
            at,
        ))
    }

    /// Reads the child at `buf[start..end]` if it is an item (as [`XmlReader::list`]
    /// decides: every child but `<actions>`, `<link>`, `<size>`, ...); skips it otherwise
    /// (R3.5).
    fn read_item(
        &self,
        buf: &[u8],
        start: usize,
        end: usize,
        items: &mut Vec<T>,
    ) -> Result<(), XmlError> {
        let bytes = &buf[start..end];
        let text = std::str::from_utf8(bytes)
            .map_err(|e| self.error(format!("not UTF-8: {e}"), start + e.valid_up_to()))?;
        let name_end = 1 + bytes[1..]
            .iter()
            .position(|&c| c == b'>' || c == b'/' || c.is_ascii_whitespace())
            .unwrap_or(bytes.len() - 1);
        let tag = &text[1..name_end];
        if !super::reader::is_item(tag.as_bytes(), self.item_tag.as_bytes()) {
            return Ok(());
        }
        let item = XmlReader::new(text)
            .item(tag)
            .map_err(|e| self.error(e.message().to_string(), start + e.position() as usize))?;
        items.extend(item);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Nic, Vm};

    fn read_in_pieces(doc: &[u8], piece: usize) -> Result<Vec<Vm>, XmlError> {
        let mut reader = ListReader::<Vm>::new();
        let mut all = Vec::new();
        for chunk in doc.chunks(piece.max(1)) {
            all.extend(reader.push(chunk)?);
        }
        reader.finish()?;
        Ok(all)
    }

    const DOC: &str = "<?xml version=\"1.0\"?>\n<vms>\n  <vm id=\"1\" href=\"/vms/1\"><name>a &amp; b</name>\
        <cluster id=\"c\"><name>x</name></cluster><nics><nic id=\"n\"/></nics></vm>\n  <!-- note -->\
        <actions><link rel=\"start\" href=\"/vms/9/start\"/></actions><vm id='2'/>\n<vm id=\"3\"><description><![CDATA[<x>]]></description></vm></vms>\n";

    #[test]
    fn items_read_in_pieces_of_any_size_equal_the_whole_document_read() {
        let whole: Vec<Vm> = super::super::from_str_list(DOC).unwrap();
        assert_eq!(whole.len(), 3);
        for piece in 1..DOC.len() + 1 {
            assert_eq!(
                read_in_pieces(DOC.as_bytes(), piece).unwrap(),
                whole,
                "{piece}"
            );
        }
    }

    #[test]
    fn items_come_out_as_soon_as_their_end_tag_is_in_and_the_buffer_shrinks() {
        let mut reader = ListReader::<Vm>::new();
        assert!(reader
            .push(b"<vms><vm id=\"1\"><name>a</name>")
            .unwrap()
            .is_empty());
        let got = reader.push(b"</vm><vm id=\"2\">").unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].id.as_deref(), Some("1"));
        assert_eq!(reader.buf, b"<vms><vm id=\"2\">");
        assert_eq!(reader.push(b"</vm></vms>").unwrap().len(), 1);
        assert!(reader.buf.is_empty());
        reader.finish().unwrap();
    }

    #[test]
    fn an_empty_list_has_no_items() {
        assert!(read_in_pieces(b"<vms/>", 2).unwrap().is_empty());
        assert!(read_in_pieces(b"<vms></vms>", 3).unwrap().is_empty());
    }

    #[test]
    fn malformed_documents_are_errors_never_items() {
        for doc in [
            &b"<nics><nic/></nics>"[..],
            b"<vms><vm id=\"1\">",
            b"<vms><vm id=\"1\"></vm>",
            b"",
            b"text<vms/>",
            b"<vms></vms><vm/>",
            b"<vms><vm><name>a</nom></vm></vms>",
            b"<vms></vm>",
            b"<vms><vm id=1/></vms>",
            b"<vms><vm><name>\xff</name></vm></vms>",
        ] {
            for piece in [1, 3, 1000] {
                assert!(
                    read_in_pieces(doc, piece).is_err(),
                    "{doc:?} in pieces of {piece}"
                );
            }
        }
    }

    #[test]
    fn error_positions_count_bytes_already_dropped() {
        let mut reader = ListReader::<Vm>::new();
        reader.push(b"<vms><vm id=\"1\"/>").unwrap();
        let e = reader.push(b"<vm id=\"2\" id=\"3\"/></vms>").unwrap_err();
        assert!(e.message().contains("appears twice"), "{e}");
        assert_eq!(e.position(), 17);
    }

    #[test]
    fn other_item_types_read_their_own_list() {
        let mut reader = ListReader::<Nic>::new();
        let nics = reader
            .push(b"<nics><nic id=\"a\"><mac><address>m</address></mac></nic></nics>")
            .unwrap();
        reader.finish().unwrap();
        assert_eq!(nics[0].mac.as_ref().unwrap().address.as_deref(), Some("m"));
    }

    #[test]
    fn a_reader_for_the_tags_of_a_method_reads_that_root_and_item() {
        let mut reader = ListReader::<Vm>::for_tags("things", "thing");
        let got = reader
            .push(b"<things><thing id=\"1\"><name>a</name></thing><actions/><thing id=\"2\"/></things>")
            .unwrap();
        reader.finish().unwrap();
        let ids: Vec<_> = got.iter().map(|v| v.id.as_deref()).collect();
        assert_eq!(ids, [Some("1"), Some("2")]);
        let e = ListReader::<Vm>::for_tags("things", "thing")
            .push(b"<vms><vm/></vms>")
            .unwrap_err();
        assert!(
            e.message().contains("expected root element <things>"),
            "{e}"
        );
    }

    #[test]
    fn items_before_a_malformed_part_are_kept_by_push_into() {
        let mut reader = ListReader::<Vm>::new();
        let mut items = Vec::new();
        let e = reader
            .push_into(
                b"<vms><vm id=\"1\"/><vm id=\"2\"><name>b</nom></vm>",
                &mut items,
            )
            .unwrap_err();
        assert!(e.message().contains("nom"), "{e}");
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].id.as_deref(), Some("1"));
    }

    #[test]
    fn mutated_documents_never_panic_and_agree_with_the_whole_reader_when_both_succeed() {
        // A fixed linear congruential generator: the same trials on every run.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |bound: usize| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 33) as usize) % bound.max(1)
        };
        let alphabet = b"<>/=\"'&;! ?[]-vmsidx\xff\xc3a";
        for _ in 0..3000 {
            let mut doc = DOC.as_bytes().to_vec();
            for _ in 0..1 + next(3) {
                let at = next(doc.len());
                match next(3) {
                    0 => doc[at] = alphabet[next(alphabet.len())],
                    1 => {
                        doc.remove(at);
                    }
                    _ => doc.insert(at, alphabet[next(alphabet.len())]),
                }
            }
            let streamed = read_in_pieces(&doc, 1 + next(40));
            let whole = std::str::from_utf8(&doc)
                .ok()
                .and_then(|t| super::super::from_str_list::<Vm>(t).ok());
            if let (Ok(streamed), Some(whole)) = (streamed, whole) {
                assert_eq!(streamed, whole, "{}", String::from_utf8_lossy(&doc));
            }
        }
    }
}
