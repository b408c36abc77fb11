//! Links: references and list links in returned objects, and following them.
//!
//! An object the engine returns points at others in two ways ([wire rule](crate::wire) R3.6):
//!
//! * a **reference** to one object, a struct value carrying only `id` and `href`
//!   (`<cluster id="123" href="/ovirt-engine/api/clusters/123"/>` in a VM);
//! * a **list link**, `<link rel="nics" href="/ovirt-engine/api/vms/123/nics"/>`, read as a
//!   [`List`] with an `href` and no items.
//!
//! With the `follow` parameter (`vms_service.vm_service(id).get().follow("nics,cluster")`)
//! the engine inlines the linked data instead: the list then holds its items and the
//! reference all its attributes, and [`Link::is_link`] is false.
//!
//! [`Link`] tells the two apart; [`Connection::follow_link`] fetches either, taking the
//! field as it is (`&vm.nics`, `&vm.cluster`: [`Follow`]), and
//! [`Connection::follow_link_object`] (and the same methods of
//! [`blocking::Connection`](crate::blocking::Connection)) fetch what a link names (a `GET` of its `href`,
//! built on [`ServiceContext::follow_list`](crate::service::ServiceContext::follow_list)
//! and [`follow_object`](crate::service::ServiceContext::follow_object)). Navigation by
//! path is [`SystemService::service`](crate::services::SystemService::service).
//!
//! ```no_run
//! use ovirt::{Connection, Link};
//!
//! # async fn demo(connection: Connection) -> Result<(), ovirt::Error> {
//! let vm = connection.system_service().vms_service().vm_service("123").get().await?;
//! if vm.nics.is_link() {
//!     let nics = connection.follow_link(&vm.nics).await?; // Vec<Nic>
//!     println!("{} NICs", nics.len());
//! }
//! let cluster = connection.follow_link(&vm.cluster).await?; // Cluster
//! println!("cluster {:?}", cluster.name);
//! # Ok(())
//! # }
//! ```

use crate::error::{Error, ErrorKind};
use crate::service::{FollowList, FollowObject, MethodWire, Request, ServiceContext};
use crate::xml::{FromXml, XmlType};
use crate::{Connection, List};

/// A value that may be only a link to data on the engine: a [`List`] of a list link or
/// a reference (every generated struct; a `Box` or `Option` of one).
pub trait Link {
    /// Where the linked data can be fetched (`href`), if the engine said.
    fn href(&self) -> Option<&str>;

    /// `true` when the value is only a link: it has an `href` and no data was read with
    /// it (a list without items; a struct with nothing set but `href` and `id`). `false`
    /// for inlined data (`follow`) and for values without `href`.
    fn is_link(&self) -> bool;
}

impl<T> Link for List<T> {
    fn href(&self) -> Option<&str> {
        self.href.as_deref()
    }

    fn is_link(&self) -> bool {
        self.href.is_some() && self.items.is_empty()
    }
}

impl<T: Link> Link for Option<T> {
    fn href(&self) -> Option<&str> {
        self.as_ref().and_then(Link::href)
    }

    fn is_link(&self) -> bool {
        self.as_ref().is_some_and(Link::is_link)
    }
}

impl<T: Link> Link for Box<T> {
    fn href(&self) -> Option<&str> {
        (**self).href()
    }

    fn is_link(&self) -> bool {
        (**self).is_link()
    }
}

fn missing_href(what: &str) -> Error {
    Error::with_message(
        ErrorKind::InvalidRequest,
        format!("cannot follow a {what} without href"),
    )
}

/// What [`Connection::follow_link`] follows: a list link ([`List`]), a reference (every
/// generated struct), or the `Option<List<_>>` and `Option<Box<_>>` fields of returned
/// objects that hold them (`&vm.nics`, `&vm.cluster`). A list gives `Vec` of its items, a reference the
/// whole object.
pub trait Follow {
    /// The method marker of the `GET` of the `href`.
    type Method: MethodWire;

