//! Snapshot tests for every diagnostic the compiler emits, and for the table
//! dump of valid policies.
//!
//! The fixtures live in `tests/cases/`:
//!
//! - `invalid/<name>.egress`: one mistake (or several independent ones) per
//!   file. The first line says which codes the file must produce,
//!   `# expect: E0318 E0325`; the second line says what the mistake is. The
//!   whole human rendering of the diagnostics is snapshotted as
//!   `snapshots/diagnostics__invalid-<name>.snap`. A directory
//!   `invalid/<name>/` is one case whose files are compiled together (the
//!   header is in the first file by name).
//! - `valid/<name>.egress`: files that compile without any diagnostic, are in
//!   canonical format, and whose test blocks hold; their table dump is
//!   snapshotted as `snapshots/diagnostics__valid-<name>.snap`.
//!
//! `docs/diagnostics.md` documents every code; a test here checks that it
//! lists exactly the codes the compiler's source can emit and that the corpus
//! produces each of them.
//!
//! To add a case: write the file, run
//! `INSTA_UPDATE=always cargo test -p egressc --no-default-features --test diagnostics`
//! (or `cargo insta test --review`), and read the new snapshot before
//! committing it.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a failed unwrap or index is a failed test"
)]

/// Large policies (issue 12): the lints stay near linear.
#[path = "diagnostics/scale.rs"]
mod scale;

use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use egressc::emit::{Format, emit};
use egressc::{Outcome, Sources};

/// One fixture: a file `<dir>/<name>.egress`, or a directory
/// `<dir>/<name>/` whose `.egress` files are compiled together.
struct Case {
    name: String,
    /// (name relative to `tests/`, text), in order.
    files: Vec<(String, String)>,
    /// The first file, where the `# expect:` header is.
    path: PathBuf,
}

impl Case {
    /// The text of its first file.
    fn text(&self) -> &str {
        &self.files[0].1
    }
}

fn egress_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() || p.extension().is_some_and(|e| e == "egress"))
        .collect();
    files.sort();
    files
}

/// The cases of `tests/cases/<dir>`, by name.
fn cases(dir: &str) -> Vec<Case> {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let read = |p: &Path| {
        let rel = p
            .strip_prefix(&tests)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        (rel, std::fs::read_to_string(p).unwrap())
    };
    egress_files(&tests.join("cases").join(dir))
        .into_iter()
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            let paths = if p.is_dir() {
                egress_files(&p)
            } else {
                vec![p]
            };
            assert!(!paths.is_empty(), "{name} is an empty directory");
            Case {
                name,
                files: paths.iter().map(|p| read(p)).collect(),
                path: paths[0].clone(),
            }
        })
        .collect()
}

/// Compiles a case under its relative file names, as the command line
/// would name them.
fn compile(case: &Case) -> (Sources, Outcome) {
    let mut sources = Sources::new();
    for (name, text) in &case.files {
        sources.add(name, text.as_str());
    }
    let outcome = egressc::compile(&sources);
    (sources, outcome)
}

fn render(sources: &Sources, outcome: &Outcome) -> String {
    outcome
        .diagnostics
        .iter()
        .map(|d| egressc::diag::render(d, sources))
        .collect::<Vec<_>>()
        .join("\n")
}

fn codes(outcome: &Outcome) -> BTreeSet<&'static str> {
    outcome.diagnostics.iter().map(|d| d.code).collect()
}

/// The codes a case declares on its first line (`# expect: E0101 E0102`),
/// and its description (the second line).
fn header(text: &str) -> (BTreeSet<String>, String) {
    let text = text.trim_start_matches('\u{feff}');
    let mut lines = text.lines();
    let expect = lines
        .next()
        .and_then(|l| l.strip_prefix("# expect:"))
        .expect("the first line is `# expect: CODE...`");
    let desc = lines
        .next()
        .and_then(|l| l.strip_prefix("# "))
        .expect("the second line is `# description`");
    (
        expect.split_whitespace().map(str::to_owned).collect(),
        desc.to_owned(),
    )
}

