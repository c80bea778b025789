//! Property tests: no input, valid or not, makes the compiler or the
//! formatter panic; and the formatter is idempotent and meaning-preserving.
//!
//! Inputs come from three sources: arbitrary text, text over the language's
//! own alphabet (so the parser gets past the first token), and mutations of
//! real policy files (`policies/*.egress` and `tests/cases/{valid,invalid}/*.egress`):
//! tokens deleted, duplicated, swapped or replaced, keywords and punctuation
//! inserted, random bytes written, and the file cut short.
//!
//! Case counts are tuned to keep this file well under a minute in a debug
//! build; set `PROPTEST_CASES` to run more. `make test` fixes the seed
//! (`PROPTEST_RNG_SEED`) so CI is reproducible; `make fuzz` explores.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a failed unwrap or index is a failed test"
)]

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use egressc::Sources;
use egressc::emit::{Format, emit};
use proptest::prelude::*;
use proptest::sample::Index;

/// Compiles `text` as one file and returns its table dump (without the line
/// numbers of rules, which formatting may change), or `None` on errors.
fn dump(text: &str) -> Option<String> {
    let mut sources = Sources::new();
    sources.add("fuzz.egress", text);
    let outcome = egressc::compile(&sources);
    let mut spec = outcome.compiled?.spec;
    for p in &mut spec.policies {
        for d in &mut p.destinations {
            for r in &mut d.rules {
                r.line = 0;
            }
        }
    }
    let bytes = emit(&spec, Format::Dump).expect("a compiled spec always emits");
    Some(String::from_utf8(bytes).expect("the dump is UTF-8"))
}

/// Everything the front end offers for one input: compile (all stages, all
/// renderings of every diagnostic) and format. Panics are what we look for;
/// the properties of formatting are checked on the way.
fn exercise(text: &str) {
    let mut sources = Sources::new();
    sources.add("fuzz.egress", text);
    let outcome = egressc::compile(&sources);
    for d in &outcome.diagnostics {
        let human = egressc::diag::render(d, &sources);
        assert!(human.contains(d.code), "{human}");
        let json = egressc::diag::render_json(d, &sources);
        assert!(
            serde_json::from_str::<serde_json::Value>(&json).is_ok(),
            "{json}"
        );
    }
    if let Some(c) = &outcome.compiled {
        assert!(!outcome.has_errors());
        emit(&c.spec, Format::Table).expect("a compiled spec always encodes");
    } else {
        assert!(outcome.has_errors(), "no table and no error for {text:?}");
    }
    let Ok(formatted) = egressc::fmt::format_source(text) else {
        return;
    };
    let again = egressc::fmt::format_source(&formatted);
    assert_eq!(
        again.as_deref(),
        Ok(formatted.as_str()),
        "formatting is not idempotent for {text:?}"
    );
    if outcome.compiled.is_some() {
        assert_eq!(
            dump(&formatted),
            dump(text),
            "formatting changed the meaning of {text:?}\nformatted:\n{formatted}"
        );
    }
}

fn egress_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "egress"))
        .collect();
    files.sort();
    files
}

/// The valid seeds: the example policies and the valid cases.
static SEEDS: LazyLock<Vec<String>> = LazyLock::new(|| {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = egress_files(&root.join("../policies"));
    files.extend(egress_files(&root.join("tests/cases/valid")));
    let seeds: Vec<String> = files
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    assert!(
        seeds.len() >= 10,
        "expected the example policies and valid cases, found {}",
        seeds.len()
    );
    seeds
});

/// What the mutations start from: the valid seeds, and the invalid cases
/// (each already a realistic mistake, so mutations reach deeper into error
/// recovery).
static MUTATION_SEEDS: LazyLock<Vec<String>> = LazyLock::new(|| {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut seeds = SEEDS.clone();
    for p in egress_files(&root.join("tests/cases/invalid")) {
        seeds.push(std::fs::read_to_string(p).unwrap());
    }
    seeds
});

