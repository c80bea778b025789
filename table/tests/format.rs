//! The binary format: round trips, canonical layout, and a decoder that
//! refuses every corruption without panicking.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap is a failed test"
)]

mod common;
use common::*;
use egress_table::format::{VERSION_MAJOR, decode, encode};
use egress_table::spec::*;

fn rich() -> TableSpec {
    let mut t = httpbin();
    let mut deny = rule("api/1", Action::Deny);
    deny.paths = vec![
        regex(PatternKind::Template, "/v1/admin/{**}", "/v1/admin/(?s:.*)"),
        PathSpec::Prefix("/internal/".into()),
    ];
    deny.sources = vec![
        SourceSpec::Namespace("untrusted".into()),
        SourceSpec::ServiceAccount {
            namespace: "a".into(),
            name: "b".into(),
        },
    ];
    let mut hdr = rule("api/2", Action::Allow);
    hdr.methods = methods(&["GET", "HEAD"]);
    hdr.headers = vec![
        HeaderSpec::Present("x-tenant".into()),
        HeaderSpec::Absent("x-debug".into()),
        HeaderSpec::Equals("x-env".into(), b"prod\xff".to_vec()),
    ];
    hdr.paths = vec![regex(
        PatternKind::Regex,
        "^/v2/items/[0-9]+$",
        "^/v2/items/[0-9]+$",
    )];
    let mut api = policy(
        "api",
        Action::Allow,
        vec![
            dest(
                vec![host("api.example.com"), host("*.api.example.com")],
                Protocol::Http,
                &[(80, 80), (8000, 8999)],
                vec![deny, hdr],
            ),
            dest(
                vec![host("**.githubusercontent.com"), host("github.com")],
                Protocol::Tls,
                &[(443, 443)],
                vec![rule("api/3", Action::Allow)],
            ),
            dest(
                vec![cidr("140.82.112.0/20"), cidr("2001:db8::/32")],
                Protocol::Tcp,
                &[(22, 22)],
                vec![rule("api/4", Action::Allow)],
            ),
        ],
    );
    api.mode = Mode::Audit;
    api.log = LogSetting::All;
    api.require_sni_host_match = true;
    t.policies.push(api);
    t
}

/// Every construct added in format 2.1.
fn negations() -> TableSpec {
    let mut t = httpbin();
    let mut deny = rule("neg/1", Action::Deny);
    deny.methods = MethodSet::any_except(methods(&["GET", "HEAD"]));
    deny.paths = vec![PathSpec::Suffix(".json".into())];
    deny.except_paths = vec![
        PathSpec::Prefix("/public/".into()),
        regex(PatternKind::Template, "/v1/{*}/ok", "/v1/[^/]+/ok"),
    ];
    deny.except_sources = vec![
        SourceSpec::Namespace("trusted".into()),
        SourceSpec::AnyPrincipal,
    ];
    let mut allow = rule("neg/2", Action::Allow);
    allow.sources = vec![SourceSpec::AnyPrincipal];
    allow.except_sources = vec![SourceSpec::Principal("cluster.local/ns/a/sa/b".into())];
    allow.headers = vec![
        HeaderSpec::NotEquals("x-tenant".into(), b"evil".to_vec()),
        HeaderSpec::Prefix("user-agent".into(), b"Mozilla/".to_vec()),
        HeaderSpec::NotPrefix("x-a".into(), b"a".to_vec()),
        HeaderSpec::Suffix("x-b".into(), b"b".to_vec()),
        HeaderSpec::NotSuffix("x-c".into(), b"c".to_vec()),
    ];
    let mut otherwise = rule("neg/3", Action::Deny);
    otherwise.fallback = true;
    t.policies.push(policy(
        "neg",
        Action::Allow,
        vec![dest(
            vec![host("api.example.com")],
            Protocol::Http,
            &[(80, 80)],
            vec![deny, allow, otherwise],
        )],
    ));
    t
}

#[test]
fn the_encoder_writes_4_0() {
    for spec in [httpbin(), rich(), negations()] {
        let bytes = encode(&spec).unwrap();
        assert_eq!(u16::from_le_bytes([bytes[8], bytes[9]]), 4);
        assert_eq!(u16::from_le_bytes([bytes[10], bytes[11]]), 0);
        assert_eq!(decode(&bytes).unwrap().version(), (VERSION_MAJOR, 0));
    }
}