/// Runs `f` for every case, collecting failures so one run reports them all.
fn each_case(dir: &str, mut f: impl FnMut(&Case)) {
    let mut failed = Vec::new();
    for case in cases(dir) {
        if catch_unwind(AssertUnwindSafe(|| f(&case))).is_err() {
            failed.push(case.name);
        }
    }
    assert!(
        failed.is_empty(),
        "{} case(s) failed: {}",
        failed.len(),
        failed.join(", ")
    );
}

#[test]
fn invalid_cases_match_their_snapshots() {
    each_case("invalid", |case| {
        let name = &case.name;
        let (sources, outcome) = compile(case);
        let rendered = render(&sources, &outcome);
        assert!(!outcome.diagnostics.is_empty(), "{name}: no diagnostic");
        let (expected, description) = header(case.text());
        let got: BTreeSet<String> = codes(&outcome).into_iter().map(str::to_owned).collect();
        assert_eq!(
            got, expected,
            "{name}: the codes differ from its `# expect:` line\n{rendered}"
        );
        if expected.iter().any(|c| c.starts_with('E')) {
            assert!(
                outcome.compiled.is_none() && outcome.has_errors(),
                "{name}: errors but a table"
            );
        } else {
            assert!(
                outcome.compiled.is_some(),
                "{name}: only warnings, so it still compiles"
            );
        }
        let mut settings = insta::Settings::clone_current();
        settings.set_description(description);
        settings.set_input_file(&case.path);
        settings.set_omit_expression(true);
        settings.bind(|| insta::assert_snapshot!(format!("invalid-{name}"), rendered));
    });
}

/// The JSON form editors and CI read: one object per line.
#[test]
fn json_rendering() {
    for name in [
        "multi-error-first-policy",
        "regex-errors",
        "host-listed-twice",
    ] {
        let case = cases("invalid")
            .into_iter()
            .find(|c| c.name == name)
            .unwrap();
        let (sources, outcome) = compile(&case);
        let lines: Vec<String> = outcome
            .diagnostics
            .iter()
            .map(|d| egressc::diag::render_json(d, &sources))
            .collect();
        for l in &lines {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert!(
                v["code"].is_string() && v["location"]["line"].is_u64(),
                "{l}"
            );
        }
        insta::with_settings!({ omit_expression => true }, {
            insta::assert_snapshot!(format!("json-{name}"), lines.join("\n"));
        });
    }
}

#[test]
fn valid_cases_compile_cleanly_and_their_tables_match_the_snapshots() {
    each_case("valid", |case| {
        let (name, text) = (&case.name, case.text());
        let (sources, outcome) = compile(case);
        assert!(
            outcome.diagnostics.is_empty(),
            "{name}:\n{}",
            render(&sources, &outcome)
        );
        assert_eq!(
            egressc::fmt::format_source(text).as_deref(),
            Ok(text),
            "{name} is not in canonical format"
        );
        let compiled = outcome.compiled.unwrap();
        for p in &compiled.checked.policies {
            for t in &p.tests {
                for c in &t.cases {
                    let e = egressc::explain::explain(
                        &compiled.spec,
                        &c.request,
                        egressc::explain::PathNormalization::Base,
                    )
                    .unwrap();
                    assert_eq!(
                        e.enforced.record.decision,
                        c.expect,
                        "{name}: {} {}\n{}",
                        t.name,
                        c.request.describe(),
                        e.render()
                    );
                    if let Some(a) = c.expect_audit {
                        assert_eq!(
                            e.audit.as_ref().map(|x| x.record.decision),
                            Some(a),
                            "{name}: audit {}",
                            c.request.describe()
                        );
                    }
                }
            }
        }
        let dump = String::from_utf8(emit(&compiled.spec, Format::Dump).unwrap()).unwrap();
        insta::with_settings!({ input_file => &case.path, omit_expression => true }, {
            insta::assert_snapshot!(format!("valid-{name}"), dump);
        });
    });
}

/// Every `"E0…"`/`"W0…"`/`"N0…"` string literal in the compiler's source.
fn codes_in_source() -> BTreeSet<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = BTreeSet::new();
    let mut stack = vec![dir];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&p).unwrap();
                let starts = ["\"E0", "\"W0", "\"N0"];
                for (i, _) in starts.iter().flat_map(|s| text.match_indices(s)) {
                    let code = &text[i + 1..(i + 6).min(text.len())];
                    let closed = text[i + 6..].starts_with('"');
                    if closed && code[1..].bytes().all(|b| b.is_ascii_digit()) {
                        out.insert(code.to_owned());
                    }
                }
            }
        }
    }
    out
}

