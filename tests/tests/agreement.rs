//! `egressc explain` and the filter (what `egressc simulate` and `egressc
//! test` run) give one answer for every request: the same decision, for the
//! same reason, by the same rule, and the same audit verdict, under all four
//! of Istio's path-normalisation modes. Requests are random and biased
//! toward what normalisation and the filter's refusals act on: dot
//! segments, escapes, odd authorities and ports, repeated headers, SNI,
//! principals.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap is a failed test"
)]

use egress_host::HostConfig;
use egressc::explain::PathNormalization;
use egressc::run::Runner;
use egressc::sim::SimRequest;
use proptest::prelude::*;

/// Every example policy, compiled into one table (as `egressc check
/// policies/` does), plus a policy that exercises headers, SNI and CONNECT.
fn spec() -> egress_table::spec::TableSpec {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies");
    let mut sources = egressc::Sources::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "egress"))
        .collect();
    files.sort();
    for p in files {
        sources.add(
            p.display().to_string(),
            std::fs::read_to_string(&p).unwrap(),
        );
    }
    sources.add(
        "extra.egress",
        r#"policy "extra" {
  require sni-host-match
  destination "api.example.com" port 80, 8080 http {
    deny any when header "x-debug" == "1"
    deny any path "/v1/sa:signBlob"
    allow CONNECT
    allow GET, POST path "/v1/{**}" from namespace "payments"
    allow GET when header "x-tenant" == "acme"
  }
}"#,
    );
    let outcome = egressc::compile(&sources);
    outcome.compiled.expect("the example policies compile").spec
}

fn one_of(items: &'static [&'static str]) -> impl Strategy<Value = String> {
    proptest::sample::select(items).prop_map(str::to_owned)
}

fn path() -> impl Strategy<Value = String> {
    let piece = one_of(&[
        "get",
        "..",
        ".",
        "%2e",
        "%2E%2E",
        "%2F",
        "%2f",
        "%3A",
        "%41",
        "%00",
        "v1",
        "orders",
        "42",
        "admin",
        "",
        "\\",
        ";x",
        "items",
        "17",
        "sa:signBlob",
        "%25",
        "a%20b",
        "%7C",
        "anything",
    ]);
    (
        proptest::collection::vec(piece, 0..6),
        one_of(&["", "?q=1", "?a/../b", "#f"]),
    )
        .prop_map(|(pieces, tail)| {
            let mut p = String::new();
            for s in pieces {
                p.push('/');
                p.push_str(&s);
            }
            if p.is_empty() {
                p.push('/');
            }
            p + &tail
        })
}

fn http_request() -> impl Strategy<Value = SimRequest> {
    let host = one_of(&[
        "httpbin.org",
        "HTTPBIN.org.",
        "httpbin.org:80",
        "httpbin.org:8080",
        "httpbin.org:",
        "api.example.com",
        "api.example.com:8080",
        "api.partner.example",
        "0x7f.1",
        "[::ffff:a9fe:a9fe]",
        "evil.com",
        "a..b",
        "user@httpbin.org",
        "",
    ]);
    let method = one_of(&["GET", "GET", "POST", "CONNECT", "get", "PURGE", "DELETE"]);
    let principal = proptest::option::of(one_of(&[
        "cluster.local/ns/default/sa/admin",
        "spiffe://cluster.local/ns/payments/sa/api",
        "cluster.local/ns/payments2/sa/api",
        "other.domain/ns/default/sa/admin",
    ]));
    let header = (
        one_of(&[
            "x-debug", "x_debug", "x-tenant", "X-Tenant", "host", "x-other",
        ]),
        one_of(&["1", "0", "1,0", "acme", "acme, evil", "evil", ""]),
    );
    let headers = proptest::collection::vec(header, 0..3);
    let sni = proptest::option::of(one_of(&["api.example.com", "other.example.com", "a..b"]));
    let port = proptest::option::of(proptest::sample::select(&[80u16, 443, 8080][..]));
    let scheme = proptest::option::of(one_of(&["http", "https"]));
    (method, host, path(), principal, headers, sni, port, scheme).prop_map(
        |(method, host, path, principal, headers, sni, port, scheme)| SimRequest {
            path: (method != "CONNECT" || path.len() > 1).then_some(path),
            method: Some(method),
            host: (!host.is_empty()).then_some(host),
            port,
            scheme,
            principal,
            headers: headers
                .into_iter()
                .map(|(k, v)| (k, v.into_bytes()))
                .collect(),
            sni,
            destination: None,
        },
    )
}

