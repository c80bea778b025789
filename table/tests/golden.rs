//! Committed tables of every format version (`tests/golden/`, see its
//! README) decode, or are refused, exactly as the format's version rules
//! say, and the ones that decode still decide as they did.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::path::Path;

use egress_table::request::Method;
use egress_table::spec::Action;
use egress_table::{Kind, Request, Sni, Table};

fn golden(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn files() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".table"))
        .collect();
    v.sort();
    v
}

fn http<'a>(
    host: &'a str,
    method: &str,
    path: &'a str,
    headers: &'a dyn egress_table::Headers,
) -> Request<'a> {
    Request {
        kind: Kind::Http,
        host: host.as_bytes(),
        port: 80,
        method: Method::parse(method.as_bytes()).unwrap(),
        path: Some(path.as_bytes()),
        principal: None,
        sni: Sni::Absent,
        dst_ip: None,
        headers,
    }
}

#[test]
fn every_golden_table_is_pinned() {
    let names = files();
    assert!(names.len() >= 5, "{names:?}");
    for name in &names {
        let bytes = golden(name);
        let (major, minor) = (
            u16::from_le_bytes([bytes[8], bytes[9]]),
            u16::from_le_bytes([bytes[10], bytes[11]]),
        );
        assert!(name.starts_with(&format!("v{major}.{minor}-")), "{name}");
        let decoded = Table::from_bytes(&bytes);
        if major == egress_table::format::VERSION_MAJOR {
            let t = decoded.unwrap_or_else(|e| panic!("{name} no longer decodes: {e}"));
            assert_eq!(t.version(), (major, minor));
        } else {
            let e = decoded.unwrap_err();
            assert_eq!(e.field, "version", "{name}: {e}");
            assert!(e.problem.contains("recompile"), "{name}: {e}");
        }
    }
}

/// The 4.0 tables of the policies whose 2.0 and 3.0 tables are kept
/// (which 4.0 readers refuse) decide as those did under their readers.
#[test]
fn v4_tables_decide_as_the_older_ones_did() {
    let none: &[(&[u8], &[u8])] = &[];
    let t = Table::from_bytes(&golden("v4.0-httpbin.table")).unwrap();
    let d = t.decide(&http("httpbin.org", "GET", "/get", &none));
    let egress_table::Cause::Rule(r) = d.enforced.cause else {
        panic!("{d:?}")
    };
    assert_eq!(
        (d.enforced.action, t.rule_id(r).to_string().as_str()),
        (Action::Allow, "httpbin/1")
    );
    assert_eq!(
        t.decide(&http("httpbin.org", "POST", "/post", &none))
            .enforced
            .action,
        Action::Deny
    );

    let t = Table::from_bytes(&golden("v4.0-registries.table")).unwrap();
    let tls = |h: &'static str| Request {
        kind: Kind::Tls,
        host: h.as_bytes(),
        port: 443,
        method: Method::OTHER,
        path: None,
        principal: None,
        sni: Sni::Absent,
        dst_ip: None,
        headers: &egress_table::NoHeaders,
    };
    assert!(t.decide(&tls("files.pythonhosted.org")).allowed());
    assert!(!t.decide(&tls("a.b.pythonhosted.org")).allowed());
    assert!(
        t.decide(&tls("objects.origin.githubusercontent.com"))
            .allowed()
    );

    let t = Table::from_bytes(&golden("v4.0-api.table")).unwrap();
    let host = "api.partner.example";
    assert!(t.decide(&http(host, "GET", "/v1/orders", &none)).allowed());
    assert!(
        t.decide(&http(host, "POST", "/v1/orders/42", &none))
            .allowed()
    );
    assert!(
        !t.decide(&http(host, "DELETE", "/v1/orders/42", &none))
            .allowed()
    );
    assert!(
        !t.decide(&http(host, "GET", "/v1/admin/users", &none))
            .allowed()
    );
    let acme: &[(&[u8], &[u8])] = &[(b"x-tenant", b"acme")];
    assert!(
        t.decide(&http(host, "GET", "/v2/items/17", &acme))
            .allowed()
    );
    assert!(
        !t.decide(&http(host, "GET", "/v2/items/17x", &acme))
            .allowed()
    );
    assert!(
        !t.decide(&http(host, "GET", "/v2/items/17", &none))
            .allowed()
    );
}

/// The constructs of format 2.1 (negations, suffixes, any principal, value
/// comparisons, open method sets, `otherwise deny`) in a 4.0 table decide
/// as `compiler/tests/cases/valid/negations.egress` says. A reader refuses
/// a minor version newer than its own (here 4.1).
#[test]
fn v4_tables_hold_every_construct() {
    let bytes = golden("v4.0-negations.table");
    let t = Table::from_bytes(&bytes).unwrap();
    assert_eq!(t.version(), (4, 0));
    let host = "api.example.com";
    let ok: &[(&[u8], &[u8])] = &[(b"user-agent", b"Mozilla/5.0"), (b"x-debug", b"0")];
    let decide = |method: &str, path: &'static str, who: Option<&'static str>, hs| {
        let mut r = http(host, method, path, hs);
        r.principal = who.map(str::as_bytes);
        t.decide(&r)
    };
    assert!(decide("GET", "/v1/items", None, &ok).allowed());
    assert!(
        !decide("GET", "/v1/items.json", None, &ok).allowed(),
        "except path suffix"
    );
    let curl: &[(&[u8], &[u8])] = &[(b"user-agent", b"curl/8"), (b"x-debug", b"0")];
    assert!(
        !decide("GET", "/v1/items", None, &curl).allowed(),
        "header prefix"
    );
    let json: &[(&[u8], &[u8])] = &[(b"content-type", b"application/json"), (b"x-debug", b"0")];
    let web = Some("cluster.local/ns/shop/sa/web");
    assert!(decide("POST", "/orders", web, &json).allowed());
    assert!(
        !decide(
            "POST",
            "/orders",
            Some("cluster.local/ns/untrusted/sa/app"),
            &json
        )
        .allowed(),
        "except from"
    );
    assert!(
        !decide("POST", "/orders", None, &json).allowed(),
        "principal \"*\""
    );
    let d = decide("GET", "/other", web, &ok);
    let egress_table::Cause::Rule(r) = d.enforced.cause else {
        panic!("{d:?}")
    };
    assert_eq!(
        (d.enforced.action, t.rule_id(r).to_string().as_str()),
        (Action::Deny, "negations/6"),
        "otherwise deny"
    );

    // A newer minor version is refused, naming what to do.
    let mut newer = bytes.clone();
    newer[10] = 1;
    let body_end = newer.len() - 4;
    let crc = egress_table::crc::crc32c(&newer[..body_end]);
    newer[body_end..].copy_from_slice(&crc.to_le_bytes());
    let e = Table::from_bytes(&newer).unwrap_err();
    assert_eq!(e.field, "version", "{e}");
    assert!(e.problem.contains("newer egressc"), "{e}");
}
