//! Decision semantics at the level of the table (the language-level tests in
//! the compiler and the end-to-end tests through the `.wasm` cover the same
//! rules from policy text).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap is a failed test"
)]

mod common;
use common::*;
use egress_table::request::{Method, Reason};
use egress_table::spec::*;
use egress_table::{Cause, Decision, Kind, NoHeaders, Request, Sni, Table};

fn table(spec: &TableSpec) -> Table {
    Table::from_bytes(&egress_table::format::encode(spec).unwrap()).unwrap()
}

fn http<'a>(
    host: &'a str,
    port: u16,
    method: &str,
    path: &'a str,
    principal: Option<&'a str>,
) -> Request<'a> {
    Request {
        kind: Kind::Http,
        host: host.as_bytes(),
        port,
        method: Method::parse(method.as_bytes()).unwrap(),
        path: Some(path.as_bytes()),
        principal: principal.map(str::as_bytes),
        sni: Sni::Absent,
        dst_ip: None,
        headers: &NoHeaders,
    }
}

fn rule_of(t: &Table, d: &Decision) -> Option<String> {
    match d.enforced.cause {
        Cause::Rule(r) => Some(t.rule_id(r).to_string()),
        _ => None,
    }
}

const ADMIN: &str = "cluster.local/ns/default/sa/admin";

#[test]
fn httpbin_example() {
    let t = table(&httpbin());
    let d = t.decide(&http("httpbin.org", 80, "GET", "/get", None));
    assert!(d.allowed());
    assert_eq!(rule_of(&t, &d).as_deref(), Some("httpbin/1"));
    let d = t.decide(&http("httpbin.org", 80, "POST", "/post", None));
    assert!(!d.allowed());
    assert_eq!(d.enforced.cause, Cause::Default(0));
    assert!(d.log, "log denied is the default");
    assert!(
        t.decide(&http("httpbin.org", 80, "POST", "/post", Some(ADMIN)))
            .allowed()
    );
    assert!(
        !t.decide(&http("example.com", 80, "GET", "/get", None))
            .allowed()
    );
    assert!(
        !t.decide(&http("httpbin.org", 8080, "GET", "/get", None))
            .allowed(),
        "port is part of the destination"
    );
    assert!(
        !t.decide(&http("httpbin.org", 80, "GET", "/get/", None))
            .allowed(),
        "exact path"
    );
}

#[test]
fn deny_overrides_allow_regardless_of_order() {
    for deny_first in [true, false] {
        let mut allow = rule("p/1", Action::Allow);
        allow.methods = methods(&["GET", "POST"]);
        let mut deny = rule("p/2", Action::Deny);
        deny.paths = vec![PathSpec::Prefix("/admin/".into())];
        let mut rules = if deny_first {
            vec![deny, allow]
        } else {
            vec![allow, deny]
        };
        for (i, r) in rules.iter_mut().enumerate() {
            r.id = format!("p/{}", i + 1);
        }
        let t = table(&TableSpec {
            policies: vec![policy(
                "p",
                Action::Deny,
                vec![dest(
                    vec![host("a.com")],
                    Protocol::Http,
                    &[(80, 80)],
                    rules,
                )],
            )],
        });
        let d = t.decide(&http("a.com", 80, "GET", "/admin/x", None));
        assert!(!d.allowed());
        assert_eq!(
            rule_of(&t, &d).as_deref(),
            Some(if deny_first { "p/1" } else { "p/2" })
        );
        assert!(
            t.decide(&http("a.com", 80, "GET", "/admin", None))
                .allowed()
        );
    }
}

#[test]
fn wildcards_say_their_depth() {
    let t = table(&TableSpec {
        policies: vec![policy(
            "w",
            Action::Deny,
            vec![
                dest(
                    vec![host("*.one.com")],
                    Protocol::Http,
                    &[(80, 80)],
                    vec![rule("w/1", Action::Allow)],
                ),
                dest(
                    vec![host("**.any.com")],
                    Protocol::Http,
                    &[(80, 80)],
                    vec![rule("w/2", Action::Allow)],
                ),
            ],
        )],
    });
    let ok = |h: &str| t.decide(&http(h, 80, "GET", "/", None)).allowed();
    assert!(ok("a.one.com"));
    assert!(!ok("a.b.one.com"));
    assert!(!ok("one.com"), "the apex only when listed");
    assert!(!ok("xone.com"));
    assert!(ok("a.any.com"));
    assert!(ok("a.b.c.any.com"));
    assert!(!ok("any.com"));
    assert!(!ok("evilany.com"));
}

