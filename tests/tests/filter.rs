//! The filter's behaviour inside the (local) proxy, end to end through the
//! real `.wasm` for both targets: request parsing, tricks that must not turn
//! a denial into an allow, connections, the deny response, audit mode, the
//! audit log, filter state and metrics.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap is a failed test"
)]

use egress_tests::{Filters, HttpRequest, LogLevel, TARGETS, Value, record};

fn req(method: &str, authority: Option<&[u8]>, path: &[u8]) -> HttpRequest {
    let mut r = HttpRequest::new(method, "placeholder", "/");
    r.authority = authority.map(<[u8]>::to_vec);
    r.path = path.to_vec();
    r
}

const API: &str = r#"
policy "api" {
  log all
  destination "api.example.com" port 80 http {
    allow any path "/public/{**}"
    allow GET
    deny any path "/admin/{**}", "/admin"
  }
  destination "2001:db8::1" port 80 http
}
"#;

fn reason(out: &egress_tests::HttpOutcome) -> String {
    record(&out.filter_state, "wasm.egress_decision")
        .get(3)
        .cloned()
        .unwrap_or_default()
}

/// The audit log line among a request's or connection's log lines (the
/// one in JSON).
fn audit_line(logs: &[egress_host::LogLine]) -> &egress_host::LogLine {
    logs.iter()
        .find(|l| l.message.starts_with('{'))
        .unwrap_or_else(|| panic!("no audit log line in {logs:?}"))
}

#[test]
fn host_parsing() {
    for target in TARGETS {
        let mut f = Filters::new(target, API);
        for (authority, status) in [
            ("api.example.com", 200),
            ("API.Example.COM", 200),
            ("api.example.com.", 200),
            ("api.example.com.:80", 200),
            ("api.example.com:80", 200),
            ("api.example.com:8080", 403),
            ("[2001:db8::1]", 200),
            ("[2001:db8:0:0::1]:80", 200),
            ("[2001:DB8::1]:80", 200),
            ("[::1]:80", 403),
        ] {
            let out = f.http(&req("GET", Some(authority.as_bytes()), b"/x"));
            assert_eq!(out.status, status, "{target}: Host {authority}");
        }
    }
}

#[test]
fn missing_and_duplicate_authority() {
    for target in TARGETS {
        let mut f = Filters::new(target, API);
        // Envoy refuses an HTTP/1.1 request without Host before any filter runs.
        let out = f.http(&req("GET", None, b"/x"));
        assert_eq!(out.proxy_rejected, Some(400), "{target}");
        // An empty Host reaches the filter, which refuses it.
        let out = f.http(&req("GET", Some(b""), b"/x"));
        assert_eq!(out.status, 403, "{target}");
        assert_eq!(reason(&out), "missing-authority");

        // Envoy joins repeated Host headers with `,`: never a valid host, so denied.
        for second in [&b"evil.example.com"[..], b"api.example.com"] {
            let mut dup = req("GET", Some(b"api.example.com"), b"/x");
            dup.headers.push((b"host".to_vec(), second.to_vec()));
            let out = f.http(&dup);
            assert_eq!(
                out.status,
                403,
                "{target}: a second Host {}",
                String::from_utf8_lossy(second)
            );
            assert_eq!(reason(&out), "invalid-authority");
        }
    }
}

#[test]
fn non_utf8_header_values_do_not_crash_the_filter() {
    const HDR: &str = r#"policy "h" { destination "a.com" port 80 http { allow any when header "x-tenant" == "\xffacme" } }"#;
    for target in TARGETS {
        let mut f = Filters::new(target, HDR);
        let mut r = req("GET", Some(b"a.com"), b"/");
        r.headers.push((b"x-tenant".to_vec(), b"\xffacme".to_vec()));
        r.headers
            .push((b"x-other".to_vec(), vec![0xc3, 0x28, 0xa0, 0xa1]));
        assert_eq!(f.http(&r).status, 200, "{target}");
        let mut r = req("GET", Some(b"a.com"), b"/");
        r.headers.push((b"x-tenant".to_vec(), b"acme".to_vec()));
        assert_eq!(f.http(&r).status, 403, "{target}");
        // A non-UTF-8 Host is an invalid authority, not a crash.
        let out = f.http(&req("GET", Some(b"a\xff.com"), b"/"));
        assert_eq!(out.status, 403, "{target}");
        assert_eq!(reason(&out), "invalid-authority");
    }
}

