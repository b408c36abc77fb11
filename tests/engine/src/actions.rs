//! Work the engine does in the background: statuses that change in stages (a VM going
//! `down` -> `wait_for_launch` -> `powering_up` -> `up`, a disk or snapshot going
//! `locked` -> `ok`, a host going to `maintenance`), the jobs and steps that describe
//! that work, and the actions of the API.
//!
//! Time is a logical clock, never a sleep: [`Pace`] says when it moves (at every API
//! request, only when a test calls [`crate::TestEngine::advance`], or with the wall clock
//! for trying a client by hand), so a test sees the same statuses in the same order on
//! every run.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::node::Node;
use crate::render::{self, API_PATH};
use crate::store::{Answer, Entity, Spec, Store};
use ovirt::types;

/// How fast the engine's background work moves from one stage to the next.
///
/// ```
/// use ovirt_test_engine::{Pace, TestEngine};
/// # async fn demo() {
/// // Every status of a starting VM is seen by exactly one request.
/// let engine = TestEngine::builder().pace(Pace::Requests(1)).start().await.unwrap();
/// # let _ = engine;
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Pace {
    /// The work is done by the time the next request is handled (the default): the
    /// answer to the action shows the first stage, every later request the last.
    Instant,
    /// Every stage lasts this many API requests (the clock moves one tick per request;
    /// 0 counts as 1).
    Requests(u32),
    /// The clock moves only when the test calls [`crate::TestEngine::advance`] (one
    /// stage per tick) or [`crate::TestEngine::settle`].
    Manual,
    /// Every stage lasts this long in real time, for trying clients by hand; tests use
    /// the other paces, which do not depend on timing.
    Timed(Duration),
}

/// The logical clock.
pub(crate) struct Clock {
    pace: Pace,
    ticks: AtomicU64,
    start: std::time::Instant,
}

impl Clock {
    pub(crate) fn new(pace: Pace) -> Clock {
        Clock {
            pace,
            ticks: AtomicU64::new(0),
            start: std::time::Instant::now(),
        }
    }

    /// The time for a new API request (the clock moves with [`Pace::Requests`]).
    pub(crate) fn on_request(&self) -> u64 {
        match self.pace {
            Pace::Requests(_) => self.ticks.fetch_add(1, Ordering::Relaxed) + 1,
            _ => self.now(),
        }
    }

    pub(crate) fn now(&self) -> u64 {
        let ticks = self.ticks.load(Ordering::Relaxed);
        match self.pace {
            Pace::Timed(d) if !d.is_zero() => {
                ticks + (self.start.elapsed().as_nanos() / d.as_nanos()) as u64
            }
            _ => ticks,
        }
    }

    /// Ticks after which the first stage of work started now is over (with
    /// [`Pace::Requests`] the clock moves before each request, so one more).
    pub(crate) fn lag(&self) -> u64 {
        u64::from(matches!(self.pace, Pace::Requests(_)))
    }

    /// Ticks between two stages.
    pub(crate) fn step(&self) -> u64 {
        match self.pace {
            Pace::Instant => 0,
            Pace::Requests(n) => u64::from(n.max(1)),
            Pace::Manual | Pace::Timed(_) => 1,
        }
    }

    pub(crate) fn advance(&self, ticks: u64) -> u64 {
        self.ticks.fetch_add(ticks, Ordering::Relaxed) + ticks
    }

    /// Whether the clock stands for time passing (a test's `advance` or the wall
    /// clock), so that timeouts count ([`Pace::Manual`], [`Pace::Timed`]).
    pub(crate) fn moves_with_time(&self) -> bool {
        matches!(self.pace, Pace::Manual | Pace::Timed(_))
    }
}

/// What a request brings to the work it starts.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ctx {
    pub(crate) now: u64,
    pub(crate) step: u64,
    pub(crate) lag: u64,
    /// `correlation_id` query parameter or `Correlation-Id` header.
    pub(crate) correlation_id: Option<String>,
    /// `async=true` or `Expect: 202-accepted` (R1.10, R1.11).
    pub(crate) accepted: bool,
}

