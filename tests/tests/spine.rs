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

/// The reasons in the source, scanned as text: every string literal passed
/// where a function takes a `reason: &str` parameter, and every
/// `reason: "…"` field, in the `.rs` files under `dir`.
fn reason_literals(dir: &std::path::Path, out: &mut std::collections::BTreeSet<String>) {
    /// The text of a string literal starting at `s[0] == '"'`, and its length.
    fn literal(s: &str) -> Option<(String, usize)> {
        let mut text = String::new();
        let mut chars = s.char_indices().skip(1);
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => return Some((text, i + 1)),
                c => text.push(c),
            }
        }
        None
    }
    /// The top-level, comma-separated items between the `(` at `s[0]` and
    /// its matching `)`.
    fn items(s: &str) -> Vec<String> {
        let (mut depth, mut i, mut start, mut out) = (0, 0, 1, Vec::new());
        while let Some(c) = s[i..].chars().next() {
            match c {
                '"' => {
                    i += literal(&s[i..]).map_or(1, |(_, n)| n);
                    continue;
                }
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' => {
                    depth -= 1;
                    if depth == 0 {
                        out.push(s[start..i].trim().to_owned());
                        return out;
                    }
                }
                ',' if depth == 1 => {
                    out.push(s[start..i].trim().to_owned());
                    start = i + 1;
                }
                _ => {}
            }
            i += c.len_utf8();
        }
        out
    }
    let mut files = vec![dir.to_path_buf()];
    while let Some(p) = files.pop() {
        if p.is_dir() {
            files.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        if p.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let src = std::fs::read_to_string(&p).unwrap();
        // `reason: "…"` fields.
        for (at, _) in src.match_indices("reason: \"") {
            let (text, _) = literal(&src[at + "reason: ".len()..]).unwrap();
            out.insert(text);
        }
        // Functions with a `reason: &str` parameter, then their calls.
        for (at, _) in src.match_indices("fn ") {
            let rest = &src[at + 3..];
            let Some(name_len) = rest.find(|c: char| !(c.is_alphanumeric() || c == '_')) else {
                continue;
            };
            let (name, after) = rest.split_at(name_len);
            if !after.starts_with('(') {
                continue;
            }
            let Some(index) = items(after).iter().position(|p| {
                p.strip_prefix("reason:")
                    .is_some_and(|t| t.trim() == "&str")
            }) else {
                continue;
            };
            let call = format!("{name}(");
            for (c, _) in src.match_indices(&call) {
                let before = &src[..c];
                let is_call = !before.ends_with("fn ")
                    && !before.ends_with(|ch: char| ch.is_alphanumeric() || ch == '_');
                if !is_call {
                    continue;
                }
                let args = items(&src[c + name.len()..]);
                if let Some(arg) = args.get(index)
                    && arg.starts_with('"')
                {
                    out.insert(literal(arg).unwrap().0);
                }
            }
        }
    }
}

/// Every `reason` that the filter, `egressc proxy` or egressc's local runs
/// can report is a row of the reason table in docs/filter.md, and every row
/// of that table is such a reason.
#[test]
fn the_reason_table_in_the_filter_docs_is_complete() {
    use egress_table::request::Reason;
    use egress_table::spec::Action;
    use egress_table::{Cause, Table, Verdict, record};
    use std::collections::BTreeSet;

    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");

    // The filter's reasons, through the table crate: one verdict per cause,
    // described as filter state, the 403, the audit log and the metrics do.
    let table = Table::from_bytes(&compile(HTTPBIN).unwrap()).unwrap();
    // A match without a wildcard: a new `Cause` fails to compile here.
    let cause = |c: Cause| match c {
        Cause::Rule(_) | Cause::Default(_) | Cause::Invalid(_) | Cause::NoPolicy => c,
    };
    let mut causes = vec![
        cause(Cause::Rule(0)),
        cause(Cause::Default(0)),
        cause(Cause::NoPolicy),
    ];
    causes.extend(Reason::ALL.iter().map(|r| cause(Cause::Invalid(*r))));
    let mut reasons: BTreeSet<String> = causes
        .into_iter()
        .map(|cause| {
            let v = Verdict {
                action: Action::Deny,
                cause,
            };
            record::describe(&table, &v).2.to_owned()
        })
        .collect();
    assert_eq!(reasons.len(), Reason::ALL.len() + 3, "{reasons:?}");

    // The reasons the proxy and the tools produce themselves, from their source.
    let mut scanned = BTreeSet::new();
    for dir in [
        "filter/src",
        "table/src",
        "host/src",
        "proxy/src",
        "compiler/src",
    ] {
        reason_literals(&root.join(dir), &mut scanned);
    }
    assert!(
        !scanned.is_empty(),
        "the source scan found no reason literal at all: has the code's shape changed?"
    );
    reasons.extend(scanned);

    // The first column of the table under "## Reasons".
    let doc = std::fs::read_to_string(root.join("docs/filter.md")).unwrap();
    let section = doc
        .split("\n## Reasons\n")
        .nth(1)
        .expect("docs/filter.md has a \"## Reasons\" section");
    let section = section.split("\n## ").next().unwrap();
    let documented: BTreeSet<String> = section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once('`').map(|(code, _)| code.to_owned()))
        .collect();

    let missing: Vec<_> = reasons.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "reasons missing from the table in docs/filter.md#reasons: {missing:?}"
    );
    let stale: Vec<_> = documented.difference(&reasons).collect();
    assert!(
        stale.is_empty(),
        "rows of docs/filter.md#reasons that no code produces: {stale:?}"
    );
}
