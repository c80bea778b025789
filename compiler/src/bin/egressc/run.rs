//! Where the filter module is, and the host flags `simulate` and `test` share.

use std::path::{Path, PathBuf};

use egress_host::{HostConfig, PathNormalization};
use egressc::run::Runner;

/// Flags shared by `simulate` and `test`.
#[derive(Debug, Clone, clap::Args)]
pub struct HostArgs {
    /// The filter module [default: $EGRESS_FILTER_WASM, else egress_filter.wasm next to egressc, else the workspace's wasm32-wasip1 release build].
    #[arg(long)]
    pub wasm: Option<PathBuf>,
    /// Envoy path normalization before the filter: none, base (Istio's default), merge-slashes, decode-and-merge-slashes.
    #[arg(long, default_value = "base")]
    pub path_normalization: PathNormalization,
}

/// Where the filter module is, by the documented search order.
pub fn wasm_path(flag: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(p) = flag {
        return if p.is_file() {
            Ok(p.to_path_buf())
        } else {
            Err(format!("--wasm {}: no such file", p.display()))
        };
    }
    if let Some(p) = std::env::var_os("EGRESS_FILTER_WASM") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("EGRESS_FILTER_WASM={}: no such file", p.display()))
        };
    }
    let next_to_exe = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join("egress_filter.wasm")));
    let workspace = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../target/wasm32-wasip1/release/egress_filter.wasm"
    ));
    for p in next_to_exe.into_iter().chain([workspace.clone()]) {
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(format!(
        "the filter module was not found (looked for {}); build it with `make wasm`, or pass --wasm PATH",
        workspace.display()
    ))
}

/// Reads the filter module and configures both filters with `table`.
pub fn runner(args: &HostArgs, table: &[u8]) -> Result<Runner, String> {
    let path = wasm_path(args.wasm.as_deref())?;
    let wasm = std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let cfg = HostConfig {
        path_normalization: args.path_normalization,
        ..HostConfig::default()
    };
    Runner::new(&wasm, cfg, table).map_err(|e| format!("{}: {e}", path.display()))
}