#[test]
fn repeated_header_cannot_slip_a_second_value_past_a_check() {
    const HDR: &str = r#"
policy "h" {
  destination "a.com" port 80 http {
    allow any when header "x-tenant" == "acme"
    deny any when header "x-debug" == "1"
  }
}"#;
    for target in TARGETS {
        let mut f = Filters::new(target, HDR);
        let go = |f: &mut Filters, hs: &[(&str, &str)]| {
            let mut r = req("GET", Some(b"a.com"), b"/");
            for (k, v) in hs {
                r.headers
                    .push((k.as_bytes().to_vec(), v.as_bytes().to_vec()));
            }
            f.http(&r).status
        };
        assert_eq!(go(&mut f, &[("x-tenant", "acme")]), 200, "{target}");
        assert_eq!(
            go(&mut f, &[("x-tenant", "acme"), ("x-tenant", "evil")]),
            403,
            "{target}"
        );
        assert_eq!(
            go(&mut f, &[("x-tenant", "evil"), ("x-tenant", "acme")]),
            403,
            "{target}"
        );
        assert_eq!(
            go(
                &mut f,
                &[("x-tenant", "acme"), ("x-debug", "0"), ("x-debug", "1")]
            ),
            403,
            "{target}"
        );
    }
}

/// Paths and hosts that try to reach `/admin` on api.example.com, or to pass
/// for api.example.com. Under Istio's default normalisation (BASE) and with
/// none at all, every one is denied: the filter refuses what normalisation
/// left non-canonical. Under the slash-decoding modes a few attempts
/// normalise into a path the policy allows (`/public/%5c..%5cadmin` becomes
/// `/public/admin`); that normalised path is what goes upstream, so the
/// invariant checked there is that nothing under `/admin` is ever forwarded.
#[test]
fn traversal_and_look_alike_attempts_are_denied() {
    let paths: &[&[u8]] = &[
        b"/public/../admin",
        b"/public/../admin/users",
        b"/public/%2e%2e/admin",
        b"/public/%2E%2E/admin/users",
        b"/public/..%2Fadmin",
        b"/public/%2e%2e%2fadmin",
        b"/public/.%2e/admin",
        b"/public/./../admin",
        b"/public\\..\\admin",
        b"/public/%5c..%5cadmin",
        b"/public/%00/../admin",
        b"/%61dmin/users",
        b"/adm%69n/users",
        b"/admin%2fusers",
        b"/admin%2Fusers",
        b"/%2e/admin/users",
        b"//admin/users",
        b"/./admin/users",
        b"/admin;x/users",
        b"/public/x/../../admin",
        b"/admin/users?redirect=/public/",
        b"/admin/users#/public/x",
        b"/public/\x00/../admin",
    ];
    let hosts: &[&[u8]] = &[
        b"api.example.com.evil.com",
        b"api.example.com@evil.com",
        b"evil.com@api.example.com",
        b"api.example.com%2eevil.com",
        b"api-example.com",
        b"api.example.co",
        b"api.example.com..",
        b"xn--api-example.com",
        b"api.example.com\x00.evil.com",
        b"\xd0\xb0pi.example.com",
        b"api.example.com:80@evil.com",
        b"api.example.com :80",
        b"[api.example.com]",
        b"api.example.com:0",
    ];
    for target in TARGETS {
        for norm in ["base", "none", "merge-slashes", "decode-and-merge-slashes"] {
            let mut vm = egress_tests::http_vm_normalizing(target, API, norm);
            let strict = matches!(norm, "base" | "none");
            for &p in paths {
                for method in ["GET", "POST"] {
                    let out = vm.http(&req(method, Some(b"api.example.com"), p)).unwrap();
                    let forwarded = out
                        .forwarded_headers
                        .as_ref()
                        .and_then(|h| h.iter().find(|(k, _)| k == b":path"))
                        .map(|(_, v)| v.clone());
                    if strict {
                        assert_ne!(
                            out.status,
                            200,
                            "{target} {norm}: {method} {} was allowed",
                            String::from_utf8_lossy(p)
                        );
                    }
                    if let Some(f) = forwarded {
                        assert!(
                            !f.starts_with(b"/admin"),
                            "{target} {norm}: {method} {} reached upstream as {}",
                            String::from_utf8_lossy(p),
                            String::from_utf8_lossy(&f)
                        );
                    }
                }
            }
            for &h in hosts {
                let out = vm.http(&req("GET", Some(h), b"/public/x")).unwrap();
                assert_ne!(
                    out.status,
                    200,
                    "{target} {norm}: Host {} was allowed",
                    String::from_utf8_lossy(h)
                );
            }
            // The legitimate versions still pass.
            assert_eq!(
                vm.http(&req("POST", Some(b"api.example.com"), b"/public/x"))
                    .unwrap()
                    .status,
                200
            );
            assert_eq!(
                vm.http(&req("GET", Some(b"api.example.com"), b"/users"))
                    .unwrap()
                    .status,
                200
            );
            assert_eq!(
                vm.http(&req("GET", Some(b"api.example.com"), b"/public/a%3Bb"))
                    .unwrap()
                    .status,
                200
            );
        }
    }
}

