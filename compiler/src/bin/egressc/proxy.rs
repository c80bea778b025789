//! `egressc proxy`: a local forward proxy that decides real traffic with the
//! filter module. The proxy itself is the `egress-proxy` crate (hyper on
//! tokio); this is its command line: it compiles the policy files for it,
//! at start and on every change on disk.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use egress_proxy::{Config, PolicySource, Sink};

use crate::files;
use crate::run::HostArgs;
use crate::ui::fail;

/// `egressc proxy`'s flags.
#[derive(Debug, clap::Args)]
pub struct ProxyArgs {
    #[command(flatten)]
    pub policies: crate::PolicyFiles,
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:3128")]
    pub listen: SocketAddr,
    /// Allow a --listen address that is not loopback (an open proxy lets anyone who reaches the port use this network).
    #[arg(long)]
    pub allow_remote: bool,
    /// Append the audit lines (JSON, one per decision) to this file [default: standard output].
    #[arg(long)]
    pub audit_log: Option<PathBuf>,
    /// Worker threads, each with its own filter VMs [default: one per CPU].
    #[arg(long)]
    pub workers: Option<usize>,
    /// Answer NAME with ADDR instead of asking DNS (repeatable), e.g. --resolve api.test=127.0.0.1.
    #[arg(long, value_name = "NAME=ADDR")]
    pub resolve: Vec<String>,
    /// Do not watch the policy files for changes.
    #[arg(long)]
    pub no_reload: bool,
    /// Forward everything without deciding (measures the proxy without the filter; never for enforcement).
    #[arg(long)]
    pub bypass_filter: bool,
    #[command(flatten)]
    pub host: HostArgs,
}

fn parse_resolve(s: &str) -> Result<(String, IpAddr), String> {
    let (name, addr) = s
        .split_once('=')
        .ok_or_else(|| format!("--resolve {s}: expected NAME=ADDR, e.g. api.test=127.0.0.1"))?;
    let ip = addr
        .trim_matches(|c| c == '[' || c == ']')
        .parse::<IpAddr>()
        .map_err(|e| format!("--resolve {s}: {addr:?} is not an IP address ({e})"))?;
    Ok((name.to_owned(), ip))
}

/// Compiles the policy files into a table, or the rendered diagnostics.
fn load(paths: &[PathBuf]) -> Result<Vec<u8>, String> {
    let sources = files::load(paths)?;
    let outcome = egressc::compile(&sources);
    let Some(compiled) = outcome.compiled else {
        let text: String = outcome
            .diagnostics
            .iter()
            .map(|d| egressc::diag::render(d, &sources))
            .collect();
        return Err(text);
    };
    egressc::emit::emit(&compiled.spec, egressc::emit::Format::Table)
        .map_err(|e| format!("internal error while emitting the table: {}", e.0))
}

/// Runs the proxy until Ctrl-C or SIGTERM.
pub fn proxy(args: &ProxyArgs) -> u8 {
    let module = match crate::run::module(args.host.wasm.as_deref()) {
        Ok(m) => m,
        Err(e) => return fail(&e),
    };
    let mut resolve = Vec::new();
    for r in &args.resolve {
        match parse_resolve(r) {
            Ok(x) => resolve.push(x),
            Err(e) => return fail(&e),
        }
    }
    let paths = args.policies.all();
    let watch = match files::expand(&paths) {
        Ok(mut found) => {
            // The directories too, so a new file in one is noticed.
            found.extend(paths.iter().filter(|p| p.is_dir()).cloned());
            found
        }
        Err(e) => return fail(&e),
    };
    let policy = PolicySource {
        watch,
        load: Arc::new(move || load(&paths)),
    };
    let filter = match args.host.filter.options() {
        Ok(o) => o,
        Err(e) => return fail(&e),
    };
    let mut config = Config::new(module.bytes.into_owned(), policy);
    config.filter = filter;
    config.listen = args.listen;
    config.allow_remote = args.allow_remote;
    args.host.envoy.apply(&mut config.host);
    // The proxy's HTTP server enforces the same two limits first (counting
    // header lines and head bytes its own way); the host then applies
    // Envoy's exact counting to what gets through.
    config.limits.max_header_bytes = config.host.hcm.max_request_header_bytes();
    config.limits.max_headers =
        usize::try_from(args.host.envoy.max_headers_count).unwrap_or(usize::MAX);
    config.resolve = resolve;
    config.bypass_filter = args.bypass_filter;
    config.reload_interval = (!args.no_reload).then_some(Duration::from_secs(1));
    if let Some(n) = args.workers {
        config.workers = n;
    }
    if let Some(f) = &args.audit_log {
        config.audit = Sink::File(f.clone());
    }
    let running = match egress_proxy::start(config) {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    match running.run_until_signal() {
        Ok(0) => 0,
        Ok(_) => 1,
        Err(e) => fail(&e),
    }
}
