//! Per-request host overhead: pushes requests through one VM of the probe
//! filter in its `quiet` mode (one header read, one property read, one
//! counter increment per request; the same shape as a policy filter's hot
//! path), on both targets.
//!
//! ```text
//! cargo run --release -p egress-host --example bench [requests] [module.wasm ...]
//! ```
//!
//! Without modules it uses the probe builds in `target/<target>/release/`.

use std::time::Instant;

use egress_host::{HostConfig, HttpRequest, Plugin};

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let mut modules: Vec<String> = args.collect();
    if modules.is_empty() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        modules = ["wasm32-wasip1", "wasm32-unknown-unknown"]
            .iter()
            .map(|t| format!("{root}/target/{t}/release/probe_filter.wasm"))
            .collect();
    }
    for path in modules {
        let cfg = HostConfig {
            capture_logs: false,
            ..HostConfig::default()
        };
        let plugin = match Plugin::from_file(path.as_ref(), cfg) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        };
        let mut vm = match plugin.configured_vm(b"", b"quiet") {
            Ok(vm) => vm,
            Err(e) => {
                eprintln!("{path}: {e}");
                std::process::exit(1);
            }
        };
        let req = HttpRequest::new("GET", "httpbin.org", "/get")
            .header("user-agent", "bench")
            .principal("spiffe://cluster.local/ns/a/sa/b");
        for _ in 0..10_000 {
            let _ = vm.http(&req);
        }
        let mem_before = vm.memory_size();
        let t = Instant::now();
        let mut ok = 0usize;
        for _ in 0..n {
            if matches!(vm.http(&req), Ok(o) if o.status == 200) {
                ok += 1;
            }
        }
        let secs = t.elapsed().as_secs_f64();
        println!(
            "{path}\n  {n} requests in {secs:.2} s: {:.2} µs/request ({ok} answered 200), linear memory {} KiB before, {} KiB after",
            secs * 1e6 / n as f64,
            mem_before / 1024,
            vm.memory_size() / 1024
        );
    }
}
