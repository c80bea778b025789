//! `make bench`: requests through the real filter `.wasm` in the local host.
//!
//! Prints, per wasm target: µs per HTTP request (allow and 403 paths, whole
//! stream lifecycle through one VM), µs per connection, and the guest's
//! linear memory before and after 1,000,000 requests (it must not grow).
//! Then, natively, for a table of 10,000 hosts: its size, the time to decode
//! and index it, and the cost of one decision. Set `EGRESS_BENCH_REQUESTS`
//! to change the request count.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::time::Instant;

use egress_tests::{Filters, HttpRequest, TARGETS};

/// A policy with `n` exact hosts, each with a GET-only path rule.
fn many_hosts(n: usize) -> String {
    let mut p = String::from("policy \"big\" {\n  default deny\n");
    for i in 0..n {
        p.push_str(&format!("  destination \"h{i}.svc-{}.example.com\" port 443 http {{\n    allow GET path \"/api/{{**}}\"\n  }}\n", i % 97));
    }
    p.push_str("}\n");
    p
}

fn native_decisions() {
    use egress_table::request::Method;
    use egress_table::{Kind, NoHeaders, Request, Table};
    let n = 10_000;
    let table = egress_tests::compile(&many_hosts(n)).unwrap_or_else(|e| egress_tests::fail(&e));
    let runs = 20;
    let t = Instant::now();
    for _ in 0..runs {
        Table::from_bytes(&table).unwrap_or_else(|e| egress_tests::fail(&e.to_string()));
    }
    let load = t.elapsed().as_secs_f64() * 1e3 / f64::from(runs);
    let decoded = Table::from_bytes(&table).unwrap_or_else(|e| egress_tests::fail(&e.to_string()));
    let hosts: Vec<String> = (0..4096)
        .map(|i| {
            if i % 2 == 0 {
                format!("h{}.svc-{}.example.com", i * 2 % n, i * 2 % n % 97)
            } else {
                format!("miss{i}.example.org")
            }
        })
        .collect();
    let m = 2_000_000;
    let t = Instant::now();
    let mut allowed = 0usize;
    for i in 0..m {
        let h = hosts.get(i % hosts.len()).map_or("", String::as_str);
        let req = Request {
            kind: Kind::Http,
            host: h.as_bytes(),
            port: 443,
            method: Method(1),
            path: Some(b"/api/v1/items"),
            principal: None,
            sni: egress_table::Sni::Absent,
            dst_ip: None,
            headers: &NoHeaders,
        };
        allowed += usize::from(decoded.decide(&req).allowed());
    }
    let per = t.elapsed().as_secs_f64() * 1e9 / m as f64;
    println!(
        "native, {n} hosts           table {} KiB, decode+index {load:.2} ms, {per:.0} ns/decision (half hits; {allowed} allowed)",
        table.len() / 1024
    );
}

fn main() {
    let n: usize = std::env::var("EGRESS_BENCH_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let policy = include_str!("../../policies/httpbin.egress");
    println!("egress filter benchmark: {n} requests per run, one VM (like one Envoy worker)");
    for target in TARGETS {
        let mut f = Filters::new(target, policy);
        f.http.set_capture_logs(false);
        f.network.set_capture_logs(false);
        let allow = HttpRequest::new("GET", "httpbin.org", "/get");
        let deny = HttpRequest::new("POST", "httpbin.org", "/post");
        // Warm up, then take the memory baseline.
        for _ in 0..1000 {
            f.http(&allow);
            f.http(&deny);
        }
        let mem_before = f.http.memory_size();
        let t = Instant::now();
        for i in 0..n {
            let out = f.http(if i % 2 == 0 { &allow } else { &deny });
            if out.status != if i % 2 == 0 { 200 } else { 403 } {
                egress_tests::fail(&format!("{target}: wrong decision at request {i}"));
            }
        }
        let per = t.elapsed().as_secs_f64() * 1e6 / n as f64;
        let mem_after = f.http.memory_size();
        println!(
            "{target:<24} http  {per:>6.2} µs/request (half allowed, half 403)   linear memory {} KiB before, {} KiB after {n} requests{}",
            mem_before / 1024,
            mem_after / 1024,
            if mem_after == mem_before {
                " (flat)"
            } else {
                " (GREW)"
            }
        );
        let m = n / 10;
        let t = Instant::now();
        for _ in 0..m {
            f.connect(Some("httpbin.org"), "1.2.3.4:443");
        }
        println!(
            "{target:<24} tcp   {:>6.2} µs/connection ({m} connections)",
            t.elapsed().as_secs_f64() * 1e6 / m as f64
        );
    }
    native_decisions();
}
