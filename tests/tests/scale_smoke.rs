//! The scale benchmark (`benches/scale.rs`) at tiny sizes: every figure is
//! produced, and the native, `.wasm`, naive and Cedar decisions agree on
//! every sampled request (`scale::measure` fails otherwise). No timing is
//! asserted.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap is a failed test"
)]

#[path = "../src/cedar_side.rs"]
mod cedar_side;

use egress_tests::generate::{self, Case};
use egress_tests::scale::{self, Config};

/// The keys issue 12 names.
const KEYS: [&str; 12] = [
    "decision_wasm_ns_p50_10",
    "decision_wasm_ns_p50_10k",
    "decision_wasm_ns_p50_100k",
    "decision_native_ns_p50_10k",
    "cedar_per_host_ns_p50_10k",
    "cedar_grouped_ns_p50_10k",
    "naive_ns_p50_10k",
    "compile_ms_100k",
    "plugin_config_bytes_10k",
    "configure_ms_10k",
    "wasm_bytes",
    "linear_memory_bytes_10k",
];

#[test]
fn generated_policies_compile_at_every_size() {
    for n in [1, 10, 100, 1_000] {
        let m = generate::model(n, 12);
        assert_eq!(m.host_count(), n);
        egress_tests::compile(&m.text()).unwrap_or_else(|e| panic!("{n} hosts:\n{e}"));
    }
}

#[test]
fn every_engine_agrees_and_every_figure_is_produced() {
    let cfg = Config {
        sizes: vec![10, 100],
        samples: 300,
        native_rounds: 1,
        wasm_rounds: 1,
        cedar_requests: 300,
        cedar_max_hosts: 100,
        naive_max_hosts: 100,
        configure_runs: 1,
        seed: 12,
    };
    let report = scale::run(&cfg, Some(&cedar_side::CedarPolicy)).unwrap();
    for s in &report.sizes {
        for engine in ["native", "wasm", "naive", "cedar_grouped", "cedar_per_host"] {
            assert_eq!(
                s.compared.get(engine),
                Some(&300),
                "{} hosts, {engine}",
                s.hosts
            );
        }
        assert!(
            s.allowed_share > 0.3 && s.allowed_share < 0.9,
            "{}",
            s.allowed_share
        );
        for case in Case::ALL {
            assert!(
                s.native_cases.contains_key(case.name()),
                "{} hosts: no {case:?} sample",
                s.hosts
            );
        }
    }
    let results = report.results();
    for k in KEYS {
        assert!(results.contains_key(k), "missing {k}");
    }
    for k in [
        "decision_wasm_ns_p50_10",
        "wasm_bytes",
        "cedar_per_host_ns_p50_100",
        "cedar_grouped_ns_p50_100",
        "naive_ns_p50_100",
        "configure_ms_100",
        "plugin_config_bytes_100",
        "compile_ms_100",
    ] {
        let v = results[k];
        assert!(v.is_finite() && v > 0.0, "{k} = {v}");
    }
    let json: serde_json::Value = serde_json::from_str(&report.json()).unwrap();
    for k in KEYS {
        assert!(json.get(k).is_some(), "results.json lacks {k}");
    }
    println!("{}", report.table());
}
