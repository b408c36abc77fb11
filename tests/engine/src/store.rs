//! The engine's objects: one generic store of collections, each a path pattern, the
//! names of its elements and its objects as XML trees ([`Node`]).
//!
//! Every document that enters the store is written by the SDK's generated writer of the
//! collection's type (seeded objects, in `render.rs`) or read and written back by its
//! reader and writer (request bodies, the `canon` of its [`Spec`]), and every document it
//! sends goes through `canon` too, so it holds what the model says that type holds and
//! nothing else. The table [`SPECS`] is the whole list of
//! collections: adding one is one entry there.
//!
//! Requests are answered as the engine answers them (docs/wire.md R1.11, R4.2): add is 201
//! with `Location` and the created object, get/list/update 200, remove 200 with a
//! completed `<action>` (202 with no body when asked to be asynchronous), missing objects
//! 404 with an empty body, missing mandatory values 400 and names in use 409 with a
//! `<fault>`.

use bytes::Bytes;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use crate::actions::{self, Clock, Ctx, Pending};
use crate::imageio::Hub;
use crate::inventory::{self, Inventory};
use crate::node::Node;
use crate::render::{self, API_PATH};
use crate::search;
use crate::transfers;
use ovirt::types;
use ovirt::xml::{FromXml, ToXml, XmlType};

/// Reads a document with the SDK's reader of `T` and writes it back with its writer.
fn canon<T: FromXml + ToXml + XmlType>(text: &str) -> Result<String, String> {
    let value: T = ovirt::xml::from_str(text).map_err(|e| e.to_string())?;
    Ok(ovirt::xml::to_string(&value))
}

/// What the engine knows of one kind of collection.
pub(crate) struct Spec {
    /// The URL segment (`vms`, `diskattachments`).
    pub(crate) segment: &'static str,
    /// The segment of the collection whose objects hold this one (`vms` for `nics`).
    pub(crate) parent: Option<&'static str>,
    /// Element of a list (`vms`), also the member name in the parent (R3.2, R3.6).
    pub(crate) list_tag: &'static str,
    /// The type name used in fault details (`Vm`).
    pub(crate) label: &'static str,
    /// Code in the ids of new objects.
    code: u32,
    /// The SDK's reader and writer of the type.
    pub(crate) canon: fn(&str) -> Result<String, String>,
    /// Values an add must carry: `name`, `cluster.id|name` (an id or a name).
    required: &'static [&'static str],
    /// References resolved on add and update: (element path, collection segment).
    refs: &'static [(&'static str, &'static str)],
    /// The member whose value must be unique, and the reference scoping it (`""`: the
    /// whole collection).
    unique: Option<(&'static str, &'static str)>,
    /// Fields the search language knows (besides `id`).
    pub(crate) fields: &'static [&'static str],
    /// Members sent only with `all_content=true`.
    heavy: &'static [&'static str],
    /// Members never stored (secrets sent on add).
    secret: &'static [&'static str],
    /// Adding attaches an existing object of the top collection of the same segment
    /// (named by id or name), keeping its id: a data center's storage domains, a VM's tags.
    pub(crate) attached: bool,
}

const BASE: Spec = Spec {
    segment: "",
    parent: None,
    list_tag: "",
    label: "",
    code: 0,
    canon: canon::<types::Vm>,
    required: &[],
    refs: &[],
    unique: None,
    fields: &["name", "description"],
    heavy: &[],
    secret: &[],
    attached: false,
};

const NAMED: Option<(&str, &str)> = Some(("name", ""));

