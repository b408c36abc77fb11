//! Image transfers on the API side: the `imagetransfers` collection, the phases of a
//! transfer and their effect on its disk and on its imageio ticket ([`crate::imageio`]).
//!
//! Adding a transfer locks its disk and creates a closed ticket; the transfer goes
//! `initializing` -> `transferring` on the engine's clock, and with `transferring` it gets
//! its `transfer_url` and `proxy_url` and the ticket opens. `finalize` goes
//! `finalizing_success` -> `finished_success` (the disk `ok` again, its `actual_size` the
//! bytes stored); `cancel` goes `cancelled_user` -> `finalizing_failure` ->
//! `finished_failure` (a download's disk `ok` again, an upload's disk removed, as the
//! engine removes the disk of a failed upload), and so does a `finalize` that a test
//! made fail (after `finalizing_success`). An expired ticket pauses an upload
//! (`paused_system`) and cancels a download (`cancelled_system` -> ... ->
//! `finished_failure`), as `timeout_policy` `legacy` says; `pause` and `cancel` policies
//! do the one or the other for both directions.

use crate::actions::{self, Change, Ctx};
use crate::node::Node;
use crate::render::API_PATH;
use crate::store::{Answer, Store};
use ovirt::types;

/// The collection of transfers.
pub(crate) const KEY: &str = "imagetransfers";

fn href(key: &str, id: &str) -> String {
    format!("{API_PATH}/{key}/{id}")
}

fn disk_label(disk: &Node) -> String {
    disk.text_of("alias")
        .or(disk.text_of("name"))
        .unwrap_or_default()
        .to_string()
}

/// Checks a new transfer (its references already resolved) and fills in the engine's
/// values; the caller stores it.
pub(crate) fn check_add(store: &Store, node: &mut Node) -> Result<(), Answer> {
    let disk_id = node
        .child("disk")
        .and_then(|d| d.attr("id"))
        .map(str::to_string);
    let Some(disk_id) = disk_id else {
        if node.child("snapshot").is_some() || node.child("image").is_some() {
            return Err(Answer::fault(
                400,
                "Operation Failed",
                "The test engine transfers disks only: name the disk (disk.id)",
            ));
        }
        return Err(Answer::fault(
            400,
            "Incomplete parameters",
            "ImageTransfer [disk.id|name] required for add",
        ));
    };
    let Some(disk) = store.entity("disks", &disk_id).map(|e| e.node.clone()) else {
        return Err(Answer::fault(
            404,
            "Operation Failed",
            &format!("Entity not found: Disk: id={disk_id}"),
        ));
    };
    match disk.text_of("status").unwrap_or_default() {
        "ok" => {}
        "locked" => {
            return Err(Answer::fault(
                409,
                "Operation Failed",
                &format!(
                    "[Cannot transfer Virtual Disk. The following disks are locked: {}. Please try again in a few minutes.]",
                    disk_label(&disk)
                ),
            ))
        }
        status => {
            return Err(Answer::fault(
                409,
                "Operation Failed",
                &format!(
                    "[Cannot transfer Virtual Disk. Disk {} is {status}.]",
                    disk_label(&disk)
                ),
            ))
        }
    }
    let default = |node: &mut Node, name: &str, value: &str| {
        if node.text_of(name).is_none_or(str::is_empty) {
            node.put_text(name, value);
        }
    };
    default(node, "direction", "upload");
    let format = disk.text_of("format").unwrap_or("raw").to_string();
    default(node, "format", &format);
    default(node, "inactivity_timeout", "60");
    default(node, "timeout_policy", "legacy");
    node.put_text("phase", "initializing");
    node.put_text("active", "false");
    node.put_text("transferred", "0");
    node.remove("transfer_url");
    node.remove("proxy_url");
    if node.child("host").is_none() {
        if let Some(host) = up_host(store) {
            node.put(Node::reference("host", &host, &href("hosts", &host)));
        }
    }
    Ok(())
}

