//! The review's regressions for `egressc learn`: requests the learned
//! policy once denied (a literal `*` beside an escape, TLS without SNI,
//! principals a policy cannot name) or allowed beyond what was seen
//! (methods × principals, namespaces across trust domains), grouping and
//! wording. A module of `learn.rs`, which holds the helpers.

use super::*;

/// An audit line's `(protocol, host, port, method, path, principal)`.
type Fields<'a> = (
    &'a str,
    &'a str,
    u16,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
);

/// Learns the lines `v`.
fn learn_lines(v: &[Fields<'_>]) -> Learned {
    let lines: Vec<String> = v
        .iter()
        .enumerate()
        .map(|(t, (proto, host, port, m, path, pr))| {
            line(t, "allow", "rule", proto, host, *port, *m, *path, *pr)
        })
        .collect();
    learn_text(&(lines.join("\n") + "\n"), &LearnOptions::default())
}

/// Every learnable line of `l`'s log is allowed by the learned text.
fn allows_each(l: &Learned, v: &[Fields<'_>]) {
    assert!(l.problems.is_empty(), "{:?}\n{}", l.problems, l.text);
    let c = compiled(&l.text);
    for (proto, host, port, m, path, pr) in v {
        let protocol = match *proto {
            "http" => Protocol::Http,
            "tls" => Protocol::Tls,
            _ => Protocol::Tcp,
        };
        let r = audit_log::request_for(protocol, host, *port, *m, *path, *pr);
        assert_eq!(
            decide(&c.spec, &r),
            Action::Allow,
            "{}\n{}",
            r.describe(),
            l.text
        );
    }
}

/// A literal `*`, `{` or `}` in a segment is written percent-encoded in a
/// template (not as a regex, which sees escapes decoded and so missed the
/// segment's `%3A`).
#[test]
fn a_star_beside_an_escape_is_written_encoded_in_a_template() {
    let v = [
        ("http", "s.example", 80, Some("GET"), Some("/a*b"), None),
        (
            "http",
            "s.example",
            80,
            Some("GET"),
            Some("/c*d/x%3Ay"),
            None,
        ),
        ("http", "s.example", 80, Some("GET"), Some("/{x}/y"), None),
    ];
    let l = learn_lines(&v);
    allows_each(&l, &v);
    assert!(l.text.contains("\"/c%2Ad/x%3Ay\""), "{}", l.text);
    assert!(l.text.contains("\"/%7Bx%7D/y\""), "{}", l.text);
    assert!(!l.text.contains("~\""), "{}", l.text);
}

/// A `tls` line whose host is an address (no SNI) is learned as the
/// address's `cidr … tcp` destination, not as an SNI name the filter
/// would refuse (`no-sni`).
#[test]
fn a_tls_line_without_sni_becomes_a_cidr_destination() {
    let pr = Some("cluster.local/ns/ci/sa/builder");
    let v = [
        ("tls", "a.example", 443, None, None, pr),
        ("tls", "10.0.0.9", 443, None, None, pr),
        ("tls", "2001:db8::9", 443, None, None, pr),
    ];
    let l = learn_lines(&v);
    allows_each(&l, &v);
    assert!(l.text.contains("cidr 10.0.0.9/32"), "{}", l.text);
    assert!(
        l.text.contains("2001:db8::9/128 port 443 tcp"),
        "{}",
        l.text
    );
    assert!(!l.text.contains("\"10.0.0.9\""), "{}", l.text);
}

/// Principals no `source principal` can name (a space, a malformed SPIFFE
/// id, surrounding whitespace, `*`) are not learned, under their reason,
/// instead of making the learned text fail the checker or be unsound.
#[test]
fn principals_a_policy_cannot_name_are_not_learned() {
    let mut v = vec![("http", "q.example", 80, Some("GET"), Some("/a"), None)];
    for pr in [
        "has space",
        "cluster.local/ns/a/sa/b/extra",
        " cluster.local/ns/a/sa/b",
        "cluster.local/ns/a/sa/*",
        "spiffe://",
    ] {
        v.push(("http", "q.example", 80, Some("GET"), Some("/b"), Some(pr)));
    }
    let l = learn_lines(&v);
    assert!(l.problems.is_empty(), "{:?}\n{}", l.problems, l.text);
    assert_eq!(
        l.summary.unusable.get("a principal a policy cannot name"),
        Some(&5),
        "{:?}",
        l.summary
    );
    allows_each(&l, &v[..1]);
    let ok = [(
        "http",
        "q.example",
        80,
        Some("GET"),
        Some("/c"),
        Some("spiffe://cluster.local/ns/a/sa/we\"ird"),
    )];
    allows_each(&learn_lines(&ok), &ok);
}

/// Methods and principals are not cross-multiplied: GET from a reader and
/// DELETE from a writer on one path do not let the reader DELETE.
#[test]
fn a_principal_gets_only_the_methods_it_was_seen_with() {
    let reader = "cluster.local/ns/a/sa/reader";
    let writer = "cluster.local/ns/b/sa/writer";
    let v = [
        (
            "http",
            "x.example",
            80,
            Some("GET"),
            Some("/doc"),
            Some(reader),
        ),
        (
            "http",
            "x.example",
            80,
            Some("DELETE"),
            Some("/doc"),
            Some(writer),
        ),
    ];
    let l = learn_lines(&v);
    allows_each(&l, &v);
    let c = compiled(&l.text);
    for (m, pr) in [("DELETE", reader), ("GET", writer)] {
        let r = audit_log::request_for(
            Protocol::Http,
            "x.example",
            80,
            Some(m),
            Some("/doc"),
            Some(pr),
        );
        assert_eq!(
            decide(&c.spec, &r),
            Action::Deny,
            "{}\n{}",
            r.describe(),
            l.text
        );
    }
}

/// A namespace generalises only principals of one trust domain, and its
/// comment names that trust domain; principals of a namespace seen in
/// several trust domains stay principals.
#[test]
fn a_namespace_is_learned_only_within_one_trust_domain() {
    let names: Vec<String> = (0..5)
        .map(|i| format!("spiffe://other.domain/ns/team/sa/s{i}"))
        .chain((0..5).map(|i| format!("cluster.local/ns/mixed/sa/s{i}")))
        .chain(std::iter::once("evil.example/ns/mixed/sa/x".to_owned()))
        .collect();
    let v: Vec<Fields<'_>> = names
        .iter()
        .map(|p| {
            (
                "http",
                "n.example",
                80,
                Some("GET"),
                Some("/a"),
                Some(p.as_str()),
            )
        })
        .collect();
    let l = learn_lines(&v);
    allows_each(&l, &v);
    assert!(
        l.text.contains("seen in trust domain \"other.domain\""),
        "{}",
        l.text
    );
    assert!(l.text.contains("namespace \"team\""), "{}", l.text);
    assert!(!l.text.contains("namespace \"mixed\""), "{}", l.text);
    assert!(
        l.text.contains("\"cluster.local/ns/mixed/sa/s0\""),
        "{}",
        l.text
    );
}

/// Destinations whose rules say the same share a destination, whatever
/// their counts.
#[test]
fn destinations_with_the_same_rules_but_other_counts_are_grouped() {
    let v = [
        ("tls", "a.example", 443, None, None, None),
        ("tls", "a.example", 443, None, None, None),
        ("tls", "b.example", 443, None, None, None),
        ("http", "c.example", 80, Some("GET"), Some("/x"), None),
        ("http", "c.example", 80, Some("GET"), Some("/x"), None),
        ("http", "d.example", 80, Some("GET"), Some("/x"), None),
    ];
    let l = learn_lines(&v);
    allows_each(&l, &v);
    assert_eq!(l.destinations.len(), 2, "{}", l.text);
    assert!(
        l.text
            .contains("destination \"a.example\", \"b.example\" port 443 tls"),
        "{}",
        l.text
    );
    assert!(
        l.text
            .contains("destination \"c.example\", \"d.example\" port 80 http"),
        "{}",
        l.text
    );
}

/// `**.parent` made from names all two labels below says so, and that it
/// also admits other depths.
#[test]
fn a_double_star_from_names_at_one_depth_says_it_admits_other_depths() {
    let names: Vec<String> = (0..5).map(|i| format!("n{i}.r{i}.deep.example")).collect();
    let v: Vec<Fields<'_>> = names
        .iter()
        .map(|n| ("tls", n.as_str(), 443, None, None, None))
        .collect();
    let l = learn_lines(&v);
    allows_each(&l, &v);
    assert!(
        l.text.contains("5 names seen 2 labels below deep.example"),
        "{}",
        l.text
    );
    assert!(
        l.text.contains("`**.` also admits other depths"),
        "{}",
        l.text
    );
}