#[test]
fn the_filter_refuses_non_canonical_paths_itself() {
    // With Envoy's normalisation off, the filter sees the raw path and says why it refuses.
    for target in TARGETS {
        let mut vm = egress_tests::http_vm_normalizing(target, API, "none");
        for (p, why) in [
            (&b"/public/../admin"[..], "path-dot-segment"),
            (b"//admin", "path-empty-segment"),
            (b"/admin%2fusers", "path-encoded-slash"),
            (b"/%61dmin", "path-encoded-unreserved"),
            (b"/a\\b", "path-backslash"),
            (b"/admin;x/users", "path-parameter"),
            (b"/a%zz", "path-invalid-escape"),
        ] {
            let out = vm.http(&req("GET", Some(b"api.example.com"), p)).unwrap();
            assert_eq!(out.status, 403, "{target}: {}", String::from_utf8_lossy(p));
            assert_eq!(
                reason(&out),
                why,
                "{target}: {}",
                String::from_utf8_lossy(p)
            );
        }
    }
}

#[test]
fn deny_response_names_the_policy_and_rule() {
    for target in TARGETS {
        let mut f = Filters::new(target, API);
        let out = f.http(&req("DELETE", Some(b"api.example.com"), b"/admin/users"));
        assert_eq!(out.status, 403);
        let lr = out.local_response.as_ref().unwrap();
        assert_eq!(lr.status, 403);
        assert_eq!(lr.body, b"RBAC: access denied");
        let details = String::from_utf8_lossy(&lr.details).into_owned();
        assert!(
            details.contains("policy=api") && details.contains("rule=api/3"),
            "{target}: {details}"
        );
        assert!(
            !details.contains(' '),
            "Envoy response-code details carry no whitespace: {details}"
        );
        let header = |name: &str| {
            lr.headers
                .iter()
                .find(|(k, _)| k == name.as_bytes())
                .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        };
        assert_eq!(header("x-egress-policy").as_deref(), Some("api"));
        assert_eq!(header("x-egress-reason").as_deref(), Some("rule"));
        assert_eq!(
            record(&out.filter_state, "wasm.egress_decision"),
            ["deny", "api", "api/3", "rule"]
        );
    }
}

#[test]
fn connections_by_sni_and_by_address() {
    let policy = include_str!("../../policies/github.egress");
    for target in TARGETS {
        let mut f = Filters::new(target, policy);
        let ok = f.connect(Some("github.com"), "140.82.121.3:443");
        assert!(!ok.closed, "{target}");
        assert_eq!(
            ok.upstream_data, b"client hello",
            "{target}: allowed bytes go upstream"
        );
        let denied = f.connect(Some("gitlab.com"), "1.2.3.4:443");
        assert!(denied.closed, "{target}");
        assert!(
            denied.upstream_data.is_empty(),
            "{target}: no byte of a denied connection goes upstream"
        );
        assert!(
            !f.connect(None, "140.82.121.4:22").closed,
            "{target}: SSH to GitHub"
        );
        assert!(
            f.connect(None, "8.8.8.8:22").closed,
            "{target}: SSH elsewhere"
        );
        let no_sni = f.connect(None, "140.82.121.4:443");
        assert!(no_sni.closed, "{target}: no SNI on a TLS port");
        assert_eq!(
            record(&no_sni.filter_state, "wasm.egress_decision")[3],
            "no-sni"
        );
        assert!(
            !f.connect(Some("GitHub.COM."), "1.1.1.1:443").closed,
            "{target}: SNI is normalised"
        );
        assert!(
            f.connect(Some("bad host"), "1.1.1.1:443").closed,
            "{target}: invalid SNI"
        );
    }
}