#[test]
fn catch_all_hosts() {
    let mut deny = rule("c/1", Action::Deny);
    deny.paths = vec![PathSpec::Prefix("/admin/".into())];
    let t = table(&TableSpec {
        policies: vec![policy(
            "c",
            Action::Allow,
            vec![
                dest(vec![host("**")], Protocol::Http, &[(80, 80)], vec![deny]),
                dest(
                    vec![host("*")],
                    Protocol::Http,
                    &[(80, 80)],
                    vec![rule("c/2", Action::Deny)],
                ),
            ],
        )],
    });
    assert!(
        !t.decide(&http("x.y.z", 80, "GET", "/admin/a", None))
            .allowed()
    );
    assert!(t.decide(&http("x.y.z", 80, "GET", "/a", None)).allowed());
    assert!(
        !t.decide(&http("localhost", 80, "GET", "/a", None))
            .allowed(),
        "`*` alone: single-label hosts"
    );
    assert!(
        t.decide(&http("10.0.0.1", 80, "GET", "/a", None)).allowed(),
        "wildcards never match IP literals"
    );
}

#[test]
fn sources() {
    let mut ns = rule("s/1", Action::Allow);
    ns.sources = vec![SourceSpec::Namespace("payments".into())];
    let mut sa = rule("s/2", Action::Allow);
    sa.sources = vec![SourceSpec::ServiceAccount {
        namespace: "ci".into(),
        name: "builder".into(),
    }];
    let t = table(&TableSpec {
        policies: vec![policy(
            "s",
            Action::Deny,
            vec![dest(
                vec![host("a.com")],
                Protocol::Http,
                &[(80, 80)],
                vec![ns, sa],
            )],
        )],
    });
    let ok = |p: Option<&str>| t.decide(&http("a.com", 80, "GET", "/", p)).allowed();
    assert!(ok(Some("cluster.local/ns/payments/sa/web")));
    assert!(ok(Some("other.domain/ns/payments/sa/x")));
    assert!(!ok(Some("cluster.local/ns/payments-evil/sa/web")));
    assert!(ok(Some("cluster.local/ns/ci/sa/builder")));
    assert!(!ok(Some("cluster.local/ns/ci/sa/builder2")));
    assert!(!ok(Some("cluster.local/ns/ci/sa/builder/x")));
    assert!(!ok(None));
}

struct H(Vec<(&'static str, &'static [u8])>);
impl egress_table::Headers for H {
    fn for_each<'s>(&'s self, f: &mut dyn FnMut(&'s [u8], &'s [u8])) {
        for (k, v) in &self.0 {
            f(k.as_bytes(), v);
        }
    }
}

#[test]
fn repeated_headers_fail_closed() {
    let mut allow = rule("h/1", Action::Allow);
    allow.headers = vec![HeaderSpec::Equals("x-tenant".into(), b"acme".to_vec())];
    let mut deny = rule("h/2", Action::Deny);
    deny.headers = vec![HeaderSpec::Equals("x-debug".into(), b"1".to_vec())];
    let t = table(&TableSpec {
        policies: vec![policy(
            "h",
            Action::Deny,
            vec![dest(
                vec![host("a.com")],
                Protocol::Http,
                &[(80, 80)],
                vec![allow, deny],
            )],
        )],
    });
    let go = |hs: Vec<(&'static str, &'static [u8])>| {
        let h = H(hs);
        let mut r = http("a.com", 80, "GET", "/", None);
        r.headers = &h;
        t.decide(&r).allowed()
    };
    assert!(go(vec![("x-tenant", b"acme")]));
    assert!(
        go(vec![("X-Tenant", b"acme")]),
        "names are case-insensitive"
    );
    assert!(
        !go(vec![("x-tenant", b"acme"), ("x-tenant", b"evil")]),
        "a second value must not slip past an allow"
    );
    assert!(!go(vec![("x-tenant", b"acme,evil")]));
    assert!(
        !go(vec![
            ("x-tenant", b"acme"),
            ("x-debug", b"0"),
            ("x-debug", b"1")
        ]),
        "any value fires a deny"
    );
    assert!(
        go(vec![("x-tenant", b"acme"), ("x-debug", b"\xff\xfe")]),
        "non-UTF-8 values are compared as bytes"
    );
    assert!(!go(vec![]));
}

