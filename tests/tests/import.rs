//! `egressc import istio`, end to end: Istio YAML → policy text (which
//! must be formatted and compile) → table → the real filter `.wasm` (both
//! targets) → the decisions Istio would make. One test per sample of
//! `samples/external` and per case of Istio's AuthorizationPolicy
//! documentation.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap is a failed test"
)]

use egress_table::spec::Action;
use egress_tests::TARGETS;
use egressc::import::{Input, Posture};
use egressc::run::Runner;
use egressc::{Diagnostic, FileId};

const ALLOW: Action = Action::Allow;
const DENY: Action = Action::Deny;

/// Imports `yaml` (one file); returns the policy text and the warnings.
fn import(yaml: &str, posture: Posture) -> (String, Vec<Diagnostic>) {
    let imported = egressc::import::istio(
        &[Input {
            file: FileId(0),
            name: "in.yaml",
            text: yaml,
        }],
        posture,
    );
    let errors: Vec<&Diagnostic> = imported
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let policy = imported.policy.expect("a policy");
    assert_eq!(
        egressc::fmt::format_source(&policy).as_deref(),
        Ok(policy.as_str()),
        "the import is formatted as `egressc fmt` prints it"
    );
    (policy, imported.diagnostics)
}

fn codes(diags: &[Diagnostic]) -> Vec<&'static str> {
    diags.iter().map(|d| d.code).collect()
}

/// Compiles `policy` (it must compile without errors) and runs each
/// request (a `simulate` JSON line) through the filter of every target.
fn decide(policy: &str, cases: &[(&str, Action)]) {
    let (sources, outcome) = egressc::compile_str("imported.egress", policy);
    let rendered: Vec<String> = outcome
        .diagnostics
        .iter()
        .map(|d| egressc::diag::render(d, &sources))
        .collect();
    assert!(!outcome.has_errors(), "{policy}\n{}", rendered.join("\n"));
    let compiled = outcome.compiled.unwrap();
    let table = egressc::emit::emit(&compiled.spec, egressc::emit::Format::Table).unwrap();
    for target in TARGETS {
        let plugin = egress_tests::plugin(target).unwrap();
        let mut runner = Runner::with_plugin(plugin, &table).unwrap();
        for (line, want) in cases {
            let req = egressc::sim::parse_line(line).unwrap();
            let got = runner.run(&req).unwrap();
            assert_eq!(
                got.record.decision, *want,
                "{target}: {line}\n{policy}\n{got:?}"
            );
        }
    }
}