#[test]
fn audit_mode_logs_and_counts_a_would_be_deny() {
    let policy = include_str!("../../policies/audit.egress");
    for target in TARGETS {
        let mut f = Filters::new(target, policy);
        let mut props = egress_tests::Properties::default();
        props.set(
            &["filter_state", "io.istio.peer_principal"],
            Value::String(b"spiffe://cluster.local/ns/ci/sa/builder".to_vec()),
        );
        let conn = egress_tests::Connection {
            sni: Some(b"example.com".to_vec()),
            destination: Some("1.2.3.4:443".parse().unwrap()),
            source: None,
            downstream_data: b"x".to_vec(),
            properties: props,
        };
        let out = f.network.connection(&conn).unwrap();
        assert!(!out.closed, "{target}: audit never blocks");
        assert_eq!(
            record(&out.filter_state, "wasm.egress_audit"),
            ["deny", "ci-allowlist", "-", "default"]
        );
        let line = audit_line(&out.logs);
        assert_eq!(line.level, LogLevel::Warn);
        let v: serde_json::Value = serde_json::from_str(&line.message).unwrap();
        assert_eq!(v["decision"], "allow");
        assert_eq!(v["enforced"], true);
        assert_eq!(v["audit"]["decision"], "deny");
        assert_eq!(v["audit"]["policy"], "ci-allowlist");
        assert_eq!(v["host"], "example.com");
        assert_eq!(v["principal"], "cluster.local/ns/ci/sa/builder");
        let m = "policy=.=ci-allowlist;.;decision=.=deny;.;reason=.=default;.;egress_audit_decisions_total";
        assert_eq!(
            f.network.metric(m),
            Some(1),
            "{target}: {:?}",
            f.network.metrics()
        );
    }
}

#[test]
fn audit_only_tables_never_block() {
    let policy = r#"policy "dry" { mode audit destination "a.com" port 80 http { allow GET } }"#;
    for target in TARGETS {
        let mut f = Filters::new(target, policy);
        let out = f.http(&req("POST", Some(b"a.com"), b"/"));
        assert_eq!(out.status, 200, "{target}");
        let line = audit_line(&out.logs);
        let v: serde_json::Value = serde_json::from_str(&line.message).unwrap();
        assert_eq!(v["decision"], "deny");
        assert_eq!(v["enforced"], false);
        assert_eq!(v["policy"], "dry");
        assert_eq!(v["reason"], "default");
    }
}

#[test]
fn audit_log_lines_follow_the_log_setting() {
    for (setting, allowed_logged, denied_logged) in [
        ("none", false, false),
        ("denied", false, true),
        ("all", true, true),
    ] {
        let policy = format!(
            r#"policy "p" {{ log {setting} destination "a.com" port 80 http {{ allow GET }} }}"#
        );
        for target in TARGETS {
            let mut f = Filters::new(target, &policy);
            let lines = |out: &egress_tests::HttpOutcome| {
                out.logs
                    .iter()
                    .filter(|l| l.message.starts_with('{'))
                    .count()
            };
            let allowed = f.http(&req("GET", Some(b"a.com"), b"/x?secret=1"));
            assert_eq!(
                lines(&allowed) == 1,
                allowed_logged,
                "{target} log {setting}: allowed"
            );
            let denied = f.http(&req("POST", Some(b"a.com"), b"/x"));
            assert_eq!(
                lines(&denied) == 1,
                denied_logged,
                "{target} log {setting}: denied"
            );
            if allowed_logged {
                let line = audit_line(&allowed.logs);
                let v: serde_json::Value = serde_json::from_str(&line.message).unwrap();
                for field in [
                    "time",
                    "policy",
                    "rule",
                    "decision",
                    "enforced",
                    "protocol",
                    "host",
                    "port",
                    "method",
                    "path",
                    "principal",
                    "reason",
                ] {
                    assert!(
                        v.get(field).is_some(),
                        "{target}: log line lacks {field}: {v}"
                    );
                }
                assert_eq!(v["path"], "/x", "the query never reaches the log");
                assert_eq!(v["rule"], "p/1");
                assert_eq!(v["port"], 80);
                assert_eq!(audit_line(&allowed.logs).level, LogLevel::Info);
            }
        }
    }
}

