//! A verdict as data: the one description of a decision that every view
//! shares. The filter writes it into filter state (for Envoy's access log)
//! with [`write`]; the tools read it back with [`Record::parse`], which is the
//! only parser of that text; `egressc explain`, `simulate` and `test` print
//! [`Record`]s (serialisable with the `serde` feature), so no decision is
//! ever compared as a string.
//!
//! The filter-state text, format version 1:
//!
//! ```text
//! v1 <allow|deny> <policy|-> <rule|-> <reason>
//! e.g. v1 deny httpbin - default
//! ```
//!
//! `reason` is `rule`, `default`, a refusal code
//! ([`crate::request::Reason::as_str`]) or `no-enforced-policy`. Policy
//! names and rule ids never contain a space. A change to the fields bumps
//! the version; [`Record::parse`] refuses versions it does not know.

use crate::spec::Action;
use crate::{Cause, RuleId, Table, Verdict};

/// The version tag [`write`] puts first.
pub const VERSION: &str = "v1";

/// A verdict, described.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Record {
    /// Allow or deny.
    pub decision: Action,
    /// The deciding policy: the rule's, or the one whose default applied.
    pub policy: Option<String>,
    /// The deciding rule's id (e.g. `httpbin/1`), if a rule decided.
    pub rule: Option<String>,
    /// `rule`, `default`, a refusal code, or `no-enforced-policy`.
    pub reason: String,
}

/// The policy name, rule id and reason code of a verdict (empty strings for
/// "none"), borrowed from the table: what [`write`] and the audit log use.
pub fn describe<'t>(table: &'t Table, v: &Verdict) -> (&'t str, RuleId<'t>, &'static str) {
    match v.cause {
        Cause::Rule(r) => (
            table.policy_name(table.rule_policy(r)),
            table.rule_id(r),
            "rule",
        ),
        Cause::Default(p) => (table.policy_name(p), RuleId::NONE, "default"),
        Cause::Invalid(reason) => ("", RuleId::NONE, reason.as_str()),
        Cause::NoPolicy => ("", RuleId::NONE, "no-enforced-policy"),
    }
}

/// Writes the filter-state text of a verdict into `out` (cleared first),
/// without allocating beyond `out`'s capacity.
pub fn write(out: &mut Vec<u8>, table: &Table, v: &Verdict) {
    let (policy, rule, reason) = describe(table, v);
    out.clear();
    out.extend_from_slice(VERSION.as_bytes());
    let field = |out: &mut Vec<u8>, part: &str| {
        out.push(b' ');
        out.extend_from_slice(if part.is_empty() {
            b"-"
        } else {
            part.as_bytes()
        });
    };
    field(out, v.action.as_str());
    field(out, policy);
    out.push(b' ');
    if rule.is_none() {
        out.push(b'-');
    } else {
        rule.write_to(out);
    }
    field(out, reason);
}

impl Record {
    /// Describes a verdict of `table`.
    pub fn of(table: &Table, v: &Verdict) -> Self {
        let (policy, rule, reason) = describe(table, v);
        let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        Self {
            decision: v.action,
            policy: some(policy),
            rule: (!rule.is_none()).then(|| rule.to_string()),
            reason: reason.to_owned(),
        }
    }

    /// Parses the filter-state text [`write`] produces.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let text = core::str::from_utf8(bytes)
            .map_err(|_| "the decision record is not UTF-8".to_owned())?;
        let fields: Vec<&str> = text.split(' ').collect();
        let [version, decision, policy, rule, reason] = fields.as_slice() else {
            return Err(format!(
                "the decision record {text:?} does not have the five fields of `{VERSION} <decision> <policy> <rule> <reason>`"
            ));
        };
        if *version != VERSION {
            return Err(format!(
                "the decision record {text:?} has format {version:?}; this reader understands {VERSION} (is the filter .wasm from another release?)"
            ));
        }
        let decision = match *decision {
            "allow" => Action::Allow,
            "deny" => Action::Deny,
            other => return Err(format!("unknown decision {other:?} in {text:?}")),
        };
        let opt = |s: &str| (s != "-").then(|| s.to_owned());
        if reason.is_empty() || *reason == "-" {
            return Err(format!("the decision record {text:?} has no reason"));
        }
        Ok(Self {
            decision,
            policy: opt(policy),
            rule: opt(rule),
            reason: (*reason).to_owned(),
        })
    }

    /// Whether the request may go through.
    pub fn allowed(&self) -> bool {
        self.decision == Action::Allow
    }
}

impl core::fmt::Display for Record {
    /// `allow by rule httpbin/1`, `deny by the default of policy "httpbin"`,
    /// `deny: refused before any rule (path-dot-segment)`.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let d = self.decision.as_str();
        match (&self.rule, &self.policy, self.reason.as_str()) {
            (Some(r), _, _) => write!(f, "{d} by rule {r}"),
            (None, Some(p), _) => write!(f, "{d} by the default of policy \"{p}\""),
            (None, None, "no-enforced-policy") => write!(f, "{d}: no enforced policy"),
            (None, None, reason) => write!(f, "{d}: refused before any rule ({reason})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_round_trips_and_refuses_other_versions() {
        let r = Record::parse(b"v1 deny httpbin - default").unwrap();
        assert_eq!(
            r,
            Record {
                decision: Action::Deny,
                policy: Some("httpbin".into()),
                rule: None,
                reason: "default".into()
            }
        );
        assert_eq!(r.to_string(), "deny by the default of policy \"httpbin\"");
        let r = Record::parse(b"v1 allow httpbin httpbin/1 rule").unwrap();
        assert_eq!(r.rule.as_deref(), Some("httpbin/1"));
        assert_eq!(r.to_string(), "allow by rule httpbin/1");
        let r = Record::parse(b"v1 deny - - path-dot-segment").unwrap();
        assert_eq!(
            r.to_string(),
            "deny: refused before any rule (path-dot-segment)"
        );
        for bad in [
            &b"deny httpbin - default"[..],
            b"v2 deny httpbin - default",
            b"v1 maybe httpbin - default",
            b"v1 deny httpbin -",
            b"v1 deny httpbin - -",
            b"v1 deny a b c d",
            b"v1 deny \xff - default",
        ] {
            assert!(
                Record::parse(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