    /// The `GET` of what this names, on `ctx`'s transport. A value without `href` (or
    /// `None`) fails when sent, with [`ErrorKind::InvalidRequest`].
    fn follow_on(&self, ctx: ServiceContext) -> Request<Self::Method>;
}

impl<T: FromXml + XmlType + 'static> Follow for List<T> {
    type Method = FollowList<T>;

    fn follow_on(&self, ctx: ServiceContext) -> Request<FollowList<T>> {
        follow_list_at(ctx, self)
    }
}

impl<T: Link + FromXml + XmlType + 'static> Follow for T {
    type Method = FollowObject<T>;

    fn follow_on(&self, ctx: ServiceContext) -> Request<FollowObject<T>> {
        follow_object_at(ctx, self)
    }
}

fn not_set<M: MethodWire>(ctx: ServiceContext) -> Request<M> {
    ctx.request().set_body(Err(Error::with_message(
        ErrorKind::InvalidRequest,
        "cannot follow a link that is not set (None)",
    )))
}

impl<T: FromXml + XmlType + 'static> Follow for Option<List<T>> {
    type Method = FollowList<T>;

    fn follow_on(&self, ctx: ServiceContext) -> Request<FollowList<T>> {
        match self {
            Some(list) => follow_list_at(ctx, list),
            None => not_set(ctx),
        }
    }
}

impl<T: Link + FromXml + XmlType + 'static> Follow for Option<Box<T>> {
    type Method = FollowObject<T>;

    fn follow_on(&self, ctx: ServiceContext) -> Request<FollowObject<T>> {
        match self {
            Some(reference) => follow_object_at(ctx, &**reference),
            None => not_set(ctx),
        }
    }
}

fn follow_list_at<T: FromXml + XmlType + 'static>(
    ctx: ServiceContext,
    list: &List<T>,
) -> Request<FollowList<T>> {
    match list.href.as_deref() {
        Some(href) => ctx.follow_list(href),
        None => ctx.request().set_body(Err(missing_href("list link"))),
    }
}

fn follow_object_at<T: Link + FromXml + XmlType + 'static>(
    ctx: ServiceContext,
    reference: &T,
) -> Request<FollowObject<T>> {
    match reference.href() {
        Some(href) => ctx.follow_object(href),
        None => ctx.request().set_body(Err(missing_href("reference"))),
    }
}

impl Connection {
    /// A `GET` of what a link names: a list link (`&vm.nics`) gives its items, a reference
    /// (`&vm.cluster`) the whole object; the `Option` and `Box` of the fields are taken as
    /// they are (see [`Follow`]). The request may take per-call options (e.g.
    /// `.query("follow", "...")`); a link that is `None` or has no `href` fails when sent
    /// with [`ErrorKind::InvalidRequest`], one outside the API base path with
    /// [`ErrorKind::InvalidPath`].
    pub fn follow_link<L: Follow + ?Sized>(&self, link: &L) -> Request<L::Method> {
        link.follow_on(ServiceContext::root(self.transport()))
    }

    /// A `GET` of the object a reference names (`vm.cluster`), read as a `T` with all its
    /// attributes; [`Connection::follow_link`] does the same and takes the field as it is.
    pub fn follow_link_object<T: Link + FromXml + XmlType + 'static>(
        &self,
        reference: &T,
    ) -> Request<FollowObject<T>> {
        follow_object_at(ServiceContext::root(self.transport()), reference)
    }
}

impl crate::blocking::Connection {
    /// A `GET` of what a link names; wait for it with
    /// [`Wait::wait`](crate::blocking::Wait::wait) (see [`Connection::follow_link`]).
    pub fn follow_link<L: Follow + ?Sized>(&self, link: &L) -> Request<L::Method> {
        link.follow_on(self.root_context())
    }

    /// A `GET` of the object a reference names; wait for it with
    /// [`Wait::wait`](crate::blocking::Wait::wait) (see [`Connection::follow_link_object`]).
    pub fn follow_link_object<T: Link + FromXml + XmlType + 'static>(
        &self,
        reference: &T,
    ) -> Request<FollowObject<T>> {
        follow_object_at(self.root_context(), reference)
    }
}
