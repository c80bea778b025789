//! Embeds the release filter module (`egress_filter.wasm`, `wasm32-wasip1`,
//! the workspace's `release` profile) in the `egressc` command line, so an
//! installed `egressc` can emit, package, test and simulate without a
//! checkout. Only with the `cli` feature: the library core embeds nothing.
//!
//! Where the module comes from, in order:
//!
//! 1. `EGRESSC_EMBED_WASM=PATH`: that file (for packagers who build the
//!    module their own way, e.g. on the Debian route);
//! 2. the workspace's own build (`make wasm`,
//!    `$CARGO_TARGET_DIR/wasm32-wasip1/release/egress_filter.wasm`, default
//!    `target/`), when it is newer than every source of the filter
//!    (`filter/`, `table/`, the workspace `Cargo.toml` and `Cargo.lock`);
//! 3. otherwise a nested `cargo build -p egress-filter --target wasm32-wasip1
//!    --profile release` into a target directory under `OUT_DIR` (a separate
//!    one: the outer cargo holds the lock on the workspace's).
//!
//! The chosen file is copied to `OUT_DIR/egress_filter.wasm` (only when its
//! bytes changed) and `EGRESSC_EMBEDDED_WASM_FROM` says which of the three it
//! was; `egressc version` prints both with the module's sha256.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::SystemTime;

/// Set on the nested cargo: its build must not come back here.
const NESTED: &str = "EGRESSC_NESTED_FILTER_BUILD";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("error: egressc build script: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=EGRESSC_EMBED_WASM");
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");
    if std::env::var_os("CARGO_FEATURE_CLI").is_none() {
        return Ok(());
    }
    if std::env::var_os(NESTED).is_some() {
        return Err(format!(
            "{NESTED} is set: the nested filter build reached egressc's build script again (a dependency cycle?); the filter must not depend on egressc"
        ));
    }
    let out = PathBuf::from(env("OUT_DIR")?);
    let manifest = PathBuf::from(env("CARGO_MANIFEST_DIR")?);
    let workspace = manifest
        .parent()
        .ok_or("the compiler crate has no parent directory (not in its workspace?)")?
        .to_path_buf();
    let dest = out.join("egress_filter.wasm");

    let (module, from) = if let Some(p) = std::env::var_os("EGRESSC_EMBED_WASM") {
        let p = PathBuf::from(p);
        println!("cargo:rerun-if-changed={}", p.display());
        let bytes =
            std::fs::read(&p).map_err(|e| format!("EGRESSC_EMBED_WASM={}: {e}", p.display()))?;
        (bytes, format!("EGRESSC_EMBED_WASM={}", p.display()))
    } else {
        let sources = [
            workspace.join("filter/src"),
            workspace.join("filter/Cargo.toml"),
            workspace.join("table/src"),
            workspace.join("table/Cargo.toml"),
            workspace.join("Cargo.toml"),
            workspace.join("Cargo.lock"),
        ];
        if !workspace.join("filter/Cargo.toml").is_file() {
            return Err(format!(
                "the filter's sources are not at {} (egressc embeds the filter it builds from its workspace); set EGRESSC_EMBED_WASM to a prebuilt egress_filter.wasm",
                workspace.join("filter").display()
            ));
        }
        let mut newest = SystemTime::UNIX_EPOCH;
        for s in &sources {
            println!("cargo:rerun-if-changed={}", s.display());
            newest = newest.max(newest_mtime(s));
        }
        let target_dir = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .map(|d| {
                if d.is_absolute() {
                    d
                } else {
                    workspace.join(d)
                }
            })
            .unwrap_or_else(|| workspace.join("target"));
        let prebuilt = target_dir.join("wasm32-wasip1/release/egress_filter.wasm");
        let fresh = std::fs::metadata(&prebuilt)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t >= newest);
        if prebuilt.is_file() {
            // Only when it exists: a missing file would make cargo rerun
            // this script (and rebuild egressc) on every build.
            println!("cargo:rerun-if-changed={}", prebuilt.display());
        }
        if fresh {
            let bytes = std::fs::read(&prebuilt)
                .map_err(|e| format!("cannot read {}: {e}", prebuilt.display()))?;
            (bytes, format!("{} (make wasm)", prebuilt.display()))
        } else {
            let built = nested_build(&workspace, &out)?;
            let bytes = std::fs::read(&built)
                .map_err(|e| format!("cannot read {}: {e}", built.display()))?;
            (bytes, "built by egressc's build script".to_owned())
        }
    };
    if module.get(..4) != Some(b"\0asm".as_slice()) {
        return Err(format!(
            "the filter module ({from}) is not a WebAssembly module"
        ));
    }
    if std::fs::read(&dest).ok().as_deref() != Some(module.as_slice()) {
        let tmp = out.join("egress_filter.wasm.tmp");
        std::fs::write(&tmp, &module)
            .and_then(|()| std::fs::rename(&tmp, &dest))
            .map_err(|e| format!("cannot write {}: {e}", dest.display()))?;
    }
    println!("cargo:rustc-env=EGRESSC_EMBEDDED_WASM_FROM={from}");
    Ok(())
}

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("cargo did not set {name}"))
}

/// The newest modification time of a file, or of any file under a directory.
fn newest_mtime(p: &Path) -> SystemTime {
    let own = std::fs::metadata(p)
        .and_then(|m| m.modified())
        .unwrap_or(SystemTime::UNIX_EPOCH);
    match std::fs::read_dir(p) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| newest_mtime(&e.path()))
            .fold(own, SystemTime::max),
        Err(_) => own,
    }
}

/// `cargo build -p egress-filter --target wasm32-wasip1 --profile release`
/// into `OUT_DIR/filter-target`; returns the module's path.
fn nested_build(workspace: &Path, out: &Path) -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target_dir = out.join("filter-target");
    println!(
        "cargo:warning=building the filter module for embedding (no up-to-date target/wasm32-wasip1/release/egress_filter.wasm; `make wasm` builds it)"
    );
    let output = Command::new(&cargo)
        .arg("build")
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"))
        .args(["-p", "egress-filter", "--target", "wasm32-wasip1"])
        .args(["--profile", "release"])
        .arg("--target-dir")
        .arg(&target_dir)
        .env(NESTED, "1")
        // The outer build's flags are for the host, not for wasm.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        // Under `cargo clippy` the outer cargo runs clippy-driver as the
        // workspace's compiler: the nested build must compile for real.
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CLIPPY_ARGS")
        .env_remove("CLIPPY_CONF_DIR")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", Path::new(&cargo).display()))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let missing_target = stderr.contains("wasm32-wasip1")
            && (stderr.contains("may not be installed")
                || stderr.contains("can't find crate for `std`")
                || stderr.contains("can't find crate for `core`"));
        let hint = if missing_target {
            "the wasm32-wasip1 target is not installed: run `rustup target add wasm32-wasip1` (or `make setup` in the repository, which also knows the Debian route without rustup)"
        } else {
            "see cargo's output above"
        };
        return Err(format!(
            "building the filter module for embedding failed: {hint}.\n\
             Alternatives: build it with `make wasm` in the repository first, or set EGRESSC_EMBED_WASM=/path/to/egress_filter.wasm.\n\
             --- nested cargo output ---\n{stderr}"
        ));
    }
    let built = target_dir.join("wasm32-wasip1/release/egress_filter.wasm");
    if built.is_file() {
        Ok(built)
    } else {
        Err(format!(
            "the nested build succeeded but {} is missing",
            built.display()
        ))
    }
}