#[test]
fn each_construct_alone_round_trips() {
    let base = httpbin();
    let with = |f: &dyn Fn(&mut RuleSpec)| {
        let mut t = base.clone();
        f(&mut t.policies[0].destinations[0].rules[0]);
        let b = encode(&t).unwrap();
        assert_eq!(decode(&b).unwrap().to_spec(), t.canonical());
    };
    with(&|r| r.methods = MethodSet::any_except(methods(&["GET"])));
    with(&|r| r.paths = vec![PathSpec::Suffix("x".into())]);
    with(&|r| r.except_paths = vec![PathSpec::Exact("/x".into())]);
    with(&|r| r.sources = vec![SourceSpec::AnyPrincipal]);
    with(&|r| r.except_sources = vec![SourceSpec::Namespace("n".into())]);
    with(&|r| r.headers = vec![HeaderSpec::NotEquals("x".into(), b"1".to_vec())]);
    with(&|r| r.headers = vec![HeaderSpec::Prefix("x".into(), b"1".to_vec())]);
    with(&|r| r.headers = vec![HeaderSpec::Suffix("x".into(), b"1".to_vec())]);
    with(&|r| r.paths = vec![regex(PatternKind::Template, "/{*}.json", "/[^/]+\\.json")]);
    with(&|r| {
        *r = rule("httpbin/1", Action::Deny);
        r.fallback = true;
    });
}

/// Rule ids are not stored: the encoder refuses ids that are not
/// `<policy>/<n>` in table order, and the decoder gives them back.
#[test]
fn rule_ids_are_implicit() {
    let t = rich();
    let table = decode(&encode(&t).unwrap()).unwrap();
    let ids: Vec<String> = (0..table.rule_count() as u32)
        .map(|i| table.rule_id(i).to_string())
        .collect();
    let want: Vec<&str> = t
        .policies
        .iter()
        .flat_map(|p| p.destinations.iter().flat_map(|d| d.rules.iter()))
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(ids, want);
    assert!(table.rule_id(table.rule_count() as u32).is_none());
    let mut bad = rich();
    bad.policies[1].destinations[0].rules[0].id = "api/7".into();
    assert!(encode(&bad).unwrap_err().0.contains("numbers rules api/1"));
}

/// Identical rule bodies, paths and sources are stored once: a thousand
/// copies of a rule cost a few bytes each (body index and line).
#[test]
fn identical_conditions_are_stored_once() {
    let size = |copies: usize| {
        let mut t = rich();
        let d = &mut t.policies[1].destinations[0];
        let proto = d.rules[1].clone();
        for _ in 0..copies {
            d.rules.insert(1, proto.clone());
        }
        let mut n = 0;
        for d in &mut t.policies[1].destinations {
            for r in &mut d.rules {
                n += 1;
                r.id = format!("api/{n}");
                r.line = n;
            }
        }
        let b = encode(&t).unwrap();
        assert_eq!(decode(&b).unwrap().to_spec(), t.canonical());
        b.len()
    };
    let per_rule = (size(1000) - size(0)) as f64 / 1000.0;
    assert!(per_rule <= 3.0, "{per_rule} bytes per copied rule");
}

/// Simple templates are matched by their pieces and need no DFA; others
/// keep theirs.
#[test]
fn simple_templates_take_no_dfa() {
    let with = |t: &str, re: &str| {
        let mut spec = httpbin();
        spec.policies[0].destinations[0].rules[0].paths = vec![regex(PatternKind::Template, t, re)];
        encode(&spec).unwrap().len()
    };
    let simple = with("/v1/{*}/items/{**}", "/v1/[^/]+/items/(?s-u:.*)");
    let other = with("/v1/{*}.json", "/v1/[^/]+\\.json");
    assert!(other > simple + 200, "simple {simple} bytes, other {other}");
}

#[test]
fn encoder_refuses_malformed_constructs() {
    let bad = |f: &dyn Fn(&mut RuleSpec)| {
        let mut t = httpbin();
        f(&mut t.policies[0].destinations[0].rules[0]);
        encode(&t).unwrap_err()
    };
    // An otherwise-deny rule has no conditions.
    let e = bad(&|r| {
        r.action = Action::Deny;
        r.fallback = true;
    });
    assert!(e.0.contains("otherwise-deny"), "{e}");
    assert!(
        bad(&|r| r.paths = vec![PathSpec::Suffix("//x".into())])
            .0
            .contains("never match")
    );
    assert!(
        bad(&|r| r.headers = vec![HeaderSpec::Prefix("x".into(), Vec::new())])
            .0
            .contains("needs a value")
    );
    // L7 negations only on http destinations.
    let mut t = httpbin();
    t.policies[0].destinations[0].protocol = Protocol::Tls;
    t.policies[0].destinations[0].rules = vec![rule("httpbin/1", Action::Allow)];
    t.policies[0].destinations[0].rules[0].except_paths = vec![PathSpec::Exact("/x".into())];
    assert!(encode(&t).unwrap_err().0.contains("tls destination"));
}

#[test]
fn round_trip() {
    for spec in [TableSpec::default(), httpbin(), rich(), negations()] {
        let bytes = encode(&spec).unwrap();
        let table = decode(&bytes).unwrap();
        assert_eq!(table.to_spec(), spec.canonical());
        // Deterministic: encoding the decoded table again gives the same bytes
        // (modulo DFA bytes, which a decoded table does not keep).
        assert_eq!(encode(&spec).unwrap(), bytes);
    }
}