/// Every collection the engine serves.
pub(crate) static SPECS: &[Spec] = &[
    Spec {
        segment: "datacenters",
        list_tag: "data_centers",
        label: "DataCenter",
        code: 1,
        canon: canon::<types::DataCenter>,
        required: &["name"],
        unique: NAMED,
        fields: &["name", "description", "status", "local"],
        ..BASE
    },
    Spec {
        segment: "clusters",
        list_tag: "clusters",
        label: "Cluster",
        code: 2,
        canon: canon::<types::Cluster>,
        required: &["name", "data_center.id|name"],
        refs: &[("data_center", "datacenters")],
        unique: NAMED,
        fields: &["name", "description", "datacenter"],
        ..BASE
    },
    Spec {
        segment: "hosts",
        list_tag: "hosts",
        label: "Host",
        code: 3,
        canon: canon::<types::Host>,
        required: &["name", "address"],
        refs: &[("cluster", "clusters")],
        unique: NAMED,
        fields: &["name", "description", "status", "address", "cluster"],
        heavy: &["hosted_engine"],
        secret: &["root_password"],
        ..BASE
    },
    Spec {
        segment: "vms",
        list_tag: "vms",
        label: "Vm",
        code: 4,
        canon: canon::<types::Vm>,
        required: &["name", "cluster.id|name"],
        refs: &[
            ("cluster", "clusters"),
            ("template", "templates"),
            ("host", "hosts"),
        ],
        unique: NAMED,
        fields: &[
            "name",
            "description",
            "status",
            "cluster",
            "host",
            "template",
            "memory",
        ],
        heavy: &["initialization"],
        ..BASE
    },
    Spec {
        segment: "templates",
        list_tag: "templates",
        label: "Template",
        code: 10,
        canon: canon::<types::Template>,
        required: &["name", "vm.id|name"],
        refs: &[("vm", "vms"), ("cluster", "clusters")],
        unique: NAMED,
        fields: &["name", "description", "status", "cluster"],
        ..BASE
    },
    Spec {
        segment: "disks",
        list_tag: "disks",
        label: "Disk",
        code: 5,
        canon: canon::<types::Disk>,
        required: &[
            "provisioned_size",
            "format",
            "storage_domains.storage_domain.id|name",
        ],
        refs: &[("storage_domains.storage_domain", "storagedomains")],
        fields: &[
            "name",
            "alias",
            "description",
            "status",
            "format",
            "provisioned_size",
        ],
        ..BASE
    },
    Spec {
        segment: "imagetransfers",
        list_tag: "image_transfers",
        label: "ImageTransfer",
        code: 20,
        canon: canon::<types::ImageTransfer>,
        refs: &[("disk", "disks"), ("host", "hosts")],
        fields: &["phase", "direction", "disk"],
        ..BASE
    },
    Spec {
        segment: "storagedomains",
        list_tag: "storage_domains",
        label: "StorageDomain",
        code: 11,
        canon: canon::<types::StorageDomain>,
        required: &["name", "type", "host.id|name"],
        refs: &[("host", "hosts")],
        unique: NAMED,
        fields: &["name", "description", "status", "type"],
        ..BASE
    },
    Spec {
        segment: "networks",
        list_tag: "networks",
        label: "Network",
        code: 12,
        canon: canon::<types::Network>,
        required: &["name", "data_center.id|name"],
        refs: &[("data_center", "datacenters")],
        unique: Some(("name", "data_center")),
        fields: &["name", "description", "datacenter"],
        ..BASE
    },
    Spec {
        segment: "vnicprofiles",
        list_tag: "vnic_profiles",
        label: "VnicProfile",
        code: 13,
        canon: canon::<types::VnicProfile>,
        required: &["name", "network.id"],
        refs: &[("network", "networks")],
        unique: Some(("name", "network")),
        fields: &["name", "description", "network"],
        ..BASE
    },
    Spec {
        segment: "users",
        list_tag: "users",
        label: "User",
        code: 9,
        canon: canon::<types::User>,
        required: &["user_name", "domain.id|name"],
        unique: Some(("user_name", "")),
        fields: &["name", "user_name", "usrname", "last_name", "email"],
        secret: &["password"],
        ..BASE
    },
    Spec {
        segment: "tags",
        list_tag: "tags",
        label: "Tag",
        code: 14,
        canon: canon::<types::Tag>,
        required: &["name"],
        refs: &[("parent", "tags")],
        unique: NAMED,
        ..BASE
    },
    Spec {
        segment: "events",
        list_tag: "events",
        label: "Event",
        code: 0,
        canon: canon::<types::Event>,
        required: &["description", "severity", "origin", "custom_id"],
        fields: &[
            "description",
            "message",
            "severity",
            "origin",
            "code",
            "correlation_id",
        ],
        ..BASE
    },
    Spec {
        segment: "jobs",
        list_tag: "jobs",
        label: "Job",
        code: 15,
        canon: canon::<types::Job>,
        required: &["description"],
        fields: &["description", "status", "correlation_id"],
        ..BASE
    },
    Spec {
        segment: "steps",
        parent: Some("jobs"),
        list_tag: "steps",
        label: "Step",
        code: 18,
        canon: canon::<types::Step>,
        required: &["description", "type"],
        fields: &["description", "status", "type"],
        ..BASE
    },
    Spec {
        segment: "diskattachments",
        parent: Some("vms"),
        list_tag: "disk_attachments",
        label: "DiskAttachment",
        code: 5,
        canon: canon::<types::DiskAttachment>,
        required: &["disk", "interface"],
        fields: &["interface", "bootable", "active"],
        ..BASE
    },
    Spec {
        segment: "nics",
        parent: Some("vms"),
        list_tag: "nics",
        label: "Nic",
        code: 6,
        canon: canon::<types::Nic>,
        required: &["name"],
        refs: &[("vnic_profile", "vnicprofiles")],
        unique: NAMED,
        fields: &["name", "description", "interface"],
        ..BASE
    },
    Spec {
        segment: "snapshots",
        parent: Some("vms"),
        list_tag: "snapshots",
        label: "Snapshot",
        code: 16,
        canon: canon::<types::Snapshot>,
        required: &["description"],
        fields: &["description", "snapshot_status", "snapshot_type"],
        ..BASE
    },
    Spec {
        segment: "cdroms",
        parent: Some("vms"),
        list_tag: "cdroms",
        label: "Cdrom",
        code: 17,
        canon: canon::<types::Cdrom>,
        fields: &["name"],
        ..BASE
    },
    Spec {
        segment: "graphicsconsoles",
        parent: Some("vms"),
        list_tag: "graphics_consoles",
        label: "GraphicsConsole",
        code: 19,
        canon: canon::<types::GraphicsConsole>,
        fields: &["name", "protocol"],
        ..BASE
    },
    // The storage domains attached to a data center: adding one attaches an existing
    // storage domain (named by id or name), with the same id.
    Spec {
        segment: "storagedomains",
        parent: Some("datacenters"),
        list_tag: "storage_domains",
        label: "StorageDomain",
        code: 11,
        canon: canon::<types::StorageDomain>,
        fields: &["name", "description", "status", "type"],
        attached: true,
        ..BASE
    },
    // The tags assigned to a VM: adding one assigns an existing tag.
    Spec {
        segment: "tags",
        parent: Some("vms"),
        list_tag: "tags",
        label: "Tag",
        code: 14,
        canon: canon::<types::Tag>,
        attached: true,
        ..BASE
    },
    Spec {
        segment: "permissions",
        parent: Some("vms"),
        list_tag: "permissions",
        label: "Permission",
        code: 7,
        canon: canon::<types::Permission>,
        required: &["role.id|name"],
        refs: &[("user", "users")],
        fields: &["role", "user"],
        ..BASE
    },
];

