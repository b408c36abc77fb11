//! Lists every VM a page at a time: the engine's search `page N` with `max` as the page
//! size, until a page comes back short. Each VM's NICs are asked for as soon as its page
//! is in (the locator takes the VM itself).
//!
//! ```text
//! cargo run -p ovirt --example list_vms_paged -- [--page-size 5]
//! cargo run -p ovirt --example list_vms_paged -- --url https://engine/ovirt-engine/api \
//!     --username admin@internal --password secret [--ca-file ca.pem | --insecure] [--page-size 50]
//! ```
//!
//! Against the embedded test engine this needs its support of `page N` in searches.

mod common;

use std::process::ExitCode;

const USAGE: &str = "usage: list_vms_paged [--url URL --username U --password P [--ca-file F | --insecure]] [--page-size N]";

async fn run(target: &common::Target, page_size: i64) -> Result<(), ovirt::Error> {
    let connection = target.connect()?;
    let vms_service = connection.system_service().vms_service();
    let mut total = 0;
    for page in 1.. {
        let vms = vms_service
            .list()
            .search(format!("sortby name page {page}"))
            .max(page_size)
            .await?;
        // The NICs of the whole page, all on their way before the first answer.
        let nics: Vec<_> = vms
            .iter()
            .map(|vm| vms_service.vm_service(vm).nics_service().list().send())
            .collect();
        for (vm, nics) in vms.iter().zip(nics) {
            println!(
                "page {page}: {} ({} NICs)",
                vm.name.as_deref().unwrap_or("?"),
                nics.await?.len()
            );
        }
        total += vms.len();
        if (vms.len() as i64) < page_size {
            break;
        }
    }
    println!("{total} VMs");
    connection.close().await
}

#[tokio::main]
async fn main() -> ExitCode {
    let (target, extra) = match common::target(&["--page-size"]).await {
        Ok(x) => x,
        Err(e) => return common::exit(USAGE, Err(e)),
    };
    let mut page_size = 5;
    for (_, value) in extra {
        match value.parse::<i64>() {
            Ok(n) if n > 0 => page_size = n,
            _ => {
                return common::exit(
                    USAGE,
                    Err(format!(
                        "--page-size needs a positive number, got {value:?}"
                    )),
                )
            }
        }
    }
    common::exit(
        USAGE,
        run(&target, page_size).await.map_err(|e| format!("{e:?}")),
    )
}
