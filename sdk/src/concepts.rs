//! The ideas of the oVirt API that many methods share, and how to use them from Rust.
//!
//! Every generated method documents its own parameters (type, mandatory or optional,
//! input or output, where it travels); this page explains the ones that recur.
//!
//! # Search
//!
//! Most list methods take `search`: a query in the engine's own search language, the same
//! one its web console's search bar uses. A query is one or more conditions
//! `property operator value` (operators `=`, `!=`, `<`, `>`, `<=`, `>=`), joined with
//! `and` / `or`; `*` in a value matches any text; `sortby property asc|desc` orders the
//! result; `page N` takes one page of it. Properties are those of the listed objects
//! (`name`, `status`, `cluster`, `host`, `tag`, `description`, ...). The text is sent as it
//! is written; the SDK form-encodes it.
//!
//! * `max` limits how many objects the engine returns (the first ones after sorting).
//! * `case_sensitive(false)` makes values match whatever their case (the default is
//!   case-sensitive matching).
//! * `filter(true)` (on methods that have it) asks for the objects this user has
//!   permissions on, as a user without administrator rights sees them.
//!
//! ```no_run
//! # async fn f(connection: &ovirt::Connection) -> Result<(), ovirt::Error> {
//! let vms_service = connection.system_service().vms_service();
//! let running_web = vms_service
//!     .list()
//!     .search("name=web* and status=up sortby name asc")
//!     .case_sensitive(false)
//!     .max(20)
//!     .await?;
//! # let _ = running_web;
//! # Ok(())
//! # }
//! ```
//!
//! # Long lists
//!
//! `.await` (or `send`) reads a list whole: the body, then every object, all in memory at
//! once. [`stream`](crate::service::Request::stream), on the request of any list method,
//! reads the same list (same parameters, same order) item by item as the body arrives,
//! each object handed out as soon as its end tag is in and the bytes before it dropped, so
//! memory stays bounded however long the list. An error (a 404, a malformed document, a
//! connection lost midway) is the last item. Measured in `BENCHMARKS.md` on a list of
//! 100,000 VMs (a 101 MiB document): 7.4 MiB peak resident memory with `stream()`, 518 MiB
//! read whole.
//!
//! ```no_run
//! # async fn f(connection: &ovirt::Connection) -> Result<(), ovirt::Error> {
//! let mut vms = connection.system_service().vms_service().list().search("status=down").stream();
//! let mut down = 0;
//! while let Some(vm) = vms.next().await {
//!     let _vm = vm?;
//!     down += 1;
//! }
//! println!("{down} VMs are down");
//! # Ok(())
//! # }
//! ```
//!
//! With the [`blocking`](crate::blocking) facade, `.stream().wait()` is an iterator of the
//! same items.
//!
//! # Follow
//!
//! An object comes with its references as bare links: `vm.cluster` holds only an id and
//! an href, and a list member such as `vm.nics` only the href of the list (see
//! [Links](#links)). `follow` asks the engine to put the referenced objects inline in the
//! same answer, which saves one request per reference: a comma-separated list of member
//! paths, in model names, where a dot goes one level deeper
//! (`disk_attachments.disk,nics,cluster`).
//!
//! ```no_run
//! # async fn f(connection: &ovirt::Connection) -> Result<(), ovirt::Error> {
//! let vms = connection
//!     .system_service()
//!     .vms_service()
//!     .list()
//!     .follow("disk_attachments.disk,nics")
//!     .await?;
//! for vm in &vms {
//!     let nics = vm.nics.as_ref().map_or(0, |n| n.len());
//!     println!("{:?}: {nics} NICs", vm.name);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! With pipelining, sending one request per VM (as in the crate's quick start) is often as
//! fast and keeps each answer small; `follow` is the choice when one answer is wanted.
//!
//! # All content
//!
//! Some attributes are expensive for the engine to compute and are left out of answers
//! unless asked for (for a VM, for example, its full console and initialization
//! settings). `all_content(true)`, on the get and list methods of VMs, hosts, templates,
//! disks, snapshots and a few others, asks for every attribute.
//!
//! # Async actions
//!
//! Many updates, removes and actions (start, migrate, copy, ...) set work going that the
//! engine carries on after it answers. Their `async` parameter (`r#async(..)`, or
//! `async_(..)`, because `async` is a Rust keyword) chooses whether the answer waits for
//! that work: `async_(false)` asks the engine to wait, `async_(true)` to answer at once.
//! An action's answer is an [`Action`](crate::types::Action) whose `status` says where the
//! work stands and whose `job` names the job that tracks it. Either way, the state of the
//! object changes later: read it again until it arrives, for example
//! `vm_service.get()` until `vm.status` is [`VmStatus::Up`](crate::types::VmStatus::Up)
//! after a `start`, or follow the job (next section).
//!
//! # Correlation ids
//!
//! Any request may carry a `correlation_id` query parameter: a text of your choice that
//! the engine attaches to the jobs and events the request causes. Set it with
//! [`query`](crate::service::Request::query), then find the jobs by searching for it, to
//! learn when the work is finished:
//!
//! ```no_run
//! # async fn f(connection: &ovirt::Connection, vm_id: &str) -> Result<(), ovirt::Error> {
//! let system = connection.system_service();
//! system
//!     .vms_service()
//!     .vm_service(vm_id)
//!     .start()
//!     .query("correlation_id", "start-web1-42")
//!     .await?;
//! let jobs = system
//!     .jobs_service()
//!     .list()
//!     .search("correlation_id=start-web1-42")
//!     .await?;
//! let finished = jobs.iter().all(|j| j.end_time.is_some());
//! # let _ = finished;
//! # Ok(())
//! # }
//! ```
//!
//! [`Event`](crate::types::Event)s carry the same id in `correlation_id`.
//!
//! # Links
//!
//! Objects point at each other in two ways. A single reference (`vm.cluster`,
//! `disk_attachment.disk`) is an object with only its `id` and `href` set, unless it was
//! followed; pass it (or its id) to a locator, `clusters_service().cluster_service(&vm.cluster)`,
//! or read it whole with [`Connection::follow_link`](crate::Connection::follow_link). A list
//! member (`vm.nics`, `vm.disk_attachments`) is a [`List`](crate::List): its `href` says
//! where the list lives and its items are empty until followed; `follow_link` reads it.
//! The service of any `href` is found with
//! [`SystemService::service_for_href`](crate::services::SystemService::service_for_href).
//!
//! # Names that are Rust keywords
//!
//! A few model names are Rust keywords: the field `type` (on `bios`, `disk`, `host`,
//! `nic`, ...), the parameter `async`, the methods `move` (of disks) and others. They
//! are written as raw identifiers: `bios.r#type`, `.r#async(true)`, `disk_service.r#move()`.
//! Setters of such names also have a plain spelling with a trailing `_`: `.type_(..)` on a
//! struct, `.async_(..)` on a request. Methods whose names clash with methods every
//! service has get a trailing `_` instead (`vm_service.clone_()`).
//!
//! # Enum values
//!
//! Enum variants are the model's values in CamelCase, with `_` kept between two numbers
//! (`Architecture::X86_64`, `NfsVersion::V4_2`). A value the SDK does not know
//! (from a newer engine) is kept as text in the `Unrecognized` variant, and
//! [`as_str`](crate::types::VmStatus::as_str) gives the text on the wire.
