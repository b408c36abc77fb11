//! Kerberos login against a real engine set up for Kerberos single sign-on.
//!
//! ```sh
//! kinit alice@EXAMPLE.COM
//! cargo run -p ovirt --features kerberos --example kerberos_login -- \
//!     --url https://engine.example.com/ovirt-engine/api --ca-file ca.pem
//! ```
//!
//! It logs in through HTTP Negotiate (SPNEGO) with the ticket `kinit` put into the
//! credential cache (or the one `--ccache NAME` names), prints the engine's product name
//! and version and the number of VMs the user sees, and logs out. The host of the URL must
//! be the engine's name as the KDC knows it: the ticket is for `HTTP/<host>`.

use std::process::ExitCode;

fn usage() -> ExitCode {
    eprintln!(
        "usage: kerberos_login --url https://ENGINE/ovirt-engine/api [--ca-file FILE] [--ccache NAME]\n\
         needs a Kerberos ticket (run `kinit` first) and krb5.conf naming the realm"
    );
    ExitCode::from(2)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mut url = None;
    let mut ca_file = None;
    let mut ccache = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next();
        match (arg.as_str(), value) {
            ("--url", Some(v)) => url = Some(v),
            ("--ca-file", Some(v)) => ca_file = Some(v),
            ("--ccache", Some(v)) => ccache = Some(v),
            _ => return usage(),
        }
    }
    let Some(url) = url else {
        return usage();
    };
    let mut builder = ovirt::Connection::builder().url(url).kerberos(true);
    if let Some(ca) = ca_file {
        builder = builder.ca_file(ca);
    }
    if let Some(cc) = ccache {
        builder = builder.kerberos_ccache(cc);
    }
    match run(builder).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(builder: ovirt::ConnectionBuilder) -> Result<(), ovirt::Error> {
    let connection = builder.build()?;
    let api = connection.system_service().get().await?;
    let product = api.product_info.as_ref();
    println!(
        "logged in with Kerberos to {} {}",
        product
            .and_then(|p| p.name.as_deref())
            .unwrap_or("the engine"),
        product
            .and_then(|p| p.version.as_ref())
            .and_then(|v| v.full_version.as_deref())
            .unwrap_or("")
    );
    let vms = connection.system_service().vms_service().list().await?;
    println!("{} VMs visible to this user", vms.len());
    connection.close().await
}
