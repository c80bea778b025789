//! What the command-line tests share: the built `egressc`, run as a user
//! runs it, and scratch directories.

#![allow(dead_code, reason = "each test crate uses a part of these")]
#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs the built `egressc` in `dir` with `args`, with the filter module
/// built into it (no `EGRESS_FILTER_WASM` from the caller's environment)
/// and no colour.
pub fn egressc_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_egressc"))
        .args(args)
        .current_dir(dir)
        .env_remove("EGRESS_FILTER_WASM")
        .env_remove("CLICOLOR_FORCE")
        .output()
        .unwrap()
}

/// Bytes as text (lossy).
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A fresh directory under the system's temporary directory, named after
/// the test crate (`kind`), the process and `name`.
pub fn scratch(kind: &str, name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("egressc-{kind}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}
