//! Embeds two things in the playground:
//!
//! - the filter module (`egress_filter.wasm`, `wasm32-wasip1`, release), the
//!   one `egressc` embeds, so the Istio bundle names the same digests as
//!   `egressc istio` (`EGRESS_FILTER_WASM=PATH`, else the workspace's own
//!   build from `make wasm`);
//! - every `policies/*.egress` file, the examples a click away.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("error: egress-playground build script: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set (run through cargo)"))
}

fn run() -> Result<(), String> {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=EGRESS_FILTER_WASM");
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");
    let manifest = PathBuf::from(env("CARGO_MANIFEST_DIR")?);
    let workspace = manifest
        .parent()
        .ok_or("the playground crate has no parent directory")?
        .to_path_buf();
    let out = PathBuf::from(env("OUT_DIR")?);

    let module = match std::env::var_os("EGRESS_FILTER_WASM") {
        Some(p) => PathBuf::from(p),
        None => {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .map(|t| {
                    if t.is_absolute() {
                        t
                    } else {
                        workspace.join(t)
                    }
                })
                .unwrap_or_else(|| workspace.join("target"));
            target.join("wasm32-wasip1/release/egress_filter.wasm")
        }
    };
    println!("cargo:rerun-if-changed={}", module.display());
    if !module.is_file() {
        return Err(format!(
            "no filter module at {}: run `make wasm` first (or set EGRESS_FILTER_WASM to an egress_filter.wasm)",
            module.display()
        ));
    }
    let module = module
        .canonicalize()
        .map_err(|e| format!("{}: {e}", module.display()))?;

    let dir = workspace.join("policies");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("reading {}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "egress"))
        .collect();
    files.sort();
    let mut code = String::new();
    let _ = writeln!(code, "/// The filter module, as built by `make wasm`.");
    let _ = writeln!(
        code,
        "pub const FILTER_WASM: &[u8] = include_bytes!({:?});",
        module.display().to_string()
    );
    let _ = writeln!(code, "/// `policies/*.egress`: (file name, text).");
    let _ = writeln!(code, "pub const EXAMPLES: &[(&str, &str)] = &[");
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        let name = f
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| format!("{}: not a UTF-8 file name", f.display()))?;
        let _ = writeln!(
            code,
            "    ({name:?}, include_str!({:?})),",
            f.display().to_string()
        );
    }
    let _ = writeln!(code, "];");
    std::fs::write(out.join("embedded.rs"), code)
        .map_err(|e| format!("writing {}: {e}", out.join("embedded.rs").display()))?;
    Ok(())
}
