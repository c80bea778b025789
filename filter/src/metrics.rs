//! Counters, defined once per VM in `on_configure`.
//!
//! A counter's name is its tags in Istio's `tag=.=value;.;` form followed by
//! the metric (`tagged`): `policy=.=p;.;decision=.=allow;.;…;.;egress_decisions_total`,
//! the order the proxy-wasm C++ SDK and Istio's own stats plugin use.
//! Envoy prefixes it with the custom stat namespace `wasmcustom.` (Envoy
//! `source/extensions/common/wasm/context.cc`, `stats_handler.h`). Istio's
//! `extraStatTags` become Envoy `stats_tags` regexes `(tag=\.=(.*?);\.;)`,
//! which run on the full name and cut each `tag=.=value;.;` out of it,
//! leaving `wasmcustom.egress_decisions_total`. Envoy's Prometheus exporter
//! (`source/server/admin/prometheus_stats.cc`) strips the registered
//! `wasmcustom` namespace, maps every other character outside
//! `[a-zA-Z0-9_]` to `_` and adds no `envoy_` prefix, so the Prometheus
//! names are exactly `egress_decisions_total` and so on. (With the metric
//! first, `name.tag=.=value;.;`, the dot before the first tag would be left
//! over and become a trailing `_`.) See docs/filter.md.
//!
//! - `egress_decisions_total` — tags `policy`, `decision`, `reason`: every
//!   applied decision. `reason` is `rule`, `default`, a refusal code such as
//!   `path-dot-segment`, or `no-enforced-policy`; `policy` is `-` for refusals.
//! - `egress_audit_decisions_total` — same tags: the would-be decision with
//!   audit policies enforced too (only when the table has an audit policy).
//! - `egress_rule_matches_total` — tags `policy`, `rule`: the rule that
//!   decided (defined only when the table has at most 64 rules, to bound
//!   cardinality).

use egress_table::request::Reason;
use egress_table::spec::Action;
use egress_table::{Cause, Table, Verdict};

use crate::abi;

/// Most rules for which per-rule counters are defined.
pub const MAX_RULE_COUNTERS: usize = 64;

#[derive(Debug, Default)]
struct Set {
    /// Per policy: [allow by rule, allow by default, deny by rule, deny by default].
    per_policy: Vec<[Option<u32>; 4]>,
    invalid: Vec<Option<u32>>,
    no_policy: Option<u32>,
}

/// The counter ids of one plugin instance.
#[derive(Debug, Default)]
pub struct Metrics {
    enforced: Set,
    audit: Option<Set>,
    rules: Vec<Option<u32>>,
}

fn define(name: &str) -> Option<u32> {
    match abi::define_metric(abi::METRIC_COUNTER, name.as_bytes()) {
        Ok(id) => Some(id),
        Err(s) => {
            abi::log(
                abi::LOG_WARN,
                format!("egress: could not define metric {name} (status {})", s.0).as_bytes(),
            );
            None
        }
    }
}

/// `tag1=.=v1;.;tag2=.=v2;.;base`, the form Istio's stats and the proxy-wasm
/// C++ SDK use: tags first, so cutting them out leaves exactly `base`.
fn tagged(base: &str, tags: &[(&str, &str)]) -> String {
    let len = base.len()
        + tags
            .iter()
            .map(|(k, v)| k.len() + v.len() + "=.=;.;".len())
            .sum::<usize>();
    let mut s = String::with_capacity(len);
    for (k, v) in tags {
        s.push_str(k);
        s.push_str("=.=");
        s.push_str(v);
        s.push_str(";.;");
    }
    s.push_str(base);
    s
}

fn define_set(table: &Table, base: &str) -> Set {
    let mut set = Set::default();
    for name in table.policy_names() {
        let mut ids = [None; 4];
        for (i, (decision, reason)) in [
            ("allow", "rule"),
            ("allow", "default"),
            ("deny", "rule"),
            ("deny", "default"),
        ]
        .iter()
        .enumerate()
        {
            if let Some(slot) = ids.get_mut(i) {
                *slot = define(&tagged(
                    base,
                    &[("policy", name), ("decision", decision), ("reason", reason)],
                ));
            }
        }
        set.per_policy.push(ids);
    }
    for &r in Reason::ALL {
        set.invalid.push(define(&tagged(
            base,
            &[
                ("policy", "-"),
                ("decision", "deny"),
                ("reason", r.as_str()),
            ],
        )));
    }
    set.no_policy = define(&tagged(
        base,
        &[
            ("policy", "-"),
            ("decision", "allow"),
            ("reason", "no-enforced-policy"),
        ],
    ));
    set
}

impl Metrics {
    /// Defines every counter this table can increment.
    pub fn define(table: &Table) -> Self {
        let enforced = define_set(table, "egress_decisions_total");
        let audit = table
            .has_audit()
            .then(|| define_set(table, "egress_audit_decisions_total"));
        let mut rules = Vec::new();
        if table.rule_count() <= MAX_RULE_COUNTERS {
            for r in 0..table.rule_count() as u32 {
                let policy = table.policy_name(table.rule_policy(r));
                rules.push(define(&tagged(
                    "egress_rule_matches_total",
                    &[("policy", policy), ("rule", &table.rule_id(r).to_string())],
                )));
            }
        }
        Self {
            enforced,
            audit,
            rules,
        }
    }

    /// Counts a decision.
    pub fn record(&self, table: &Table, d: &egress_table::Decision) {
        bump(&self.enforced, table, &d.enforced);
        if let (Some(set), Some(a)) = (&self.audit, &d.audit) {
            bump(set, table, a);
        }
        if let Cause::Rule(r) = d.enforced.cause
            && let Some(Some(id)) = self.rules.get(r as usize)
        {
            abi::increment_metric(*id, 1);
        }
    }
}

fn bump(set: &Set, table: &Table, v: &Verdict) {
    let base = if v.action == Action::Allow { 0 } else { 2 };
    let id = match v.cause {
        Cause::Rule(r) => set
            .per_policy
            .get(table.rule_policy(r) as usize)
            .and_then(|ids| ids.get(base))
            .copied()
            .flatten(),
        Cause::Default(p) => set
            .per_policy
            .get(p as usize)
            .and_then(|ids| ids.get(base + 1))
            .copied()
            .flatten(),
        Cause::Invalid(reason) => Reason::ALL
            .iter()
            .position(|r| *r == reason)
            .and_then(|i| set.invalid.get(i))
            .copied()
            .flatten(),
        Cause::NoPolicy => set.no_policy,
    };
    if let Some(id) = id {
        abi::increment_metric(id, 1);
    }
}