/// Search fields that name another element (`datacenter=Default`, `usrname=admin`).
fn field_element(field: &str) -> &str {
    match field {
        "datacenter" => "data_center",
        "usrname" => "user_name",
        "message" => "description",
        f => f,
    }
}

fn top_spec(segment: &str) -> Option<&'static Spec> {
    SPECS
        .iter()
        .find(|s| s.parent.is_none() && s.segment == segment)
}

fn child_spec(parent: &Spec, segment: &str) -> Option<&'static Spec> {
    SPECS
        .iter()
        .find(|s| s.parent == Some(parent.segment) && s.segment == segment)
}

fn children_of(parent: &Spec) -> impl Iterator<Item = &'static Spec> + '_ {
    SPECS
        .iter()
        .filter(move |s| s.parent == Some(parent.segment))
}

/// An object of a collection.
pub(crate) struct Entity {
    pub(crate) id: String,
    pub(crate) node: Node,
    /// Values searchable but not part of the document (a job's `correlation_id`).
    pub(crate) hidden: Vec<(String, String)>,
    doc: OnceLock<Bytes>,
}

/// The objects of one concrete collection (`vms`, `vms/123/nics`), in list order.
pub(crate) struct Coll {
    pub(crate) spec: &'static Spec,
    pub(crate) items: Vec<Entity>,
    index: HashMap<String, usize>,
    list: OnceLock<Bytes>,
}

impl Coll {
    fn new(spec: &'static Spec) -> Coll {
        Coll {
            spec,
            items: Vec::new(),
            index: HashMap::new(),
            list: OnceLock::new(),
        }
    }

    pub(crate) fn get(&self, id: &str) -> Option<&Entity> {
        self.index.get(id).map(|&i| &self.items[i])
    }

    fn reindex(&mut self) {
        self.index = self
            .items
            .iter()
            .enumerate()
            .map(|(i, e)| (e.id.clone(), i))
            .collect();
    }
}

/// An answer of the API.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Bytes,
    pub(crate) location: Option<String>,
}

impl Answer {
    pub(crate) fn xml(status: u16, body: impl Into<Bytes>) -> Answer {
        Answer {
            status,
            body: body.into(),
            location: None,
        }
    }

    pub(crate) fn empty(status: u16) -> Answer {
        Answer::xml(status, Bytes::new())
    }

    pub(crate) fn fault(status: u16, reason: &str, detail: &str) -> Answer {
        Answer::xml(status, render::fault(reason, detail))
    }

    pub(crate) fn action_fault(status: u16, reason: &str, detail: &str) -> Answer {
        Answer::xml(status, render::action_failed(reason, detail))
    }
}

/// How a request is to be shown: `follow` and `all_content` (R1.10, R3.6).
#[derive(Debug, Default, Clone)]
pub(crate) struct View {
    pub(crate) follow: Vec<String>,
    pub(crate) all_content: bool,
}

impl View {
    fn is_plain(&self) -> bool {
        self.follow.is_empty() && !self.all_content
    }

    /// The follow paths under member `member`.
    fn under(&self, member: &str) -> View {
        View {
            follow: self
                .follow
                .iter()
                .filter_map(|f| f.strip_prefix(member)?.strip_prefix('.'))
                .map(str::to_string)
                .collect(),
            all_content: self.all_content,
        }
    }

    fn follows(&self, member: &str) -> bool {
        self.follow
            .iter()
            .any(|f| f.split('.').next() == Some(member))
    }
}

/// What a path names.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Target<'a> {
    Collection(String),
    Object(String, &'a str),
    Action(String, &'a str, &'a str),
}

/// Resolves the segments of a path below the API base.
pub(crate) fn target<'a>(segments: &[&'a str]) -> Option<Target<'a>> {
    let (first, mut rest) = segments.split_first()?;
    let mut spec = top_spec(first)?;
    let mut key = first.to_string();
    loop {
        match rest {
            [] => return Some(Target::Collection(key)),
            [id] => return Some(Target::Object(key, id)),
            [id, name, tail @ ..] => match child_spec(spec, name) {
                Some(child) => {
                    key = format!("{key}/{id}/{name}");
                    spec = child;
                    rest = tail;
                }
                None if tail.is_empty() => return Some(Target::Action(key, id, name)),
                None => return None,
            },
        }
    }
}

/// Every object of the engine.
pub(crate) struct Store {
    colls: HashMap<String, Coll>,
    serial: u64,
    event_serial: u64,
    /// State changes still to come ([`actions`]).
    pub(crate) pending: Vec<Pending>,
    pending_serial: u64,
    /// The imageio service: tickets and disk data ([`crate::imageio`]).
    pub(crate) hub: Arc<Hub>,
}

fn href(key: &str, id: &str) -> String {
    format!("{API_PATH}/{key}/{id}")
}

impl Store {
    /// A store holding the inventory and the objects every engine has (the `Blank`
    /// template, storage domains, networks, users, events).
    pub(crate) fn seeded(inv: &Inventory, hub: Arc<Hub>) -> Store {
        let mut store = Store {
            colls: SPECS
                .iter()
                .filter(|s| s.parent.is_none())
                .map(|s| (s.segment.to_string(), Coll::new(s)))
                .collect(),
            serial: 0,
            event_serial: 0,
            pending: Vec::new(),
            pending_serial: 0,
            hub,
        };
        for seed in render::seeds(inv) {
            store.seed(&seed.collection, &seed.document);
        }
        store
    }

