//! Every construct of the policy language, end to end: policy text →
//! egressc → table → the real filter `.wasm` (both targets) → decisions.
//! Each case is a `test` block case, run the way `egressc test` runs it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap is a failed test"
)]

use egress_table::spec::Action;
use egress_tests::TARGETS;
use egressc::run::Runner;

/// Compiles `text` and runs its test blocks through the filter of every
/// target; returns the number of cases run.
fn run_tests(name: &str, text: &str) -> usize {
    let (sources, outcome) = egressc::compile_str(name, text);
    let errors: Vec<String> = outcome
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| egressc::diag::render(d, &sources))
        .collect();
    let compiled = outcome
        .compiled
        .unwrap_or_else(|| panic!("{name} does not compile:\n{}", errors.join("\n")));
    let table = egressc::emit::emit(&compiled.spec, egressc::emit::Format::Table).unwrap();
    let mut n = 0;
    for target in TARGETS {
        let plugin = egress_tests::plugin(target).unwrap();
        let mut runner = Runner::with_plugin(plugin, &table).unwrap();
        for p in &compiled.checked.policies {
            for t in &p.tests {
                for c in &t.cases {
                    let r = runner.run(&c.request).unwrap_or_else(|e| {
                        panic!("{target}: {name}: {}: {e}", c.request.describe())
                    });
                    assert_eq!(
                        r.record.decision,
                        c.expect,
                        "{target}: {name}: test \"{}\": {} (got {r:?})",
                        t.name,
                        c.request.describe()
                    );
                    if let Some(a) = c.expect_audit {
                        assert_eq!(
                            r.audit.as_ref().map(|x| x.decision),
                            Some(a),
                            "{target}: {name}: audit of {}",
                            c.request.describe()
                        );
                    }
                    if r.record.decision == Action::Deny && c.request.is_http() {
                        assert_eq!(
                            r.status,
                            Some(if r.record.reason == "proxy-rejected" {
                                400
                            } else {
                                403
                            })
                        );
                    }
                    n += 1;
                }
            }
        }
    }
    n
}

#[test]
fn example_policies() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "egress") {
            n += run_tests(
                &p.display().to_string(),
                &std::fs::read_to_string(&p).unwrap(),
            );
        }
    }
    assert!(n > 100, "{n}");
}

#[test]
fn hosts_and_wildcards() {
    run_tests(
        "hosts",
        r#"
policy "hosts" {
  destination "Exact.Example.COM.", "10.1.2.3", "2001:db8::1" port 80 http
  destination "*.one.example" port 80 http
  destination "**.any.example" port 80 http
  destination "*" port 80 http
  test "t" {
    GET http://exact.example.com/ => allow
    GET http://EXACT.example.com./ => allow
    GET http://sub.exact.example.com/ => deny
    GET http://10.1.2.3/ => allow
    GET http://[2001:db8:0::1]/ => allow
    GET http://a.one.example/ => allow
    GET http://a.b.one.example/ => deny
    GET http://one.example/ => deny
    GET http://a.any.example/ => allow
    GET http://a.b.c.any.example/ => allow
    GET http://any.example/ => deny
    GET http://localhost/ => allow
    GET http://10.1.2.4/ => deny
  }
}"#,
    );
}

#[test]
fn ports_and_protocols() {
    run_tests(
        "ports",
        r#"
policy "ports" {
  destination "a.example" port 80, 8080, 9000-9010 http
  destination "b.example" http
  destination "c.example" tls
  destination "c.example" port 8443 tls
  destination cidr 10.0.0.0/8, "2001:db8::/32" port 5432 tcp
  test "t" {
    GET http://a.example/ => allow
    GET http://a.example:8080/ => allow
    GET http://a.example:9005/ => allow
    GET http://a.example:9011/ => deny
    GET http://b.example/ => allow
    GET https://b.example/ => deny
    GET http://c.example/ => deny
    tls://c.example:443 => allow
    tls://c.example:8443 => allow
    tls://c.example:8080 => deny
    tcp://10.20.30.40:5432 => allow
    tcp://[2001:db8::5]:5432 => allow
    tcp://11.0.0.1:5432 => deny
    tcp://10.0.0.1:5433 => deny
  }
}"#,
    );
}

#[test]
fn paths() {
    run_tests(
        "paths",
        r#"
policy "paths" {
  destination "a.example" port 80 http {
    allow GET path "/exact", prefix "/pre/", "/t/{*}/x", "/files/{**}.json"
    allow GET path ~"^/v[0-9]+/items/[a-z]+$"
  }
  test "t" {
    GET http://a.example/exact => allow
    GET http://a.example/exact?q=1&r=/admin => allow
    GET http://a.example/exact/ => deny
    GET http://a.example/Exact => deny
    GET http://a.example/pre/a/b => allow
    GET http://a.example/pre => deny
    GET http://a.example/t/one/x => allow
    GET http://a.example/t/one/two/x => deny
    GET http://a.example/t//x => deny
    GET http://a.example/files/a/b/c.json => allow
    GET http://a.example/files/.json => allow
    GET http://a.example/files/a.jsonx => deny
    GET http://a.example/v2/items/abc => allow
    GET http://a.example/v2/items/abc1 => deny
    GET http://a.example/x/v2/items/abc => deny
  }
}"#,
    );
}