#[test]
fn audit_mode_is_a_dry_run() {
    let mut spec = httpbin();
    spec.policies[0].mode = Mode::Audit;
    let t = table(&spec);
    let d = t.decide(&http("httpbin.org", 80, "POST", "/post", None));
    assert!(d.allowed(), "audit never blocks");
    assert_eq!(d.enforced.cause, Cause::NoPolicy);
    let a = d.audit.unwrap();
    assert_eq!(a.action, Action::Deny);
    assert_eq!(a.cause, Cause::Default(0));
    assert!(d.log);
}

#[test]
fn audit_policies_are_evaluated_on_their_own() {
    // Enforced allowlist for a.com; an audit policy that would deny POST there.
    let enforce = policy(
        "e",
        Action::Deny,
        vec![dest(
            vec![host("a.com")],
            Protocol::Http,
            &[(80, 80)],
            vec![rule("e/1", Action::Allow)],
        )],
    );
    let mut post = rule("a/1", Action::Deny);
    post.methods = methods(&["POST"]);
    let mut audit = policy(
        "a",
        Action::Allow,
        vec![dest(
            vec![host("a.com")],
            Protocol::Http,
            &[(80, 80)],
            vec![post],
        )],
    );
    audit.mode = Mode::Audit;
    let t = table(&TableSpec {
        policies: vec![enforce, audit],
    });
    let d = t.decide(&http("a.com", 80, "POST", "/", None));
    assert!(d.allowed());
    assert_eq!(d.audit.unwrap().action, Action::Deny);
    let d = t.decide(&http("a.com", 80, "GET", "/", None));
    assert!(d.allowed());
    assert_eq!(d.audit.unwrap().action, Action::Allow);
    let d = t.decide(&http("b.com", 80, "GET", "/", None));
    assert!(!d.allowed(), "the enforced default still applies");
    assert_eq!(
        d.audit.unwrap().action,
        Action::Allow,
        "the audit policy alone defaults to allow"
    );
    // An audit allowlist shows what it would block even where an enforced
    // policy allows more (the migration case).
    let wide = policy(
        "wide",
        Action::Deny,
        vec![dest(
            vec![host("**")],
            Protocol::Tls,
            &[(443, 443)],
            vec![rule("wide/1", Action::Allow)],
        )],
    );
    let mut narrow = policy(
        "narrow",
        Action::Deny,
        vec![dest(
            vec![host("pypi.org")],
            Protocol::Tls,
            &[(443, 443)],
            vec![rule("narrow/1", Action::Allow)],
        )],
    );
    narrow.mode = Mode::Audit;
    let t = table(&TableSpec {
        policies: vec![wide, narrow],
    });
    let tls = |h: &'static str| Request {
        kind: Kind::Tls,
        host: h.as_bytes(),
        port: 443,
        method: Method::OTHER,
        path: None,
        principal: None,
        sni: Sni::Absent,
        dst_ip: None,
        headers: &NoHeaders,
    };
    let d = t.decide(&tls("example.com"));
    assert!(d.allowed());
    assert_eq!(d.audit.unwrap().action, Action::Deny);
    assert_eq!(
        t.decide(&tls("pypi.org")).audit.unwrap().action,
        Action::Allow
    );
}

