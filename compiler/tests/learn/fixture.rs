//! `egressc learn` on the committed realistic fixture
//! (`tests/fixtures/audit/observe.log`), and a covered path dropped end to
//! end. A module of `learn.rs`, which holds the helpers.

use super::*;

/// The committed realistic fixture: the learned policy compiles without
/// errors or warnings, its own test block holds natively, it allows every
/// learnable logged request, and the package files' varying tree
/// (`/packages/<2 hex>/<2 hex>/<hash>/<file>`) is one pattern.
#[test]
fn the_committed_fixture_round_trips() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/audit/observe.log"
    );
    let log = std::fs::read_to_string(path).unwrap();
    let parsed = audit_log::parse(&log);
    let l = learn::learn(std::slice::from_ref(&parsed), &LearnOptions::default());
    assert!(l.problems.is_empty(), "{:?}", l.problems);
    let (sources, outcome) = egressc::compile_str("learned.egress", &l.text);
    let noisy: Vec<String> = outcome
        .diagnostics
        .iter()
        .filter(|d| d.is_error() || d.is_warning())
        .map(|d| egressc::diag::render(d, &sources))
        .collect();
    assert!(noisy.is_empty(), "{}\n{}", noisy.join("\n"), l.text);
    let c = outcome.compiled.unwrap();
    let mut cases = 0;
    for t in c.checked.policies.iter().flat_map(|p| &p.tests) {
        for case in &t.cases {
            assert_eq!(
                decide(&c.spec, &case.request),
                case.expect,
                "{}",
                case.request.describe()
            );
            cases += 1;
        }
    }
    assert!(cases > 20, "{cases} test cases");
    let n = allows_every_learnable(&parsed, &l, &c);
    assert!(n > 500, "{n} distinct requests");
    let files = l
        .destinations
        .iter()
        .find(|d| {
            d.hosts
                .iter()
                .any(|h| h.pattern == "files.pythonhosted.org")
        })
        .unwrap();
    let patterns: Vec<String> = files
        .rules
        .iter()
        .flat_map(|r| &r.paths)
        .map(|p| p.text())
        .collect();
    assert_eq!(patterns, ["/packages/{*}/{*}/{*}/{*}"], "{}", l.text);
    let line = l
        .text
        .lines()
        .find(|s| s.contains("# /packages/{*}/{*}/{*}/{*}: segment 2 stands for"))
        .unwrap();
    assert!(line.contains("segment 5 for"), "{line}");
    assert_eq!(l.text.matches("# /packages/").count(), 1, "{}", l.text);
    assert!(!l.text.contains(" 1 value"), "{}", l.text);
}

/// A literal path that a learned template of the same rule covers is not
/// listed again; one of another rule (another method) stays.
#[test]
fn a_path_a_template_of_the_same_rule_covers_is_dropped() {
    let mut lines = Vec::new();
    for (t, (m, path)) in [
        ("GET", "/u/me"),
        ("GET", "/u/1"),
        ("GET", "/u/2"),
        ("POST", "/v/me"),
        ("GET", "/v/3"),
    ]
    .into_iter()
    .enumerate()
    {
        lines.push(line(
            t,
            "allow",
            "rule",
            "http",
            "a.example",
            80,
            Some(m),
            Some(path),
            None,
        ));
    }
    let l = learn_text(&(lines.join("\n") + "\n"), &LearnOptions::default());
    assert!(l.problems.is_empty(), "{:?}", l.problems);
    let rules: Vec<Vec<String>> = l.destinations[0]
        .rules
        .iter()
        .map(|r| r.paths.iter().map(|p| p.text()).collect())
        .collect();
    assert_eq!(
        rules,
        [vec!["/u/{*}", "/v/{*}"], vec!["/v/me"]],
        "{}",
        l.text
    );
    assert!(
        l.text.contains("segment 2 stands for 3 values (1, 2, me)"),
        "{}",
        l.text
    );
    compiled(&l.text);
}