#[test]
fn metrics_count_decisions_per_policy_and_rule() {
    for target in TARGETS {
        let mut f = Filters::new(target, include_str!("../../policies/httpbin.egress"));
        for _ in 0..3 {
            f.status("GET", "httpbin.org", "/get");
        }
        f.status("POST", "httpbin.org", "/post");
        f.http(&req("GET", Some(b""), b"/"));
        let m = |name: &str| f.http.metric(name);
        assert_eq!(
            m("policy=.=httpbin;.;decision=.=allow;.;reason=.=rule;.;egress_decisions_total"),
            Some(3),
            "{target}: {:?}",
            f.http.metrics()
        );
        assert_eq!(
            m("policy=.=httpbin;.;decision=.=deny;.;reason=.=default;.;egress_decisions_total"),
            Some(1)
        );
        assert_eq!(
            m("policy=.=-;.;decision=.=deny;.;reason=.=missing-authority;.;egress_decisions_total"),
            Some(1)
        );
        assert_eq!(
            m("policy=.=httpbin;.;rule=.=httpbin/1;.;egress_rule_matches_total"),
            Some(3)
        );
        assert_eq!(
            m("policy=.=httpbin;.;rule=.=httpbin/2;.;egress_rule_matches_total"),
            Some(0)
        );
    }
}

/// The tags the filter puts in its metric names, as listed in Istio's
/// `extraStatTags` in docs/filter.md.
const STAT_TAGS: [&str; 4] = ["policy", "decision", "reason", "rule"];