#[test]
fn defaults_combine_fail_closed_and_allowlists_union() {
    let a = policy(
        "a",
        Action::Deny,
        vec![dest(
            vec![host("a.com")],
            Protocol::Http,
            &[(80, 80)],
            vec![rule("a/1", Action::Allow)],
        )],
    );
    let b = policy(
        "b",
        Action::Allow,
        vec![dest(
            vec![host("b.com")],
            Protocol::Http,
            &[(80, 80)],
            vec![rule("b/1", Action::Allow)],
        )],
    );
    let t = table(&TableSpec {
        policies: vec![b, a],
    });
    assert!(t.decide(&http("a.com", 80, "GET", "/", None)).allowed());
    assert!(t.decide(&http("b.com", 80, "GET", "/", None)).allowed());
    let d = t.decide(&http("c.com", 80, "GET", "/", None));
    assert!(!d.allowed());
    assert_eq!(
        d.enforced.cause,
        Cause::Default(1),
        "the deny default comes from policy a"
    );
}

#[test]
fn connections() {
    let t = table(&TableSpec {
        policies: vec![policy(
            "g",
            Action::Deny,
            vec![
                dest(
                    vec![host("github.com"), host("*.github.com")],
                    Protocol::Tls,
                    &[(443, 443)],
                    vec![rule("g/1", Action::Allow)],
                ),
                dest(
                    vec![cidr("140.82.112.0/20")],
                    Protocol::Tcp,
                    &[(22, 22)],
                    vec![rule("g/2", Action::Allow)],
                ),
            ],
        )],
    });
    let conn = |kind, sni: &'static str, ip: &str, port| {
        t.decide(&Request {
            kind,
            host: sni.as_bytes(),
            port,
            method: Method::OTHER,
            path: None,
            principal: None,
            sni: Sni::Absent,
            dst_ip: ip.parse().ok(),
            headers: &NoHeaders,
        })
    };
    assert!(conn(Kind::Tls, "github.com", "1.2.3.4", 443).allowed());
    assert!(conn(Kind::Tls, "api.github.com", "1.2.3.4", 443).allowed());
    assert!(!conn(Kind::Tls, "gitlab.com", "1.2.3.4", 443).allowed());
    assert!(!conn(Kind::Tls, "github.com", "1.2.3.4", 8443).allowed());
    assert!(conn(Kind::Tcp, "", "140.82.121.4", 22).allowed());
    assert!(!conn(Kind::Tcp, "", "140.82.128.1", 22).allowed());
    assert!(!conn(Kind::Tcp, "", "140.82.121.4", 23).allowed());
    let d = conn(Kind::Tcp, "", "1.2.3.4", 443);
    assert_eq!(d.enforced.cause, Cause::Invalid(Reason::NoSni));
    // An HTTP request never matches a tls destination.
    assert!(
        !t.decide(&http("github.com", 443, "GET", "/", None))
            .allowed()
    );
}

#[test]
fn sni_host_agreement() {
    let mut spec = httpbin();
    spec.policies[0].require_sni_host_match = true;
    let t = table(&spec);
    let mut r = http("httpbin.org", 80, "GET", "/get", None);
    r.sni = Sni::Name(b"httpbin.org");
    assert!(t.decide(&r).allowed());
    r.sni = Sni::Name(b"allowed-cdn.example");
    assert_eq!(
        t.decide(&r).enforced.cause,
        Cause::Invalid(Reason::SniHostMismatch)
    );
    r.sni = Sni::Invalid;
    assert_eq!(
        t.decide(&r).enforced.cause,
        Cause::Invalid(Reason::InvalidSni)
    );
    r.sni = Sni::Absent;
    assert!(t.decide(&r).allowed(), "plain HTTP has no SNI to compare");
}

#[test]
fn regex_and_template_paths() {
    let mut a = rule("r/1", Action::Allow);
    a.paths = vec![
        regex(
            PatternKind::Regex,
            "^/v2/items/[0-9]+$",
            "^/v2/items/[0-9]+$",
        ),
        regex(PatternKind::Template, "/v1/{*}/x", "/v1/[^/]+/x"),
    ];
    let t = table(&TableSpec {
        policies: vec![policy(
            "r",
            Action::Deny,
            vec![dest(
                vec![host("a.com")],
                Protocol::Http,
                &[(80, 80)],
                vec![a],
            )],
        )],
    });
    let ok = |p: &str| t.decide(&http("a.com", 80, "GET", p, None)).allowed();
    assert!(ok("/v2/items/12"));
    assert!(!ok("/v2/items/12a"));
    assert!(ok("/v1/abc/x"));
    assert!(!ok("/v1/a/b/x"));
}