/// Things worth inserting: keywords, punctuation, and pieces that are
/// almost right.
#[rustfmt::skip]
const VOCABULARY: &[&str] = &[
    "policy", "destination", "test", "mode", "enforce", "audit", "default", "allow", "deny", "log", "none", "denied",
    "all", "require", "sni-host-match", "port", "http", "tls", "tcp", "cidr", "originate-tls", "timeout", "3s", "0ms",
    "any", "GET", "get", "PURGE", "path", "prefix", "~", "from", "principal", "namespace", "serviceaccount", "when",
    "header", "present", "absent", "and", "==", "=", "=>", ",", "{", "}", "{}", "\"", "\"\"", "#", "\n", "\r\n", "\t",
    "\\", "\\x", "\\xZZ", "80", "0", "65536", "8000-8999", "99-1", "10.0.0.0/8", "10.0.0.1/8", "fe80::/10",
    "\"fe80::/10\"", "\"::1\"", "\"*\"", "\"**\"", "\"*.a.com\"", "\"**.a.com\"", "\"a.*.com\"", "\"a.com:80\"",
    "\"http://a.com\"", "\"bücher.de\"", "\"/x/{**}\"", "\"/x/{*}/y\"", "\"/{**}/{*}\"", "\"/a//b\"", "\"/a?b\"",
    "\"^/(x\"", "\"[\"", "\"x-tenant\"", "\"cluster.local/ns/a/sa/b\"", "\"a/b\"", "http://a.com/x", "https://a.com:8443/",
    "tls://a.com:443", "tcp://10.0.0.1:22", "tcp://[::1]:22", "ftp://x", "http://", "tls://:0", "audit", "sni",
    "ü", "\u{0}", "\u{feff}", "*", ";", "'", "//", "[", "]", "é", "\u{1F600}",
    "service", "\"default/my-httpbin\"", "\"Default/x.y\"",
    "except", "suffix", "not", "!=", "!", "otherwise", "\".json\"", "\"*.json\"",
];

#[derive(Debug, Clone)]
enum Mutation {
    /// Remove one token.
    Delete(Index),
    /// Write a token twice.
    Duplicate(Index),
    /// Replace one token by the text of another.
    Replace(Index, Index),
    /// Swap two tokens.
    Swap(Index, Index),
    /// Insert a vocabulary word before a token.
    Insert(Index, Index),
    /// Overwrite a byte.
    Byte(Index, u8),
    /// Cut the file short.
    Truncate(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => any::<Index>().prop_map(Mutation::Delete),
        2 => any::<Index>().prop_map(Mutation::Duplicate),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::Replace(a, b)),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::Swap(a, b)),
        4 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::Insert(a, b)),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(a, b)| Mutation::Byte(a, b)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
    ]
}

/// The byte ranges of `text`'s tokens and comments, in order.
fn pieces(text: &str) -> Vec<(usize, usize)> {
    let lexed = egressc::lex::lex(egressc::FileId(0), text);
    let mut v: Vec<(usize, usize)> = lexed
        .tokens
        .iter()
        .map(|t| t.span)
        .chain(lexed.comments.iter().map(|c| c.span))
        .map(|s| (s.start as usize, s.end as usize))
        .filter(|(a, b)| a < b)
        .collect();
    v.sort_unstable();
    v
}