fn connection() -> impl Strategy<Value = SimRequest> {
    let sni = proptest::option::of(one_of(&[
        "github.com",
        "api.github.com",
        "files.pythonhosted.org",
        "a.b.pythonhosted.org",
        "0xa9fea9fe",
        "GITHUB.COM.",
    ]));
    let dst = proptest::option::of(one_of(&[
        "140.82.121.4",
        "::ffff:140.82.121.4",
        "10.0.0.1",
        "2001:db8::1",
    ]));
    let port = proptest::sample::select(&[22u16, 443, 80, 9418][..]);
    (sni, dst, port).prop_map(|(sni, dst, port)| SimRequest {
        sni,
        destination: dst.map(|d| d.parse().unwrap()),
        port: Some(port),
        ..SimRequest::default()
    })
}

const MODES: [PathNormalization; 4] = [
    PathNormalization::None,
    PathNormalization::Base,
    PathNormalization::MergeSlashes,
    PathNormalization::DecodeAndMergeSlashes,
];

#[test]
fn explain_and_simulate_agree_on_random_requests() {
    let spec = spec();
    let table = egress_table::format::encode(&spec).unwrap();
    let wasm = egress_tests::filter_wasm("wasm32-wasip1").unwrap();
    for mode in MODES {
        let cfg = HostConfig {
            hcm: mode.into(),
            ..HostConfig::default()
        };
        // `TestRunner::run` takes a `Fn`; the VM is mutable state.
        let runner = std::cell::RefCell::new(Runner::new(&wasm, cfg, &table).unwrap());
        let check = |req: &SimRequest| -> Result<(), TestCaseError> {
            let ran = runner.borrow_mut().run(req).map_err(TestCaseError::fail)?;
            let ex = egressc::explain::explain(&spec, req, mode).map_err(TestCaseError::fail)?;
            prop_assert_eq!(
                &ex.enforced.record,
                &ran.record,
                "{}: {} ({:?})",
                mode,
                req.describe(),
                req
            );
            prop_assert_eq!(
                ex.audit.as_ref().map(|a| &a.record),
                ran.audit.as_ref(),
                "{}: audit of {}",
                mode,
                req.describe()
            );
            Ok(())
        };
        let mut runner_cfg = proptest::test_runner::TestRunner::new(ProptestConfig {
            failure_persistence: None,
            ..ProptestConfig::default()
        });
        let strategy = prop_oneof![3 => http_request(), 1 => connection()];
        if let Err(e) = runner_cfg.run(&strategy, |req| check(&req)) {
            panic!("{mode}: explain and the filter disagree: {e}");
        }
    }
}

/// The example from the issue that first showed the two views disagreeing.
#[test]
fn a_dot_segment_is_decided_as_envoy_forwards_it() {
    let (_, outcome) = egressc::compile_str(
        "httpbin.egress",
        include_str!("../../policies/httpbin.egress"),
    );
    let spec = outcome.compiled.unwrap().spec;
    let req = egressc::sim::parse_line(
        r#"{"method":"GET","host":"httpbin.org","path":"/anything/../get"}"#,
    )
    .unwrap();
    let ex = egressc::explain::explain(&spec, &req, PathNormalization::Base).unwrap();
    assert_eq!(ex.enforced.record.rule.as_deref(), Some("httpbin/1"));
    assert!(
        ex.request.contains("path /get (as forwarded)"),
        "{}",
        ex.request
    );
    let ex = egressc::explain::explain(&spec, &req, PathNormalization::None).unwrap();
    assert_eq!(ex.enforced.record.reason, "path-dot-segment");
}
