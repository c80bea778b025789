//! Which filter module to use, and the host flags `simulate` and `test` share.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use egress_host::{HostConfig, PathNormalization};
use egressc::run::Runner;

/// The release `egress_filter.wasm` (wasm32-wasip1) this `egressc` was built
/// with (see `compiler/build.rs`).
pub static EMBEDDED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/egress_filter.wasm"));
/// Where `build.rs` took the embedded module from.
pub const EMBEDDED_FROM: &str = env!("EGRESSC_EMBEDDED_WASM_FROM");

/// Flags shared by `simulate` and `test`.
#[derive(Debug, Clone, clap::Args)]
pub struct HostArgs {
    /// The filter module [default: $EGRESS_FILTER_WASM, else the module built into egressc].
    #[arg(long)]
    pub wasm: Option<PathBuf>,
    /// Envoy path normalization before the filter: none, base (Istio's default), merge-slashes, decode-and-merge-slashes.
    #[arg(long, default_value = "base")]
    pub path_normalization: PathNormalization,
}

/// A filter module and where it came from.
#[derive(Debug)]
pub struct Module {
    /// The bytes.
    pub bytes: Cow<'static, [u8]>,
    /// `--wasm PATH`, `$EGRESS_FILTER_WASM=PATH` or `the built-in module`.
    pub origin: String,
}

/// The filter module, by the documented order: `--wasm PATH`, then
/// `$EGRESS_FILTER_WASM`, then the module built into egressc.
pub fn module(flag: Option<&Path>) -> Result<Module, String> {
    let read = |p: &Path, origin: String| {
        let bytes = std::fs::read(p).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                format!("{origin}: no such file")
            } else {
                format!("{origin}: cannot read it: {e}")
            }
        })?;
        if bytes.get(..4) != Some(b"\0asm".as_slice()) {
            return Err(format!(
                "{origin}: not a WebAssembly module (the file does not start with \\0asm); pass the egress_filter.wasm that `make wasm` builds"
            ));
        }
        Ok(Module {
            bytes: Cow::Owned(bytes),
            origin,
        })
    };
    if let Some(p) = flag {
        return read(p, format!("--wasm {}", p.display()));
    }
    if let Some(p) = std::env::var_os("EGRESS_FILTER_WASM") {
        let p = PathBuf::from(p);
        return read(&p, format!("EGRESS_FILTER_WASM={}", p.display()));
    }
    Ok(Module {
        bytes: Cow::Borrowed(EMBEDDED),
        origin: "the module built into egressc".to_owned(),
    })
}

/// Loads the filter module and configures both filters with `table`.
pub fn runner(args: &HostArgs, table: &[u8]) -> Result<Runner, String> {
    let m = module(args.wasm.as_deref())?;
    let cfg = HostConfig {
        path_normalization: args.path_normalization,
        ..HostConfig::default()
    };
    Runner::new(&m.bytes, cfg, table).map_err(|e| format!("{}: {e}", m.origin))
}