/// Warnings of `egressc istio` (W05xx), about the bundle rather than the
/// policy: tests/istio.rs produces each one; and the diagnostics of
/// `egressc import istio` (E06xx, W06xx), about YAML: the unit tests of
/// `egressc::import` produce each one.
fn is_istio_code(code: &str) -> bool {
    code.starts_with("W05") || code.starts_with("W06") || code.starts_with("E06")
}

/// Notes (N04xx) about a compiled set, from [`egressc::outside_table`]
/// (the compiler does not report them itself).
fn notes(outcome: &Outcome) -> BTreeSet<&'static str> {
    outcome
        .compiled
        .as_ref()
        .map(|c| {
            egressc::outside_table(&c.checked)
                .iter()
                .map(|d| d.code)
                .collect()
        })
        .unwrap_or_default()
}

/// The codes `docs/diagnostics.md` documents: its `### E0101` headings.
fn codes_in_docs() -> BTreeSet<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/diagnostics.md");
    let text = std::fs::read_to_string(&path).unwrap();
    text.lines()
        .filter_map(|l| l.strip_prefix("### "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| {
            c.len() == 5 && (c.starts_with("E0") || c.starts_with("W0") || c.starts_with("N0"))
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_code_is_documented_and_produced_by_the_corpus() {
    let source = codes_in_source();
    let docs = codes_in_docs();
    assert!(
        source.len() >= 60,
        "found only {} codes in the source",
        source.len()
    );
    let undocumented: Vec<_> = source.difference(&docs).collect();
    assert!(
        undocumented.is_empty(),
        "codes the compiler emits but docs/diagnostics.md does not document: {undocumented:?}"
    );
    let stale: Vec<_> = docs.difference(&source).collect();
    assert!(
        stale.is_empty(),
        "codes docs/diagnostics.md documents but the compiler never emits: {stale:?}"
    );
    let mut covered = BTreeSet::new();
    for case in cases("invalid").iter().chain(&cases("valid")) {
        let (_, outcome) = compile(case);
        covered.extend(codes(&outcome).into_iter().map(str::to_owned));
        covered.extend(notes(&outcome).into_iter().map(str::to_owned));
    }
    // W05xx come from the Istio emitter, not from compiling: tests/istio.rs
    // shows each of them.
    let missing: Vec<_> = docs
        .difference(&covered)
        .filter(|c| !is_istio_code(c))
        .collect();
    assert!(
        missing.is_empty(),
        "documented codes no case produces: {missing:?}"
    );
}

/// The example of each code in `docs/diagnostics.md` (the first code block
/// after its `### CODE` heading) produces that code. Snippets are completed
/// into a file the way a reader would: settings and destinations go in a
/// policy, rules in an `http` destination, test cases in a test.
#[test]
fn docs_examples_produce_their_codes() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/diagnostics.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut checked = 0;
    for section in text.split("\n### ").skip(1) {
        let code = section.split_whitespace().next().unwrap();
        if is_istio_code(code) {
            checked += 1;
            continue;
        }
        let snippet = section
            .split("```\n")
            .nth(1)
            .unwrap_or_else(|| panic!("{code} has no example"));
        let first = snippet.split_whitespace().next().unwrap_or("");
        let file = match first {
            // A whole file (or one of only comments).
            "policy" | "polcy" | "#" => snippet.to_owned(),
            "destination" | "mode" | "default" | "log" | "require" => {
                format!("policy \"p\" {{\n{snippet}}}\n")
            }
            "allow" | "deny" | "permit" => {
                format!(
                    "policy \"p\" {{\ndestination \"x.example\" port 80 http {{\n{snippet}}}\n}}\n"
                )
            }
            _ => format!(
                "policy \"p\" {{\ndestination \"x.example\" port 80 http\ntest \"t\" {{\n{snippet}}}\n}}\n"
            ),
        };
        let (sources, outcome) = egressc::compile_str("example.egress", &file);
        let produced = if code.starts_with('N') {
            notes(&outcome)
        } else {
            codes(&outcome)
        };
        assert!(
            produced.contains(code),
            "the docs' example for {code} does not produce it:\n{file}\n{}",
            render(&sources, &outcome)
        );
        checked += 1;
    }
    assert_eq!(checked, codes_in_docs().len());
}

#[test]
fn the_corpus_is_large_enough() {
    let n = cases("invalid").len();
    assert!(n >= 50, "{n} invalid cases");
    assert!(cases("valid").len() >= 3);
}

/// `egressc::outside_table`: notes (N0401) on the settings the rule table
/// does not carry, rendered as `note:` (JSON `"note"`), neither errors nor
/// warnings.
#[test]
fn settings_outside_the_table_are_notes() {
    let text = r#"policy "p" {
  destination "httpbin.org" port 80 http originate-tls 443 timeout 3s {
    allow GET
  }
  destination "api.example.com" port 80 http timeout 250ms service "default/api"
  destination "pypi.org" port 443 tls
  destination cidr 91.198.174.192 port 443 tcp service "default/wikipedia"
}
"#;
    let (sources, outcome) = egressc::compile_str("notes.egress", text);
    assert!(
        outcome.diagnostics.is_empty(),
        "{}",
        render(&sources, &outcome)
    );
    let compiled = outcome.compiled.unwrap();
    let notes = egressc::outside_table(&compiled.checked);
    assert_eq!(notes.len(), 3);
    for n in &notes {
        assert_eq!(n.severity, egressc::Severity::Note);
        assert!(!n.is_error() && !n.is_warning(), "{n:?}");
        assert_eq!(n.code, "N0401");
    }
    let human: Vec<String> = notes
        .iter()
        .map(|d| egressc::diag::render(d, &sources))
        .collect();
    let json: Vec<String> = notes
        .iter()
        .map(|d| egressc::diag::render_json(d, &sources))
        .collect();
    for l in &json {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        assert_eq!(v["severity"], "note", "{l}");
    }
    insta::with_settings!({ omit_expression => true }, {
        insta::assert_snapshot!("notes-outside-table", format!("{}\n{}", human.join("\n"), json.join("\n")));
    });
    // Nothing to say about a policy without such settings.
    let (_, plain) = egressc::compile_str(
        "plain.egress",
        "policy \"p\" {\n  destination \"pypi.org\" port 443 tls\n}\n",
    );
    assert!(egressc::outside_table(&plain.compiled.unwrap().checked).is_empty());
}

/// Many regexes, each well under the per-pattern limit, cannot add up to a
/// table that no WasmPlugin can carry: the ones past the 1 MiB total are
/// E0330, and nothing is emitted.
#[test]
fn the_dfas_of_a_table_are_bounded_together() {
    let mut text =
        String::from("policy \"many\" {\n  destination \"api.example.com\" port 80 http {\n");
    for i in 0..60 {
        // (a|b)*a(a|b){9}: about 1,000 states, tens of KiB each.
        text.push_str(&format!(
            "    allow GET path ~\"/r{i:02}/(a|b)*a(a|b){{9}}\"\n"
        ));
    }
    text.push_str("  }\n}\n");
    let (sources, outcome) = egressc::compile_str("many.egress", &text);
    let e0330: Vec<_> = outcome
        .diagnostics
        .iter()
        .filter(|d| d.code == "E0330")
        .collect();
    assert!(outcome.compiled.is_none(), "{}", render(&sources, &outcome));
    assert!(
        !e0330.is_empty() && e0330.len() < 60,
        "{}",
        render(&sources, &outcome)
    );
    let first = egressc::diag::render(e0330[0], &sources);
    assert!(first.contains("past 1024 KiB together"), "{first}");
    // The patterns before the limit were fine: as many as were accepted
    // compile alone.
    let accepted = 60 - e0330.len();
    let few = text
        .lines()
        .take(2 + accepted)
        .collect::<Vec<_>>()
        .join("\n")
        + "\n  }\n}\n";
    let (few_sources, ok) = egressc::compile_str("few.egress", &few);
    assert!(ok.compiled.is_some(), "{}", render(&few_sources, &ok));
}
