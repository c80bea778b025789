//! Helpers for the end-to-end tests and benchmarks: compile a policy, load
//! the real filter `.wasm` into the local proxy-wasm host, configure it as
//! the HTTP or network filter, and send requests through it.

pub mod fuzz;
#[path = "gen.rs"]
pub mod generate;
pub mod hardening;
pub mod reference;
pub mod scale;
pub mod traffic;

use std::path::PathBuf;
use std::sync::OnceLock;

pub use egress_host::{
    Connection, HostConfig, HttpOutcome, HttpRequest, LogLevel, Plugin, Properties, Value, Vm,
};
use egress_table::plugin_config::{self, Layer};

/// The two wasm targets the filter is built for.
pub const TARGETS: [&str; 2] = ["wasm32-wasip1", "wasm32-unknown-unknown"];

/// Path of a built module (`egress_filter` or `probe_filter`) for `target`.
pub fn wasm_path(module: &str, target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target")
        .join(target)
        .join("release")
        .join(format!("{module}.wasm"))
}

/// The filter module's bytes for `target`. Fails with a message saying how
/// to build it when it is missing.
pub fn filter_wasm(target: &str) -> Result<Vec<u8>, String> {
    let p = wasm_path("egress_filter", target);
    std::fs::read(&p)
        .map_err(|e| format!("{}: {e}. Build the filter first: `make wasm`", p.display()))
}

/// A compiled plugin per target, shared by all tests of one test binary.
pub fn plugin(target: &str) -> Result<&'static Plugin, String> {
    static PLUGINS: OnceLock<Vec<(String, Result<Plugin, String>)>> = OnceLock::new();
    let all = PLUGINS.get_or_init(|| {
        TARGETS
            .iter()
            .map(|t| {
                (
                    t.to_string(),
                    filter_wasm(t).and_then(|w| {
                        Plugin::from_bytes(&w, HostConfig::default()).map_err(|e| e.to_string())
                    }),
                )
            })
            .collect()
    });
    match all.iter().find(|(t, _)| t == target) {
        Some((_, Ok(p))) => Ok(p),
        Some((_, Err(e))) => Err(e.clone()),
        None => Err(format!("unknown target {target}")),
    }
}

/// Compiles policy text into a binary table, or returns the rendered diagnostics.
pub fn compile(policy: &str) -> Result<Vec<u8>, String> {
    let (sources, outcome) = egressc::compile_str("test.egress", policy);
    let errors: Vec<String> = outcome
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| egressc::diag::render(d, &sources))
        .collect();
    let compiled = outcome.compiled.ok_or_else(|| errors.join("\n"))?;
    egressc::emit::emit(&compiled.spec, egressc::emit::Format::Table).map_err(|e| e.0)
}

/// A VM of `target` configured with `table` for `layer`; `Err` if it refused.
pub fn vm_with_table(target: &str, table: &[u8], layer: Layer) -> Result<Vm, String> {
    vm_with_config(target, &plugin_config::encode(table, layer))
}

/// A VM of `target` configured with a whole plugin configuration (`json`);
/// `Err` with the filter's log lines if it refused.
pub fn vm_with_config(target: &str, json: &str) -> Result<Vm, String> {
    let p = plugin(target)?;
    let mut vm = p.vm().map_err(|e| e.to_string())?;
    if !vm.start(b"").map_err(|e| e.to_string())? {
        return Err("on_vm_start returned false".into());
    }
    if vm.configure(json.as_bytes()).map_err(|e| e.to_string())? {
        Ok(vm)
    } else {
        Err(vm
            .logs()
            .iter()
            .map(|l| l.message.clone())
            .collect::<Vec<_>>()
            .join("\n"))
    }
}