    fn seed(&mut self, key: &str, document: &str) {
        let Some(spec) = self.colls.get(key).map(|c| c.spec) else {
            tracing::warn!("test engine: no collection {key} for a seeded object");
            return;
        };
        // Seeds are written by the SDK's writers already (render.rs).
        match Node::parse(document) {
            Ok(mut node) => {
                let id = node.attr("id").unwrap_or_default().to_string();
                strip_links(spec, &mut node);
                if spec.segment == "events" {
                    self.event_serial = self.event_serial.max(id.parse().unwrap_or(0));
                }
                self.insert(key, &id, node, Vec::new());
            }
            Err(e) => tracing::warn!("test engine: seeded {key} object unreadable: {e}"),
        }
    }

    pub(crate) fn coll(&self, key: &str) -> Option<&Coll> {
        self.colls.get(key)
    }

    pub(crate) fn entity(&self, key: &str, id: &str) -> Option<&Entity> {
        self.colls.get(key)?.get(id)
    }

    /// Changes an object through `f` (its documents are rendered anew).
    pub(crate) fn modify(&mut self, key: &str, id: &str, f: impl FnOnce(&mut Node)) -> bool {
        let Some(coll) = self.colls.get_mut(key) else {
            return false;
        };
        let Some(&i) = coll.index.get(id) else {
            return false;
        };
        f(&mut coll.items[i].node);
        coll.items[i].doc = OnceLock::new();
        coll.list = OnceLock::new();
        true
    }

    /// A new id for an object of `spec`.
    pub(crate) fn new_id(&mut self, spec: &Spec) -> String {
        if spec.segment == "events" {
            self.event_serial += 1;
            return self.event_serial.to_string();
        }
        self.serial += 1;
        format!("{:08x}-0000-4000-a000-{:012x}", spec.code, self.serial)
    }

    pub(crate) fn next_pending_serial(&mut self) -> u64 {
        self.pending_serial += 1;
        self.pending_serial
    }

    /// Inserts an object (with id and href) and creates its sub-collections.
    pub(crate) fn insert(
        &mut self,
        key: &str,
        id: &str,
        mut node: Node,
        hidden: Vec<(String, String)>,
    ) {
        let Some(coll) = self.colls.get_mut(key) else {
            return;
        };
        let spec = coll.spec;
        node.set_attr("id", id);
        node.set_attr("href", &href(key, id));
        match coll.index.get(id) {
            Some(&i) => {
                coll.items[i].node = node;
                coll.items[i].doc = OnceLock::new();
            }
            None => {
                coll.index.insert(id.to_string(), coll.items.len());
                coll.items.push(Entity {
                    id: id.to_string(),
                    node,
                    hidden,
                    doc: OnceLock::new(),
                });
            }
        }
        coll.list = OnceLock::new();
        for child in children_of(spec) {
            self.colls
                .entry(format!("{key}/{id}/{}", child.segment))
                .or_insert_with(|| Coll::new(child));
        }
    }

    /// Removes an object and everything below it.
    pub(crate) fn delete(&mut self, key: &str, id: &str) -> bool {
        let Some(coll) = self.colls.get_mut(key) else {
            return false;
        };
        let Some(i) = coll.index.get(id).copied() else {
            return false;
        };
        coll.items.remove(i);
        coll.reindex();
        coll.list = OnceLock::new();
        let below = format!("{key}/{id}/");
        self.colls.retain(|k, _| !k.starts_with(&below));
        if key == "disks" {
            self.hub.drop_image(id);
        }
        true
    }

    /// Finds an object of a top collection by id or by name.
    pub(crate) fn find(&self, key: &str, id: Option<&str>, name: Option<&str>) -> Option<&Entity> {
        let coll = self.colls.get(key)?;
        match (id, name) {
            (Some(id), _) => coll.get(id),
            (None, Some(name)) => coll
                .items
                .iter()
                .find(|e| e.node.text_of("name") == Some(name)),
            _ => None,
        }
    }

    /// The values of a search field of an object: its own text, or for a reference the
    /// id and the name of the referenced object.
    fn field_values(&self, e: &Entity, field: &str) -> Vec<String> {
        if field == "id" {
            return vec![e.id.clone()];
        }
        if let Some((_, v)) = e.hidden.iter().find(|(k, _)| k == field) {
            return vec![v.clone()];
        }
        let element = field_element(field);
        let mut out = e.node.values(element);
        if out.is_empty() {
            if let Some(r) = e.node.child(element) {
                if let (Some(id), Some(h)) = (r.attr("id"), r.attr("href")) {
                    out.push(id.to_string());
                    if let Some(name) = self
                        .by_href(h)
                        .and_then(|(_, t)| t.node.text_of("name").map(str::to_string))
                    {
                        out.push(name);
                    }
                }
            }
        }
        out
    }

    /// The object an href names.
    pub(crate) fn by_href(&self, href: &str) -> Option<(&str, &Entity)> {
        let rel = href.strip_prefix(API_PATH)?.strip_prefix('/')?;
        let (key, id) = rel.rsplit_once('/')?;
        let (k, coll) = self.colls.get_key_value(key)?;
        Some((k.as_str(), coll.get(id)?))
    }

