//! Paths shared by the model-codegen tests.
#![allow(dead_code)]

use std::io::Write as _;
use std::path::PathBuf;

/// The environment variable naming the upstream `model.xml` for the tests that need the
/// whole upstream model (it is not part of the repository; `.ci/run` sets it).
pub const MODEL_VAR: &str = "OVIRT_API_MODEL";

/// The repository's `spec/` directory.
pub fn spec_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../spec")
}

/// A file or directory under `tests/` of this package.
pub fn tests_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(rel)
}

/// The upstream `model.xml` named by `OVIRT_API_MODEL`. When the variable is not set, says
/// on the terminal that `test` was skipped and why, and returns `None`; when it names a
/// file that does not exist, fails the test.
pub fn upstream_model(test: &str) -> Option<PathBuf> {
    let Some(path) = std::env::var_os(MODEL_VAR) else {
        // Written to the process's stderr, not with `eprintln!`, which the test harness
        // captures and shows only for failing tests.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED {test}: it compares spec/ with the whole upstream model, which is not in \
             the repository; set {MODEL_VAR}=/path/to/ovirt-api-model/model.xml to run it"
        );
        return None;
    };
    let path = PathBuf::from(path);
    assert!(
        path.is_file(),
        "{MODEL_VAR} is set to {}, which is not a file",
        path.display()
    );
    Some(path)
}

/// Rewrites snapshot `name` with `contents` under `UPDATE_SNAPSHOTS=1`; otherwise returns
/// whether the committed snapshot equals `contents`.
pub fn snapshot_matches(name: &str, contents: &str) -> bool {
    let path = tests_path("snapshots").join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, contents).unwrap();
        return true;
    }
    std::fs::read_to_string(&path).ok().as_deref() == Some(contents)
}