fn sample(name: &str) -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../compiler/tests/istio")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn sample_aptget_allows_its_hosts_over_http_only() {
    let (policy, diags) = import(&sample("samples-external-aptget.yaml"), Posture::Restricted);
    println!("{policy}");
    assert!(diags.is_empty(), "{diags:?}");
    decide(
        &policy,
        &[
            (
                r#"{"method":"GET","host":"deb.debian.org","path":"/debian/dists/bookworm/Release"}"#,
                ALLOW,
            ),
            (
                r#"{"method":"GET","host":"security.ubuntu.com","path":"/ubuntu/"}"#,
                ALLOW,
            ),
            (
                r#"{"method":"POST","host":"archive.ubuntu.com","path":"/x"}"#,
                ALLOW,
            ),
            (r#"{"method":"GET","host":"example.com","path":"/"}"#, DENY),
            (
                r#"{"method":"GET","host":"deb.debian.org","port":8080,"path":"/"}"#,
                DENY,
            ),
            (r#"{"sni":"deb.debian.org","port":443}"#, DENY),
        ],
    );
}

#[test]
fn sample_github_allows_https_by_sni_and_ssh_by_address() {
    let (policy, diags) = import(&sample("samples-external-github.yaml"), Posture::Restricted);
    assert!(diags.is_empty(), "{diags:?}");
    decide(
        &policy,
        &[
            (r#"{"sni":"github.com","port":443}"#, ALLOW),
            (r#"{"sni":"api.github.com","port":443}"#, DENY),
            (r#"{"destination":"140.82.112.4","port":22}"#, ALLOW),
            (r#"{"destination":"192.30.255.1","port":22}"#, ALLOW),
            (r#"{"destination":"185.199.111.153","port":22}"#, ALLOW),
            (r#"{"destination":"140.82.112.4","port":23}"#, DENY),
            (r#"{"destination":"8.8.8.8","port":22}"#, DENY),
            (r#"{"method":"GET","host":"github.com","path":"/"}"#, DENY),
        ],
    );
}

#[test]
fn sample_pypi_allows_its_three_hosts_over_tls() {
    let (policy, diags) = import(&sample("samples-external-pypi.yaml"), Posture::Restricted);
    assert!(diags.is_empty(), "{diags:?}");
    decide(
        &policy,
        &[
            (r#"{"sni":"pypi.python.org","port":443}"#, ALLOW),
            (r#"{"sni":"pypi.org","port":443}"#, ALLOW),
            (r#"{"sni":"files.pythonhosted.org","port":443}"#, ALLOW),
            (r#"{"sni":"evil.pythonhosted.org","port":443}"#, DENY),
            (r#"{"sni":"pypi.org","port":8443}"#, DENY),
        ],
    );
    let (allowed, _) = import(&sample("samples-external-pypi.yaml"), Posture::Allowed);
    assert!(allowed.contains("default allow"), "{allowed}");
    decide(&allowed, &[(r#"{"sni":"example.com","port":443}"#, ALLOW)]);
}

/// The ServiceEntry every AuthorizationPolicy case below targets.
const HTTPBIN: &str = r"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: httpbin
  namespace: default
spec:
  hosts: [httpbin.org]
  ports:
  - {number: 80, name: http, protocol: HTTP}
  - {number: 8080, name: http-alt, protocol: HTTP}
  location: MESH_EXTERNAL
  resolution: DNS
";

/// An AuthorizationPolicy on the httpbin ServiceEntry.
fn policy(name: &str, action: &str, rules: &str) -> String {
    format!(
        "{HTTPBIN}---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: {name}
  namespace: default
spec:
  targetRefs:
  - {{kind: ServiceEntry, group: networking.istio.io, name: httpbin}}
  action: {action}
{rules}"
    )
}

fn get(path: &str) -> String {
    format!(r#"{{"method":"GET","host":"httpbin.org","path":"{path}"}}"#)
}

fn req(method: &str, path: &str, principal: Option<&str>) -> String {
    match principal {
        Some(p) => format!(
            r#"{{"method":"{method}","host":"httpbin.org","path":"{path}","principal":"{p}"}}"#
        ),
        None => format!(r#"{{"method":"{method}","host":"httpbin.org","path":"{path}"}}"#),
    }
}

fn run(yaml: &str, cases: &[(String, Action)]) -> (String, Vec<Diagnostic>) {
    let (policy, diags) = import(yaml, Posture::Restricted);
    let cases: Vec<(&str, Action)> = cases.iter().map(|(l, a)| (l.as_str(), *a)).collect();
    decide(&policy, &cases);
    (policy, diags)
}

const ADMIN: &str = "cluster.local/ns/default/sa/admin";
const WEB: &str = "cluster.local/ns/shop/sa/web";

#[test]
fn precedence_deny_before_allow_and_no_allow_policy_allows_all() {
    // Only a DENY policy: everything else reaching the entry is allowed.
    let deny = policy(
        "no-post",
        "DENY",
        "  rules:\n  - to:\n    - operation: {methods: [POST]}\n",
    );
    run(
        &deny,
        &[
            (get("/get"), ALLOW),
            (req("POST", "/post", None), DENY),
            (req("DELETE", "/x", None), ALLOW),
        ],
    );
    // DENY wins over ALLOW, whatever the order.
    let both = format!(
        "{}---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: no-admin, namespace: default}}
spec:
  targetRefs: [{{kind: ServiceEntry, group: networking.istio.io, name: httpbin}}]
  action: DENY
  rules:
  - to: [{{operation: {{paths: [/admin*]}}}}]
",
        policy(
            "get",
            "ALLOW",
            "  rules:\n  - to:\n    - operation: {methods: [GET]}\n"
        )
    );
    run(
        &both,
        &[
            (get("/get"), ALLOW),
            (get("/admin/users"), DENY),
            (req("POST", "/post", None), DENY),
        ],
    );
    // `spec: {}` on ALLOW allows nothing; `rules: [{}]` allows everything.
    run(&policy("nothing", "ALLOW", ""), &[(get("/get"), DENY)]);
    run(
        &policy("everything", "ALLOW", "  rules:\n  - {}\n"),
        &[(get("/get"), ALLOW), (req("PURGE", "/x", None), ALLOW)],
    );
    // Under ALLOW_ANY an ALLOW policy still closes its entry; other hosts pass.
    let (open, _) = import(
        &policy(
            "get",
            "ALLOW",
            "  rules:\n  - to:\n    - operation: {methods: [GET]}\n",
        ),
        Posture::Allowed,
    );
    assert!(open.contains("otherwise deny"), "{open}");
    decide(
        &open,
        &[
            (&get("/get"), ALLOW),
            (&req("POST", "/post", None), DENY),
            (
                r#"{"method":"POST","host":"example.com","path":"/"}"#,
                ALLOW,
            ),
        ],
    );
}

#[test]
fn path_forms_exact_prefix_suffix_and_templates() {
    let yaml = policy(
        "paths",
        "ALLOW",
        "  rules:\n  - to:\n    - operation:\n        paths: [/get, /anything*, '*.json', '/status/{*}', '/files/{**}/raw']\n",
    );
    run(
        &yaml,
        &[
            (get("/get"), ALLOW),
            (get("/get?show_env=1"), ALLOW),
            (get("/get/"), DENY),
            (get("/anything"), ALLOW),
            (get("/anythingelse/x"), ALLOW),
            (get("/a/b/c.json"), ALLOW),
            (get("/a/b/c.jsonp"), DENY),
            (get("/status/418"), ALLOW),
            (get("/status/418/x"), DENY),
            (get("/files/a/b/raw"), ALLOW),
            (get("/files/raw"), DENY),
            (get("/other"), DENY),
        ],
    );
    // `*` is any path.
    run(
        &policy(
            "any",
            "ALLOW",
            "  rules:\n  - to:\n    - operation: {paths: ['*'], methods: [GET]}\n",
        ),
        &[(get("/x/y"), ALLOW), (req("POST", "/x", None), DENY)],
    );
}

#[test]
fn not_paths_and_not_methods() {
    run(
        &policy(
            "not-admin",
            "ALLOW",
            "  rules:\n  - to:\n    - operation: {notPaths: [/admin*, '*.env'], notMethods: [DELETE, PATCH]}\n",
        ),
        &[
            (get("/get"), ALLOW),
            (req("PURGE", "/x", None), ALLOW),
            (get("/admin"), DENY),
            (get("/app/.env"), DENY),
            (req("DELETE", "/x", None), DENY),
            (req("PATCH", "/x", None), DENY),
        ],
    );
    // A DENY with notPaths denies everything else.
    run(
        &policy(
            "only-public",
            "DENY",
            "  rules:\n  - to:\n    - operation: {notPaths: [/public/*]}\n",
        ),
        &[(get("/public/a"), ALLOW), (get("/private"), DENY)],
    );
}

#[test]
fn principals_namespaces_and_their_negations() {
    let yaml = policy(
        "who",
        "ALLOW",
        &format!(
            "  rules:\n  - from:\n    - source: {{principals: [{ADMIN}]}}\n  - from:\n    - source: {{namespaces: [shop], notPrincipals: [cluster.local/ns/shop/sa/intern]}}\n    to:\n    - operation: {{methods: [GET]}}\n"
        ),
    );
    run(
        &yaml,
        &[
            (req("POST", "/post", Some(ADMIN)), ALLOW),
            (req("GET", "/get", Some(WEB)), ALLOW),
            (req("POST", "/post", Some(WEB)), DENY),
            (
                req("GET", "/get", Some("cluster.local/ns/shop/sa/intern")),
                DENY,
            ),
            (
                req("GET", "/get", Some("cluster.local/ns/other/sa/web")),
                DENY,
            ),
            (req("GET", "/get", None), DENY),
        ],
    );
    let yaml = policy(
        "not-ns",
        "DENY",
        "  rules:\n  - from:\n    - source: {notNamespaces: [shop]}\n",
    );
    run(
        &yaml,
        &[
            (req("GET", "/get", Some(WEB)), ALLOW),
            (req("GET", "/get", Some(ADMIN)), DENY),
            // No principal: Istio's NOT(namespace) matches, so the DENY applies.
            (req("GET", "/get", None), DENY),
        ],
    );
    // principals: ["*"]: any authenticated peer.
    run(
        &policy(
            "authn",
            "ALLOW",
            "  rules:\n  - from:\n    - source: {principals: ['*']}\n",
        ),
        &[
            (req("GET", "/get", Some(WEB)), ALLOW),
            (req("GET", "/get", None), DENY),
        ],
    );
}

#[test]
fn hosts_ports_and_their_negations() {
    let yaml = policy(
        "hosts",
        "ALLOW",
        "  rules:\n  - to:\n    - operation: {hosts: [httpbin.org], ports: ['80']}\n",
    );
    let (_, diags) = run(
        &yaml,
        &[
            (get("/get"), ALLOW),
            (
                r#"{"method":"GET","host":"httpbin.org:80","path":"/"}"#.to_owned(),
                ALLOW,
            ),
            (
                r#"{"method":"GET","host":"httpbin.org","port":8080,"path":"/"}"#.to_owned(),
                DENY,
            ),
        ],
    );
    assert!(
        codes(&diags).contains(&"W0608"),
        "the Host-with-port trap is named: {diags:?}"
    );
    let yaml = policy(
        "not",
        "DENY",
        "  rules:\n  - to:\n    - operation: {notPorts: ['80']}\n  - to:\n    - operation: {notHosts: ['*.org']}\n",
    );
    run(
        &yaml,
        &[
            (get("/get"), ALLOW),
            (
                r#"{"method":"GET","host":"httpbin.org","port":8080,"path":"/"}"#.to_owned(),
                DENY,
            ),
        ],
    );
}

#[test]
fn when_headers_principals_namespaces_and_ports() {
    let yaml = policy(
        "when",
        "ALLOW",
        "  rules:\n  - when:\n    - {key: 'request.headers[x-tenant]', values: [acme, 'team-*']}\n    - {key: 'request.headers[User-Agent]', notValues: ['*bot']}\n    - {key: destination.port, values: ['80']}\n",
    );
    let with = |hs: &str| {
        format!(r#"{{"method":"GET","host":"httpbin.org","path":"/","headers":{{{hs}}}}}"#)
    };
    run(
        &yaml,
        &[
            (with(r#""x-tenant":"acme""#), ALLOW),
            (with(r#""x-tenant":"team-blue","user-agent":"curl""#), ALLOW),
            (with(r#""x-tenant":"acme","user-agent":"googlebot""#), DENY),
            (with(r#""x-tenant":"other""#), DENY),
            (with(""), DENY),
        ],
    );
    let yaml = policy(
        "present",
        "DENY",
        "  rules:\n  - when:\n    - {key: 'request.headers[x-debug]', values: ['*']}\n    - {key: source.namespace, notValues: [ops]}\n",
    );
    run(
        &yaml,
        &[
            (with(r#""x-debug":"1""#), DENY),
            (with(""), ALLOW),
            (
                r#"{"method":"GET","host":"httpbin.org","path":"/","principal":"cluster.local/ns/ops/sa/x","headers":{"x-debug":"1"}}"#.to_owned(),
                ALLOW,
            ),
        ],
    );
    let yaml = policy(
        "admin",
        "ALLOW",
        &format!("  rules:\n  - when:\n    - {{key: source.principal, values: [{ADMIN}]}}\n"),
    );
    run(
        &yaml,
        &[
            (req("POST", "/post", Some(ADMIN)), ALLOW),
            (req("POST", "/post", Some(WEB)), DENY),
        ],
    );
}

#[test]
fn sni_conditions_pick_tls_destinations() {
    let yaml = r"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: tls, namespace: default}
spec:
  hosts: [api.example.com, www.example.com]
  ports: [{number: 443, name: tls, protocol: TLS}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: sni, namespace: default}
spec:
  targetRefs: [{kind: ServiceEntry, group: networking.istio.io, name: tls}]
  rules:
  - when:
    - {key: connection.sni, values: [api.example.com]}
";
    let (policy, _) = import(yaml, Posture::Restricted);
    decide(
        &policy,
        &[
            (r#"{"sni":"api.example.com","port":443}"#, ALLOW),
            (r#"{"sni":"www.example.com","port":443}"#, DENY),
        ],
    );
}

#[test]
fn http_fields_on_tls_follow_istio_and_what_cannot_be_said_is_named() {
    let yaml = r"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: tls, namespace: default}
spec:
  hosts: [api.example.com]
  ports: [{number: 443, name: tls, protocol: TLS}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-post, namespace: default}
spec:
  targetRefs: [{kind: ServiceEntry, group: networking.istio.io, name: tls}]
  action: DENY
  rules:
  - to: [{operation: {methods: [POST]}}]
";
    // Istio drops the HTTP-only field of a DENY rule on TLS traffic: all of it is denied.
    let (denied, _) = import(yaml, Posture::Restricted);
    decide(
        &denied,
        &[(r#"{"sni":"api.example.com","port":443}"#, DENY)],
    );

    let yaml = policy(
        "ips",
        "ALLOW",
        "  rules:\n  - from:\n    - source: {ipBlocks: [10.0.0.0/8]}\n  - to:\n    - operation: {methods: [HEAD]}\n",
    );
    let (text, diags) = run(
        &yaml,
        &[(get("/get"), DENY), (req("HEAD", "/", None), ALLOW)],
    );
    let w = diags.iter().find(|d| d.code == "W0607").expect("W0607");
    assert!(
        w.message
            .contains("in.yaml:1:spec.rules[0].from[0].source.ipBlocks"),
        "the warning names the YAML path: {}",
        w.message
    );
    assert!(!text.contains("10.0.0.0"), "{text}");
}

#[test]
fn sidecars_and_kubernetes_services() {
    let yaml = r"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: pypi, namespace: default}
spec:
  hosts: [pypi.org]
  ports: [{number: 443, name: tls, protocol: TLS}]
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: shop}
spec:
  egress:
  - hosts: [./*, istio-system/*]
---
apiVersion: v1
kind: Service
metadata: {name: my-httpbin, namespace: default}
spec:
  type: ExternalName
  externalName: httpbin.org
  ports: [{name: http, protocol: TCP, port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: my-wikipedia, namespace: default}
spec:
  ports: [{name: tls, protocol: TCP, port: 443}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: my-wikipedia, namespace: default}
subsets:
- addresses: [{ip: 91.198.174.192}, {ip: 198.35.26.96}]
  ports: [{name: tls, port: 443}]
";
    let (policy, diags) = import(yaml, Posture::Restricted);
    assert!(diags.iter().all(|d| d.code == "W0605"), "{diags:?}");
    decide(
        &policy,
        &[
            (
                r#"{"sni":"pypi.org","port":443,"principal":"cluster.local/ns/default/sa/a"}"#,
                ALLOW,
            ),
            (
                r#"{"sni":"pypi.org","port":443,"principal":"cluster.local/ns/shop/sa/a"}"#,
                DENY,
            ),
            (
                r#"{"method":"GET","host":"my-httpbin.default.svc.cluster.local","path":"/get"}"#,
                ALLOW,
            ),
            (
                r#"{"method":"GET","host":"httpbin.org","path":"/get"}"#,
                ALLOW,
            ),
            (r#"{"destination":"91.198.174.192","port":443}"#, ALLOW),
            (r#"{"destination":"91.198.174.193","port":443}"#, DENY),
        ],
    );
}

#[test]
fn what_cannot_be_said_makes_a_deny_deny_more() {
    // PURGE cannot be named: the DENY goes without its method field.
    let (_, diags) = run(
        &policy(
            "no-purge",
            "DENY",
            "  rules:\n  - to:\n    - operation: {methods: [POST, PURGE], paths: ['/a/*/b']}\n",
        ),
        &[(get("/get"), DENY), (req("PURGE", "/x", None), DENY)],
    );
    assert_eq!(codes(&diags), ["W0607", "W0607"], "{diags:?}");
    // A principal prefix cannot be said: the DENY applies to every source.
    run(
        &policy(
            "no-team",
            "DENY",
            "  rules:\n  - from:\n    - source: {principals: ['cluster.local/ns/team-*']}\n",
        ),
        &[
            (req("GET", "/get", Some(WEB)), DENY),
            (req("GET", "/get", None), DENY),
        ],
    );
    // The same in an ALLOW drops the rule: nothing is allowed.
    run(
        &policy(
            "team",
            "ALLOW",
            "  rules:\n  - from:\n    - source: {principals: ['cluster.local/ns/team-*']}\n",
        ),
        &[(
            req("GET", "/get", Some("cluster.local/ns/team-a/sa/x")),
            DENY,
        )],
    );
}
