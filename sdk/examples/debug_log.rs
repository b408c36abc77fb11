//! Turns the SDK's debug log on (the equivalent of the Python SDK's `debug=True`) and
//! makes a few calls: request lines, statuses and timings go to stderr, and with
//! `--bodies` the request and response bodies too, secrets redacted (see `ovirt::logging`).
//!
//! ```text
//! cargo run -p ovirt --example debug_log -- [--bodies yes]
//! RUST_LOG=ovirt::request=debug cargo run -p ovirt --example debug_log   # request lines only
//! cargo run -p ovirt --example debug_log -- --url https://engine/ovirt-engine/api \
//!     --username admin@internal --password secret [--ca-file ca.pem | --insecure]
//! ```

mod common;

use std::process::ExitCode;

use tracing_subscriber::EnvFilter;

const USAGE: &str = "usage: debug_log [--url URL --username U --password P [--ca-file F | --insecure]] [--bodies yes|no]";

async fn run(target: &common::Target, bodies: bool) -> Result<(), ovirt::Error> {
    let connection = target
        .builder()
        .username(target.username.clone())
        .password(target_password(target))
        .log_bodies(bodies)
        .build()?;
    let vms_service = connection.system_service().vms_service();
    let vms = vms_service.list().max(3).await?;
    for vm in &vms {
        vms_service.vm_service(vm).nics_service().list().await?;
    }
    println!("{} VMs read; the log is on stderr", vms.len());
    connection.close().await
}

/// The password of the target: the example's own for the embedded engine.
fn target_password(target: &common::Target) -> String {
    if target.is_embedded() {
        ovirt_test_engine::PASSWORD.to_string()
    } else {
        std::env::args()
            .skip_while(|a| a != "--password")
            .nth(1)
            .unwrap_or_default()
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let (target, extra) = match common::target(&["--bodies"]).await {
        Ok(x) => x,
        Err(e) => return common::exit(USAGE, Err(e)),
    };
    let bodies = extra.iter().any(|(_, v)| v == "yes");
    // The documented targets: `RUST_LOG` if set, else request lines, responses and bodies.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new("ovirt::request=debug,ovirt::response=debug,ovirt::body=trace")
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    common::exit(
        USAGE,
        run(&target, bodies).await.map_err(|e| format!("{e:?}")),
    )
}