#[test]
fn header_layout() {
    let bytes = encode(&httpbin()).unwrap();
    assert_eq!(&bytes[..8], b"EGRTABLE");
    assert_eq!(u16::from_le_bytes([bytes[8], bytes[9]]), VERSION_MAJOR);
    assert_eq!(u16::from_le_bytes([bytes[10], bytes[11]]), 0);
    let body = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
    assert_eq!(body + 20, bytes.len());
    let crc = u32::from_le_bytes(bytes[bytes.len() - 4..].try_into().unwrap());
    assert_eq!(crc, egress_table::crc::crc32c(&bytes[..bytes.len() - 4]));
    assert_eq!(decode(&bytes).unwrap().checksum(), crc);
}

/// Re-seals a modified table with a correct checksum, so the structural
/// checks (not just the CRC) are what refuses it.
fn reseal(mut bytes: Vec<u8>) -> Vec<u8> {
    let n = bytes.len() - 4;
    let crc = egress_table::crc::crc32c(&bytes[..n]);
    bytes[n..].copy_from_slice(&crc.to_le_bytes());
    bytes
}

#[test]
fn refuses_truncation_bitflips_and_versions() {
    for spec in [rich(), negations()] {
        let good = encode(&spec).unwrap();
        for len in 0..good.len() {
            let e = decode(&good[..len]).unwrap_err();
            assert!(!e.problem.is_empty());
        }
        for i in 0..good.len() {
            for bit in 0..8 {
                let mut b = good.clone();
                b[i] ^= 1 << bit;
                assert!(
                    decode(&b).is_err(),
                    "bit {bit} of byte {i} flipped and still accepted"
                );
            }
        }
    }
    let good = encode(&rich()).unwrap();
    let mut newer = good.clone();
    newer[8] = 5;
    let e = decode(&reseal(newer)).unwrap_err();
    assert_eq!(e.field, "version");
    assert!(e.problem.contains("5.0"), "{e}");
    assert!(e.problem.contains("newer egressc"), "{e}");
    let mut older = good.clone();
    older[8] = 3;
    let e = decode(&reseal(older)).unwrap_err();
    assert_eq!(e.field, "version");
    assert!(e.problem.contains("recompile"), "{e}");
    let mut minor = good.clone();
    minor[10] = 2;
    assert_eq!(decode(&reseal(minor)).unwrap_err().field, "version");
    let mut magic = good.clone();
    magic[0] = b'X';
    assert_eq!(decode(&reseal(magic)).unwrap_err().field, "magic");
}

#[test]
fn resealed_corruption_is_caught_structurally_or_is_harmless() {
    // With the checksum recomputed, a flipped bit must either be refused or
    // decode to a table that is itself valid (e.g. a changed line number).
    for spec in [rich(), negations()] {
        let good = encode(&spec).unwrap();
        let mut refused = 0;
        for i in 16..good.len() - 4 {
            let mut b = good.clone();
            b[i] ^= 0x80;
            match decode(&reseal(b)) {
                Err(_) => refused += 1,
                // Decoded to another valid table (say, a changed line number):
                // it must still be usable, and encode back to itself.
                Ok(t) => {
                    let again = t.to_spec();
                    assert!(!again.dump().is_empty() || t.policy_count() == 0);
                    if again.policies.iter().all(|p| {
                        p.destinations.iter().all(|d| {
                            d.rules.iter().all(|r| {
                                r.paths
                                    .iter()
                                    .chain(&r.except_paths)
                                    .all(|p| !matches!(p, PathSpec::Pattern { .. }))
                            })
                        })
                    }) {
                        assert!(encode(&again).is_ok(), "byte {i}");
                    }
                }
            }
        }
        assert!(
            refused > (good.len() - 20) / 2,
            "only {refused} of {} resealed flips refused",
            good.len() - 20
        );
    }
}

#[test]
fn encoder_refuses_what_the_decoder_would() {
    let mut t = httpbin();
    t.policies[0].destinations[0].targets = vec![host("HTTPBIN.org")];
    assert!(encode(&t).unwrap_err().0.contains("host"));
    let mut t = httpbin();
    t.policies[0].destinations[0].ports.clear();
    assert!(encode(&t).is_err());
    let mut t = httpbin();
    t.policies[0].destinations[0].protocol = Protocol::Tls;
    assert!(encode(&t).unwrap_err().0.contains("tls destination"));
    let mut t = httpbin();
    t.policies.push(t.policies[0].clone());
    assert!(encode(&t).unwrap_err().0.contains("duplicate policy"));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
    #[test]
    fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
        let _ = decode(&bytes);
        let _ = decode(&reseal_if_long(bytes));
    }

    #[test]
    fn never_panics_on_mutated_tables(edits in proptest::collection::vec((0usize..4096, proptest::num::u8::ANY), 1..6), which in proptest::bool::ANY) {
        let mut b = encode(&if which { rich() } else { negations() }).unwrap();
        for (i, v) in edits {
            let n = b.len();
            b[i % n] = v;
        }
        let _ = decode(&b);
        let _ = decode(&reseal(b));
    }
}

fn reseal_if_long(b: Vec<u8>) -> Vec<u8> {
    if b.len() >= 4 { reseal(b) } else { b }
}
