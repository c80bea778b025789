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

/// Flags shared by `simulate` and `test` (and `proxy`).
#[derive(Debug, Clone, clap::Args)]
pub struct HostArgs {
    /// The filter module [default: $EGRESS_FILTER_WASM, else the module built into egressc].
    #[arg(long)]
    pub wasm: Option<PathBuf>,
    #[command(flatten)]
    pub envoy: EnvoyArgs,
    #[command(flatten)]
    pub filter: FilterArgs,
}

/// The filter's settings for the proxy, as a plugin configuration carries
/// them (`max_path_bytes`, `max_header_bytes`, `authority_header`;
/// docs/filter.md).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct FilterArgs {
    /// The longest path (query excluded) the filter decides on; a longer one is denied as path-too-long [default: 4096] (pluginConfig max_path_bytes).
    #[arg(long, value_name = "BYTES",
          value_parser = clap::value_parser!(u32).range(1..=i64::from(egress_table::plugin_config::MAX_PATH_BYTES_LIMIT)))]
    pub max_path_bytes: Option<u32>,
    /// The most bytes of one header (all its occurrences) a header value condition reads; a longer header takes the answer that denies [default: 8192] (pluginConfig max_header_bytes).
    #[arg(long, value_name = "BYTES",
          value_parser = clap::value_parser!(u32).range(1..=i64::from(egress_table::plugin_config::MAX_PATH_BYTES_LIMIT)))]
    pub max_header_bytes: Option<u32>,
    /// The request header that names the destination, for a proxy-wasm host other than Envoy, e.g. host for nginx with ngx_wasm_module (pluginConfig authority_header).
    #[arg(long, value_name = "HEADER")]
    pub authority_header: Option<String>,
}

impl FilterArgs {
    /// Whether any setting was given.
    pub fn given(&self) -> bool {
        self.max_path_bytes.is_some()
            || self.max_header_bytes.is_some()
            || self.authority_header.is_some()
    }

    /// The settings, checked.
    pub fn options(&self) -> Result<egress_table::plugin_config::Options, String> {
        let mut o = egress_table::plugin_config::Options::default();
        if let Some(n) = self.max_path_bytes {
            o = o
                .with_max_path_bytes(u64::from(n))
                .map_err(|e| format!("--max-path-bytes: {e}"))?;
        }
        if let Some(n) = self.max_header_bytes {
            o = o
                .with_max_header_bytes(u64::from(n))
                .map_err(|e| format!("--max-header-bytes: {e}"))?;
        }
        if let Some(h) = &self.authority_header {
            o = o
                .with_authority_header(h)
                .map_err(|e| format!("--authority-header: {e}"))?;
        }
        Ok(o)
    }
}

/// The Envoy settings the emulation of its connection manager follows
/// (`simulate`, `test`, `explain`, `proxy`); the defaults are Envoy's and
/// Istio's.
#[derive(Debug, Clone, clap::Args)]
pub struct EnvoyArgs {
    /// Envoy path normalization before the filter: none, base (Istio's default), merge-slashes, decode-and-merge-slashes.
    #[arg(long, default_value = "base")]
    pub path_normalization: PathNormalization,
    /// Let methods outside Envoy's HTTP/1 list (GET, POST, PURGE, PROPFIND, … 34 in all) reach the filter, as Http1ProtocolOptions.allow_custom_methods does; without it they get 400.
    #[arg(long)]
    pub allow_custom_methods: bool,
    /// Envoy's max_request_headers_kb: a request head (request line and headers) over this many KiB gets 431.
    #[arg(long, value_name = "KIB", default_value_t = egress_host::DEFAULT_MAX_REQUEST_HEADERS_KB,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(egress_host::MAX_REQUEST_HEADERS_KB_LIMIT)))]
    pub max_request_headers_kb: u32,
    /// Envoy's max_headers_count: a request with more headers gets 431.
    #[arg(long, value_name = "N", default_value_t = egress_host::DEFAULT_MAX_HEADERS_COUNT,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_headers_count: u32,
}

impl EnvoyArgs {
    /// Sets these settings on a host configuration.
    pub fn apply(&self, cfg: &mut HostConfig) {
        cfg.hcm = self.settings();
    }

    /// The connection manager's settings (`explain` takes them alone).
    pub fn settings(&self) -> egress_host::HcmSettings {
        egress_host::HcmSettings {
            path_normalization: self.path_normalization,
            allow_custom_methods: self.allow_custom_methods,
            max_request_headers_kb: self.max_request_headers_kb,
            max_headers_count: self.max_headers_count,
        }
    }
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
    let options = args.filter.options()?;
    let mut cfg = HostConfig::default();
    args.envoy.apply(&mut cfg);
    let plugin = egress_host::Plugin::from_bytes(&m.bytes, cfg)
        .map_err(|e| format!("{}: cannot load the filter module: {e}", m.origin))?;
    Runner::with_options(&plugin, table, &options).map_err(|e| format!("{}: {e}", m.origin))
}