/// What Envoy, Istio and Envoy's Prometheus exporter make of a Wasm metric
/// name: Envoy prefixes `wasmcustom.`; each of Istio's `extraStatTags` `T`
/// becomes the unanchored regex `(T=\.=(.*?);\.;)`, applied to the full
/// name, whose first group is cut out and whose second is the label value;
/// the exporter strips the registered `wasmcustom` namespace and maps every
/// character outside `[a-zA-Z0-9_]` to `_`. Returns the Prometheus name and
/// the labels.
fn prometheus(stat: &str) -> (String, Vec<(&'static str, String)>) {
    let mut name = if stat.starts_with("wasmcustom.") {
        stat.to_owned()
    } else {
        format!("wasmcustom.{stat}")
    };
    let mut labels = Vec::new();
    for tag in STAT_TAGS {
        let open = format!("{tag}=.=");
        let Some(start) = name.find(&open) else {
            continue;
        };
        let value = start + open.len();
        // `.*?` then `;\.;`: the value ends at the first `;.;` after it.
        let Some(len) = name[value..].find(";.;") else {
            continue;
        };
        labels.push((tag, name[value..value + len].to_owned()));
        name.replace_range(start..value + len + ";.;".len(), "");
    }
    let name = name.strip_prefix("wasmcustom.").unwrap_or(&name);
    let name = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    (name, labels)
}

#[test]
fn metric_names_become_clean_prometheus_names_with_labels() {
    // The emulation itself: the old `name.tags` order left a trailing `_`.
    assert_eq!(
        prometheus("egress_decisions_total.policy=.=p;.;decision=.=deny;.;").0,
        "egress_decisions_total_"
    );
    let decision_tags = ["policy", "decision", "reason"];
    let documented = [
        ("egress_decisions_total", &decision_tags[..]),
        ("egress_audit_decisions_total", &decision_tags[..]),
        ("egress_rule_matches_total", &["policy", "rule"][..]),
    ];
    for target in TARGETS {
        // An enforced and an audit policy, few rules: every kind of counter.
        let f = Filters::new(target, include_str!("../../policies/audit.egress"));
        let mut seen = std::collections::BTreeSet::new();
        for m in f.http.metrics().into_iter().chain(f.network.metrics()) {
            let (name, labels) = prometheus(&m.name);
            let Some((_, tags)) = documented.iter().find(|(d, _)| *d == name) else {
                panic!(
                    "{target}: {:?} becomes {name:?}, not a documented name",
                    m.name
                );
            };
            assert!(
                !name.starts_with('_') && !name.ends_with('_'),
                "{target}: {:?} becomes {name:?}",
                m.name
            );
            let keys: Vec<&str> = labels.iter().map(|(k, _)| *k).collect();
            assert_eq!(keys, *tags, "{target}: labels of {:?}", m.name);
            assert!(
                labels.iter().all(|(_, v)| !v.is_empty()),
                "{target}: {:?}",
                m.name
            );
            seen.insert(name);
        }
        assert_eq!(
            seen.into_iter().collect::<Vec<_>>(),
            [
                "egress_audit_decisions_total",
                "egress_decisions_total",
                "egress_rule_matches_total"
            ],
            "{target}"
        );
    }
}

#[test]
fn domain_fronting_is_denied_when_required() {
    let policy =
        r#"policy "f" { require sni-host-match destination "api.example.com" port 80 http }"#;
    for target in TARGETS {
        let mut f = Filters::new(target, policy);
        let mut r = req("GET", Some(b"api.example.com"), b"/");
        r.properties.set(
            &["connection", "requested_server_name"],
            Value::String(b"allowed-cdn.example".to_vec()),
        );
        let out = f.http(&r);
        assert_eq!(out.status, 403, "{target}");
        assert_eq!(reason(&out), "sni-host-mismatch");
        r.properties.set(
            &["connection", "requested_server_name"],
            Value::String(b"API.example.com".to_vec()),
        );
        assert_eq!(f.http(&r).status, 200, "{target}");
    }
}

#[test]
fn lifecycle_logs_version_policies_and_checksum() {
    let table = egress_tests::compile(include_str!("../../policies/httpbin.egress")).unwrap();
    let checksum = format!(
        "{:08x}",
        egress_table::Table::from_bytes(&table).unwrap().checksum()
    );
    for target in TARGETS {
        let vm =
            egress_tests::vm_with_table(target, &table, egress_table::plugin_config::Layer::Http)
                .unwrap();
        let logs: Vec<&str> = vm.logs().iter().map(|l| l.message.as_str()).collect();
        assert!(
            logs.iter()
                .any(|l| l.contains("egress filter") && l.contains(env!("CARGO_PKG_VERSION"))),
            "{target}: {logs:?}"
        );
        assert!(
            logs.iter()
                .any(|l| l.contains("[httpbin]") && l.contains(&checksum)),
            "{target}: {logs:?}"
        );
    }
}

#[test]
fn linear_memory_stays_flat() {
    // The 1,000,000-request run is `make bench`; here 20,000 through one VM.
    for target in TARGETS {
        let mut f = Filters::new(target, include_str!("../../policies/httpbin.egress"));
        let allow = req("GET", Some(b"httpbin.org"), b"/get");
        let deny = req("POST", Some(b"httpbin.org"), b"/post");
        for _ in 0..500 {
            f.http(&allow);
            f.http(&deny);
        }
        let before = f.http.memory_size();
        for _ in 0..10_000 {
            f.http(&allow);
            f.http(&deny);
        }
        assert_eq!(f.http.memory_size(), before, "{target}: linear memory grew");
    }
}

/// `pluginConfig` for `policy` with `extra` members (`"max_path_bytes":10`).
fn config_json(policy: &str, extra: &str) -> String {
    let table = egress_tests::compile(policy).unwrap();
    let json =
        egress_table::plugin_config::encode(&table, egress_table::plugin_config::Layer::Http);
    format!("{{{extra},{}", json.strip_prefix('{').unwrap())
}

const FILES: &str =
    r#"policy "p" { destination "a.com" port 80 http { allow GET path prefix "/files/" } }"#;

const TENANT: &str = r#"policy "p" { destination "a.com" port 80 http {
  allow GET when header "x-tenant" == "acme"
  deny any when header "x-debug" == "1"
  allow POST
} }"#;

