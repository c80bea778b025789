//! `make bench`: decisions at scale (issue 12). Generated policies of 10 to
//! 100,000 hosts (`egress_tests::generate`), decided natively, inside the
//! real filter `.wasm` through the local host, by a naive matcher and by
//! Cedar's `is_authorized` (two encodings), after checking that all of them
//! agree on every sampled request; plus compile time, table and
//! pluginConfig size, `on_configure` time and linear memory. Prints one
//! table and writes `bench/results.json` and the plots
//! `docs/scale-decisions.png` and `docs/scale-sizes.png`.
//! `EGRESS_BENCH_QUICK=1` takes fewer iterations;
//! `EGRESS_BENCH_SIZES=10,1000` picks the sizes. `EGRESS_BENCH_REPLOT=1`
//! measures nothing: it draws the plots again from `bench/results.json`.

#[path = "../src/cedar_side.rs"]
mod cedar_side;
#[path = "../src/plot.rs"]
mod plot;

use std::path::{Path, PathBuf};
use std::time::Instant;

use egress_tests::scale::{self, Config, Plot};

fn set(var: &str) -> bool {
    std::env::var_os(var).is_some_and(|v| v != "0")
}

/// Writes each plot as `docs/<file>`.
fn write_plots(plots: &[Plot]) {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs");
    for p in plots {
        let path = docs.join(p.file);
        plot::png(p)
            .and_then(|png| std::fs::write(&path, png).map_err(|e| e.to_string()))
            .unwrap_or_else(|e| egress_tests::fail(&format!("{}: {e}", path.display())));
        println!("plot: {}", shown(path).display());
    }
}

fn shown(p: PathBuf) -> PathBuf {
    p.canonicalize().unwrap_or(p)
}

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench");
    let path = dir.join("results.json");
    if set("EGRESS_BENCH_REPLOT") {
        let results = std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|t| scale::results_from_json(&t))
            .unwrap_or_else(|e| egress_tests::fail(&format!("{}: {e}", path.display())));
        write_plots(&scale::plots(&results));
        return;
    }
    let mut cfg = if set("EGRESS_BENCH_QUICK") {
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
    std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&path, report.json() + "\n"))
        .unwrap_or_else(|e| egress_tests::fail(&format!("{}: {e}", path.display())));
    write_plots(&report.plots());
    println!(
        "results: {} ({:.0} s)",
        shown(path).display(),
        t.elapsed().as_secs_f64()
    );
}