fn up_host(store: &Store) -> Option<String> {
    store
        .coll("hosts")?
        .items
        .iter()
        .find(|h| h.node.text_of("status") == Some("up"))
        .map(|h| h.id.clone())
}

fn number(node: &Node, name: &str) -> u64 {
    node.text_of(name)
        .and_then(|v| v.trim().parse::<i64>().ok())
        .map_or(0, |v| v.max(0) as u64)
}

/// The bytes a transfer of `format` may reach on `disk`: the virtual size for `raw`, the
/// `initial_size` (the size of the qcow2 file) for `cow` when there is one.
fn ticket_size(disk: &Node, raw: bool) -> u64 {
    let provisioned = number(disk, "provisioned_size");
    let initial = number(disk, "initial_size");
    if !raw && initial > 0 {
        initial
    } else {
        provisioned
    }
}

/// Creates the ticket of a stored transfer and schedules its first phases.
pub(crate) fn after_add(store: &mut Store, id: &str, ctx: &Ctx) {
    let Some(node) = store.entity(KEY, id).map(|e| e.node.clone()) else {
        return;
    };
    let disk_id = node
        .child("disk")
        .and_then(|d| d.attr("id"))
        .unwrap_or_default()
        .to_string();
    let Some(disk) = store.entity("disks", &disk_id).map(|e| e.node.clone()) else {
        return;
    };
    let upload = node.text_of("direction") != Some("download");
    let raw = node.text_of("format") != Some("cow");
    let size = ticket_size(&disk, raw);
    let timeout = number(&node, "inactivity_timeout");
    let ticket = store
        .hub
        .create_ticket(id, &disk_id, size, upload, raw, timeout);
    let (transfer_url, proxy_url) = store.hub.urls_for(&ticket);
    let mut open = Change::new(KEY, id)
        .text("phase", "transferring")
        .text("active", "true");
    if let Some(u) = transfer_url {
        open = open.text("transfer_url", u);
    }
    if let Some(u) = proxy_url {
        open = open.text("proxy_url", u);
    }
    actions::schedule(
        store,
        ctx,
        vec![
            vec![
                Change::new(KEY, id).text("phase", "initializing"),
                Change::new("disks", &disk_id).text("status", "locked"),
            ],
            vec![open],
        ],
    );
}

/// A phase was applied to a transfer: its ticket lets requests in only in
/// `transferring`.
pub(crate) fn on_phase(store: &Store, id: &str, phase: &str) {
    store.hub.set_open(id, phase == "transferring");
}

/// The stages that end a transfer in failure, from `first` (`cancelled_user` or
/// `cancelled_system`).
fn failure_stages(store: &Store, id: &str, node: &Node, first: &str) -> Vec<Vec<Change>> {
    let disk_id = node
        .child("disk")
        .and_then(|d| d.attr("id"))
        .unwrap_or_default()
        .to_string();
    let upload = node.text_of("direction") != Some("download");
    let disk_end = if upload && store.entity("disks", &disk_id).is_some() {
        Change::new("disks", &disk_id).delete()
    } else {
        Change::new("disks", &disk_id).text("status", "ok")
    };
    vec![
        vec![Change::new(KEY, id)
            .text("phase", first)
            .text("active", "false")],
        vec![Change::new(KEY, id).text("phase", "finalizing_failure")],
        vec![
            Change::new(KEY, id).text("phase", "finished_failure"),
            disk_end,
        ],
    ]
}