/// docs/filter.md, `max_header_bytes`: a header value condition reads at
/// most that much of a header (all occurrences); past it, an allow's
/// condition fails and a deny's holds.
#[test]
fn headers_over_max_header_bytes_take_the_answer_that_denies() {
    // `acme, acme, …` of `len` bytes.
    let list = |len: usize| {
        let mut v = b"acme".to_vec();
        while v.len() + 6 <= len {
            v.extend_from_slice(b", acme");
        }
        assert_eq!(v.len(), len);
        v
    };
    let with = |method: &str, name: &str, values: &[Vec<u8>]| {
        let mut r = req(method, Some(b"a.com"), b"/");
        for v in values {
            r.headers.push((name.as_bytes().to_vec(), v.clone()));
        }
        r
    };
    // 91 occurrences of 658 bytes: 59,878 bytes of conforming values.
    let flood = vec![list(658); 91];
    for target in TARGETS {
        let mut f = Filters::new(target, TENANT);
        // The default, 8192 bytes, all occurrences together.
        let at_limit = [list(8188), list(4)];
        let over = [list(8188), list(10)];
        for (r, status, why) in [
            (with("GET", "x-tenant", &at_limit), 200, "rule"),
            // The allow fails: the default denies.
            (with("GET", "x-tenant", &over), 403, "default"),
            (with("GET", "x-tenant", &flood), 403, "default"),
            // A deny's condition past the limit holds, whatever the values.
            (with("POST", "x-debug", &[vec![b'0'; 8192]]), 200, "rule"),
            (with("POST", "x-debug", &[vec![b'0'; 8193]]), 403, "rule"),
            // Rules that compare no value of the header are not affected.
            (with("POST", "x-tenant", &flood), 200, "rule"),
        ] {
            let out = f.http(&r);
            assert_eq!(
                (out.status, reason(&out)),
                (status, why.to_owned()),
                "{target}: {:?}",
                out.logs
            );
        }
        // Raised by the configuration, the whole flood is read.
        let mut vm = egress_tests::vm_with_config(
            target,
            &config_json(TENANT, r#""max_header_bytes":65536"#),
        )
        .unwrap();
        let out = vm.http(&with("GET", "x-tenant", &flood)).unwrap();
        assert_eq!(out.status, 200, "{target}");
        assert!(
            vm.logs()
                .iter()
                .any(|l| l.message.contains("header values read up to 65536 bytes")),
            "{target}: the load line names the setting"
        );
    }
}

#[test]
fn paths_over_max_path_bytes_are_refused_before_any_rule() {
    for target in TARGETS {
        let path = |len: usize| {
            let mut p = b"/files/".to_vec();
            p.resize(len, b'x');
            p
        };
        // The default, 4096 bytes, query excluded.
        let mut f = Filters::new(target, FILES);
        for (p, status, why) in [
            (path(4096), 200, "rule"),
            (path(4097), 403, "path-too-long"),
            (
                [path(4096), b"?q=".to_vec(), vec![b'y'; 20_000]].concat(),
                200,
                "rule",
            ),
            (
                [path(5000), b"?q=1".to_vec()].concat(),
                403,
                "path-too-long",
            ),
        ] {
            let out = f.http(&req("GET", Some(b"a.com"), &p));
            assert_eq!(
                (out.status, reason(&out)),
                (status, why.to_owned()),
                "{target}: {} bytes",
                p.len()
            );
        }
        // The log line shows the limit's worth of the path: the filter read
        // no further.
        let out = f.http(&req("GET", Some(b"a.com"), &path(50_000)));
        let line = audit_line(&out.logs);
        let v: serde_json::Value = serde_json::from_str(&line.message).unwrap();
        assert_eq!(v["reason"], "path-too-long");
        assert_eq!(v["path"].as_str().unwrap().len(), 4096, "{target}");
        assert!(line.message.len() < 4096 + 512, "{target}");

        // Raised and lowered by the configuration.
        let mut vm =
            egress_tests::vm_with_config(target, &config_json(FILES, r#""max_path_bytes":10000"#))
                .unwrap();
        let out = vm.http(&req("GET", Some(b"a.com"), &path(10_000))).unwrap();
        assert_eq!(out.status, 200, "{target}");
        let out = vm.http(&req("GET", Some(b"a.com"), &path(10_001))).unwrap();
        assert_eq!(
            (out.status, reason(&out)),
            (403, "path-too-long".to_owned())
        );
        let mut vm =
            egress_tests::vm_with_config(target, &config_json(FILES, r#""max_path_bytes":8"#))
                .unwrap();
        let out = vm.http(&req("GET", Some(b"a.com"), b"/files/x")).unwrap();
        assert_eq!(out.status, 200, "{target}");
        let out = vm.http(&req("GET", Some(b"a.com"), b"/files/xy")).unwrap();
        assert_eq!(reason(&out), "path-too-long", "{target}");
    }
}

#[test]
fn a_named_authority_header_is_the_destination() {
    // A host that puts its own name in `:authority` and the destination in
    // another header (nginx with ngx_wasm_module: `Host`; the local host
    // emulates Envoy, which folds `Host` into `:authority`, so a header of
    // another name stands in here; table/src/request.rs tests `host`).
    let other = |dest: Option<&[u8]>| {
        let mut r = req("GET", Some(b"egress-gw.local"), b"/files/x");
        if let Some(d) = dest {
            r.headers.push((b"X-Destination".to_vec(), d.to_vec()));
        }
        r
    };
    for target in TARGETS {
        let mut envoy = Filters::new(target, FILES);
        let out = envoy.http(&other(Some(b"a.com")));
        assert_eq!(
            out.status, 403,
            "{target}: Envoy's reading decides on `:authority`"
        );
        let json = config_json(FILES, r#""authority_header":"X-Destination""#);
        let mut vm = egress_tests::vm_with_config(target, &json).unwrap();
        assert!(
            vm.logs().iter().any(|l| l
                .message
                .contains("destination from header \"x-destination\"")),
            "{target}: the load line names the header"
        );
        for (dest, status, why) in [
            (&b"a.com"[..], 200, "rule"),
            (b"A.com:80", 200, "rule"),
            (b"b.com", 403, "default"),
            (b"a.com:8080", 403, "authority-port-mismatch"),
            (b"user@a.com", 403, "invalid-authority"),
        ] {
            let out = vm.http(&other(Some(dest))).unwrap();
            assert_eq!(
                (out.status, reason(&out)),
                (status, why.to_owned()),
                "{target}: destination {}",
                String::from_utf8_lossy(dest)
            );
        }
        // Repeated, it must agree with itself.
        let mut twice = other(Some(b"a.com"));
        twice
            .headers
            .push((b"x-destination".to_vec(), b"b.com".to_vec()));
        let out = vm.http(&twice).unwrap();
        assert_eq!(reason(&out), "duplicate-authority", "{target}");
        // Missing: no fallback to `:authority` or `request.host`.
        let out = vm.http(&other(None)).unwrap();
        assert_eq!(reason(&out), "missing-authority", "{target}");
    }
}

#[test]
fn bad_filter_settings_are_refused_at_configure() {
    for target in TARGETS {
        for (extra, says) in [
            (r#""max_path_bytes":0"#, "from 1 to 8388608, not 0"),
            (r#""max_path_bytes":8388609"#, "not 8388609"),
            (r#""max_path_bytes":-1"#, "not -1"),
            (r#""max_path_bytes":1.5"#, "not 1.5"),
            (r#""max_path_bytes":"4096""#, "not \"4096\""),
            (
                r#""max_path_bytes":99999999999999999999999"#,
                "not 99999999999999999999999",
            ),
            (r#""authority_header":5"#, "must be a header name"),
            (r#""authority_header":"x y""#, "not \"x y\""),
            (r#""authority_header":"""#, "not \"\""),
        ] {
            let err = egress_tests::vm_with_config(target, &config_json(FILES, extra))
                .err()
                .unwrap_or_default();
            assert!(err.contains(says), "{target} {extra}: {err}");
        }
    }
}

#[test]
fn a_long_host_is_refused_and_logged_cut_short() {
    let policy = r#"policy "p" { destination "a.com" port 80 http { allow GET } }"#;
    for target in TARGETS {
        let mut f = Filters::new(target, policy);
        let host = [vec![b'a'; 60_000], b".a.com".to_vec()].concat();
        let out = f.http(&req("GET", Some(&host), b"/"));
        assert_eq!(reason(&out), "invalid-authority", "{target}");
        let line = audit_line(&out.logs);
        assert!(
            line.message.len() < 1024,
            "{target}: {} bytes",
            line.message.len()
        );
        let v: serde_json::Value = serde_json::from_str(&line.message).unwrap();
        assert_eq!(v["host"].as_str().unwrap().len(), 260);
        assert_eq!(v["host_bytes"], 60_006);
    }
}
