//! What the small examples share: their command line and the engine they talk to.
//!
//! Without `--url` an example starts the test engine in-process (HTTPS on 127.0.0.1 with
//! a CA generated at start); with `--url URL --username U --password P [--ca-file F |
//! --insecure]` it talks to a real engine. Other arguments are left to the example.

#![allow(dead_code)] // each example uses a part of it
use ovirt::{Connection, ConnectionBuilder, Error};
use ovirt_test_engine::{TestEngine, PASSWORD, USERNAME};

/// Where the example connects, and with which credentials.
pub struct Target {
    /// The embedded engine, kept running while the example runs (`None` for a real one).
    pub engine: Option<TestEngine>,
    url: String,
    /// The user name the example logs in with.
    pub username: String,
    password: String,
    ca_file: Option<String>,
    ca_pem: Option<Vec<u8>>,
    insecure: bool,
}

impl Target {
    /// A builder for this engine (URL and trust), without credentials.
    pub fn builder(&self) -> ConnectionBuilder {
        let mut b = Connection::builder()
            .url(self.url.clone())
            .insecure(self.insecure);
        if let Some(f) = &self.ca_file {
            b = b.ca_file(f);
        }
        if let Some(pem) = &self.ca_pem {
            b = b.ca_pem(pem.clone());
        }
        b
    }

    /// A connection with the given credentials.
    pub fn connect(&self) -> Result<Connection, Error> {
        self.builder()
            .username(self.username.clone())
            .password(self.password.clone())
            .build()
    }

    /// Whether this is the embedded test engine.
    pub fn is_embedded(&self) -> bool {
        self.engine.is_some()
    }
}

/// Reads the connection arguments; every other `--name value` pair is returned for the
/// example in `extra` when its name is in `known`. `Err("")` asks for the usage.
pub async fn target(known: &[&str]) -> Result<(Target, Vec<(String, String)>), String> {
    let (mut url, mut username, mut password, mut ca_file) = (None, None, None, None);
    let mut insecure = false;
    let mut extra = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--url" => url = Some(value()?),
            "--username" => username = Some(value()?),
            "--password" => password = Some(value()?),
            "--ca-file" => ca_file = Some(value()?),
            "--insecure" => insecure = true,
            "-h" | "--help" => return Err(String::new()),
            name if known.contains(&name) => {
                let v = value()?;
                extra.push((arg, v));
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if ca_file.is_some() && insecure {
        return Err("--ca-file and --insecure exclude each other".to_string());
    }
    let target = match url {
        Some(url) => Target {
            engine: None,
            url,
            username: username.ok_or("--url needs --username")?,
            password: password.ok_or("--url needs --password")?,
            ca_file,
            ca_pem: None,
            insecure,
        },
        None => {
            let engine = TestEngine::builder()
                .vms(20)
                .tls(true)
                .start()
                .await
                .map_err(|e| e.to_string())?;
            Target {
                url: engine.url(),
                username: USERNAME.to_string(),
                password: PASSWORD.to_string(),
                ca_file: None,
                ca_pem: engine.ca_pem().map(|p| p.as_bytes().to_vec()),
                insecure: false,
                engine: Some(engine),
            }
        }
    };
    Ok((target, extra))
}

/// Runs an example's body and turns the outcome into an exit code (2 with the usage for
/// bad arguments).
pub fn exit(usage: &str, result: Result<(), String>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) if e.is_empty() => {
            eprintln!("{usage}");
            std::process::ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The VM named `name` (a `name=` search), or a `NotFound` error saying so.
pub async fn vm_named(
    vms_service: &ovirt::services::VmsService,
    name: &str,
) -> Result<ovirt::types::Vm, Error> {
    let found = vms_service.list().search(format!("name={name}")).await?;
    found.into_iter().next().ok_or_else(|| {
        Error::with_message(
            ovirt::error::ErrorKind::NotFound,
            format!("no VM is named {name:?}"),
        )
    })
}

/// The main of an example that works on one VM: reads the common arguments and
/// `[--vm NAME]` (default `vm-0001`, a VM of the embedded engine), runs `run` and turns its
/// result into the exit code.
pub async fn run_on_vm<F, Fut>(usage: &str, run: F) -> std::process::ExitCode
where
    F: FnOnce(Target, String) -> Fut,
    Fut: std::future::Future<Output = Result<(), Error>>,
{
    let (target, extra) = match target(&["--vm"]).await {
        Ok(x) => x,
        Err(e) => return exit(usage, Err(e)),
    };
    let vm = extra
        .into_iter()
        .next()
        .map_or_else(|| "vm-0001".to_owned(), |(_, v)| v);
    exit(usage, run(target, vm).await.map_err(|e| format!("{e:?}")))
}
