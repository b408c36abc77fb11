//! Paths shared by the model-codegen tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// The repository's `spec/` directory.
pub fn spec_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../spec")
}

/// The upstream model description (`OVIRT_MODEL_XML` overrides the default
/// `../shared/ovirt-api-model/model.xml` next to the repository).
pub fn model_xml() -> PathBuf {
    match std::env::var_os("OVIRT_MODEL_XML") {
        Some(p) => PathBuf::from(p),
        None => {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/ovirt-api-model/model.xml")
        }
    }
}