    /// The document of an object as a view asks for it.
    fn render(&self, key: &str, e: &Entity, view: &View) -> Bytes {
        let spec = self.colls.get(key).map(|c| c.spec).unwrap_or(&SPECS[0]);
        if view.is_plain() {
            return e
                .doc
                .get_or_init(|| self.render_uncached(spec, key, e, view).into())
                .clone();
        }
        self.render_uncached(spec, key, e, view).into()
    }

    fn render_uncached(&self, spec: &Spec, key: &str, e: &Entity, view: &View) -> String {
        let node = self.expand(spec, key, e, view, 0);
        let raw = node.to_xml();
        match (spec.canon)(&raw) {
            Ok(text) => text,
            Err(err) => {
                tracing::warn!("test engine: {key}/{} does not read back: {err}", e.id);
                raw
            }
        }
    }

    /// The object's tree with its list links, or with the followed lists and references
    /// inline.
    fn expand(&self, spec: &Spec, key: &str, e: &Entity, view: &View, depth: usize) -> Node {
        let mut node = e.node.clone();
        if !view.all_content {
            for h in spec.heavy {
                node.remove(h);
            }
        }
        for child in children_of(spec) {
            let sub = format!("{key}/{}/{}", e.id, child.segment);
            let member = child.list_tag;
            if view.follows(member) && depth < 4 {
                let inner = view.under(member);
                let mut list = Node::new(member);
                list.set_attr("href", &format!("{API_PATH}/{sub}"));
                if let Some(c) = self.colls.get(&sub) {
                    for item in &c.items {
                        list.children
                            .push(self.expand(child, &sub, item, &inner, depth + 1));
                    }
                }
                node.put(list);
            } else {
                let mut link = Node::new("link");
                link.set_attr("rel", child.segment);
                link.set_attr("href", &format!("{API_PATH}/{sub}"));
                node.children.push(link);
            }
        }
        if depth < 4 {
            for c in node.children.iter_mut() {
                if !view.follows(&c.name) || c.name == "link" {
                    continue;
                }
                let Some(h) = c.attr("href").map(str::to_string) else {
                    continue;
                };
                if let Some((k, target)) = self.by_href(&h) {
                    let tspec = self.colls.get(k).map(|x| x.spec).unwrap_or(spec);
                    let mut full = self.expand(tspec, k, target, &view.under(&c.name), depth + 1);
                    full.name = c.name.clone();
                    *c = full;
                }
            }
        }
        node
    }

    /// Number of objects in a top collection.
    pub(crate) fn count(&self, key: &str) -> usize {
        self.colls.get(key).map_or(0, |c| c.items.len())
    }

    /// `GET` of a collection.
    pub(crate) fn list(&self, key: &str, params: &[(String, String)], view: &View) -> Answer {
        let Some(coll) = self.colls.get(key) else {
            return Answer::empty(404);
        };
        let param = |n: &str| params.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        let max = match param("max").map(str::parse::<i64>) {
            None => None,
            Some(Ok(m)) if m >= 0 => Some(m as usize),
            Some(Ok(_)) => None, // -1: no limit
            Some(Err(_)) => {
                return Answer::fault(
                    400,
                    "Invalid value",
                    "Value of parameter 'max' is not an integer",
                )
            }
        };
        let case_sensitive =
            !param("case_sensitive").is_some_and(|v| v.eq_ignore_ascii_case("false"));
        let search = param("search").filter(|s| !s.trim().is_empty());
        // `from` is a parameter of the events list only: the events after that id.
        let from = param("from")
            .filter(|_| coll.spec.segment == "events")
            .and_then(|v| v.parse::<u64>().ok());
        if search.is_none() && max.is_none() && from.is_none() && view.is_plain() {
            return Answer::xml(
                200,
                coll.list
                    .get_or_init(|| {
                        let items: Vec<Bytes> = coll
                            .items
                            .iter()
                            .map(|e| self.render(key, e, view))
                            .collect();
                        join_list(coll.spec.list_tag, &items)
                    })
                    .clone(),
            );
        }
        let mut fields: Vec<&str> = vec!["id"];
        fields.extend(coll.spec.fields);
        let query = match search.map(|s| search::parse(s, &fields)) {
            None => search::Query::default(),
            Some(Ok(q)) => q,
            Some(Err(e)) => return Answer::fault(400, "Invalid search", &e),
        };
        let mut selected: Vec<&Entity> = coll
            .items
            .iter()
            .filter(|e| from.is_none_or(|f| e.id.parse::<u64>().is_ok_and(|n| n > f)))
            .filter(|e| match &query.filter {
                Some(expr) => search::matches(expr, &|f| self.field_values(e, f), case_sensitive),
                None => true,
            })
            .collect();
        if let Some((field, desc)) = &query.sort {
            let value = |e: &Entity| {
                self.field_values(e, field)
                    .into_iter()
                    .next()
                    .unwrap_or_default()
            };
            selected.sort_by(|a, b| {
                let o = search::compare(&value(a), &value(b));
                if *desc {
                    o.reverse()
                } else {
                    o
                }
            });
        }
        let size = max.unwrap_or(if query.page.is_some() {
            100
        } else {
            usize::MAX
        });
        let skip = query
            .page
            .map_or(0, |p| (p as usize - 1).saturating_mul(size));
        let items: Vec<Bytes> = selected
            .into_iter()
            .skip(skip)
            .take(size)
            .map(|e| self.render(key, e, view))
            .collect();
        Answer::xml(200, join_list(coll.spec.list_tag, &items))
    }

