//! Loads a binary table the way the filter's `on_configure` does, natively:
//! the pluginConfig envelope decoded in place, then the table, timed over
//! several rounds, and prints what the loaded table holds in memory.
//!
//! ```text
//! egressc compile policies/ -o /tmp/t.table
//! cargo run --profile native -p egress-table --example load -- /tmp/t.table 20
//! ```

use std::process::ExitCode;
use std::time::{Duration, Instant};

use egress_table::Table;
use egress_table::plugin_config::{self, Layer};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(path), rounds) = (args.next(), args.next()) else {
        eprintln!("usage: load TABLE [ROUNDS]");
        return ExitCode::from(2);
    };
    let rounds: u32 = rounds.and_then(|r| r.parse().ok()).unwrap_or(20).max(1);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("load: {path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let config = plugin_config::encode(&bytes, Layer::Http);
    let (mut envelope, mut table) = (Duration::ZERO, Duration::ZERO);
    let mut last = None;
    for _ in 0..rounds {
        let json = config.clone().into_bytes();
        let t = Instant::now();
        let cfg = match plugin_config::decode_owned(json) {
            Ok(c) => c,
            Err(r) => {
                eprintln!("load: {}", r.error);
                return ExitCode::FAILURE;
            }
        };
        let u = Instant::now();
        match Table::from_vec(cfg.table) {
            Ok(tb) => last = Some(tb),
            Err(e) => {
                eprintln!("load: {e}");
                return ExitCode::FAILURE;
            }
        }
        envelope += u - t;
        table += u.elapsed();
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3 / f64::from(rounds);
    println!(
        "{path}: {} bytes of table, {} of pluginConfig; mean of {rounds} loads: envelope {:.3} ms, table {:.3} ms",
        bytes.len(),
        config.len(),
        ms(envelope),
        ms(table)
    );
    if let Some(t) = last {
        let parts = t.heap_report();
        let total: usize = parts.iter().map(|p| p.1).sum();
        println!(
            "{} rules, {} host patterns; heap by part:",
            t.rule_count(),
            t.host_count()
        );
        for (name, n) in parts {
            println!("  {name:<20} {n:>10}");
        }
        println!("  {:<20} {total:>10}", "total");
    }
    ExitCode::SUCCESS
}