#[test]
fn rejected_requests() {
    let t = table(&httpbin());
    let d = t.reject(Reason::MissingAuthority);
    assert!(!d.allowed());
    assert_eq!(d.enforced.cause, Cause::Invalid(Reason::MissingAuthority));
    let empty = table(&TableSpec::default());
    assert!(
        empty.reject(Reason::MissingAuthority).allowed(),
        "no policy, nothing enforced"
    );
}

/// One destination `a.com:80` (http) holding `rules`, in a `default deny` policy.
fn one_dest(rules: Vec<RuleSpec>) -> Table {
    table(&TableSpec {
        policies: vec![policy(
            "n",
            Action::Deny,
            vec![dest(
                vec![host("a.com")],
                Protocol::Http,
                &[(80, 80)],
                rules,
            )],
        )],
    })
}

#[test]
fn except_paths_fail_closed_on_connect() {
    // `allow GET except path prefix "/admin"`, `deny any except path "/ok", suffix ".json"`.
    let mut allow = rule("n/1", Action::Allow);
    allow.methods = methods(&["GET", "CONNECT"]);
    allow.except_paths = vec![PathSpec::Prefix("/admin".into())];
    let t = one_dest(vec![allow]);
    let go = |m: &str, p: &str| t.decide(&http("a.com", 80, m, p, None)).allowed();
    assert!(go("GET", "/"));
    assert!(go("GET", "/public/admin"));
    assert!(!go("GET", "/admin"));
    assert!(!go("GET", "/administrator"));
    assert!(!go("GET", "/admin%3Ax"), "compared in match form");
    let mut connect = http("a.com", 80, "CONNECT", "/", None);
    connect.path = None;
    assert_eq!(
        t.decide(&connect).enforced.cause,
        Cause::Default(0),
        "a pathless CONNECT cannot satisfy an allow's except path"
    );

    let mut deny = rule("n/1", Action::Deny);
    deny.except_paths = vec![
        PathSpec::Exact("/ok".into()),
        PathSpec::Suffix(".json".into()),
    ];
    let mut all = rule("n/2", Action::Allow);
    all.methods = methods(&["GET", "CONNECT"]);
    let t = one_dest(vec![deny, all]);
    let go = |m: &str, p: &str| t.decide(&http("a.com", 80, m, p, None)).allowed();
    assert!(go("GET", "/ok"));
    assert!(go("GET", "/a/b.json"));
    assert!(!go("GET", "/a/b.jsonx"));
    assert!(!go("GET", "/ok/"));
    assert!(
        !t.decide(&connect).allowed(),
        "a deny's except path holds for a pathless CONNECT"
    );
}

#[test]
fn except_sources_fail_closed_without_a_principal() {
    let mut allow = rule("n/1", Action::Allow);
    allow.sources = vec![SourceSpec::Namespace("default".into())];
    allow.except_sources = vec![SourceSpec::Principal(ADMIN.into())];
    let mut anyone = rule("n/2", Action::Allow);
    anyone.methods = methods(&["HEAD"]);
    anyone.except_sources = vec![SourceSpec::Namespace("evil".into())];
    let t = one_dest(vec![allow, anyone]);
    let go = |m: &str, who: Option<&str>| t.decide(&http("a.com", 80, m, "/", who)).allowed();
    assert!(go("GET", Some("cluster.local/ns/default/sa/app")));
    assert!(!go("GET", Some(ADMIN)), "excepted");
    assert!(!go("GET", Some("cluster.local/ns/other/sa/app")));
    assert!(go("HEAD", Some("cluster.local/ns/other/sa/app")));
    assert!(!go("HEAD", Some("cluster.local/ns/evil/sa/app")));
    assert!(
        !go("HEAD", None),
        "an allow's except from needs a principal"
    );

    let mut deny = rule("n/1", Action::Deny);
    deny.except_sources = vec![SourceSpec::AnyPrincipal];
    let t = one_dest(vec![deny, rule("n/2", Action::Allow)]);
    let go = |who: Option<&str>| t.decide(&http("a.com", 80, "GET", "/", who)).allowed();
    assert!(go(Some(ADMIN)));
    assert!(
        !go(None),
        "`deny except from principal \"*\"` denies what has no principal"
    );

    let mut any = rule("n/1", Action::Allow);
    any.sources = vec![SourceSpec::AnyPrincipal];
    let t = one_dest(vec![any]);
    assert!(
        t.decide(&http("a.com", 80, "GET", "/", Some(ADMIN)))
            .allowed()
    );
    assert!(!t.decide(&http("a.com", 80, "GET", "/", None)).allowed());
}