    /// `GET` of an object.
    pub(crate) fn get(&self, key: &str, id: &str, view: &View) -> Answer {
        match self.entity(key, id) {
            Some(e) => Answer::xml(200, self.render(key, e, view)),
            None => Answer::empty(404),
        }
    }

    /// Reads a request body as a document of `spec`'s type; also returns the `id` it
    /// names (the engine chooses the ids of new objects).
    fn read_body(spec: &Spec, body: &[u8]) -> Result<(Node, Option<String>), Answer> {
        let text = std::str::from_utf8(body)
            .map_err(|_| Answer::fault(400, "Invalid request body", "the body is not UTF-8"))?;
        let mut node = (spec.canon)(text)
            .and_then(|t| Node::parse(&t))
            .map_err(|e| Answer::fault(400, "Invalid request body", &e))?;
        strip_links(spec, &mut node);
        let id = node.attr("id").map(str::to_string);
        node.attrs.clear();
        for s in spec.secret {
            node.remove(s);
        }
        Ok((node, id))
    }

    /// Replaces the references of a new or changed object by `<x id href/>`, resolving
    /// names; a reference to nothing is 404 with a fault (R4.2).
    fn resolve_refs(&self, spec: &Spec, node: &mut Node) -> Result<(), Answer> {
        for (path, key) in spec.refs {
            let mut found = Vec::new();
            nodes_at(node, path, &mut found);
            for r in found {
                let id = r.attr("id").map(str::to_string);
                let name = r.text_of("name").map(str::to_string);
                if id.is_none() && name.is_none() {
                    continue;
                }
                let Some(target) = self.find(key, id.as_deref(), name.as_deref()) else {
                    let label = top_spec(key).map_or(*key, |s| s.label);
                    let what = match (&id, &name) {
                        (Some(id), _) => format!("id={id}"),
                        (_, name) => format!("name={}", name.as_deref().unwrap_or("")),
                    };
                    return Err(Answer::fault(
                        404,
                        "Operation Failed",
                        &format!("Entity not found: {label}: {what}"),
                    ));
                };
                *r = Node::reference(&r.name, &target.id, &href(key, &target.id));
            }
        }
        Ok(())
    }

    /// Whether another object of `key` has the same unique value.
    fn in_use(&self, spec: &Spec, key: &str, node: &Node, except: Option<&str>) -> Option<String> {
        let (field, scope) = spec.unique?;
        let value = node.text_of(field)?;
        let scope_of = |n: &Node| {
            n.child(scope)
                .and_then(|c| c.attr("id"))
                .map(str::to_string)
        };
        let mine = scope_of(node);
        let coll = self.colls.get(key)?;
        coll.items
            .iter()
            .any(|e| {
                Some(e.id.as_str()) != except
                    && e.node.text_of(field) == Some(value)
                    && (scope.is_empty() || scope_of(&e.node) == mine)
            })
            .then(|| value.to_string())
    }

    /// `POST` to a collection.
    pub(crate) fn add(&mut self, key: &str, body: &[u8], ctx: &Ctx) -> Answer {
        let Some(spec) = self.colls.get(key).map(|c| c.spec) else {
            return Answer::empty(404);
        };
        let (mut node, given_id) = match Self::read_body(spec, body) {
            Ok(n) => n,
            Err(a) => return a,
        };
        let missing: Vec<&str> = spec
            .required
            .iter()
            .copied()
            .filter(|r| !has(&node, r))
            .collect();
        if !missing.is_empty() {
            return Answer::fault(
                400,
                "Incomplete parameters",
                &format!("{} [{}] required for add", spec.label, missing.join(", ")),
            );
        }
        if let Err(a) = self.resolve_refs(spec, &mut node) {
            return a;
        }
        if spec.segment == transfers::KEY {
            if let Err(a) = transfers::check_add(self, &mut node) {
                return a;
            }
        }
        if let Some(v) = self.in_use(spec, key, &node, None) {
            return Answer::fault(
                409,
                "Operation Failed",
                &format!(
                    "[Cannot add {}. The name '{v}' is already in use.]",
                    spec.label
                ),
            );
        }
        let id = match spec.segment {
            // The id of a disk attachment is the id of its disk.
            "diskattachments" => match actions::attach_disk(self, &mut node, ctx) {
                Ok(id) => id,
                Err(a) => return a,
            },
            _ if spec.attached => match actions::attach(self, spec, key, &mut node, given_id) {
                Ok(id) => id,
                Err(a) => return a,
            },
            _ => self.new_id(spec),
        };
        let hidden = actions::prepare_add(self, spec, key, &mut node, ctx);
        self.insert(key, &id, node, hidden);
        actions::after_add(self, spec, key, &id, ctx);
        let mut answer = self.get(key, &id, &View::default());
        answer.status = 201;
        answer.location = Some(href(key, &id));
        answer
    }

