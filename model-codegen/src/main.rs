//! `model-codegen generate <spec-dir> <out-dir>`: writes the generated Rust
//! files (the same ones `sdk/build.rs` writes) into `<out-dir>`.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [cmd, spec, out] = args.as_slice() else {
        eprintln!("usage: model-codegen generate <spec-dir> <out-dir>");
        return ExitCode::from(2);
    };
    if cmd != "generate" {
        eprintln!("model-codegen: unknown command `{cmd}` (expected `generate`)");
        return ExitCode::from(2);
    }
    let (spec, out) = (PathBuf::from(spec), PathBuf::from(out));
    let files = match model_codegen::generate_dir(&spec) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("model-codegen: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = files.write_to(&out) {
        eprintln!("model-codegen: cannot write {}: {e}", out.display());
        return ExitCode::FAILURE;
    }
    for f in &files.files {
        println!("{}", out.join(&f.name).display());
    }
    ExitCode::SUCCESS
}
