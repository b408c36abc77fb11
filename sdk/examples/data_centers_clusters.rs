//! Lists the data centers and, under each, its clusters, following the clusters' data
//! center references the way the engine returns them (no id juggling: a reference is
//! followed with `follow_link(&cluster.data_center)`, a locator takes `&dc`).
//!
//! ```text
//! cargo run -p ovirt --example data_centers_clusters
//! cargo run -p ovirt --example data_centers_clusters -- --url https://engine/ovirt-engine/api \
//!     --username admin@internal --password secret [--ca-file ca.pem | --insecure]
//! ```

mod common;

use std::process::ExitCode;

const USAGE: &str =
    "usage: data_centers_clusters [--url URL --username U --password P [--ca-file F | --insecure]]";

async fn run(target: &common::Target) -> Result<(), ovirt::Error> {
    let connection = target.connect()?;
    let system = connection.system_service();
    // Both lists at once: the second request is on its way before the first answer.
    let data_centers = system.data_centers_service().list().send();
    let clusters = system.clusters_service().list().send();
    let (data_centers, clusters) = (data_centers.await?, clusters.await?);
    for dc in &data_centers {
        // The locator takes the data center itself.
        let again = system
            .data_centers_service()
            .data_center_service(dc)
            .get()
            .await?;
        println!(
            "data center {} (status {})",
            again.name.as_deref().unwrap_or("?"),
            again.status.as_ref().map_or("?", |s| s.as_str())
        );
        for c in clusters
            .iter()
            .filter(|c| c.data_center.as_ref().and_then(|d| d.id.as_deref()) == dc.id.as_deref())
        {
            println!("  cluster {}", c.name.as_deref().unwrap_or("?"));
        }
    }
    // A reference inside a returned object, followed as it is.
    if let Some(first) = clusters.iter().find(|c| c.data_center.is_some()) {
        let dc = connection.follow_link(&first.data_center).await?;
        println!(
            "cluster {} belongs to data center {}",
            first.name.as_deref().unwrap_or("?"),
            dc.name.as_deref().unwrap_or("?")
        );
    }
    connection.close().await
}

#[tokio::main]
async fn main() -> ExitCode {
    let target = match common::target(&[]).await {
        Ok((target, _)) => target,
        Err(e) => return common::exit(USAGE, Err(e)),
    };
    // `{:?}` of an `ovirt::Error` is its message after its kind, then its causes.
    common::exit(USAGE, run(&target).await.map_err(|e| format!("{e:?}")))
}
