//! The spine: policy text → egressc → table → filter `.wasm` in the local
//! host → decisions, for both wasm targets; and a corrupted table refused at
//! configure time without a trap.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap is a failed test"
)]

use egress_table::plugin_config::Layer;
use egress_tests::{Filters, HttpRequest, TARGETS, compile, record, vm_with_table};

const HTTPBIN: &str = include_str!("../../policies/httpbin.egress");
const ADMIN: &str = "spiffe://cluster.local/ns/default/sa/admin";

fn with_principal(mut r: HttpRequest, p: &str) -> HttpRequest {
    r.properties.set(
        &["filter_state", "io.istio.peer_principal"],
        egress_tests::Value::String(p.as_bytes().to_vec()),
    );
    r
}

#[test]
fn httpbin_as_in_istios_ambient_egress_docs() {
    for target in TARGETS {
        let mut f = Filters::new(target, HTTPBIN);
        let get = f.http(&HttpRequest::new("GET", "httpbin.org", "/get"));
        assert_eq!(get.status, 200, "{target}: GET /get");
        assert!(get.local_response.is_none());
        assert_eq!(
            record(&get.filter_state, "wasm.egress_decision"),
            ["allow", "httpbin", "httpbin/1", "rule"]
        );

        let post = f.http(&HttpRequest::new("POST", "httpbin.org", "/post"));
        assert_eq!(post.status, 403, "{target}: POST /post");
        let lr = post.local_response.as_ref().expect("a local response");
        assert_eq!(lr.body, b"RBAC: access denied");
        assert_eq!(
            record(&post.filter_state, "wasm.egress_decision"),
            ["deny", "httpbin", "-", "default"]
        );

        let admin = f.http(&with_principal(
            HttpRequest::new("POST", "httpbin.org", "/post"),
            ADMIN,
        ));
        assert_eq!(admin.status, 200, "{target}: admin POST /post");
        assert_eq!(
            record(&admin.filter_state, "wasm.egress_decision")[2],
            "httpbin/2"
        );

        for host in ["example.com", "httpbin.org.evil.com", "api.httpbin.org"] {
            assert_eq!(f.status("GET", host, "/get"), 403, "{target}: {host}");
        }
    }
}

#[test]
fn corrupted_tables_are_refused_at_configure_time() {
    let good = compile(HTTPBIN).unwrap();
    let n = good.len();
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", good[..n / 2].to_vec()),
        ("truncated by one byte", good[..n - 1].to_vec()),
        ("empty", Vec::new()),
    ];
    let mut flipped = good.clone();
    flipped[n / 2] ^= 0x10;
    cases.push(("bit-flipped", flipped));
    let mut v1 = good.clone();
    v1[8] = 1;
    cases.push(("wrong version", v1));
    let mut magic = good.clone();
    magic[..8].copy_from_slice(b"NOTATABL");
    cases.push(("wrong magic", magic));
    for target in TARGETS {
        for (what, bytes) in &cases {
            let err = vm_with_table(target, bytes, Layer::Http)
                .err()
                .unwrap_or_else(|| panic!("{target}: a {what} table was accepted"));
            assert!(
                err.contains("refusing the plugin configuration"),
                "{target}: {what}: the refusal is logged with a reason: {err}"
            );
        }
        // The reasons name what is wrong.
        let e = vm_with_table(target, &cases[4].1, Layer::Http).unwrap_err();
        assert!(e.contains("checksum") || e.contains("version"), "{e}");
        let mut resealed = good.clone();
        resealed[8] = 9;
        let crc = egress_table::crc::crc32c(&resealed[..n - 4]);
        resealed[n - 4..].copy_from_slice(&crc.to_le_bytes());
        let e = vm_with_table(target, &resealed, Layer::Http).unwrap_err();
        assert!(e.contains("table format 9.0"), "{target}: {e}");
    }
}

#[test]
fn bad_plugin_configurations_are_refused() {
    let p = egress_tests::plugin("wasm32-wasip1").unwrap();
    for (cfg, why) in [
        (&b""[..], "empty"),
        (b"not json", "not JSON"),
        (b"{\"tabel\":\"AAAA\"}", "unknown key"),
        (b"{\"table\":\"!!!!\"}", "base64"),
        (b"{\"table\":\"AAAA\",\"layer\":\"udp\"}", "layer"),
    ] {
        let mut vm = p.vm().unwrap();
        assert!(vm.start(b"").unwrap());
        assert!(!vm.configure(cfg).unwrap(), "{why}");
        let logs: Vec<String> = vm.logs().iter().map(|l| l.message.clone()).collect();
        assert!(logs.iter().any(|l| l.contains(why)), "{why}: {logs:?}");
    }
}
