//! Every example policy compiles without errors or warnings, and formats to itself.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::path::Path;

#[test]
fn example_policies_compile_cleanly() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "egress") {
            continue;
        }
        n += 1;
        let text = std::fs::read_to_string(&path).unwrap();
        let (sources, outcome) = egressc::compile_str(&path.display().to_string(), &text);
        let rendered: Vec<String> = outcome
            .diagnostics
            .iter()
            .map(|d| egressc::diag::render(d, &sources))
            .collect();
        assert!(
            outcome.diagnostics.is_empty(),
            "{}:\n{}",
            path.display(),
            rendered.join("\n")
        );
        let compiled = outcome.compiled.unwrap();
        let bytes = egressc::emit::emit(&compiled.spec, egressc::emit::Format::Table).unwrap();
        assert!(egress_table::Table::from_bytes(&bytes).is_ok());
        assert_eq!(
            egressc::fmt::format_source(&text).unwrap(),
            text,
            "{} is not in canonical format",
            path.display()
        );
    }
    assert!(n >= 8, "expected the example policies, found {n}");
}

/// The test blocks' expectations hold when the table is evaluated natively
/// (the same decision code the filter runs; `egressc test` runs them through
/// the real `.wasm`).
#[test]
fn example_policy_tests_hold_natively() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies");
    let mut cases = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "egress") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let (_, outcome) = egressc::compile_str(&path.display().to_string(), &text);
        let compiled = outcome.compiled.unwrap();
        for p in &compiled.checked.policies {
            for t in &p.tests {
                for c in &t.cases {
                    cases += 1;
                    let e = egressc::explain::explain(
                        &compiled.spec,
                        &c.request,
                        egressc::explain::PathNormalization::Base,
                    )
                    .unwrap();
                    assert_eq!(
                        e.enforced.record.decision,
                        c.expect,
                        "{}: {} {}\n{}",
                        path.display(),
                        t.name,
                        c.request.describe(),
                        e.render()
                    );
                    if let Some(a) = c.expect_audit {
                        assert_eq!(
                            e.audit.as_ref().map(|x| x.record.decision),
                            Some(a),
                            "{}: audit {}\n{}",
                            path.display(),
                            c.request.describe(),
                            e.render()
                        );
                    }
                }
            }
        }
    }
    assert!(cases > 40, "{cases}");
}