    /// `PUT` of an object: the members sent replace the stored ones.
    pub(crate) fn update(&mut self, key: &str, id: &str, body: &[u8]) -> Answer {
        let Some(spec) = self.colls.get(key).map(|c| c.spec) else {
            return Answer::empty(404);
        };
        if self.entity(key, id).is_none() {
            return Answer::empty(404);
        }
        let (mut node, _) = match Self::read_body(spec, body) {
            Ok(n) => n,
            Err(a) => return a,
        };
        // The engine keeps statuses (and a transfer's phase and URLs) to itself.
        for s in [
            "status",
            "snapshot_status",
            "phase",
            "transfer_url",
            "proxy_url",
        ] {
            node.remove(s);
        }
        if let Err(a) = self.resolve_refs(spec, &mut node) {
            return a;
        }
        let mut merged = self
            .entity(key, id)
            .map(|e| e.node.clone())
            .unwrap_or_default();
        for c in node.children {
            merged.put(c);
        }
        if let Some(v) = self.in_use(spec, key, &merged, Some(id)) {
            return Answer::fault(
                409,
                "Operation Failed",
                &format!(
                    "[Cannot edit {}. The name '{v}' is already in use.]",
                    spec.label
                ),
            );
        }
        self.modify(key, id, |n| *n = merged);
        self.get(key, id, &View::default())
    }

    /// `DELETE` of an object.
    pub(crate) fn remove(&mut self, key: &str, id: &str, ctx: &Ctx) -> Answer {
        let Some(spec) = self.colls.get(key).map(|c| c.spec) else {
            return Answer::empty(404);
        };
        let Some(e) = self.entity(key, id) else {
            return Answer::empty(404);
        };
        if let Err(a) = actions::check_remove(self, spec, e) {
            return a;
        }
        self.delete(key, id);
        if ctx.accepted {
            // R1.11: an asynchronous remove answers 202 with no body.
            return Answer::empty(202);
        }
        Answer::xml(200, render::action_complete())
    }

    /// The inventory as it is now (objects added, changed and removed included).
    pub(crate) fn inventory(&self) -> Inventory {
        let items = |key: &str| {
            self.colls
                .get(key)
                .map(|c| c.items.as_slice())
                .unwrap_or(&[])
        };
        let text = |e: &Entity, n: &str| e.node.text_of(n).unwrap_or_default().to_string();
        let ref_id = |e: &Entity, n: &str| {
            e.node
                .child(n)
                .and_then(|c| c.attr("id"))
                .map(str::to_string)
        };
        Inventory {
            data_centers: items("datacenters")
                .iter()
                .map(|e| inventory::DataCenter {
                    id: e.id.clone(),
                    name: text(e, "name"),
                })
                .collect(),
            clusters: items("clusters")
                .iter()
                .map(|e| inventory::Cluster {
                    id: e.id.clone(),
                    name: text(e, "name"),
                    data_center_id: ref_id(e, "data_center").unwrap_or_default(),
                })
                .collect(),
            hosts: items("hosts")
                .iter()
                .map(|e| inventory::Host {
                    id: e.id.clone(),
                    name: text(e, "name"),
                    address: text(e, "address"),
                    cluster_id: ref_id(e, "cluster").unwrap_or_default(),
                })
                .collect(),
            vms: items("vms")
                .iter()
                .map(|e| {
                    let sub = |s: &str| items(&format!("vms/{}/{s}", e.id));
                    inventory::Vm {
                        id: e.id.clone(),
                        name: text(e, "name"),
                        status: inventory::VmStatus::from_wire(&text(e, "status")),
                        memory: text(e, "memory").parse().unwrap_or(0),
                        cluster_id: ref_id(e, "cluster").unwrap_or_default(),
                        host_id: ref_id(e, "host"),
                        disk_attachments: sub("diskattachments")
                            .iter()
                            .map(|d| inventory::DiskAttachment {
                                id: d.id.clone(),
                                bootable: text(d, "bootable") == "true",
                                interface: text(d, "interface"),
                            })
                            .collect(),
                        nics: sub("nics")
                            .iter()
                            .map(|n| inventory::Nic {
                                id: n.id.clone(),
                                name: text(n, "name"),
                                mac: n.node.values("mac.address").pop().unwrap_or_default(),
                            })
                            .collect(),
                        permissions: sub("permissions")
                            .iter()
                            .map(|p| inventory::Permission {
                                id: p.id.clone(),
                                role_id: ref_id(p, "role").unwrap_or_default(),
                                user_id: ref_id(p, "user").unwrap_or_default(),
                            })
                            .collect(),
                    }
                })
                .collect(),
        }
    }
}

/// One API request, as the store needs it.
pub(crate) struct Call<'a> {
    pub(crate) method: &'a str,
    /// The path below the API base, without slashes at the ends.
    pub(crate) rest: &'a str,
    pub(crate) params: Vec<(String, String)>,
    pub(crate) body: &'a [u8],
    /// Header values by lower-case name.
    pub(crate) header: &'a dyn Fn(&str) -> Option<String>,
}

fn flag(v: Option<&str>) -> bool {
    // R1.3: the engine reads booleans leniently; an empty value counts as true.
    v.is_some_and(|v| {
        matches!(
            v.to_ascii_lowercase().as_str(),
            "" | "true" | "t" | "yes" | "y" | "1"
        )
    })
}

