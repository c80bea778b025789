//! Small builders for specs in tests.
#![allow(dead_code, reason = "each test file uses a different subset")]

use egress_table::spec::*;

pub fn host(s: &str) -> Target {
    let (kind, name) = if s == "**" {
        (HostKind::AnyDepth, "")
    } else if s == "*" {
        (HostKind::OneLabel, "")
    } else if let Some(n) = s.strip_prefix("**.") {
        (HostKind::AnyDepth, n)
    } else if let Some(n) = s.strip_prefix("*.") {
        (HostKind::OneLabel, n)
    } else {
        (HostKind::Exact, s)
    };
    Target::Host(HostPattern {
        kind,
        name: name.into(),
    })
}

pub fn cidr(s: &str) -> Target {
    let (a, p) = s.split_once('/').unwrap();
    Target::Cidr(Cidr {
        addr: a.parse().unwrap(),
        prefix: p.parse().unwrap(),
    })
}

pub fn rule(id: &str, action: Action) -> RuleSpec {
    RuleSpec {
        id: id.into(),
        action,
        methods: MethodSet::ANY,
        paths: vec![],
        sources: vec![],
        headers: vec![],
        line: 0,
        except_paths: vec![],
        except_sources: vec![],
        fallback: false,
    }
}

pub fn methods(ms: &[&str]) -> MethodSet {
    ms.iter().fold(MethodSet(0), |s, m| {
        s.union(MethodSet::standard(m).unwrap())
    })
}

pub fn dest(
    targets: Vec<Target>,
    protocol: Protocol,
    ports: &[(u16, u16)],
    rules: Vec<RuleSpec>,
) -> DestSpec {
    DestSpec {
        targets,
        protocol,
        ports: ports.iter().map(|&(lo, hi)| PortRange { lo, hi }).collect(),
        rules,
    }
}

pub fn policy(name: &str, default: Action, destinations: Vec<DestSpec>) -> PolicySpec {
    PolicySpec {
        name: name.into(),
        mode: Mode::Enforce,
        default,
        log: LogSetting::Denied,
        require_sni_host_match: false,
        destinations,
    }
}

pub fn regex(kind: PatternKind, source: &str, re: &str) -> PathSpec {
    PathSpec::Pattern {
        kind,
        source: source.into(),
        dfa: egress_table::dfa::build(re).unwrap(),
    }
}

/// The httpbin example from Istio's ambient egress docs.
pub fn httpbin() -> TableSpec {
    let mut get = rule("httpbin/1", Action::Allow);
    get.methods = methods(&["GET"]);
    get.paths = vec![PathSpec::Exact("/get".into())];
    let mut admin = rule("httpbin/2", Action::Allow);
    admin.sources = vec![SourceSpec::Principal(
        "cluster.local/ns/default/sa/admin".into(),
    )];
    TableSpec {
        policies: vec![policy(
            "httpbin",
            Action::Deny,
            vec![dest(
                vec![host("httpbin.org")],
                Protocol::Http,
                &[(80, 80)],
                vec![get, admin],
            )],
        )],
    }
}
