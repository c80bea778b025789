//! Worst case and soak (issue 14; `egress_tests::hardening`).
//!
//! `make bench`: one `proxy_on_request_headers` of each adversarial request
//! at Envoy's limits (60 KiB of headers, 100 headers, the longest path,
//! host and authority, repeated headers under header conditions,
//! pathological paths against template and regex rules) through the real
//! `.wasm` of both targets in the local host, and natively, each as a ratio
//! to the median request's, all interleaved in one run against a
//! 10,000-host generated table. Prints a table and writes
//! `bench/hardening.json`. `EGRESS_BENCH_QUICK=1` takes fewer rounds;
//! `EGRESS_BENCH_TARGETS` names the `.wasm` targets to time (comma-separated,
//! default both; empty: natively only), for a quick look at one change.
//!
//! `make soak` (`EGRESS_SOAK=1`): `EGRESS_SOAK_REQUESTS` requests (default
//! 10,000,000) through one VM, sampling linear memory and the mean time per
//! request every 500,000; prints the curve and writes `bench/soak.json`.
//! `EGRESS_SOAK_TARGET` picks the target (default `wasm32-wasip1`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use egress_tests::hardening::{HOSTS, SEED, Setup, SoakConfig, Worst, soak};
use egress_tests::{TARGETS, fail};

fn set(var: &str) -> bool {
    std::env::var_os(var).is_some_and(|v| v != "0")
}

fn write(name: &str, text: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench");
    let path = dir.join(name);
    std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&path, format!("{text}\n")))
        .unwrap_or_else(|e| fail(&format!("{}: {e}", path.display())));
    path.canonicalize().unwrap_or(path)
}

fn main() {
    let t = Instant::now();
    let setup = Setup::new(HOSTS, SEED, 4096).unwrap_or_else(|e| fail(&e));
    eprintln!(
        "hardening: {}-host table, {} sampled requests, {} adversarial cases ({:.1} s to set up)",
        setup.hosts,
        setup.samples.len(),
        setup.cases.len(),
        t.elapsed().as_secs_f64()
    );
    if set("EGRESS_SOAK") {
        let requests = std::env::var("EGRESS_SOAK_REQUESTS")
            .ok()
            .and_then(|v| v.replace('_', "").parse().ok())
            .unwrap_or(10_000_000);
        let target = match std::env::var("EGRESS_SOAK_TARGET") {
            Ok(t) => TARGETS.into_iter().find(|x| *x == t).unwrap_or_else(|| {
                fail(&format!("EGRESS_SOAK_TARGET={t}: not one of {TARGETS:?}"))
            }),
            Err(_) => TARGETS[0],
        };
        let cfg = SoakConfig::full(requests);
        eprintln!(
            "soak: {requests} requests through one {target} VM, a line every {}",
            cfg.window
        );
        let t = Instant::now();
        let report = soak(&setup, target, cfg, &mut |w| {
            eprintln!(
                "  {:>10} requests  linear memory {} KiB  RSS {} MiB  {:.0} ns/request ({:.0} ns CPU, load {:.1})  ({:.0} s)",
                w.requests,
                w.linear_memory_bytes / 1024,
                w.rss_bytes.map_or(0, |b| b >> 20),
                w.mean_ns,
                w.cpu_ns.unwrap_or(f64::NAN),
                w.load.unwrap_or(f64::NAN),
                t.elapsed().as_secs_f64()
            );
        })
        .unwrap_or_else(|e| fail(&e));
        println!("{}", report.table());
        let path = write("soak.json", &report.json());
        println!("results: {}", path.display());
        if !report.memory_flat() {
            fail("linear memory grew after the warm-up window");
        }
        return;
    }
    let rounds = if set("EGRESS_BENCH_QUICK") { 100 } else { 1000 };
    let targets: Vec<&'static str> = match std::env::var("EGRESS_BENCH_TARGETS") {
        Err(_) => TARGETS.to_vec(),
        Ok(list) => list
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| {
                TARGETS
                    .iter()
                    .copied()
                    .find(|k| *k == t)
                    .unwrap_or_else(|| {
                        fail(&format!(
                            "EGRESS_BENCH_TARGETS: {t} is not one of {TARGETS:?}"
                        ))
                    })
            })
            .collect(),
    };
    let report = Worst::run(&setup, &targets, rounds).unwrap_or_else(|e| fail(&e));
    println!("{}", report.table());
    let path = write("hardening.json", &report.json());
    println!(
        "results: {} ({:.0} s)",
        path.display(),
        t.elapsed().as_secs_f64()
    );
}