fn apply(text: &str, m: &Mutation) -> String {
    let bytes = text.as_bytes();
    let toks = pieces(text);
    let splice = |start: usize, end: usize, with: &[u8]| {
        let mut out = bytes[..start].to_vec();
        out.extend_from_slice(with);
        out.extend_from_slice(&bytes[end..]);
        String::from_utf8_lossy(&out).into_owned()
    };
    if toks.is_empty() || bytes.is_empty() {
        return match m {
            Mutation::Insert(_, w) => w.get(VOCABULARY).to_string(),
            _ => text.to_owned(),
        };
    }
    match m {
        Mutation::Delete(i) => {
            let (a, b) = *i.get(&toks);
            splice(a, b, b"")
        }
        Mutation::Duplicate(i) => {
            let (a, b) = *i.get(&toks);
            let mut t = bytes[a..b].to_vec();
            t.push(b' ');
            splice(a, a, &t)
        }
        Mutation::Replace(i, j) => {
            let (a, b) = *i.get(&toks);
            let (c, d) = *j.get(&toks);
            splice(a, b, &bytes[c..d])
        }
        Mutation::Swap(i, j) => {
            let (mut x, mut y) = (*i.get(&toks), *j.get(&toks));
            if x.0 > y.0 {
                std::mem::swap(&mut x, &mut y);
            }
            if x.1 > y.0 || x == y {
                return text.to_owned();
            }
            let mut out = bytes[..x.0].to_vec();
            out.extend_from_slice(&bytes[y.0..y.1]);
            out.extend_from_slice(&bytes[x.1..y.0]);
            out.extend_from_slice(&bytes[x.0..x.1]);
            out.extend_from_slice(&bytes[y.1..]);
            String::from_utf8_lossy(&out).into_owned()
        }
        Mutation::Insert(i, w) => {
            let (a, _) = *i.get(&toks);
            let word = format!("{} ", w.get(VOCABULARY));
            splice(a, a, word.as_bytes())
        }
        Mutation::Byte(i, b) => {
            let at = i.index(bytes.len());
            splice(at, at + 1, &[*b])
        }
        Mutation::Truncate(i) => {
            let at = i.index(bytes.len());
            splice(at, bytes.len(), b"")
        }
    }
}

/// `n` cases, or `PROPTEST_CASES` if set.
fn cases(n: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(n);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(cases(1000))]

    /// Any text at all.
    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        exercise(&text);
    }

    /// Any bytes, read the way the command line would refuse them (lossily here).
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        exercise(&String::from_utf8_lossy(&bytes));
    }

}

proptest! {
    #![proptest_config(cases(2000))]

    /// Text over the language's alphabet, which gets further into the parser.
    #[test]
    fn alphabet_soup_never_panics(text in r#"[a-zA-Z0-9 \n"{}#,=>~*./:\\_-]{0,300}"#) {
        exercise(&text);
    }

    /// Sequences of the language's own words.
    #[test]
    fn word_salad_never_panics(words in proptest::collection::vec(any::<Index>(), 0..80)) {
        let text: Vec<&str> = words.iter().map(|w| *w.get(VOCABULARY)).collect();
        exercise(&text.join(" "));
    }
}

proptest! {
    #![proptest_config(cases(4000))]

    /// Real policy files with a few mistakes made in them.
    #[test]
    fn mutated_policies_never_panic(seed in any::<Index>(), mutations in proptest::collection::vec(mutation(), 1..6)) {
        let mut text = seed.get(&MUTATION_SEEDS).clone();
        for m in &mutations {
            text = apply(&text, m);
        }
        exercise(&text);
    }
}

/// Every seed formats idempotently and keeps its meaning (the mutations
/// above mostly produce invalid files; this pins the valid ones).
#[test]
fn seeds_format_idempotently_and_keep_their_meaning() {
    for text in SEEDS.iter() {
        let formatted = egressc::fmt::format_source(text).unwrap();
        assert_eq!(egressc::fmt::format_source(&formatted).unwrap(), formatted);
        let original = dump(text);
        assert!(original.is_some(), "a seed does not compile:\n{text}");
        assert_eq!(dump(&formatted), original);
    }
}

