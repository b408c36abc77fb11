//! [`AsId`]: what a locator such as `vms_service.vm_service(...)` takes.

/// A value that names an object's id: a string (`&str`, `String`, `&String`), an
/// `Option` of one (`&vm.id`), or a returned object that has an id (`&vm`, `&vm.cluster`).
///
/// Locators take `impl AsId`, so no `as_deref().unwrap_or_default()` is needed:
///
/// ```no_run
/// # async fn demo(connection: ovirt::Connection) -> Result<(), ovirt::Error> {
/// let vms_service = connection.system_service().vms_service();
/// for vm in vms_service.list().await? {
///     let nics = vms_service.vm_service(&vm).nics_service().list().await?;
///     let same = vms_service.vm_service(&vm.id);
///     # let _ = (nics, same);
/// }
/// let by_id = vms_service.vm_service("123");
/// # let _ = by_id;
/// # Ok(())
/// # }
/// ```
///
/// A value without an id (`None`, an object whose `id` is not set) gives a service whose
/// requests fail when sent, with [`ErrorKind::InvalidRequest`](crate::error::ErrorKind)
/// naming the locator; nothing is sent.
pub trait AsId {
    /// The id, if there is one.
    fn as_id(&self) -> Option<&str>;
}

impl AsId for str {
    fn as_id(&self) -> Option<&str> {
        Some(self)
    }
}

impl AsId for String {
    fn as_id(&self) -> Option<&str> {
        Some(self)
    }
}

impl<T: AsId + ?Sized> AsId for &T {
    fn as_id(&self) -> Option<&str> {
        (**self).as_id()
    }
}

impl<T: AsId + ?Sized> AsId for Box<T> {
    fn as_id(&self) -> Option<&str> {
        (**self).as_id()
    }
}

impl<T: AsId> AsId for Option<T> {
    fn as_id(&self) -> Option<&str> {
        self.as_ref().and_then(AsId::as_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(v: impl AsId) -> Option<String> {
        v.as_id().map(str::to_owned)
    }

    #[test]
    fn strings_options_and_boxes_name_ids() {
        let s = String::from("a");
        let o = Some(String::from("b"));
        let none: Option<String> = None;
        assert_eq!(id("x"), Some("x".into()));
        assert_eq!(id(&s), Some("a".into()));
        assert_eq!(id(s.clone()), Some("a".into()));
        assert_eq!(id(&o), Some("b".into()));
        assert_eq!(id(o.as_deref()), Some("b".into()));
        assert_eq!(id(&none), None);
        assert_eq!(id(Box::new("c")), Some("c".into()));
    }
}
