//! Generates the API types, XML readers/writers and services from the API model.
//!
//! The model is `spec/` in this package: in the repository `sdk/spec` is a symbolic link
//! to the workspace's `spec/` (which `cargo package` follows, so the published crate
//! carries the files). Where the link is not a directory (a checkout without symbolic
//! links), `../spec` is read instead.

use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    );
    let spec = [manifest.join("spec"), manifest.join("../spec")]
        .into_iter()
        .find(|p| p.is_dir())
        .unwrap_or_else(|| manifest.join("spec"));
    println!("cargo:rerun-if-changed={}", spec.display());
    if let Ok(entries) = std::fs::read_dir(&spec) {
        for e in entries.flatten() {
            println!("cargo:rerun-if-changed={}", e.path().display());
        }
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let files = match model_codegen::generate_dir(&spec) {
        Ok(f) => f,
        Err(e) => {
            eprintln!(
                "error: cannot generate the API from {}: {e}",
                spec.display()
            );
            std::process::exit(1);
        }
    };
    if let Err(e) = files.write_to(&out) {
        eprintln!(
            "error: cannot write generated files to {}: {e}",
            out.display()
        );
        std::process::exit(1);
    }
}