impl Ctx {
    /// When stage `k` of work started now is due.
    fn due(&self, k: usize) -> u64 {
        if self.step == 0 {
            return self.now;
        }
        self.now + k as u64 * self.step + self.lag
    }
}

/// A change of one object: members set (replaced) and members removed, or the object
/// removed.
#[derive(Debug, Clone)]
pub(crate) struct Change {
    key: String,
    id: String,
    set: Vec<Node>,
    unset: Vec<&'static str>,
    delete: bool,
}

impl Change {
    pub(crate) fn new(key: &str, id: &str) -> Change {
        Change {
            key: key.to_string(),
            id: id.to_string(),
            set: Vec::new(),
            unset: Vec::new(),
            delete: false,
        }
    }

    /// Removes the object (and what is below it) instead.
    pub(crate) fn delete(mut self) -> Change {
        self.delete = true;
        self
    }

    pub(crate) fn text(mut self, name: &str, value: impl Into<String>) -> Change {
        self.set.push(Node::leaf(name, value));
        self
    }

    fn node(mut self, node: Node) -> Change {
        self.set.push(node);
        self
    }

    fn unset(mut self, name: &'static str) -> Change {
        self.unset.push(name);
        self
    }
}

/// Changes due at a time of the clock.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub(crate) due: u64,
    seq: u64,
    changes: Vec<Change>,
}

pub(crate) fn apply(store: &mut Store, changes: Vec<Change>) {
    for c in changes {
        if c.delete {
            store.delete(&c.key, &c.id);
            continue;
        }
        let phase = (c.key == crate::transfers::KEY)
            .then(|| c.set.iter().find(|s| s.name == "phase"))
            .flatten()
            .and_then(|s| s.text.clone());
        store.modify(&c.key, &c.id, |n| {
            for s in c.set {
                n.put(s);
            }
            for u in c.unset {
                n.remove(u);
            }
        });
        if let Some(phase) = phase {
            crate::transfers::on_phase(store, &c.id, &phase);
        }
    }
}

/// Applies the changes due at `now` (all of them with `None`), oldest first.
pub(crate) fn apply_due(store: &mut Store, now: Option<u64>) {
    let mut due: Vec<Pending> = Vec::new();
    store.pending.retain(|p| {
        if now.is_none_or(|n| p.due <= n) {
            due.push(p.clone());
            false
        } else {
            true
        }
    });
    due.sort_by_key(|p| (p.due, p.seq));
    for p in due {
        apply(store, p.changes);
    }
}

/// Applies the first stage now and schedules the others one step apart.
pub(crate) fn schedule(store: &mut Store, ctx: &Ctx, stages: Vec<Vec<Change>>) {
    for (k, changes) in stages.into_iter().enumerate() {
        if k == 0 {
            apply(store, changes);
        } else {
            let seq = store.next_pending_serial();
            store.pending.push(Pending {
                due: ctx.due(k),
                seq,
                changes,
            });
        }
    }
}