#[test]
fn open_method_sets_never_name_connect() {
    let mut allow = rule("n/1", Action::Allow);
    allow.methods = MethodSet::any_except(methods(&["DELETE", "PATCH"]));
    let t = one_dest(vec![allow]);
    let go = |m: &str| t.decide(&http("a.com", 80, m, "/", None)).allowed();
    assert!(go("GET") && go("POST") && go("PURGE"));
    assert!(!go("DELETE") && !go("PATCH"));
    assert!(!go("CONNECT"), "`any except` does not name CONNECT");

    let mut deny = rule("n/1", Action::Deny);
    deny.methods = MethodSet::any_except(methods(&["GET"]));
    let t = one_dest(vec![deny, rule("n/2", Action::Allow)]);
    let go = |m: &str| t.decide(&http("a.com", 80, m, "/", None)).allowed();
    assert!(go("GET"));
    assert!(!go("PURGE") && !go("POST") && !go("CONNECT"));
    assert_eq!(
        MethodSet::any_except(methods(&["GET", "POST"])).to_string(),
        "any except GET, POST"
    );
}

#[test]
fn value_conditions_and_their_negations_fail_closed() {
    let mut allow = rule("n/1", Action::Allow);
    allow.headers = vec![
        HeaderSpec::Prefix("user-agent".into(), b"Mozilla/".to_vec()),
        HeaderSpec::NotEquals("x-tenant".into(), b"evil".to_vec()),
        HeaderSpec::NotSuffix("x-host".into(), b".internal".to_vec()),
    ];
    let t = one_dest(vec![allow]);
    let go = |hs: Vec<(&'static str, &'static [u8])>| {
        let h = H(hs);
        let mut r = http("a.com", 80, "GET", "/", None);
        r.headers = &h;
        t.decide(&r).allowed()
    };
    assert!(go(vec![("user-agent", b"Mozilla/5.0")]));
    assert!(!go(vec![("user-agent", b"curl/8")]));
    assert!(!go(vec![
        ("user-agent", b"Mozilla/5.0"),
        ("user-agent", b"curl/8")
    ]));
    assert!(go(vec![
        ("user-agent", b"Mozilla/5.0"),
        ("x-tenant", b"acme")
    ]));
    assert!(
        !go(vec![
            ("user-agent", b"Mozilla/5.0"),
            ("x-tenant", b"acme, evil")
        ]),
        "an allow's != reads every element the deny way"
    );
    assert!(!go(vec![
        ("user-agent", b"Mozilla/5.0"),
        ("x_tenant", b"evil")
    ]));
    assert!(!go(vec![
        ("user-agent", b"Mozilla/5.0"),
        ("x-host", b"db.internal")
    ]));

    let mut deny = rule("n/1", Action::Deny);
    deny.headers = vec![HeaderSpec::NotEquals("x-tenant".into(), b"acme".to_vec())];
    let t = one_dest(vec![deny, rule("n/2", Action::Allow)]);
    let go = |hs: Vec<(&'static str, &'static [u8])>| {
        let h = H(hs);
        let mut r = http("a.com", 80, "GET", "/", None);
        r.headers = &h;
        t.decide(&r).allowed()
    };
    assert!(go(vec![("x-tenant", b"acme")]));
    assert!(!go(vec![]), "a deny's != holds for an absent header");
    assert!(!go(vec![("x-tenant", b"acme"), ("x-tenant", b"evil")]));
    assert!(
        !go(vec![("x_tenant", b"acme")]),
        "a variant alone is no exact name"
    );
}