/// Answers an API request (authentication and the `Version` header already checked).
pub(crate) fn serve(lock: &RwLock<Store>, clock: &Clock, call: &Call<'_>) -> Answer {
    let now = clock.on_request();
    if read(lock).pending.iter().any(|p| p.due <= now) {
        actions::apply_due(&mut write(lock), Some(now));
    }
    let param = |n: &str| {
        call.params
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
    };
    let expect = |h: &str| (call.header)(h).is_some_and(|v| v.eq_ignore_ascii_case("202-accepted"));
    let ctx = Ctx {
        now,
        step: clock.step(),
        lag: clock.lag(),
        correlation_id: param("correlation_id")
            .map(str::to_string)
            .or_else(|| (call.header)("correlation-id")),
        accepted: flag(param("async")) || expect("expect") || expect("x-ovirt-expect"),
    };
    if read(lock).hub.needs_sync(now) {
        transfers::sync(&mut write(lock), &ctx);
    }
    let view = View {
        follow: param("follow")
            .map(|f| {
                f.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
        all_content: flag(param("all_content")) || flag((call.header)("all-content").as_deref()),
    };
    let segments: Vec<&str> = if call.rest.is_empty() {
        Vec::new()
    } else {
        call.rest.split('/').collect()
    };
    if segments.is_empty() {
        return match call.method {
            "GET" => {
                let s = read(lock);
                Answer::xml(200, render::api(s.count("vms"), s.count("hosts")))
            }
            _ => Answer::empty(405),
        };
    }
    match (call.method, target(&segments)) {
        (_, None) => Answer::empty(404),
        ("GET", Some(Target::Collection(key))) => read(lock).list(&key, &call.params, &view),
        ("POST", Some(Target::Collection(key))) => write(lock).add(&key, call.body, &ctx),
        ("GET", Some(Target::Object(key, id))) => read(lock).get(&key, id, &view),
        ("PUT", Some(Target::Object(key, id))) => write(lock).update(&key, id, call.body),
        ("DELETE", Some(Target::Object(key, id))) => write(lock).remove(&key, id, &ctx),
        ("POST", Some(Target::Action(key, id, name))) => {
            actions::run(&mut write(lock), &key, id, name, call.body, &ctx)
        }
        (_, Some(Target::Action(..))) => Answer::empty(404),
        _ => Answer::empty(405),
    }
}

pub(crate) fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn write<T>(m: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|e| e.into_inner())
}

/// Whether a node carries a required value: `name`, `cluster.id|name`.
fn has(node: &Node, required: &str) -> bool {
    let (path, last) = match required.rsplit_once('.') {
        Some((p, l)) => (Some(p), l),
        None => (None, required),
    };
    let mut holders = Vec::new();
    match path {
        Some(p) => collect_refs(node, p, &mut holders),
        None => holders.push(node),
    }
    holders.iter().any(|h| {
        last.split('|').any(|alt| {
            h.attr(alt).is_some_and(|v| !v.is_empty())
                || h.child(alt).is_some_and(|c| {
                    c.text.is_some() || !c.children.is_empty() || !c.attrs.is_empty()
                })
        })
    })
}

fn collect_refs<'a>(node: &'a Node, path: &str, out: &mut Vec<&'a Node>) {
    let (head, rest) = match path.split_once('.') {
        Some((h, r)) => (h, Some(r)),
        None => (path, None),
    };
    for c in node.children.iter().filter(|c| c.name == head) {
        match rest {
            Some(r) => collect_refs(c, r, out),
            None => out.push(c),
        }
    }
}

fn nodes_at<'a>(node: &'a mut Node, path: &str, out: &mut Vec<&'a mut Node>) {
    let (head, rest) = match path.split_once('.') {
        Some((h, r)) => (h, Some(r)),
        None => (path, None),
    };
    for c in node.children.iter_mut().filter(|c| c.name == head) {
        match rest {
            Some(r) => nodes_at(c, r, out),
            None => out.push(c),
        }
    }
}

/// Drops list links and inline sub-collections: the store adds them when it renders.
fn strip_links(spec: &Spec, node: &mut Node) {
    node.children
        .retain(|c| c.name != "link" && !children_of(spec).any(|s| s.list_tag == c.name));
}

/// A list document from rendered items (R1.6: an empty list is `<vms/>`).
fn join_list(tag: &str, items: &[Bytes]) -> Bytes {
    if items.is_empty() {
        return Bytes::from(format!("<{tag}/>"));
    }
    let len: usize = items.iter().map(Bytes::len).sum();
    let mut out = Vec::with_capacity(len + 2 * tag.len() + 5);
    out.push(b'<');
    out.extend_from_slice(tag.as_bytes());
    out.push(b'>');
    for i in items {
        out.extend_from_slice(i);
    }
    out.extend_from_slice(b"</");
    out.extend_from_slice(tag.as_bytes());
    out.push(b'>');
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_collections_objects_and_actions() {
        assert_eq!(target(&["vms"]), Some(Target::Collection("vms".into())));
        assert_eq!(
            target(&["vms", "1"]),
            Some(Target::Object("vms".into(), "1"))
        );
        assert_eq!(
            target(&["vms", "1", "nics", "2"]),
            Some(Target::Object("vms/1/nics".into(), "2"))
        );
        assert_eq!(
            target(&["vms", "1", "start"]),
            Some(Target::Action("vms".into(), "1", "start"))
        );
        assert_eq!(
            target(&["jobs", "1", "steps"]),
            Some(Target::Collection("jobs/1/steps".into()))
        );
        assert_eq!(target(&["vms", "1", "x", "y"]), None);
        assert_eq!(target(&["nothing"]), None);
    }

    #[test]
    fn required_values_accept_an_id_or_a_name() {
        let n = Node::parse("<vm><name>a</name><cluster><name>c</name></cluster></vm>").unwrap();
        assert!(has(&n, "name") && has(&n, "cluster.id|name"));
        assert!(!has(&n, "template.id|name"));
        let d = Node::parse(
            "<disk><storage_domains><storage_domain id=\"s\"/></storage_domains></disk>",
        )
        .unwrap();
        assert!(has(&d, "storage_domains.storage_domain.id|name"));
    }
}