/// `Debug` text without positions (`Span { … }` carries the only ones).
fn without_spans(debug: &str) -> String {
    let mut out = String::with_capacity(debug.len());
    let mut rest = debug;
    while let Some(at) = rest.find("Span {") {
        out.push_str(&rest[..at]);
        let end = rest[at..].find('}').expect("a Span's Debug closes") + at + 1;
        out.push_str("Span");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// The AST of `text` up to what the formatter canonicalises: positions,
/// the order of destination clauses, rule conditions and test-case
/// options, settings, and `any` versus no method list. `None` when the text does
/// not lex and parse cleanly.
fn ast_shape(text: &str) -> Option<String> {
    let lexed = egressc::lex::lex(egressc::FileId(0), text);
    let (mut file, errors) = egressc::parse::parse(&lexed);
    if !lexed.errors.is_empty() || !errors.is_empty() {
        return None;
    }
    let key = |d: &dyn std::fmt::Debug| without_spans(&format!("{d:?}"));
    for p in &mut file.policies {
        // Settings first, grouped by key (a stable sort: a repeated
        // setting keeps its order); destinations and tests as written.
        p.items.sort_by_key(|i| match i {
            egressc::ast::Item::Setting(s) => (0, s.key.value.clone()),
            _ => (1, String::new()),
        });
        for item in &mut p.items {
            match item {
                egressc::ast::Item::Destination(d) => {
                    d.clauses.sort_by_key(|c| key(c));
                    for r in d.block.iter_mut().flat_map(|b| b.1.iter_mut()) {
                        r.conds.sort_by_key(|c| key(c));
                        if matches!(r.methods, Some(egressc::ast::Methods::Any(_))) {
                            r.methods = None;
                        }
                    }
                }
                egressc::ast::Item::Test(t) => {
                    for c in &mut t.cases {
                        c.opts.sort_by_key(|o| key(o));
                    }
                }
                egressc::ast::Item::Setting(_) => {}
            }
        }
    }
    Some(key(&file))
}

/// `egressc fmt` on every case file and example policy that parses (the
/// invalid cases included: most fail only later stages): the output
/// reparses to the same AST, positions aside, and formatting it again
/// changes nothing.
#[test]
fn every_case_file_round_trips_through_fmt() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = egress_files(&root.join("../policies"));
    files.extend(egress_files(&root.join("tests/cases/valid")));
    files.extend(egress_files(&root.join("tests/cases/invalid")));
    let mut formatted_files = 0;
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let Ok(formatted) = egressc::fmt::format_source(&text) else {
            assert!(
                ast_shape(&text).is_none(),
                "{} parses but does not format",
                path.display()
            );
            continue;
        };
        formatted_files += 1;
        assert_eq!(
            ast_shape(&formatted),
            ast_shape(&text),
            "{}: the formatted file parses to another AST:\n{formatted}",
            path.display()
        );
        assert_eq!(
            egressc::fmt::format_source(&formatted).as_deref(),
            Ok(formatted.as_str()),
            "{}: formatting is not idempotent",
            path.display()
        );
    }
    assert!(
        formatted_files >= 60,
        "only {formatted_files} files formatted"
    );
}

/// Inputs that once made a stage misbehave, kept as regression tests.
#[test]
fn regressions() {
    for text in [
        "",
        "\u{feff}",
        "policy",
        "policy \"",
        "policy \"a\" {",
        "policy \"a\" { destination",
        "policy \"a\" { destination \"a.com\" port",
        "policy \"a\" { destination cidr",
        "policy \"a\" { test \"t\" { GET",
        "policy \"a\" { test \"t\" { tcp://[::1 => allow } }",
        "policy \"a\" { test \"t\" { tls://[:443 => allow } }",
        "policy \"a\" { destination \"a.com\" http { allow GET path \"\\x",
        "\"\\",
        "}}}}{{{{",
        "policy \"a\" { destination \"a\u{e9}.com\" port 1-65535 http timeout 99999999999999999999h }",
        // A quoted address that is not one bare word must stay quoted.
        "policy \"p\" { destination cidr \"2001:d\u{fffd}8::1/32\" port 22 tcp }",
        "policy \"p\" { destination cidr \"10.0.0.0 /8\" port 22 tcp }",
    ] {
        exercise(text);
    }
}
