//! Links between objects: get a VM, follow its cluster reference and its `nics` link, then
//! ask for the NICs inline with the `follow` parameter.
//!
//! ```text
//! cargo run -p ovirt --example follow_links
//! cargo run -p ovirt --example follow_links -- --url https://engine/ovirt-engine/api \
//!     --username admin@internal --password secret [--ca-file ca.pem | --insecure] [--vm NAME]
//! ```
//!
//! Without `--url` it runs against the test engine started in-process.

mod common;

use std::process::ExitCode;

use ovirt::{Connection, Error, Link};

const USAGE: &str =
    "usage: follow_links [--url URL --username U --password P [--ca-file F | --insecure]] [--vm NAME]";

async fn run() -> Result<(), String> {
    let (target, extra) = common::target(&["--vm"]).await?;
    let search = extra
        .into_iter()
        .next()
        .map(|(_, name)| format!("name={name}"));
    let connection = target.connect().map_err(|e| e.to_string())?;
    let result = follow(&connection, search).await;
    let close = connection.close().await;
    result.map_err(|e| e.to_string())?;
    close.map_err(|e| e.to_string())
}

async fn follow(connection: &Connection, search: Option<String>) -> Result<(), Error> {
    let vms_service = connection.system_service().vms_service();
    let mut list = vms_service.list().max(1);
    if let Some(search) = search {
        list = list.search(search);
    }
    let Some(vm) = list.await?.into_iter().next() else {
        println!("no VM found");
        return Ok(());
    };
    let id = vm.id.clone().unwrap_or_default();
    let vm = vms_service.vm_service(&id).get().await?;
    println!("VM {} ({id})", vm.name.as_deref().unwrap_or("?"));

    // A reference: `<cluster id=".." href=".."/>`, only an id and an href.
    if let Some(cluster) = &vm.cluster {
        println!(
            "  cluster reference: is_link={} href={:?}",
            cluster.is_link(),
            cluster.href()
        );
        let cluster = connection.follow_link_object(cluster.as_ref()).await?;
        println!(
            "  cluster followed: {}",
            cluster.name.as_deref().unwrap_or("?")
        );
    }

    // A list link: `<link rel="nics" href=".."/>`, no items until followed.
    if let Some(nics) = &vm.nics {
        println!(
            "  nics link: is_link={} href={:?}",
            nics.is_link(),
            nics.href()
        );
        for nic in connection.follow_link(nics).await? {
            println!("  nic followed: {}", nic.name.as_deref().unwrap_or("?"));
        }
    }

    // `follow=nics`: the engine sends the NICs inside the VM, in the same answer.
    let vm = vms_service.vm_service(&id).get().follow("nics").await?;
    match &vm.nics {
        Some(nics) if !nics.is_link() => {
            for nic in nics {
                println!("  nic inline: {}", nic.name.as_deref().unwrap_or("?"));
            }
        }
        _ => println!("  the engine did not inline the NICs"),
    }

    // Navigation by path reaches the same NICs service.
    let path = format!("vms/{id}/nics");
    if let ovirt::services::AnyService::VmNics(nics) = connection.system_service().service(&path)? {
        println!("  {path}: {} nic(s)", nics.list().await?.len());
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    common::exit(USAGE, run().await)
}
