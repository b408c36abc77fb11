//! `import-model <model.xml> <spec-dir> [--check]`
//!
//! Imports an upstream oVirt model description into `<spec-dir>` (writes
//! `types.xml` and `services.xml`, reads `names.xml`). With `--check` nothing is
//! written; the exit status is 1 and the differing files are named when the
//! spec would change.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let check = if let Some(i) = args.iter().position(|a| a == "--check") {
        args.remove(i);
        true
    } else {
        false
    };
    let [model, spec] = args.as_slice() else {
        eprintln!("usage: import-model <model.xml> <spec-dir> [--check]");
        return ExitCode::from(2);
    };
    let (model, spec) = (PathBuf::from(model), PathBuf::from(spec));
    let files = match model_codegen::import::import_paths(&model, &spec) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("import-model: {e}");
            return ExitCode::FAILURE;
        }
    };
    let diff = model_codegen::import::differences(&spec, &files);
    if check {
        if diff.is_empty() {
            println!(
                "import-model: {} is up to date with {}",
                spec.display(),
                model.display()
            );
            return ExitCode::SUCCESS;
        }
        for d in &diff {
            eprintln!("import-model: {} would change", d.display());
        }
        eprintln!(
            "import-model: spec is out of date; run `cargo run -p model-codegen --bin import-model -- {} {}` and commit",
            model.display(),
            spec.display()
        );
        return ExitCode::FAILURE;
    }
    for (name, contents) in &files {
        let path = spec.join(name);
        if diff.contains(&path) {
            if let Err(e) = std::fs::write(&path, contents) {
                eprintln!("import-model: cannot write {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
            println!("import-model: wrote {}", path.display());
        }
    }
    ExitCode::SUCCESS
}