#[test]
fn methods_sources_and_headers() {
    run_tests(
        "rules",
        r#"
policy "rules" {
  destination "a.example" port 80 http {
    allow GET, HEAD
    allow POST from principal "cluster.local/ns/app/sa/writer"
    allow PUT from namespace "ops", serviceaccount "ci/deployer"
    allow DELETE when header "x-confirm" == "yes" and header "x-dry-run" absent
    allow PATCH when header "x-change-id" present
    allow any from principal "spiffe://cluster.local/ns/admin/sa/root"
  }
  test "t" {
    GET http://a.example/ => allow
    HEAD http://a.example/ => allow
    OPTIONS http://a.example/ => deny
    POST http://a.example/ => deny
    POST http://a.example/ from "cluster.local/ns/app/sa/writer" => allow
    POST http://a.example/ from "spiffe://cluster.local/ns/app/sa/writer" => allow
    POST http://a.example/ from "cluster.local/ns/app/sa/reader" => deny
    PUT http://a.example/ from "cluster.local/ns/ops/sa/anyone" => allow
    PUT http://a.example/ from "other.td/ns/ci/sa/deployer" => allow
    PUT http://a.example/ from "cluster.local/ns/ci/sa/builder" => deny
    DELETE http://a.example/ header "x-confirm" = "yes" => allow
    DELETE http://a.example/ header "X-Confirm" = "yes" => allow
    DELETE http://a.example/ header "x-confirm" = "YES" => deny
    DELETE http://a.example/ header "x-confirm" = "yes" header "x-dry-run" = "1" => deny
    PATCH http://a.example/ header "x-change-id" = "" => allow
    PATCH http://a.example/ => deny
    PURGE http://a.example/ from "cluster.local/ns/admin/sa/root" => allow
    PURGE http://a.example/ => deny
  }
}"#,
    );
}

#[test]
fn precedence_and_policies_combined() {
    run_tests(
        "precedence",
        r#"
policy "allowlist" {
  default deny
  destination "a.example" port 80 http {
    deny any path prefix "/admin/"
    allow any
  }
}
policy "blocklist" {
  default allow
  destination "b.example" port 80 http {
    allow any
    deny POST
  }
  destination "a.example" port 80 http {
    deny any path "/secret"
  }
  test "deny wins, allowlists add up, the deny default wins" {
    GET http://a.example/x => allow
    GET http://a.example/admin/x => deny
    GET http://a.example/secret => deny
    GET http://b.example/ => allow
    POST http://b.example/ => deny
    GET http://c.example/ => deny
  }
}"#,
    );
}

#[test]
fn audit_mode_and_tls_origination_settings() {
    run_tests(
        "audit",
        r#"
policy "live" {
  destination "a.example" port 80 http originate-tls 443 timeout 3s {
    allow any
  }
}
policy "next" {
  mode audit
  destination "a.example" port 80 http originate-tls timeout 500ms {
    allow GET
  }
  test "t" {
    GET http://a.example/ => allow, audit allow
    POST http://a.example/ => allow, audit deny
    GET http://b.example/ => deny, audit deny
  }
}"#,
    );
}

#[test]
fn domain_fronting_check() {
    run_tests(
        "fronting",
        r#"
policy "fronting" {
  require sni-host-match
  destination "a.example" port 80 http
  test "t" {
    GET http://a.example/ => allow
    GET http://a.example/ sni "a.example" => allow
    GET http://a.example/ sni "cdn.example" => deny
  }
}"#,
    );
}

/// The constructs of format 2.1, in a 4.0 table, through the real `.wasm`
/// (both targets): negated conditions
/// (`except path`, `except from`, `!=`, `not prefix`, `not suffix`),
/// suffix paths, `principal "*"`, `any except`, `otherwise deny`; plus a
/// `deny … except from` on a pathless CONNECT and a request without a
/// principal, which fail closed.
#[test]
fn format_2_1_negations() {
    let text = include_str!("../../compiler/tests/cases/valid/negations.egress");
    let table = egress_tests::compile(text).unwrap();
    assert_eq!(
        (
            u16::from_le_bytes([table[8], table[9]]),
            u16::from_le_bytes([table[10], table[11]])
        ),
        (4, 0),
        "every table is format 4.0"
    );
    assert!(run_tests("negations", text) >= 2 * 17);
    run_tests(
        "closed",
        r#"
policy "closed" {
  default allow
  destination "a.example" port 80 http {
    deny any except from namespace "trusted"
    allow any except DELETE path suffix ".html" except path prefix "/private/"
    otherwise deny
  }
  test "t" {
    GET http://a.example/index.html from "cluster.local/ns/trusted/sa/web" => allow
    GET http://a.example/private/index.html from "cluster.local/ns/trusted/sa/web" => deny
    DELETE http://a.example/index.html from "cluster.local/ns/trusted/sa/web" => deny
    GET http://a.example/index.json from "cluster.local/ns/trusted/sa/web" => deny
    GET http://a.example/index.html from "cluster.local/ns/other/sa/web" => deny
    GET http://a.example/index.html => deny
    CONNECT http://a.example:80 from "cluster.local/ns/trusted/sa/web" => deny
    GET http://b.example/ => allow
  }
}
"#,
    );
}
