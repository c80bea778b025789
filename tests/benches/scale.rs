//! `make bench`: decisions at scale (issue 12). Generated policies of 10 to
//! 100,000 hosts (`egress_tests::generate`), decided natively, inside the
//! real filter `.wasm` through the local host, by a naive matcher and by
//! Cedar's `is_authorized` (two encodings), after checking that all of them
//! agree on every sampled request; plus compile time, table and
//! pluginConfig size, `on_configure` time and linear memory. Prints one
//! table and writes `bench/results.json`. `EGRESS_BENCH_QUICK=1` takes
//! fewer iterations; `EGRESS_BENCH_SIZES=10,1000` picks the sizes.

#[path = "../src/cedar_side.rs"]
mod cedar_side;

use std::time::Instant;

use egress_tests::scale::{self, Config};

fn main() {
    let mut cfg = if std::env::var_os("EGRESS_BENCH_QUICK").is_some_and(|v| v != "0") {
        Config::quick()
    } else {
        Config::full()
    };
    if let Ok(sizes) = std::env::var("EGRESS_BENCH_SIZES") {
        cfg.sizes = sizes
            .split(',')
            .filter_map(|s| s.trim().parse().ok())
            .collect();
    }
    // `cargo bench` passes `--bench`; nothing else is understood.
    let t = Instant::now();
    eprintln!(
        "decisions at scale: sizes {:?}, {} sampled requests each",
        cfg.sizes, cfg.samples
    );
    let report =
        scale::run(&cfg, Some(&cedar_side::CedarPolicy)).unwrap_or_else(|e| egress_tests::fail(&e));
    println!("{}", report.table());
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench");
    let path = dir.join("results.json");
    std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&path, report.json() + "\n"))
        .unwrap_or_else(|e| egress_tests::fail(&format!("{}: {e}", path.display())));
    // Plots: hand-written SVG, so no plotting crate or system font is needed.
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs");
    for (name, svg) in report.plots() {
        let p = docs.join(name);
        std::fs::write(&p, svg)
            .unwrap_or_else(|e| egress_tests::fail(&format!("{}: {e}", p.display())));
    }
    println!(
        "results: {} ({:.0} s)",
        path.canonicalize().unwrap_or(path.clone()).display(),
        t.elapsed().as_secs_f64()
    );
}