/// docs/language.md, "Header conditions": a value condition reads at most
/// `max_header_bytes` of a header (all occurrences together); a longer
/// header takes the answer that denies, in each of the four readings.
#[test]
fn a_header_past_the_budget_takes_the_answer_that_denies() {
    let go = |t: &Table, budget: usize, hs: Vec<(&'static str, &'static [u8])>| {
        let h = H(hs);
        let limited = egress_table::Limited {
            headers: &h,
            max_value_bytes: budget,
        };
        let mut r = http("a.com", 80, "GET", "/", None);
        r.headers = &limited;
        t.decide(&r).allowed()
    };
    let with = |action: Action, h: HeaderSpec| {
        let mut r = rule("n/1", action);
        r.headers = vec![h];
        let mut rules = vec![r];
        if action == Action::Deny {
            rules.push(rule("n/2", Action::Allow));
        }
        one_dest(rules)
    };
    let acme3: Vec<(&str, &[u8])> = vec![("x-tenant", b"acme"), ("x-tenant", b"acme, acme")];
    // allow == acme: 14 bytes of conforming values.
    let t = with(
        Action::Allow,
        HeaderSpec::Equals("x-tenant".into(), b"acme".to_vec()),
    );
    assert!(go(&t, 14, acme3.clone()), "exactly the budget is read");
    assert!(!go(&t, 13, acme3.clone()), "one byte over: the allow fails");
    assert!(!go(
        &t,
        13,
        vec![("x_tenant", b"acme"), ("x-tenant", b"acme, acme")]
    ));
    assert!(
        go(
            &t,
            4,
            vec![("x-tenant", b"acme"), ("x-other", b"long long long")]
        ),
        "other headers do not count"
    );
    // deny == evil: over the budget it fires, whatever the value.
    let t = with(
        Action::Deny,
        HeaderSpec::Equals("x-tenant".into(), b"evil".to_vec()),
    );
    assert!(go(&t, 14, acme3.clone()));
    assert!(!go(&t, 13, acme3.clone()), "one byte over: the deny fires");
    // A deny that has fired reads no more: the answer is the same.
    assert!(!go(
        &t,
        5,
        vec![("x-tenant", b"evil"), ("x-tenant", b"acme, acme, acme")]
    ));
    // allow != evil (the deny reading of == evil must not hold): fails.
    let t = with(
        Action::Allow,
        HeaderSpec::NotEquals("x-tenant".into(), b"evil".to_vec()),
    );
    assert!(go(&t, 14, acme3.clone()));
    assert!(!go(&t, 13, acme3.clone()));
    // deny != acme (holds unless the allow reading of == acme holds): fires.
    let t = with(
        Action::Deny,
        HeaderSpec::NotEquals("x-tenant".into(), b"acme".to_vec()),
    );
    assert!(go(&t, 14, acme3.clone()));
    assert!(!go(&t, 13, acme3));
    // Presence conditions read no value: no budget applies.
    let t = with(Action::Allow, HeaderSpec::Present("x-tenant".into()));
    assert!(go(&t, 1, vec![("x-tenant", b"a long value")]));
    // Without `Limited`, the default budget: 8 KiB.
    let t = with(
        Action::Allow,
        HeaderSpec::Prefix("x-tenant".into(), b"a".to_vec()),
    );
    let at_limit: &'static [u8] = Box::leak(vec![b'a'; 8192].into_boxed_slice());
    let over: &'static [u8] = Box::leak(vec![b'a'; 8193].into_boxed_slice());
    let plain = |v: &'static [u8]| {
        let h = H(vec![("x-tenant", v)]);
        let mut r = http("a.com", 80, "GET", "/", None);
        r.headers = &h;
        t.decide(&r).allowed()
    };
    assert!(plain(at_limit));
    assert!(!plain(over));
}