/// `POST` of an action on a transfer: `finalize`, `cancel`, `pause`, `resume`, `extend`.
pub(crate) fn action(
    store: &mut Store,
    id: &str,
    name: &str,
    node: &Node,
    accepted: bool,
    ctx: &Ctx,
) -> Answer {
    let phase = node.text_of("phase").unwrap_or_default().to_string();
    let conflict = |what: &str| {
        Answer::action_fault(
            409,
            "Operation Failed",
            &format!("[Cannot {what} the image transfer. Its phase is {phase}.]"),
        )
    };
    let paused = phase == "paused_user" || phase == "paused_system";
    let ended = phase.starts_with("finished")
        || phase.starts_with("finalizing")
        || phase.starts_with("cancelled");
    let disk_id = node
        .child("disk")
        .and_then(|d| d.attr("id"))
        .unwrap_or_default()
        .to_string();
    match name {
        "finalize" => {
            if phase != "transferring" && !paused {
                return conflict("finalize");
            }
            if store.hub.take_finalize_failure() {
                let stages = failure_stages(store, id, node, "finalizing_success");
                actions::schedule(store, ctx, stages);
                return complete(accepted);
            }
            let upload = node.text_of("direction") != Some("download");
            let mut done = vec![
                Change::new(KEY, id).text("phase", "finished_success"),
                Change::new("disks", &disk_id).text("status", "ok"),
            ];
            if upload {
                let raw = node.text_of("format") != Some("cow");
                let size = store
                    .entity("disks", &disk_id)
                    .map_or(0, |d| ticket_size(&d.node, raw));
                let stored = store.hub.allocated(&disk_id, size);
                done.push(Change::new("disks", &disk_id).text("actual_size", stored.to_string()));
            }
            actions::schedule(
                store,
                ctx,
                vec![
                    vec![Change::new(KEY, id)
                        .text("phase", "finalizing_success")
                        .text("active", "false")],
                    done,
                ],
            );
        }
        "cancel" => {
            if ended {
                return conflict("cancel");
            }
            let stages = failure_stages(store, id, node, "cancelled_user");
            actions::schedule(store, ctx, stages);
        }
        "pause" => {
            if phase != "transferring" {
                return conflict("pause");
            }
            actions::schedule(
                store,
                ctx,
                vec![vec![Change::new(KEY, id)
                    .text("phase", "paused_user")
                    .text("active", "false")]],
            );
        }
        "resume" => {
            if !paused {
                return conflict("resume");
            }
            actions::schedule(
                store,
                ctx,
                vec![
                    vec![Change::new(KEY, id).text("phase", "resuming")],
                    vec![Change::new(KEY, id)
                        .text("phase", "transferring")
                        .text("active", "true")],
                ],
            );
        }
        "extend" => {
            if phase != "transferring" {
                return conflict("extend");
            }
            store.hub.touch(id);
        }
        _ => return Answer::empty(404),
    }
    complete(accepted)
}

/// The answer to an action that was started.
fn complete(accepted: bool) -> Answer {
    let mut reply = types::Action::new().status("complete");
    if accepted {
        reply.status = Some("pending".to_string());
        reply.r#async = Some(true);
        return Answer::xml(202, ovirt::xml::to_string_tagged(&reply, "action"));
    }
    Answer::xml(200, ovirt::xml::to_string_tagged(&reply, "action"))
}

/// Collects what the imageio service saw since the last request: the bytes transferred,
/// and tickets that expired (their transfers pause or fail as `timeout_policy` says).
pub(crate) fn sync(store: &mut Store, ctx: &Ctx) {
    for ev in store.hub.events(ctx.now) {
        let Some(node) = store.entity(KEY, &ev.transfer_id).map(|e| e.node.clone()) else {
            continue;
        };
        actions::apply(
            store,
            vec![Change::new(KEY, &ev.transfer_id).text("transferred", ev.transferred.to_string())],
        );
        if !ev.expired || node.text_of("phase") != Some("transferring") {
            continue;
        }
        let upload = node.text_of("direction") != Some("download");
        let pause = match node.text_of("timeout_policy") {
            Some("pause") => true,
            Some("cancel") => false,
            _ => upload,
        };
        let stages = if pause {
            vec![vec![Change::new(KEY, &ev.transfer_id)
                .text("phase", "paused_system")
                .text("active", "false")]]
        } else {
            failure_stages(store, &ev.transfer_id, &node, "cancelled_system")
        };
        actions::schedule(store, ctx, stages);
    }
}