/// A date of the logical clock (one tick is one second after 2026-01-01 00:00 UTC).
fn time(now: u64) -> String {
    let s = now % 86_400;
    format!(
        "2026-01-01T{:02}:{:02}:{:02}.000Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

fn href(key: &str, id: &str) -> String {
    format!("{API_PATH}/{key}/{id}")
}

/// The user every request acts as.
const OWNER: &str = "00000009-0000-4000-8000-000000000000";

/// Starts a job (with one step) for work the engine does; returns the changes that end
/// it.
fn start_job(store: &mut Store, ctx: &Ctx, description: &str) -> (String, Vec<Change>) {
    let spec = store.coll("jobs").map(|c| c.spec);
    let Some(spec) = spec else {
        return (String::new(), Vec::new());
    };
    let id = store.new_id(spec);
    let mut job = Node::new("job");
    job.put_text("description", description);
    job.put_text("status", "started");
    job.put_text("start_time", time(ctx.now));
    job.put_text("last_updated", time(ctx.now));
    job.put_text("external", "false");
    job.put_text("auto_cleared", "true");
    job.put(Node::reference("owner", OWNER, &href("users", OWNER)));
    let hidden = ctx
        .correlation_id
        .iter()
        .map(|c| ("correlation_id".to_string(), c.clone()))
        .collect();
    store.insert("jobs", &id, job, hidden);
    let steps = format!("jobs/{id}/steps");
    let step_id = store
        .coll(&steps)
        .map(|c| c.spec)
        .map(|s| store.new_id(s))
        .unwrap_or_default();
    let mut step = Node::new("step");
    step.put_text("description", "Executing");
    step.put_text("type", "executing");
    step.put_text("number", "1");
    step.put_text("status", "started");
    step.put_text("start_time", time(ctx.now));
    step.put(Node::reference("job", &id, &href("jobs", &id)));
    store.insert(&steps, &step_id, step, Vec::new());
    let end = |c: Change| c.text("status", "finished").text("end_time", "");
    let done = vec![
        end(Change::new("jobs", &id)),
        end(Change::new(&steps, &step_id)),
    ];
    (id, done)
}

/// Fills in the end times of a job's last stage with the time it is applied at.
fn finish_at(changes: Vec<Change>, at: u64) -> Vec<Change> {
    changes
        .into_iter()
        .map(|mut c| {
            for s in c.set.iter_mut() {
                if s.name == "end_time" || s.name == "last_updated" {
                    s.text = Some(time(at));
                }
            }
            c
        })
        .collect()
}

/// Runs work through stages of `status` on one object, under a job.
fn staged(
    store: &mut Store,
    ctx: &Ctx,
    (key, id): (&str, &str),
    field: &str,
    stages: &[&str],
    description: &str,
    extra: Vec<(usize, Change)>,
) -> String {
    let (job, done) = start_job(store, ctx, description);
    let last = stages.len().saturating_sub(1);
    let mut out: Vec<Vec<Change>> = stages
        .iter()
        .map(|s| vec![Change::new(key, id).text(field, *s)])
        .collect();
    for (k, c) in extra {
        if let Some(stage) = out.get_mut(k) {
            stage.push(c);
        }
    }
    if let Some(stage) = out.get_mut(last) {
        stage.extend(finish_at(done, ctx.due(last)));
    }
    schedule(store, ctx, out);
    job
}

/// Adds an event, as the engine logs one for most of its work.
fn event(store: &mut Store, ctx: &Ctx, description: String, about: Option<Node>) {
    let Some(spec) = store.coll("events").map(|c| c.spec) else {
        return;
    };
    let id = store.new_id(spec);
    let mut e = Node::new("event");
    e.put_text("description", description);
    e.put_text("severity", "normal");
    e.put_text("code", "0");
    e.put_text("origin", "oVirt");
    e.put_text("custom_id", "-1");
    e.put_text("time", time(ctx.now));
    if let Some(c) = &ctx.correlation_id {
        e.put_text("correlation_id", c.clone());
    }
    if let Some(a) = about {
        e.put(a);
    }
    store.insert("events", &id, e, Vec::new());
}

/// Engine defaults of a new object, before it is stored; returns its hidden values.
pub(crate) fn prepare_add(
    store: &mut Store,
    spec: &Spec,
    key: &str,
    node: &mut Node,
    ctx: &Ctx,
) -> Vec<(String, String)> {
    let parent_ref = || {
        let mut parts = key.split('/');
        let (pk, pid) = (parts.next()?, parts.next()?);
        let tag = match pk {
            "vms" => "vm",
            "jobs" => "job",
            "datacenters" => "data_center",
            _ => return None,
        };
        Some(Node::reference(tag, pid, &href(pk, pid)))
    };
    let default = |node: &mut Node, name: &str, value: &str| {
        if node.child(name).is_none() {
            node.put_text(name, value);
        }
    };
    node.remove("status");
    match spec.segment {
        "vms" => {
            node.put_text("status", "down");
            default(node, "memory", "1073741824");
            if node.child("template").is_none() {
                node.put(Node::reference(
                    "template",
                    BLANK,
                    &href("templates", BLANK),
                ));
            }
            node.put_text("creation_time", time(ctx.now));
        }
        "templates" => node.put_text("status", "locked"),
        "disks" => {
            node.put_text("status", "locked");
            default(node, "actual_size", "0");
            default(node, "sparse", "true");
        }
        "hosts" => node.put_text("status", "installing"),
        "storagedomains" if spec.parent.is_some() => node.put_text("status", "active"),
        "storagedomains" => node.put_text("status", "unattached"),
        "datacenters" => {
            node.put_text("status", "uninitialized");
            default(node, "local", "false");
        }
        "snapshots" => {
            node.remove("snapshot_status");
            node.put_text("snapshot_status", "locked");
            node.put_text("snapshot_type", "regular");
            node.put_text("date", time(ctx.now));
        }
        "nics" => {
            default(node, "interface", "virtio");
            default(node, "plugged", "true");
            if node.child("mac").is_none() {
                let n = store.new_id(spec);
                let tail = &n[n.len() - 6..];
                let mut mac = Node::new("mac");
                mac.put_text(
                    "address",
                    format!("56:6f:ff:{}:{}:{}", &tail[0..2], &tail[2..4], &tail[4..6]),
                );
                node.put(mac);
            }
        }
        "diskattachments" => default(node, "active", "true"),
        "events" => {
            node.put_text("time", time(ctx.now));
            if let Some(c) = &ctx.correlation_id {
                default(node, "correlation_id", c);
            }
        }
        "jobs" => {
            node.put_text("status", "started");
            node.put_text("external", "true");
            node.put_text("start_time", time(ctx.now));
            node.put_text("last_updated", time(ctx.now));
            node.put(Node::reference("owner", OWNER, &href("users", OWNER)));
        }
        "steps" => {
            node.put_text("status", "started");
            node.put_text("external", "true");
            let n = store.coll(key).map_or(0, |c| c.items.len()) + 1;
            node.put_text("number", n.to_string());
        }
        _ => {}
    }
    if let Some(r) = parent_ref() {
        node.put(r);
    }
    match (spec.segment, &ctx.correlation_id) {
        ("jobs", Some(c)) => vec![("correlation_id".to_string(), c.clone())],
        _ => Vec::new(),
    }
}

/// What follows the add of an object: its own sub-objects, the stages of its creation.
pub(crate) fn after_add(store: &mut Store, spec: &Spec, key: &str, id: &str, ctx: &Ctx) {
    let name = store
        .entity(key, id)
        .and_then(|e| e.node.text_of("name").map(str::to_string))
        .unwrap_or_default();
    match spec.segment {
        "vms" => {
            store.insert(
                &format!("vms/{id}/cdroms"),
                BLANK,
                render::node(&render::cdrom_value(id)),
                Vec::new(),
            );
            let snapshot = render::active_snapshot_value(id);
            let sid = snapshot.id.clone().unwrap_or_default();
            store.insert(
                &format!("vms/{id}/snapshots"),
                &sid,
                render::node(&snapshot),
                Vec::new(),
            );
            let about = Node::reference("vm", id, &href("vms", id));
            event(
                store,
                ctx,
                format!("VM {name} was created by admin@internal-authz."),
                Some(about),
            );
        }
        "imagetransfers" => crate::transfers::after_add(store, id, ctx),
        "templates" => {
            staged(
                store,
                ctx,
                (key, id),
                "status",
                &["locked", "ok"],
                &format!("Creating Template {name}"),
                vec![],
            );
        }
        "disks" => {
            let label = store
                .entity(key, id)
                .and_then(|e| {
                    e.node
                        .text_of("alias")
                        .or(e.node.text_of("name"))
                        .map(str::to_string)
                })
                .unwrap_or_default();
            staged(
                store,
                ctx,
                (key, id),
                "status",
                &["locked", "ok"],
                &format!("Adding Disk {label}"),
                vec![],
            );
        }
        "snapshots" => {
            staged(
                store,
                ctx,
                (key, id),
                "snapshot_status",
                &["locked", "ok"],
                "Creating VM Snapshot",
                vec![],
            );
        }
        "hosts" => {
            staged(
                store,
                ctx,
                (key, id),
                "status",
                &["installing", "initializing", "up"],
                &format!("Adding new Host {name}"),
                vec![],
            );
        }
        _ => {}
    }
}

/// The id of the `Blank` template (and of a VM's CD-ROM), as in a real engine.
pub(crate) const BLANK: &str = "00000000-0000-0000-0000-000000000000";

/// The disk of a new disk attachment: an existing one named by id, or a new one created
/// from the `<disk>` sent. Returns its id (the attachment's id).
pub(crate) fn attach_disk(store: &mut Store, node: &mut Node, ctx: &Ctx) -> Result<String, Answer> {
    let Some(disk) = node.child("disk").cloned() else {
        return Err(Answer::fault(
            400,
            "Incomplete parameters",
            "DiskAttachment [disk] required for add",
        ));
    };
    let id = match disk.attr("id") {
        Some(id) => {
            if store.entity("disks", id).is_none() {
                return Err(Answer::fault(
                    404,
                    "Operation Failed",
                    &format!("Entity not found: Disk: id={id}"),
                ));
            }
            id.to_string()
        }
        None => {
            let answer = store.add("disks", disk.to_xml().as_bytes(), ctx);
            match answer
                .location
                .as_deref()
                .and_then(|l| l.rsplit('/').next())
            {
                Some(id) if answer.status == 201 => id.to_string(),
                _ => return Err(answer),
            }
        }
    };
    node.put(Node::reference("disk", &id, &href("disks", &id)));
    Ok(id)
}

/// The object an attaching collection attaches: an existing one of the top collection
/// of the same segment, named by id or name. Returns its id (the attachment's id).
pub(crate) fn attach(
    store: &mut Store,
    spec: &Spec,
    key: &str,
    node: &mut Node,
    id: Option<String>,
) -> Result<String, Answer> {
    let label = spec.label;
    let name = node.text_of("name").map(str::to_string);
    if id.is_none() && name.is_none() {
        let detail = format!("{label} [id|name] required for add");
        return Err(Answer::fault(400, "Incomplete parameters", &detail));
    }
    let Some(target) = store.find(spec.segment, id.as_deref(), name.as_deref()) else {
        let what = id.map_or(format!("name={}", name.unwrap_or_default()), |i| {
            format!("id={i}")
        });
        let detail = format!("Entity not found: {label}: {what}");
        return Err(Answer::fault(404, "Operation Failed", &detail));
    };
    let (target_id, mut copy) = (target.id.clone(), target.node.clone());
    if store.entity(key, &target_id).is_some() {
        let detail = format!("[Cannot attach {label}. It is attached already.]");
        return Err(Answer::fault(409, "Operation Failed", &detail));
    }
    copy.attrs.clear();
    *node = copy;
    Ok(target_id)
}

/// Whether an object may be removed now.
pub(crate) fn check_remove(_store: &Store, spec: &Spec, e: &Entity) -> Result<(), Answer> {
    let status = e.node.text_of("status").unwrap_or_default();
    match spec.segment {
        "vms" if status != "down" => Err(Answer::fault(
            409,
            "Operation Failed",
            "[Cannot remove VM. VM is running.]",
        )),
        "hosts" if status != "maintenance" => Err(Answer::fault(
            409,
            "Operation Failed",
            "[Cannot remove Host. Host must be in maintenance mode first.]",
        )),
        "disks" if status == "locked" => Err(Answer::fault(
            409,
            "Operation Failed",
            "[Cannot remove Virtual Disk. Related operation is currently in progress. Please try again later.]",
        )),
        _ => Ok(()),
    }
}

fn conflict(detail: &str) -> Answer {
    Answer::action_fault(409, "Operation Failed", &format!("[{detail}]"))
}

/// A host a starting VM runs on: one that is up, in the VM's cluster if there is one.
fn pick_host(store: &Store, vm: &Node) -> Option<String> {
    let cluster = vm.child("cluster").and_then(|c| c.attr("id"));
    let hosts = store.coll("hosts")?;
    let up = |e: &&Entity| e.node.text_of("status") == Some("up");
    let in_cluster = |e: &&Entity| e.node.child("cluster").and_then(|c| c.attr("id")) == cluster;
    hosts
        .items
        .iter()
        .filter(up)
        .find(in_cluster)
        .or_else(|| hosts.items.iter().find(up))
        .map(|e| e.id.clone())
}

/// A console ticket: a value no other ticket of this engine has, and the expiry asked
/// for (default 2 hours).
fn ticket(store: &mut Store, action: &types::Action) -> types::Ticket {
    let expiry = action
        .ticket
        .as_ref()
        .and_then(|t| t.expiry)
        .unwrap_or(7200);
    let n = store.next_pending_serial();
    let value = format!(
        "tkt-{:016x}",
        (n ^ 0x5dee_ce66d).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    );
    types::Ticket::new().value(value).expiry(expiry)
}

/// `POST` of an action on an object (R1.2, R1.5, R1.6).
pub(crate) fn run(
    store: &mut Store,
    key: &str,
    id: &str,
    name: &str,
    body: &[u8],
    ctx: &Ctx,
) -> Answer {
    let Some(spec) = store.coll(key).map(|c| c.spec) else {
        return Answer::empty(404);
    };
    let Some(node) = store.entity(key, id).map(|e| e.node.clone()) else {
        return Answer::empty(404);
    };
    let text = String::from_utf8_lossy(body);
    let action: types::Action = if text.trim().is_empty() {
        types::Action::new()
    } else {
        match ovirt::xml::from_str_tagged(&text, "action") {
            Ok(a) => a,
            Err(err) => return Answer::fault(400, "Invalid request body", &err.to_string()),
        }
    };
    let accepted = ctx.accepted || action.r#async == Some(true);
    if spec.segment == crate::transfers::KEY {
        return crate::transfers::action(store, id, name, &node, accepted, ctx);
    }
    let status = node.text_of("status").unwrap_or_default().to_string();
    let label = node.text_of("name").unwrap_or_default().to_string();
    let mut reply = types::Action::new().status("complete");
    let job = match (spec.segment, name) {
        ("vms", "start") => {
            let stages: &[&str] = match status.as_str() {
                "down" => &["wait_for_launch", "powering_up", "up"],
                "suspended" => &["restoring_state", "up"],
                "up" => return conflict("Cannot run VM. VM is running."),
                s => return conflict(&format!("Cannot run VM. VM is {s}.")),
            };
            let host = pick_host(store, &node);
            let mut extra = Vec::new();
            if let Some(h) = host {
                let r = Node::reference("host", &h, &href("hosts", &h));
                extra.push((0, Change::new(key, id).node(r)));
            }
            extra.push((
                stages.len() - 1,
                Change::new(key, id).text("start_time", time(ctx.now)),
            ));
            event(
                store,
                ctx,
                format!("VM {label} was started by admin@internal-authz."),
                Some(Node::reference("vm", id, &href(key, id))),
            );
            staged(
                store,
                ctx,
                (key, id),
                "status",
                stages,
                &format!("Launching VM {label}"),
                extra,
            )
        }
        ("vms", verb @ ("stop" | "shutdown" | "suspend" | "reboot")) => {
            let (allowed, stages): (bool, &[&str]) = match verb {
                "stop" => (status != "down", &["powering_down", "down"]),
                "shutdown" => (status == "up", &["powering_down", "down"]),
                "suspend" => (status == "up", &["saving_state", "suspended"]),
                _ => (status == "up", &["reboot_in_progress", "up"]),
            };
            if !allowed {
                let what = if status == "down" {
                    "not running".to_string()
                } else {
                    status.clone()
                };
                let verb = if verb == "shutdown" {
                    "shut down"
                } else {
                    verb
                };
                return conflict(&format!("Cannot {verb} VM. VM is {what}."));
            }
            let last = stages.len() - 1;
            let mut extra = Vec::new();
            if stages[last] == "down" {
                extra.push((
                    last,
                    Change::new(key, id)
                        .unset("host")
                        .text("stop_time", time(ctx.now)),
                ));
            }
            staged(
                store,
                ctx,
                (key, id),
                "status",
                stages,
                &format!("VM {label}: {verb}"),
                extra,
            )
        }
        ("vms", "ticket") => {
            if status != "up" {
                return conflict("Cannot set ticket. VM is not running.");
            }
            reply = reply.ticket(ticket(store, &action));
            String::new()
        }
        ("hosts", "deactivate") => {
            if status != "up" {
                return conflict(&format!(
                    "Cannot switch Host {label} to Maintenance mode. Host is {status}."
                ));
            }
            staged(
                store,
                ctx,
                (key, id),
                "status",
                &["preparing_for_maintenance", "maintenance"],
                &format!("Moving Host {label} to Maintenance"),
                vec![],
            )
        }
        ("hosts", "activate") => {
            if status != "maintenance" {
                return conflict(&format!("Cannot activate Host {label}. Host is {status}."));
            }
            staged(
                store,
                ctx,
                (key, id),
                "status",
                &["connecting", "up"],
                &format!("Activating Host {label}"),
                vec![],
            )
        }
        ("hosts", "iscsidiscover") => {
            let Some(address) = action.iscsi.as_ref().and_then(|i| i.address.clone()) else {
                return Answer::action_fault(
                    400,
                    "Incomplete parameters",
                    "Action [iscsi.address] required for iscsiDiscover",
                );
            };
            let targets = (0..2)
                .map(|i| format!("iqn.2026-01.com.example:{address}:target{i}"))
                .collect::<Vec<_>>();
            reply = reply.iscsi_targets(targets);
            String::new()
        }
        ("graphicsconsoles", "ticket") => {
            let vm_id = key.split('/').nth(1).unwrap_or_default();
            let vm_status = store
                .entity("vms", vm_id)
                .and_then(|v| v.node.text_of("status"));
            if vm_status != Some("up") {
                return conflict("Cannot set ticket. VM is not running.");
            }
            reply = reply.ticket(ticket(store, &action));
            String::new()
        }
        ("storagedomains", verb @ ("activate" | "deactivate")) if spec.parent.is_some() => {
            let (from, stages): (&str, &[&str]) = match verb {
                "activate" => ("maintenance", &["locked", "active"]),
                _ => ("active", &["locked", "maintenance"]),
            };
            if status != from {
                return conflict(&format!(
                    "Cannot {verb} Storage Domain {label}. Storage Domain is {status}."
                ));
            }
            let description = format!("Storage Domain {label}: {verb}");
            staged(
                store,
                ctx,
                (key, id),
                "status",
                stages,
                &description,
                vec![],
            )
        }
        ("jobs", "end") => {
            if status != "started" {
                return conflict(&format!("Cannot end Job. Job is {status}."));
            }
            let end = if action.succeeded == Some(false) {
                "failed"
            } else {
                "finished"
            };
            apply(
                store,
                vec![Change::new(key, id)
                    .text("status", end)
                    .text("end_time", time(ctx.now))],
            );
            String::new()
        }
        ("jobs", "clear") => {
            store.delete(key, id);
            String::new()
        }
        ("snapshots", "restore") => {
            let vm_key = key.rsplit_once('/').map(|(k, _)| k).unwrap_or("");
            let vm_id = vm_key.rsplit_once('/').map(|(_, v)| v).unwrap_or("");
            let vm_status = store
                .entity("vms", vm_id)
                .and_then(|v| v.node.text_of("status"))
                .unwrap_or("");
            if vm_status != "down" {
                return conflict("Cannot revert to Snapshot. VM must be down.");
            }
            staged(
                store,
                ctx,
                ("vms", vm_id),
                "status",
                &["image_locked", "down"],
                "Restoring VM Snapshot",
                vec![],
            )
        }
        _ => return Answer::empty(404),
    };
    if !job.is_empty() {
        reply = reply.job(types::Job::new().id(job.as_str()).href(href("jobs", &job)));
    }
    if accepted {
        reply.status = Some("pending".to_string());
        reply.r#async = Some(true);
        return Answer::xml(202, ovirt::xml::to_string_tagged(&reply, "action"));
    }
    Answer::xml(200, ovirt::xml::to_string_tagged(&reply, "action"))
}