#[test]
fn otherwise_deny_weighs_after_every_rule() {
    // Two destinations for a.com: one closed with `otherwise deny`, in a
    // `default allow` policy.
    let mut get = rule("n/1", Action::Allow);
    get.methods = methods(&["GET"]);
    let mut closed = rule("n/2", Action::Deny);
    closed.fallback = true;
    let mut deny = rule("n/3", Action::Deny);
    deny.paths = vec![PathSpec::Exact("/admin".into())];
    let t = table(&TableSpec {
        policies: vec![policy(
            "n",
            Action::Allow,
            vec![
                dest(
                    vec![host("a.com")],
                    Protocol::Http,
                    &[(80, 80)],
                    vec![get, closed],
                ),
                dest(
                    vec![host("**.com")],
                    Protocol::Http,
                    &[(80, 80)],
                    vec![deny],
                ),
            ],
        )],
    });
    let d = t.decide(&http("a.com", 80, "GET", "/", None));
    assert_eq!(
        (d.allowed(), rule_of(&t, &d).as_deref()),
        (true, Some("n/1"))
    );
    let d = t.decide(&http("a.com", 80, "POST", "/", None));
    assert_eq!(
        (d.allowed(), rule_of(&t, &d).as_deref()),
        (false, Some("n/2"))
    );
    let d = t.decide(&http("a.com", 80, "GET", "/admin", None));
    assert_eq!(
        (d.allowed(), rule_of(&t, &d).as_deref()),
        (false, Some("n/3"))
    );
    assert!(
        t.decide(&http("b.com", 80, "POST", "/", None)).allowed(),
        "other destinations keep the default"
    );
}

/// Records every rule tested, and asks for all of them: the reference
/// path, without the rule index or the skipping of rules that can no
/// longer change the verdict.
struct Every;

impl egress_table::Tracer for Every {}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]
    /// The fast path (the per-destination index by first path segment, and
    /// rules skipped once they cannot change the verdict) decides exactly
    /// as testing every rule does, on destinations large enough to be
    /// indexed, for paths with and without escapes.
    #[test]
    fn the_rule_index_changes_no_decision(
        rules in proptest::collection::vec((0usize..12, 0usize..4, proptest::bool::ANY), 9..40),
        paths in proptest::collection::vec((0usize..10, 0usize..4), 1..40),
    ) {
        const PATTERNS: [&str; 12] = [
            "=/a/status", "=/a", "=/", "^/a/", "^/b/", "^/a", "^/",
            "t/a/{*}/x", "t/b/{**}", "t/{*}/x", "s.json", "=/b%3Ax/y",
        ];
        const SEGS: [&str; 10] = [
            "/a/status", "/a", "/", "/a/q/x", "/b/c.json", "/b/", "/c/x", "/b:x/y", "/b%3Ax/y", "/a%2Fq/x",
        ];
        const METHODS: [&str; 4] = ["GET", "POST", "DELETE", "HEAD"];
        let mut spec = httpbin();
        let d = &mut spec.policies[0].destinations[0];
        d.rules.clear();
        for (n, (p, m, deny)) in rules.iter().enumerate() {
            let mut r = rule(&format!("httpbin/{}", n + 1), if *deny { Action::Deny } else { Action::Allow });
            let pat = PATTERNS[*p];
            let (kind, text) = pat.split_at(1);
            r.paths = vec![match kind {
                "=" => PathSpec::Exact(text.into()),
                "^" => PathSpec::Prefix(text.into()),
                "s" => PathSpec::Suffix(text.into()),
                _ => regex(PatternKind::Template, text, &egress_table::dfa::template_regex(text).unwrap()),
            }];
            if *m < 3 {
                r.methods = methods(&[METHODS[*m]]);
            }
            r.line = n as u32 + 1;
            d.rules.push(r);
        }
        let t = table(&spec);
        for (s, m) in paths {
            let req = http("httpbin.org", 80, METHODS[m], SEGS[s], None);
            let fast = t.decide(&req);
            let slow = t.decide_traced(&req, &mut Every);
            proptest::prop_assert_eq!(fast, slow, "{} {}", METHODS[m], SEGS[s]);
        }
    }
}
