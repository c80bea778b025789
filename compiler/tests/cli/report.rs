//! `egressc report` on the audit-log fixtures (tests/fixtures/audit/, the
//! real filter's lines among a proxy's other output).

use std::path::PathBuf;

use super::common::{self, text};
use super::{egressc, scratch};

fn fixture(name: &str) -> String {
    common::repo()
        .join("tests/fixtures/audit")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn report_ranks_destinations_sources_rules_and_denials() {
    let out = egressc(&["report", &fixture("today.log"), "--top", "3"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(
        s.starts_with("800 requests, 2026-11-30T08:00:00.408Z to "),
        "{s}"
    );
    for heading in [
        "Destinations (busiest 3)",
        "Sources (busiest 3)",
        "Decisions by policy and rule",
        "Denied, by reason",
    ] {
        assert!(s.contains(heading), "{heading} missing:\n{s}");
    }
    assert!(s.contains("http api.github.example:80"), "{s}");
    assert!(s.contains("path-encoded-slash"), "{s}");
    assert!(!s.contains("Under the given policy"), "{s}");
}

#[test]
fn report_with_a_policy_lists_what_it_would_change() {
    let d = scratch("report-policy");
    let cdn = d.join("cdn.egress");
    std::fs::write(
        &cdn,
        "policy \"cdn\" {\n  destination \"*.cdn.example\" port 80 http {\n    allow GET\n  }\n}\n",
    )
    .unwrap();
    let out = egressc(&[
        "report",
        &fixture("today.log"),
        "--format",
        "json",
        "--policy",
        &fixture("today.egress"),
        cdn.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["lines"], 800);
    let changes = &j["changes"];
    assert!(changes["newly_allowed"].as_u64().unwrap() > 50, "{changes}");
    assert_eq!(changes["newly_denied"], 0);
    for g in changes["groups"].as_array().unwrap() {
        assert_eq!(g["now"], "allow");
        assert_eq!(g["method"], "GET");
        assert_eq!(g["by"], "cdn/1 rule");
        assert!(g["example"].as_str().unwrap().starts_with("GET http://img"));
    }
}

#[test]
fn report_says_what_to_do_when_a_log_has_no_audit_line() {
    let d = scratch("report-empty");
    let log = d.join("envoy.log");
    std::fs::write(
        &log,
        "[2026-11-30 08:00:00.000][1][info][main] starting main dispatch loop\n{\"decision\":\"allow\"}\n",
    )
    .unwrap();
    let out = egressc(&["report", log.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}:2: warning: not a valid audit line, skipped: an audit line needs `protocol`",
            log.display()
        )),
        "{err}"
    );
    assert!(err.contains("no audit lines in"), "{err}");
    assert!(err.contains("`log all`"), "{err}");
    let missing: PathBuf = d.join("missing.log");
    let out = egressc(&["report", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("cannot read"),
        "{}",
        text(&out.stderr)
    );
}
