//! A policy's `test` blocks decided natively: each case goes through
//! [`crate::explain::Decider`] — Envoy's connection-manager emulation, then
//! the filter's own decision path (`egress_table::proxy`) on the encoded
//! table — and is compared with what the case expects.
//!
//! `egressc test` runs the same cases through the filter `.wasm` in the
//! local host; this is the same decision without wasmtime, for places that
//! cannot run one (the browser playground). The agreement tests
//! (`tests/tests/agreement.rs`) hold the two paths to the same answers.

use egress_table::record::Record;
use egress_table::spec::Action;

use crate::Compiled;
use crate::check::CCase;
use crate::explain::Decider;

/// One case and how it went.
#[derive(Debug, Clone)]
pub struct CaseResult {
    /// The policy the test block is in.
    pub policy: String,
    /// The test block's name.
    pub test: String,
    /// The case: where it is, its request and what it expects.
    pub case: CCase,
    /// The decision.
    pub got: Record,
    /// The audit pool's would-be decision, when the table has audit policies.
    pub got_audit: Option<Record>,
}

/// Whether `got` (and `audit`, when the case names an audit decision) is
/// what `case` expects: how `egressc test` and [`run`] judge a case.
pub fn holds(case: &CCase, got: Action, audit: Option<Action>) -> bool {
    got == case.expect && case.expect_audit.is_none_or(|a| audit == Some(a))
}

/// What `case` expects, as `egressc test` prints it: `deny`, or `allow,
/// audit deny`.
pub fn expected(case: &CCase) -> String {
    match case.expect_audit {
        Some(a) => format!("{}, audit {}", case.expect.as_str(), a.as_str()),
        None => case.expect.as_str().to_owned(),
    }
}

impl CaseResult {
    /// Whether the decision (and the audit decision, when the case names
    /// one) is what the case expects.
    pub fn passed(&self) -> bool {
        holds(
            &self.case,
            self.got.decision,
            self.got_audit.as_ref().map(|a| a.decision),
        )
    }

    /// What was expected, as `egressc test` prints it: `deny`, or
    /// `allow, audit deny`.
    pub fn expected(&self) -> String {
        expected(&self.case)
    }

    /// What decided, as `egressc test` prints it: `by rule httpbin/1`, `by
    /// the default of policy httpbin`, or the refusal; then the audit
    /// pool's would-be decision, if any.
    pub fn decided_by(&self) -> String {
        decided_by(&self.got, self.got_audit.as_ref())
    }
}

/// The words `egressc test` and the playground use for what decided.
pub fn decided_by(got: &Record, audit: Option<&Record>) -> String {
    let mut s = match (&got.rule, &got.policy) {
        (Some(rule), _) => format!("by rule {rule}"),
        (None, Some(p)) if got.reason == "default" => format!("by the default of policy {p}"),
        (None, None) if got.reason == "no-enforced-policy" => {
            "because no enforcing policy names it".to_owned()
        }
        _ if got.allowed() => format!("({})", got.reason),
        _ => format!("refused: {}", got.reason),
    };
    if let Some(a) = audit {
        s.push_str(&format!("; audit: would {}", a.decision.as_str()));
        match (&a.rule, &a.policy) {
            (Some(rule), _) => s.push_str(&format!(" by rule {rule}")),
            (None, Some(p)) => s.push_str(&format!(" by the default of policy {p}")),
            _ => {}
        }
    }
    s
}

/// Every case of every `test` block of `compiled`, in source order.
/// `Err` only if the table does not load (an internal error).
pub fn run(compiled: &Compiled) -> Result<Vec<CaseResult>, String> {
    let decider = Decider::new(&compiled.spec)?;
    let mut out = Vec::new();
    for p in &compiled.checked.policies {
        for t in &p.tests {
            for c in &t.cases {
                let (got, got_audit) = decider.decide(&c.request);
                out.push(CaseResult {
                    policy: p.name.clone(),
                    test: t.name.clone(),
                    case: c.clone(),
                    got,
                    got_audit,
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_pass_and_fail_as_the_policy_says() {
        let text = r#"policy "p" {
  default deny
  destination "api.example" port 80 http {
    allow GET path "/v1/{**}"
  }
  test "t" {
    GET http://api.example/v1/x => allow
    POST http://api.example/v1/x => allow
    GET http://other.example/ => deny
  }
}
"#;
        let (_, outcome) = crate::compile_str("p.egress", text);
        let compiled = outcome.compiled.as_ref();
        assert!(compiled.is_some(), "{:?}", outcome.diagnostics);
        let Some(compiled) = compiled else { return };
        let results = run(compiled).unwrap_or_default();
        let passed: Vec<bool> = results.iter().map(CaseResult::passed).collect();
        assert_eq!(passed, [true, false, true]);
        assert_eq!(
            results.first().map(CaseResult::decided_by).as_deref(),
            Some("by rule p/1")
        );
        assert_eq!(
            results.get(1).map(CaseResult::decided_by).as_deref(),
            Some("by the default of policy p")
        );
        assert_eq!(
            results.get(1).map(|r| r.case.request.describe()).as_deref(),
            Some("POST http://api.example/v1/x")
        );
    }
}
