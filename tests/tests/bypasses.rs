//! Regression tests for the bypasses two reviews of the filter found
//! (issue 8), end to end through the real `.wasm` of both targets under all
//! four of Istio's path-normalisation modes. Each attack sits beside its
//! legitimate neighbours, so that a fix cannot turn into a false deny.
//!
//! A request the proxy itself refuses (400 before any filter runs) counts as
//! denied: it never reaches the upstream.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use egress_host::{Connection, HostConfig, HttpRequest, Plugin, Properties, Value};
use egress_table::plugin_config::{self, Layer};
use egress_tests::{TARGETS, compile, filter_wasm, record};

const MODES: [&str; 4] = ["none", "base", "merge-slashes", "decode-and-merge-slashes"];

/// One compiled plugin per (target, normalisation mode), shared by the tests.
fn plugin(target: &'static str, mode: &'static str) -> Plugin {
    static CACHE: OnceLock<Mutex<HashMap<(&str, &str), Plugin>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let mut map = cache.lock().unwrap();
    map.entry((target, mode))
        .or_insert_with(|| {
            let cfg = HostConfig {
                hcm: mode
                    .parse::<egress_host::PathNormalization>()
                    .unwrap()
                    .into(),
                ..HostConfig::default()
            };
            Plugin::from_bytes(&filter_wasm(target).unwrap(), cfg).unwrap()
        })
        .clone()
}

