//! Lists the VMs a search matches, at most `--max` of them, and prints their names.
//!
//! ```text
//! cargo run -p ovirt --example search_vms -- [--search 'name=vm-001*'] [--max 5]
//! cargo run -p ovirt --example search_vms -- --url https://engine/ovirt-engine/api \
//!     --username admin@internal --password secret [--ca-file ca.pem | --insecure] \
//!     [--search 'name=web*'] [--max 5]
//! ```
//!
//! Without `--url` it runs against the test engine started in-process.

mod common;

use std::process::ExitCode;

const USAGE: &str = "usage: search_vms [--url URL --username U --password P [--ca-file F | --insecure]] [--search QUERY] [--max N]";

async fn run() -> Result<(), String> {
    let (target, extra) = common::target(&["--search", "--max"]).await?;
    let mut search = "name=vm-001*".to_string();
    let mut max = 5;
    for (name, value) in extra {
        match name.as_str() {
            "--search" => search = value,
            _ => {
                max = value
                    .parse()
                    .map_err(|_| format!("--max needs a whole number, got {value:?}"))?
            }
        }
    }
    let connection = target.connect().map_err(|e| e.to_string())?;
    // `search` is the engine's query language; `max` caps the number of results.
    let vms = connection
        .system_service()
        .vms_service()
        .list()
        .search(search.as_str())
        .max(max)
        .await
        .map_err(|e| e.to_string())?;
    println!("{} VM(s) match {search:?} (max {max}):", vms.len());
    for vm in &vms {
        println!(
            "  {} ({})",
            vm.name.as_deref().unwrap_or("?"),
            vm.id.as_deref().unwrap_or("?")
        );
    }
    if target.is_embedded() && (vms.is_empty() || vms.len() as i64 > max) {
        return Err("the embedded engine should have returned 1 to max VMs".to_string());
    }
    connection.close().await.map_err(|e| e.to_string())
}

#[tokio::main]
async fn main() -> ExitCode {
    common::exit(USAGE, run().await)
}