/// An HTTP-layer VM of `target` for `policy`, under Envoy path normalisation
/// `normalization` (`none`, `base`, `merge-slashes`, `decode-and-merge-slashes`).
pub fn http_vm_normalizing(target: &str, policy: &str, normalization: &str) -> Vm {
    let mode: egress_host::PathNormalization = normalization
        .parse()
        .unwrap_or_else(|_| fail(&format!("unknown normalization {normalization}")));
    let cfg = HostConfig {
        hcm: mode.into(),
        ..HostConfig::default()
    };
    let wasm = filter_wasm(target).unwrap_or_else(|e| fail(&e));
    let plugin = Plugin::from_bytes(&wasm, cfg).unwrap_or_else(|e| fail(&e.to_string()));
    let table = compile(policy).unwrap_or_else(|e| fail(&e));
    let mut vm = plugin.vm().unwrap_or_else(|e| fail(&e.to_string()));
    let config = plugin_config::encode(&table, Layer::Http);
    if !vm.start(b"").unwrap_or(false) || !vm.configure(config.as_bytes()).unwrap_or(false) {
        fail(&format!("{target}: the filter refused the configuration"));
    }
    vm
}

/// A VM of `target` configured with the compiled `policy` for `layer`.
pub fn vm(target: &str, policy: &str, layer: Layer) -> Vm {
    let table = compile(policy).unwrap_or_else(|e| fail(&format!("policy does not compile:\n{e}")));
    vm_with_table(target, &table, layer).unwrap_or_else(|e| {
        fail(&format!(
            "{target}: the filter refused the configuration: {e}"
        ))
    })
}

/// Both layers of one policy, for one target.
#[allow(missing_debug_implementations, reason = "wraps wasmtime stores")]
pub struct Filters {
    /// The HTTP filter.
    pub http: Vm,
    /// The network filter.
    pub network: Vm,
    /// Which target.
    pub target: &'static str,
}

impl Filters {
    /// Compiles `policy` and configures both filters for `target`.
    pub fn new(target: &'static str, policy: &str) -> Self {
        Self {
            http: vm(target, policy, Layer::Http),
            network: vm(target, policy, Layer::Network),
            target,
        }
    }

    /// Sends an HTTP request; returns the outcome.
    pub fn http(&mut self, req: &HttpRequest) -> HttpOutcome {
        self.http
            .http(req)
            .unwrap_or_else(|e| fail(&format!("{}: the host failed: {e}", self.target)))
    }

    /// The status a simple request gets.
    pub fn status(&mut self, method: &str, host: &str, path: &str) -> u16 {
        self.http(&HttpRequest::new(method, host, path)).status
    }

    /// Opens a connection; returns whether it was allowed (not closed).
    pub fn connect(&mut self, sni: Option<&str>, dst: &str) -> egress_host::ConnectionOutcome {
        let conn = Connection {
            sni: sni.map(|s| s.as_bytes().to_vec()),
            destination: Some(
                dst.parse()
                    .unwrap_or_else(|_| fail(&format!("bad address {dst}"))),
            ),
            source: None,
            downstream_data: b"client hello".to_vec(),
            properties: Properties::default(),
        };
        self.network
            .connection(&conn)
            .unwrap_or_else(|e| fail(&format!("{}: the host failed: {e}", self.target)))
    }
}

/// The `wasm.egress_decision` (or `wasm.egress_audit`) record of an
/// outcome's filter state as `[decision, policy, rule, reason]`, with `-`
/// for none; empty if there is none. Parsed by the one parser of that
/// record, `egress_table::record::Record::parse`.
pub fn record(fs: &std::collections::BTreeMap<String, Vec<u8>>, key: &str) -> Vec<String> {
    let Some(bytes) = fs.get(key) else {
        return Vec::new();
    };
    let r = egress_table::record::Record::parse(bytes).unwrap_or_else(|e| fail(&e));
    let dash = |s: Option<String>| s.unwrap_or_else(|| "-".into());
    vec![
        r.decision.as_str().to_owned(),
        dash(r.policy),
        dash(r.rule),
        r.reason,
    ]
}

/// Panics with a message (test helper; the workspace denies `panic!` outside tests).
#[track_caller]
pub fn fail(msg: &str) -> ! {
    #[expect(clippy::panic, reason = "test support: failing the test is the point")]
    {
        panic!("{msg}")
    }
}