fn vm(target: &'static str, mode: &'static str, table: &[u8], layer: Layer) -> egress_host::Vm {
    let mut vm = plugin(target, mode).vm().unwrap();
    assert!(vm.start(b"").unwrap());
    let cfg = plugin_config::encode(table, layer);
    assert!(vm.configure(cfg.as_bytes()).unwrap(), "{target}: configure");
    vm
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Want {
    Allow,
    /// Denied; by this reason code when the filter decided (`""`: any).
    Deny(&'static str),
}
use Want::{Allow, Deny};

/// An HTTP request: method, Host, path, extra headers, the connection's port.
struct Req {
    method: &'static str,
    host: &'static [u8],
    path: &'static [u8],
    headers: Vec<(&'static [u8], &'static [u8])>,
    port: Option<u16>,
    sni: Option<&'static [u8]>,
}

fn get(host: &'static str, path: &'static str) -> Req {
    Req {
        method: "GET",
        host: host.as_bytes(),
        path: path.as_bytes(),
        headers: Vec::new(),
        port: None,
        sni: None,
    }
}

impl Req {
    fn on_port(mut self, p: u16) -> Self {
        self.port = Some(p);
        self
    }
    fn header(mut self, k: &'static str, v: &'static str) -> Self {
        self.headers.push((k.as_bytes(), v.as_bytes()));
        self
    }
    fn method(mut self, m: &'static str) -> Self {
        self.method = m;
        self
    }
    fn sni(mut self, s: &'static str) -> Self {
        self.sni = Some(s.as_bytes());
        self
    }
    fn to_host(&self) -> HttpRequest {
        let mut r = HttpRequest::new(self.method, "x", "/");
        r.authority = Some(self.host.to_vec());
        r.path = self.path.to_vec();
        for (k, v) in &self.headers {
            r.headers.push((k.to_vec(), v.to_vec()));
        }
        let mut props = Properties::default();
        if let Some(p) = self.port {
            props.set(&["destination", "port"], Value::Int(i64::from(p)));
        }
        if let Some(s) = self.sni {
            props.set(
                &["connection", "requested_server_name"],
                Value::String(s.to_vec()),
            );
        }
        r.properties = props;
        r
    }
    fn describe(&self) -> String {
        format!(
            "{} Host {:?} path {:?} headers {:?} port {:?} sni {:?}",
            self.method,
            String::from_utf8_lossy(self.host),
            String::from_utf8_lossy(self.path),
            self.headers
                .iter()
                .map(|(k, v)| format!(
                    "{}: {}",
                    String::from_utf8_lossy(k),
                    String::from_utf8_lossy(v)
                ))
                .collect::<Vec<_>>(),
            self.port,
            self.sni.map(String::from_utf8_lossy),
        )
    }
}

/// Runs `cases` against `policy` on both targets under all four modes.
fn check_http(policy: &str, cases: &[(Req, Want)]) {
    let table = compile(policy).unwrap_or_else(|e| panic!("policy does not compile:\n{e}"));
    for target in TARGETS {
        for mode in MODES {
            let mut vm = vm(target, mode, &table, Layer::Http);
            for (req, want) in cases {
                let out = vm.http(&req.to_host()).unwrap();
                let rec = record(&out.filter_state, "wasm.egress_decision");
                let why = format!(
                    "{target} {mode}: {} → status {}, record {rec:?}",
                    req.describe(),
                    out.status
                );
                match want {
                    Allow => assert_eq!(out.status, 200, "want allow: {why}"),
                    Deny(reason) => {
                        assert_ne!(out.status, 200, "want deny: {why}");
                        if out.proxy_rejected.is_none() && !reason.is_empty() {
                            assert_eq!(rec.get(3).map(String::as_str), Some(*reason), "{why}");
                        }
                    }
                }
            }
        }
    }
}

/// A connection: SNI, destination address and port. Returns (closed, record).
fn connect(
    vm: &mut egress_host::Vm,
    sni: Option<&str>,
    dst: &str,
    port: u16,
) -> (bool, Vec<String>, Vec<String>) {
    let conn = Connection {
        sni: sni.map(|s| s.as_bytes().to_vec()),
        destination: Some(std::net::SocketAddr::new(dst.parse().unwrap(), port)),
        source: None,
        downstream_data: b"hello".to_vec(),
        properties: Properties::default(),
    };
    let out = vm.connection(&conn).unwrap();
    (
        out.closed,
        record(&out.filter_state, "wasm.egress_decision"),
        record(&out.filter_state, "wasm.egress_audit"),
    )
}

// ---------------------------------------------------------------- ports

const PORTS: &str = r#"
policy "ports" {
  destination "api.example.com" port 80 http { allow any }
  destination "api.example.com" port 8080 http { allow GET path "/health" }
}
"#;

/// The port is the connection's: `Host` cannot pick other rules.
#[test]
fn the_port_is_the_connections_not_the_hosts() {
    check_http(
        PORTS,
        &[
            // Attacks: claim port 80's broad rules on a connection to 8080, and back.
            (
                get("api.example.com:80", "/admin").on_port(8080),
                Deny("authority-port-mismatch"),
            ),
            (
                get("api.example.com:8080", "/health").on_port(80),
                Deny("authority-port-mismatch"),
            ),
            (
                get("api.example.com", "/admin").on_port(8080),
                Deny("default"),
            ),
            // An empty port names none: decided on the connection's port.
            (
                get("api.example.com:", "/admin").on_port(8080),
                Deny("default"),
            ),
            // Neighbours.
            (get("api.example.com", "/admin").on_port(80), Allow),
            (get("api.example.com:80", "/admin").on_port(80), Allow),
            (get("api.example.com.:80", "/admin").on_port(80), Allow),
            (get("api.example.com:", "/admin").on_port(80), Allow),
            (get("api.example.com:8080", "/health").on_port(8080), Allow),
            (get("api.example.com", "/health").on_port(8080), Allow),
        ],
    );
}

// ---------------------------------------------------------------- header lists

const LISTS: &str = r#"
policy "lists" {
  destination "a.example.com" port 80 http {
    deny any when header "x-debug" == "1"
    allow any
  }
  destination "b.example.com" port 80 http {
    allow any when header "x-tenant" == "acme"
  }
}
"#;

/// RFC 9110 §5.3: `x-debug: 1,0` is the same as two lines `1` and `0`.
#[test]
fn comma_joined_values_cannot_slip_past_a_deny() {
    let a = || get("a.example.com", "/x");
    let b = || get("b.example.com", "/x");
    check_http(
        LISTS,
        &[
            (a().header("x-debug", "1,0"), Deny("rule")),
            (a().header("x-debug", "0, 1"), Deny("rule")),
            (a().header("x-debug", "1, 1"), Deny("rule")),
            (a().header("x-debug", " 1 ,"), Deny("rule")),
            (
                a().header("x-debug", "0").header("x-debug", "1"),
                Deny("rule"),
            ),
            // Neighbours: no element is 1.
            (a().header("x-debug", "0"), Allow),
            (a().header("x-debug", "10"), Allow),
            (a().header("x-debug", "0,2, 11"), Allow),
            (a(), Allow),
            // An allow needs every element.
            (b().header("x-tenant", "acme"), Allow),
            (b().header("x-tenant", "acme, acme"), Allow),
            (b().header("x-tenant", "acme,evil"), Deny("default")),
            (
                b().header("x-tenant", "acme").header("x-tenant", "evil"),
                Deny("default"),
            ),
            (b().header("x-tenant", ","), Deny("default")),
            (b(), Deny("default")),
        ],
    );
}

// ---------------------------------------------------------------- header names

const NAMES: &str = r#"
policy "names" {
  destination "a.example.com" port 80 http {
    deny any when header "x-debug" present
    allow any
  }
  destination "b.example.com" port 80 http {
    allow any when header "x-debug" absent
  }
  destination "c.example.com" port 80 http {
    allow any when header "x-tenant" present
  }
}
"#;

/// `x_debug` is `x-debug` to CGI-style upstreams: it may make a deny fire or
/// an allow fail, never the reverse.
#[test]
fn underscore_variants_fail_closed() {
    check_http(
        NAMES,
        &[
            (
                get("a.example.com", "/").header("x_debug", "1"),
                Deny("rule"),
            ),
            (
                get("a.example.com", "/").header("X_DEBUG", "1"),
                Deny("rule"),
            ),
            (
                get("b.example.com", "/").header("x_debug", "1"),
                Deny("default"),
            ),
            (
                get("c.example.com", "/").header("x_tenant", "a"),
                Deny("default"),
            ),
            // Neighbours.
            (get("a.example.com", "/").header("x-debugger", "1"), Allow),
            (get("a.example.com", "/").header("xdebug", "1"), Allow),
            (get("a.example.com", "/"), Allow),
            (get("b.example.com", "/"), Allow),
            (get("c.example.com", "/").header("x-tenant", "a"), Allow),
            (
                get("c.example.com", "/")
                    .header("x-tenant", "a")
                    .header("x_tenant", "b"),
                Allow,
            ),
        ],
    );
}

// ---------------------------------------------------------------- numeric hosts

const ANY_NAME: &str = r#"
policy "names" {
  default deny
  destination "**" port 80 http
  destination "**" port 443 tls
}
"#;

/// Every legacy spelling of an IPv4 address is refused, not taken as a name.
#[test]
fn numeric_hosts_are_addresses_or_refused() {
    let mut cases = Vec::new();
    for h in [
        "0xa9.0xfe.0xa9.0xfe",
        "0xa9fea9fe",
        "0XA9FEA9FE",
        "2852039166",
        "0251.0376.0251.0376",
        "169.254.43518",
        "0x7f.1",
        "127.1",
        "metadata.0x1",
    ] {
        cases.push((get(h, "/"), Deny("invalid-authority")));
    }
    // An IP literal is not a name: `**` does not match it.
    cases.push((get("169.254.169.254", "/"), Deny("default")));
    // Neighbours: names with digits or hex-looking labels stay names.
    for h in [
        "example.com",
        "0x.example.com",
        "123.example.com",
        "a.0xg",
        "cafe.de",
    ] {
        cases.push((get(h, "/"), Allow));
    }
    check_http(ANY_NAME, &cases);
    // The same rule for SNI.
    let table = compile(ANY_NAME).unwrap();
    for target in TARGETS {
        let mut net = vm(target, "base", &table, Layer::Network);
        for sni in ["0xa9fea9fe", "0xa9.0xfe.0xa9.0xfe", "2852039166"] {
            let (closed, rec, _) = connect(&mut net, Some(sni), "10.0.0.1", 443);
            assert!(closed, "{target}: SNI {sni}");
            assert_eq!(rec[3], "invalid-sni", "{target}: SNI {sni}");
        }
        let (closed, _, _) = connect(&mut net, Some("example.com"), "10.0.0.1", 443);
        assert!(!closed, "{target}");
    }
}

// ---------------------------------------------------------------- IPv4-mapped

const METADATA: &str = r#"
policy "metadata" {
  default allow
  destination "169.254.169.254" port 80 http { deny any }
  destination cidr 169.254.0.0/16 port 80 tcp { deny }
}
"#;

/// `::ffff:169.254.169.254` is 169.254.169.254.
#[test]
fn ipv4_mapped_addresses_are_ipv4() {
    check_http(
        METADATA,
        &[
            (get("169.254.169.254", "/latest"), Deny("rule")),
            (get("[::ffff:a9fe:a9fe]", "/latest"), Deny("rule")),
            (get("[::ffff:169.254.169.254]", "/latest"), Deny("rule")),
            (get("[::FFFF:A9FE:A9FE]:80", "/latest"), Deny("rule")),
            // Neighbours.
            (get("[2001:db8::1]", "/latest"), Allow),
            (get("[::ffff:a9fe:a9ff]", "/latest"), Allow),
            (get("example.com", "/latest"), Allow),
        ],
    );
    let table = compile(METADATA).unwrap();
    for target in TARGETS {
        let mut net = vm(target, "base", &table, Layer::Network);
        for dst in ["169.254.169.254", "::ffff:169.254.169.254", "::ffff:a9fe:1"] {
            let (closed, rec, _) = connect(&mut net, None, dst, 80);
            assert!(closed, "{target}: {dst}");
            assert_eq!(rec[3], "rule", "{target}: {dst}");
        }
        for dst in ["10.0.0.1", "::ffff:10.0.0.1", "2001:db8::1"] {
            let (closed, _, _) = connect(&mut net, None, dst, 80);
            assert!(!closed, "{target}: {dst}");
        }
    }
}

// ---------------------------------------------------------------- escapes

const ESCAPES: &str = r#"
policy "escapes" {
  destination "iam.example.com" port 80 http {
    deny any path "/v1/sa:signBlob"
    deny any path prefix "/@evil/"
    deny any path "/v1/a+b"
    deny any path "/q/a|b"
    allow any
  }
  destination "allow.example.com" port 80 http {
    allow GET path "/v1/sa:signBlob", "/p/<q/{**}", "/files/{*}.tar+gz"
  }
}
"#;

/// Escaped reserved characters name the same resource to the upstream: a
/// deny sees through them, and an allow admits both spellings.
#[test]
fn escapes_cannot_hide_a_path_from_a_deny() {
    let iam = |p: &'static str| get("iam.example.com", p);
    let ok = |p: &'static str| get("allow.example.com", p);
    check_http(
        ESCAPES,
        &[
            (iam("/v1/sa%3AsignBlob"), Deny("rule")),
            (iam("/v1/sa%3asignBlob"), Deny("rule")),
            (iam("/v1/sa:signBlob"), Deny("rule")),
            (iam("/v1/sa:signBlob?x=1"), Deny("rule")),
            (iam("/%40evil/pkg"), Deny("rule")),
            (iam("/@evil/pkg"), Deny("rule")),
            (iam("/v1/a%2Bb"), Deny("rule")),
            (iam("/v1/a+b"), Deny("rule")),
            // A pattern with a character Envoy always escapes matches its escape.
            (iam("/q/a%7Cb"), Deny("rule")),
            (iam("/q/a%7cb"), Deny("rule")),
            (iam("/q/a|b"), Deny("")),
            // Neighbours.
            (iam("/v1/sa:signBlobs"), Allow),
            (iam("/v1/sa%3BsignBlob"), Allow),
            (iam("/%40good/pkg"), Allow),
            (iam("/v1/a%2B"), Allow),
            (iam("/v1/ab"), Allow),
            // The same resource written either way is allowed.
            (ok("/v1/sa:signBlob"), Allow),
            (ok("/v1/sa%3AsignBlob"), Allow),
            (ok("/v1/sa%3BsignBlob"), Deny("default")),
            // `<` in a template is a literal, not a word boundary.
            (ok("/p/%3Cq/z"), Allow),
            (ok("/p/q/z"), Deny("default")),
            (ok("/p/x/q/z"), Deny("default")),
            (ok("/files/a.tar+gz"), Allow),
            (ok("/files/a.tar%2Bgz"), Allow),
            (ok("/files/a.tar%20gz"), Deny("default")),
        ],
    );
}

// ---------------------------------------------------------------- CONNECT

const TUNNELS: &str = r#"
policy "tunnels" {
  destination "open.example.com" port 443 http { allow any }
  destination "named.example.com" port 443 http {
    allow CONNECT
    allow GET
  }
  destination "guarded.example.com" port 443 http {
    allow CONNECT
    deny any path prefix "/admin"
  }
}
"#;

/// A CONNECT tunnel carries requests the filter never sees: only an allow
/// that names CONNECT admits it, and a path-scoped deny holds it.
#[test]
fn connect_needs_a_rule_that_names_it() {
    let connect = |h: &'static str| Req {
        method: "CONNECT",
        host: h.as_bytes(),
        path: b"",
        headers: Vec::new(),
        port: None,
        sni: None,
    };
    check_http(
        TUNNELS,
        &[
            (connect("open.example.com:443"), Deny("default")),
            (connect("guarded.example.com:443"), Deny("rule")),
            (connect("named.example.com:443"), Allow),
            // A CONNECT names its port.
            (connect("named.example.com"), Deny("")),
            // Neighbours: ordinary requests.
            (get("open.example.com", "/x").on_port(443), Allow),
            (
                get("open.example.com", "/x").method("POST").on_port(443),
                Allow,
            ),
            (get("named.example.com", "/x").on_port(443), Allow),
        ],
    );
}

// ---------------------------------------------------------------- audit pool

const AUDIT: &str = r#"
policy "open" {
  default allow
}
policy "dry-run" {
  mode audit
  log all
  require sni-host-match
  destination "github.com" port 443, 22 tls
  destination "api.example.com" port 80 http
}
"#;

/// An audit policy's facts (its `tls` ports, its `require sni-host-match`)
/// never change the enforced decision.
#[test]
fn audit_policies_do_not_leak_into_enforcement() {
    let table = compile(AUDIT).unwrap();
    for target in TARGETS {
        let mut net = vm(target, "base", &table, Layer::Network);
        // A TCP connection without SNI to port 22: the audit pool would refuse it.
        let (closed, rec, audit) = connect(&mut net, None, "140.82.121.4", 22);
        assert!(!closed, "{target}: enforced {rec:?}");
        assert_eq!(audit[0], "deny", "{target}");
        assert_eq!(audit[3], "no-sni", "{target}");
    }
    check_http(
        AUDIT,
        &[
            (get("api.example.com", "/").sni("not..valid"), Allow),
            (get("api.example.com", "/").sni("other.example.com"), Allow),
            (get("api.example.com", "/"), Allow),
        ],
    );
    for target in TARGETS {
        let mut h = vm(target, "base", &table, Layer::Http);
        for (sni, reason) in [
            ("not..valid", "invalid-sni"),
            ("other.example.com", "sni-host-mismatch"),
        ] {
            let out = h
                .http(&get("api.example.com", "/").sni(sni).to_host())
                .unwrap();
            assert_eq!(out.status, 200, "{target}");
            let audit = record(&out.filter_state, "wasm.egress_audit");
            assert_eq!(audit[0], "deny", "{target}: {sni}");
            assert_eq!(audit[3], reason, "{target}: {sni}");
        }
    }
}

/// With an enforced `require sni-host-match`, an invalid SNI is still refused.
#[test]
fn enforced_sni_checks_still_hold() {
    const P: &str = r#"
policy "p" {
  require sni-host-match
  destination "api.example.com" port 80 http
}
"#;
    check_http(
        P,
        &[
            (
                get("api.example.com", "/").sni("not..valid"),
                Deny("invalid-sni"),
            ),
            (
                get("api.example.com", "/").sni("other.example.com"),
                Deny("sni-host-mismatch"),
            ),
            (get("api.example.com", "/").sni("API.example.com."), Allow),
            (get("api.example.com", "/"), Allow),
        ],
    );
}

// ---------------------------------------------------------------- network layer

/// A plugin whose configuration was refused still creates contexts of its
/// layer's type (the SDK's dispatcher panics on `on_new_connection` for an
/// HTTP context), and denies everything through them instead of trapping.
/// Envoy sends such a plugin no traffic; other hosts may.
#[test]
fn a_refused_configuration_fails_closed_without_a_trap() {
    let mut table = compile(METADATA).unwrap();
    let n = table.len();
    table[n / 2] ^= 0x55;
    for target in TARGETS {
        let cfg = HostConfig {
            serve_refused_plugins: true,
            ..HostConfig::default()
        };
        let plugin = Plugin::from_bytes(&filter_wasm(target).unwrap(), cfg).unwrap();
        let broken_net = plugin_config::encode(&table, Layer::Network);
        for config in [
            broken_net.as_bytes(),
            br#"{"layer":"network","table":"AAAA"#,
        ] {
            let mut vm = plugin.vm().unwrap();
            assert!(vm.start(b"").unwrap());
            assert!(!vm.configure(config).unwrap(), "{target}: must refuse");
            let conn = Connection {
                sni: Some(b"example.com".to_vec()),
                destination: Some("10.0.0.1:443".parse().unwrap()),
                source: None,
                downstream_data: b"hello".to_vec(),
                properties: Properties::default(),
            };
            let out = vm
                .connection(&conn)
                .unwrap_or_else(|e| panic!("{target}: the VM failed: {e}"));
            assert!(out.closed, "{target}: a refused plugin must close");
            assert!(out.upstream_data.is_empty(), "{target}");
            assert!(!vm.is_poisoned(), "{target}");
        }
        let broken_http = plugin_config::encode(&table, Layer::Http);
        for config in [broken_http.as_bytes(), b"not json"] {
            let mut vm = plugin.vm().unwrap();
            assert!(vm.start(b"").unwrap());
            assert!(!vm.configure(config).unwrap(), "{target}: must refuse");
            let out = vm
                .http(&get("example.com", "/").to_host())
                .unwrap_or_else(|e| panic!("{target}: the VM failed: {e}"));
            assert_eq!(out.status, 403, "{target}: a refused plugin must deny");
            assert!(!vm.is_poisoned(), "{target}");
        }
    }
}

// ---------------------------------------------------------------- one answer

/// `egressc explain` and the filter (what `egressc simulate` runs) give the
/// same decision, for the same reason, on every finding above.
#[test]
fn explain_agrees_with_the_filter_on_the_findings() {
    let policies = [
        PORTS,
        LISTS,
        NAMES,
        ANY_NAME,
        METADATA,
        ESCAPES,
        TUNNELS,
        AUDIT,
        r#"policy "p" { require sni-host-match  destination "api.example.com" port 80 http }"#,
    ];
    let lines = [
        r#"{"method":"GET","host":"api.example.com:80","port":8080,"path":"/admin"}"#,
        r#"{"method":"GET","host":"api.example.com:","port":8080,"path":"/admin"}"#,
        r#"{"method":"GET","host":"api.example.com:","path":"/admin"}"#,
        r#"{"method":"GET","host":"api.example.com","port":8080,"path":"/health"}"#,
        r#"{"method":"GET","host":"api.example.com","path":"/","sni":"not..valid"}"#,
        r#"{"method":"GET","host":"api.example.com","path":"/","sni":"other.example.com"}"#,
        r#"{"method":"GET","host":"a.example.com","path":"/x","headers":{"x-debug":"0, 1"}}"#,
        r#"{"method":"GET","host":"a.example.com","path":"/x","headers":{"x_debug":"1"}}"#,
        r#"{"method":"GET","host":"b.example.com","path":"/x","headers":{"x-tenant":"acme,evil"}}"#,
        r#"{"method":"GET","host":"b.example.com","path":"/x","headers":{"x-tenant":"acme, acme"}}"#,
        r#"{"method":"GET","host":"0xa9fea9fe","path":"/"}"#,
        r#"{"method":"GET","host":"[::ffff:a9fe:a9fe]","path":"/latest"}"#,
        r#"{"method":"GET","host":"iam.example.com","path":"/v1/sa%3AsignBlob"}"#,
        r#"{"method":"GET","host":"allow.example.com","path":"/p/%3Cq/z"}"#,
        r#"{"method":"GET","host":"allow.example.com","path":"/p/q/z"}"#,
        r#"{"method":"CONNECT","host":"open.example.com:443"}"#,
        r#"{"method":"CONNECT","host":"named.example.com:443"}"#,
        r#"{"method":"CONNECT","host":"guarded.example.com:443"}"#,
        r#"{"destination":"140.82.121.4","port":22}"#,
        r#"{"destination":"::ffff:169.254.169.254","port":80}"#,
        r#"{"sni":"0xa9fea9fe","port":443}"#,
    ];
    let wasm = filter_wasm("wasm32-wasip1").unwrap();
    for policy in policies {
        let (_, outcome) = egressc::compile_str("p.egress", policy);
        let spec = outcome.compiled.unwrap().spec;
        let table = egress_table::format::encode(&spec).unwrap();
        let mut runner = egressc::run::Runner::new(&wasm, HostConfig::default(), &table).unwrap();
        for line in lines {
            let req = egressc::sim::parse_line(line).unwrap();
            let ran = runner.run(&req).unwrap();
            let ex =
                egressc::explain::explain(&spec, &req, egressc::explain::PathNormalization::Base)
                    .unwrap();
            assert_eq!(ex.enforced.record, ran.record, "{policy}\n{line}");
            let audit = ex.audit.as_ref().map(|a| &a.record);
            assert_eq!(audit, ran.audit.as_ref(), "audit: {policy}\n{line}");
        }
    }
}
