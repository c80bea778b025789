//! The red-team corpus (`tests/redteam/corpus.txt`, the policy it attacks
//! in `tests/redteam/policy.egress`): every request, through the real
//! `.wasm` for both targets, under each of Envoy's path normalisations.
//! A request is allowed when it reaches the upstream (or, for a TLS
//! connection, when its bytes go through); anything else (the filter's
//! 403, a closed connection, the proxy's own 400) is a denial.

use egress_host::{Connection, HostConfig, HttpRequest, Plugin, Properties, Value};
use egress_table::plugin_config::{self, Layer};
use egress_tests::{TARGETS, compile, filter_wasm};

const MODES: [&str; 4] = ["none", "base", "merge-slashes", "decode-and-merge-slashes"];

/// One line of the corpus.
#[derive(Debug)]
struct Case {
    line: usize,
    allow: bool,
    method: Option<Vec<u8>>,
    host: Option<Vec<u8>>,
    path: Option<Vec<u8>>,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    principal: Option<Vec<u8>>,
    port: Option<u16>,
    tls: Option<std::net::SocketAddr>,
    why: String,
}

/// `\xNN`, `\r`, `\n`, `\t` and `\\` in a field.
fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            match b[i + 1] {
                b'x' if i + 3 < b.len() => {
                    let hex = std::str::from_utf8(&b[i + 2..i + 4]).unwrap();
                    out.push(u8::from_str_radix(hex, 16).unwrap());
                    i += 4;
                    continue;
                }
                b'r' => out.push(b'\r'),
                b'n' => out.push(b'\n'),
                b't' => out.push(b'\t'),
                b'\\' => out.push(b'\\'),
                other => panic!("unknown escape \\{}", char::from(other)),
            }
            i += 2;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

fn field(s: &str) -> Option<Vec<u8>> {
    (s != "-").then(|| unescape(s))
}

fn corpus() -> Vec<Case> {
    let text = include_str!("../../redteam/corpus.txt");
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        if raw.trim().is_empty() || raw.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = raw.splitn(6, " | ").collect();
        assert_eq!(f.len(), 6, "line {}: six fields: {raw}", i + 1);
        let allow = match f[0] {
            "allow" => true,
            "deny" => false,
            other => panic!("line {}: expect is allow or deny, not {other}", i + 1),
        };
        let mut c = Case {
            line: i + 1,
            allow,
            method: field(f[1]),
            host: field(f[2]),
            path: field(f[3]),
            headers: Vec::new(),
            principal: None,
            port: None,
            tls: None,
            why: f[5].to_owned(),
        };
        for opt in f[4].split(' ').filter(|o| !o.is_empty()) {
            if let Some(h) = opt.strip_prefix("h:") {
                let (k, v) = h.split_once('=').unwrap();
                c.headers.push((unescape(k), unescape(v)));
            } else if let Some(p) = opt.strip_prefix("principal=") {
                c.principal = Some(unescape(p));
            } else if let Some(p) = opt.strip_prefix("port=") {
                c.port = Some(p.parse().unwrap());
            } else if opt == "tls" {
                c.tls = Some("0.0.0.0:443".parse().unwrap());
            } else if let Some(d) = opt.strip_prefix("dst=") {
                c.tls = Some(d.parse().unwrap());
            } else {
                panic!("line {}: unknown option {opt}", i + 1);
            }
        }
        assert!(!c.why.trim().is_empty(), "line {}: say why", i + 1);
        out.push(c);
    }
    out
}

fn http_request(c: &Case) -> HttpRequest {
    let mut r = HttpRequest::new("GET", "x", "/");
    r.method = c.method.clone().unwrap_or_default();
    r.authority = c.host.clone();
    r.path = c.path.clone().unwrap_or_default();
    r.headers = c.headers.clone();
    let mut props = Properties::default();
    if let Some(p) = c.port {
        props.set(&["destination", "port"], Value::Int(i64::from(p)));
    }
    if let Some(p) = &c.principal {
        props.set(
            &["filter_state", "io.istio.peer_principal"],
            Value::Bytes(p.clone()),
        );
    }
    r.properties = props;
    r
}

#[test]
fn the_red_team_corpus_is_denied_and_its_controls_allowed() {
    let cases = corpus();
    let denials = cases.iter().filter(|c| !c.allow).count();
    assert!(denials >= 200, "{denials} attack requests");
    let table = compile(include_str!("../../redteam/policy.egress")).unwrap();
    let mut failures = Vec::new();
    for target in TARGETS {
        for mode in MODES {
            let cfg = HostConfig {
                hcm: mode
                    .parse::<egress_host::PathNormalization>()
                    .unwrap()
                    .into(),
                capture_logs: false,
                ..HostConfig::default()
            };
            let plugin = Plugin::from_bytes(&filter_wasm(target).unwrap(), cfg).unwrap();
            let mut vms = [Layer::Http, Layer::Network].map(|layer| {
                let mut vm = plugin.vm().unwrap();
                assert!(vm.start(b"").unwrap());
                let config = plugin_config::encode(&table, layer);
                assert!(vm.configure(config.as_bytes()).unwrap());
                vm
            });
            for c in &cases {
                // Whether it got through, and the path the upstream saw.
                let (allowed, forwarded) = if let Some(dst) = c.tls {
                    let conn = Connection {
                        sni: c.host.clone(),
                        destination: Some(dst),
                        source: None,
                        downstream_data: b"hello".to_vec(),
                        properties: Properties::default(),
                    };
                    let out = vms[1].connection(&conn).unwrap_or_else(|e| {
                        panic!("{target} {mode}: line {}: trapped: {e}", c.line)
                    });
                    (!out.closed && out.upstream_data == b"hello", None)
                } else {
                    let out = vms[0].http(&http_request(c)).unwrap_or_else(|e| {
                        panic!("{target} {mode}: line {}: trapped: {e}", c.line)
                    });
                    let path = out
                        .forwarded_headers
                        .as_ref()
                        .and_then(|h| h.iter().find(|(k, _)| k == b":path"))
                        .map(|(_, v)| String::from_utf8_lossy(v).into_owned());
                    (out.status == 200, path)
                };
                if allowed != c.allow {
                    failures.push(format!(
                        "{target} {mode}: line {}: expected {}, got {} ({}; upstream path {forwarded:?})",
                        c.line,
                        if c.allow { "allow" } else { "deny" },
                        if allowed { "allow" } else { "deny" },
                        c.why
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} checks failed:\n{}",
        failures.len(),
        cases.len() * TARGETS.len() * MODES.len(),
        failures.join("\n")
    );
}
