//! Handling errors by their kind: an object that does not exist (404), an engine fault (a
//! VM name already in use: 409 with the fault's reason and detail), a wrong password.
//!
//! ```text
//! cargo run -p ovirt --example errors
//! cargo run -p ovirt --example errors -- --url https://engine/ovirt-engine/api \
//!     --username admin@internal --password secret [--ca-file ca.pem | --insecure]
//! ```
//!
//! Without `--url` it runs against the test engine started in-process. Against a real
//! engine the duplicate-name case names an existing VM and a cluster named `Default`.

mod common;

use std::process::ExitCode;

use ovirt::error::ErrorKind;
use ovirt::types::{Cluster, Template, Vm};
use ovirt::Error;

const USAGE: &str =
    "usage: errors [--url URL --username U --password P [--ca-file F | --insecure]]";

/// What the program does about an error depends on its kind.
fn explain(what: &str, error: &Error) {
    match error.kind() {
        ErrorKind::NotFound => println!("{what}: not found ({error})"),
        ErrorKind::Conflict | ErrorKind::Fault => {
            let fault = error.engine_fault();
            println!(
                "{what}: the engine refused it (HTTP {:?}): reason {:?}, detail {:?}",
                error.http_status(),
                fault.and_then(|f| f.reason.as_deref()),
                fault.and_then(|f| f.detail.as_deref()),
            );
        }
        ErrorKind::Authentication => println!("{what}: authentication failed ({error})"),
        ErrorKind::Timeout | ErrorKind::Connection => println!(
            "{what}: transient failure, may have been processed: {} ({error})",
            error.may_have_been_processed()
        ),
        _ => println!("{what}: {error}"),
    }
}

/// The error `result` holds, or a message when it unexpectedly succeeded.
fn expect_error<T>(what: &str, result: Result<T, Error>) -> Result<Error, String> {
    match result {
        Ok(_) => Err(format!("{what}: expected an error, the call succeeded")),
        Err(e) => {
            explain(what, &e);
            Ok(e)
        }
    }
}

async fn run() -> Result<(), String> {
    let (target, _) = common::target(&[]).await?;
    let connection = target.connect().map_err(|e| e.to_string())?;
    let vms_service = connection.system_service().vms_service();

    // 1. Not found: a VM id that does not exist.
    let missing = vms_service
        .vm_service("00000000-0000-0000-0000-000000000000")
        .get()
        .await;
    let e = expect_error("get a missing VM", missing)?;
    check(target.is_embedded(), e.is_not_found())?;

    // 2. A fault: adding a VM with the name of an existing one.
    let existing = vms_service.list().max(1).await.map_err(|e| e.to_string())?;
    if let Some(name) = existing.first().and_then(|vm| vm.name.clone()) {
        let cluster = match &target.engine {
            Some(engine) => engine.inventory().clusters[0].name.clone(),
            None => "Default".to_string(),
        };
        let duplicate = vms_service
            .add()
            .vm(Vm::new()
                .name(name)
                .cluster(Cluster::new().name(cluster))
                .template(Template::new().name("Blank")))
            .await;
        let e = expect_error("add a VM with a name in use", duplicate)?;
        check(
            target.is_embedded(),
            e.is_conflict() && e.engine_fault().is_some(),
        )?;
    }
    connection.close().await.map_err(|e| e.to_string())?;

    // 3. A wrong password: the login fails, before any API request is sent.
    let wrong = target
        .builder()
        .username(target.username.clone())
        .password("not-the-password")
        .build()
        .map_err(|e| e.to_string())?;
    let e = expect_error("log in with a wrong password", wrong.authenticate().await)?;
    check(target.is_embedded(), e.is_authentication())?;
    // The password never appears in the error.
    check(true, !format!("{e} {e:?}").contains("not-the-password"))?;
    Ok(())
}

/// Against the embedded engine the outcome is known, so it is checked.
fn check(embedded: bool, as_expected: bool) -> Result<(), String> {
    if embedded && !as_expected {
        return Err("the embedded engine answered something unexpected".to_string());
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    common::exit(USAGE, run().await)
}
