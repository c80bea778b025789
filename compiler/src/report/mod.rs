//! `egressc report`: what left the mesh, from the filter's audit lines
//! ([`crate::audit_log`]) — the busiest destinations, who called what,
//! decisions by policy and rule, denials by reason — and, given a policy
//! set, which of the observed requests that policy would decide otherwise:
//! the audit pool's dry run, offline, before a policy is enforced.
//!
//! Pure: entries and a compiled table spec in, a [`Report`] out; the
//! command line reads the logs, compiles the policy and prints.
//!
//! The re-decision runs each distinct observed request through the same
//! decision path as `egressc explain` ([`crate::explain::Decider`]: the
//! table loaded once), with Envoy's default connection-manager settings. An audit line does not record the
//! query or the headers, so a rule with a `when header` condition is decided
//! as if the request had sent none ([`Report::notes`] says so when the policy
//! has such a rule).

use std::collections::BTreeMap;

use egress_table::spec::{Action, Mode, PortRange, Protocol, TableSpec};
use serde_json::{Value, json};

use crate::audit_log::{Decision, Entry};
use crate::explain::{Decider, PathNormalization, Settings};

mod table;

use table::Table;

/// How many rows each ranked section keeps by default.
pub const DEFAULT_TOP: usize = 20;

/// Counts for one row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Requests.
    pub requests: u64,
    /// Of which the applied decision allowed.
    pub allowed: u64,
    /// Of which the applied decision denied.
    pub denied: u64,
}

impl Counts {
    fn add(&mut self, d: Decision) {
        self.requests += 1;
        match d {
            Decision::Allow => self.allowed += 1,
            Decision::Deny => self.denied += 1,
        }
    }

    fn json(&self) -> Value {
        json!({"requests": self.requests, "allowed": self.allowed, "denied": self.denied})
    }
}

/// A destination as the filter saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestRow {
    /// `http`, `tls` or `tcp`.
    pub protocol: &'static str,
    /// `host:port`.
    pub authority: String,
    /// Counts.
    pub counts: Counts,
    /// Distinct source identities (no identity counts as one).
    pub sources: usize,
}

/// A source identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRow {
    /// The principal, or `None` for requests without one.
    pub principal: Option<String>,
    /// Counts.
    pub counts: Counts,
    /// Its destinations, busiest first (`protocol host:port`, requests).
    pub destinations: Vec<(String, u64)>,
}

/// Decisions of one policy and rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRow {
    /// The pool: `enforced` or `audit`.
    pub pool: &'static str,
    /// `allow` or `deny`.
    pub decision: &'static str,
    /// The policy (`-` for a refusal before any rule).
    pub policy: String,
    /// The rule id (`-` for a default or refusal).
    pub rule: String,
    /// The reason.
    pub reason: String,
    /// Requests.
    pub requests: u64,
}

/// Denied requests of one reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DenyRow {
    /// The reason (docs/filter.md, "Reasons").
    pub reason: String,
    /// Requests.
    pub requests: u64,
    /// The destinations most denied for it (`protocol host:port`, requests).
    pub destinations: Vec<(String, u64)>,
}

/// Observed requests a policy set would decide otherwise than the log says,
/// grouped by destination, method and the rule that now decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRow {
    /// The decision the log records as applied.
    pub was: &'static str,
    /// The policy set's decision.
    pub now: &'static str,
    /// `protocol host:port`.
    pub destination: String,
    /// The method (HTTP), else `-`.
    pub method: String,
    /// What the policy set's decision rests on (`policy/rule reason`).
    pub by: String,
    /// How many logged requests the group holds.
    pub requests: u64,
    /// The group's first request, in the test-case syntax (paste it into a
    /// `test` block).
    pub example: String,
    /// Where the example is (`line N`, or `file:line` when several files were read).
    pub first: String,
}

/// The report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Audit lines read.
    pub lines: u64,
    /// Time of the first and last line (by the timestamps, not the order).
    pub from: Option<String>,
    /// See [`Report::from`].
    pub to: Option<String>,
    /// All lines' applied decisions.
    pub totals: Counts,
    /// Destinations, busiest first.
    pub destinations: Vec<DestRow>,
    /// Source identities, busiest first.
    pub sources: Vec<SourceRow>,
    /// Decisions by pool, policy and rule, most frequent first.
    pub rules: Vec<RuleRow>,
    /// Denials by reason, most frequent first.
    pub denied: Vec<DenyRow>,
    /// With a policy set: the requests it decides otherwise, newly allowed
    /// first, then by count. `None` without a policy set.
    pub changes: Option<Vec<ChangeRow>>,
    /// With a policy set: how many logged requests it would newly allow
    /// and newly deny.
    pub changed: (u64, u64),
    /// With a policy set: how many groups [`Report::changes`] had before
    /// it was cut to the busiest.
    pub change_groups: usize,
    /// What the reader should know about the figures.
    pub notes: Vec<String>,
}

/// One log: a name for it (a file name) and its entries.
#[derive(Debug, Clone, Copy)]
pub struct Log<'a> {
    /// Shown in `first` positions when several logs are read.
    pub name: &'a str,
    /// The entries.
    pub entries: &'a [Entry],
}

/// The decision the proxy applied to an entry: the top-level one when it
/// was enforced; an audit-only table enforced nothing, so allowed.
pub fn applied(e: &Entry) -> Decision {
    if e.enforced {
        e.verdict.decision
    } else {
        Decision::Allow
    }
}

fn dest_key(e: &Entry) -> String {
    format!("{} {}", e.protocol.as_str(), e.authority())
}

fn ranked<K: Ord + Clone>(m: &BTreeMap<K, u64>, top: usize) -> Vec<(K, u64)> {
    let mut v: Vec<(K, u64)> = m.iter().map(|(k, n)| (k.clone(), *n)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(top);
    v
}

/// Builds the report of `logs`, keeping `top` rows per ranked section; with
/// `policy`, also the observed requests it would decide otherwise.
pub fn report(logs: &[Log<'_>], policy: Option<&TableSpec>, top: usize) -> Report {
    let mut r = Report::default();
    let mut dests: BTreeMap<String, (Counts, BTreeMap<Option<String>, ()>)> = BTreeMap::new();
    let mut sources: BTreeMap<Option<String>, (Counts, BTreeMap<String, u64>)> = BTreeMap::new();
    let mut rules: BTreeMap<(&'static str, &'static str, String, String, String), u64> =
        BTreeMap::new();
    let mut denied: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut has_audit = false;
    for log in logs {
        for e in log.entries {
            r.lines += 1;
            let d = applied(e);
            r.totals.add(d);
            if let Some(t) = &e.time {
                if r.from.as_ref().is_none_or(|f| t < f) {
                    r.from = Some(t.clone());
                }
                if r.to.as_ref().is_none_or(|f| t > f) {
                    r.to = Some(t.clone());
                }
            }
            let key = dest_key(e);
            let slot = dests.entry(key.clone()).or_default();
            slot.0.add(d);
            slot.1.insert(e.principal.clone(), ());
            let src = sources.entry(e.principal.clone()).or_default();
            src.0.add(d);
            *src.1.entry(key.clone()).or_default() += 1;
            let dash = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".into());
            let pool = if e.enforced { "enforced" } else { "audit" };
            let v = &e.verdict;
            *rules
                .entry((
                    pool,
                    v.decision.as_str(),
                    dash(&v.policy),
                    dash(&v.rule),
                    v.reason.clone(),
                ))
                .or_default() += 1;
            if let Some(a) = &e.audit {
                has_audit = true;
                *rules
                    .entry((
                        "audit",
                        a.decision.as_str(),
                        dash(&a.policy),
                        dash(&a.rule),
                        a.reason.clone(),
                    ))
                    .or_default() += 1;
            }
            if d == Decision::Deny {
                *denied
                    .entry(e.verdict.reason.clone())
                    .or_default()
                    .entry(key)
                    .or_default() += 1;
            }
        }
    }
    let mut dest_rows: Vec<DestRow> = dests
        .into_iter()
        .map(|(k, (counts, srcs))| {
            let (protocol, authority) = k.split_once(' ').unwrap_or(("", &k));
            DestRow {
                protocol: match protocol {
                    "http" => "http",
                    "tls" => "tls",
                    _ => "tcp",
                },
                authority: authority.to_owned(),
                counts,
                sources: srcs.len(),
            }
        })
        .collect();
    dest_rows.sort_by(|a, b| {
        b.counts
            .requests
            .cmp(&a.counts.requests)
            .then_with(|| (a.protocol, &a.authority).cmp(&(b.protocol, &b.authority)))
    });
    dest_rows.truncate(top);
    r.destinations = dest_rows;
    let mut source_rows: Vec<SourceRow> = sources
        .into_iter()
        .map(|(principal, (counts, ds))| SourceRow {
            principal,
            counts,
            destinations: ranked(&ds, 5),
        })
        .collect();
    source_rows.sort_by(|a, b| {
        b.counts
            .requests
            .cmp(&a.counts.requests)
            .then_with(|| a.principal.cmp(&b.principal))
    });
    source_rows.truncate(top);
    r.sources = source_rows;
    let mut rule_rows: Vec<RuleRow> = rules
        .into_iter()
        .map(
            |((pool, decision, policy, rule, reason), requests)| RuleRow {
                pool,
                decision,
                policy,
                rule,
                reason,
                requests,
            },
        )
        .collect();
    rule_rows.sort_by(|a, b| {
        b.requests.cmp(&a.requests).then_with(|| {
            (a.pool, &a.policy, &a.rule, a.decision).cmp(&(b.pool, &b.policy, &b.rule, b.decision))
        })
    });
    rule_rows.truncate(top);
    r.rules = rule_rows;
    let mut deny_rows: Vec<DenyRow> = denied
        .into_iter()
        .map(|(reason, ds)| DenyRow {
            reason,
            requests: ds.values().sum(),
            destinations: ranked(&ds, 5),
        })
        .collect();
    deny_rows.sort_by(|a, b| {
        b.requests
            .cmp(&a.requests)
            .then_with(|| a.reason.cmp(&b.reason))
    });
    deny_rows.truncate(top);
    r.denied = deny_rows;
    if has_audit {
        r.notes.push(
            "audit rows count the audit pool's would-be decisions only where the line records them (where they differed from the applied one, or the table had only audit policies)".into(),
        );
    }
    if let Some(spec) = policy {
        redecide(&mut r, logs, spec, top);
    }
    r
}

/// Decides every distinct observed request under `spec` and records those
/// decided otherwise than the log says.
fn redecide(r: &mut Report, logs: &[Log<'_>], spec: &TableSpec, top: usize) {
    // A logged request already went through the proxy: its path is
    // normalised (as the filter saw it) and its method was accepted, so the
    // emulation of Envoy's connection manager must not refuse or rewrite it
    // again.
    let settings = Settings {
        path_normalization: PathNormalization::None,
        allow_custom_methods: true,
        ..Settings::default()
    };
    // A set of audit policies only (the workflow's dry run in the mesh)
    // enforces nothing: compare what its policies would decide.
    let audit_only =
        !spec.policies.is_empty() && spec.policies.iter().all(|p| p.mode == Mode::Audit);
    let decider = match Decider::new(spec) {
        Ok(d) => d.with_settings(settings),
        Err(e) => {
            r.changes = Some(Vec::new());
            r.notes.push(format!(
                "the policy set's table did not load, nothing was re-decided: {e}"
            ));
            return;
        }
    };
    // Distinct requests, each decided once: (was, request) -> (entry, count,
    // first position, its order).
    type Seen<'e> = (&'e Entry, u64, String, (usize, usize));
    let mut distinct: BTreeMap<(Decision, String), Seen<'_>> = BTreeMap::new();
    let mut refused = 0u64;
    let mut truncated = 0u64;
    let tcp_ports: Vec<PortRange> = spec
        .policies
        .iter()
        .flat_map(|p| &p.destinations)
        .filter(|d| d.protocol == Protocol::Tcp)
        .flat_map(|d| d.ports.iter().copied())
        .collect();
    let mut tls_beside_tcp = 0u64;
    for (i, log) in logs.iter().enumerate() {
        for e in log.entries {
            if e.refused_before_rules() {
                refused += 1;
                continue;
            }
            if e.truncated {
                truncated += 1;
                continue;
            }
            if e.protocol == Protocol::Tls
                && tcp_ports.iter().any(|r| (r.lo..=r.hi).contains(&e.port))
            {
                tls_beside_tcp += 1;
            }
            let req = e.request().describe();
            let pos = if logs.len() > 1 {
                format!("{}:{}", log.name, e.line)
            } else {
                format!("line {}", e.line)
            };
            distinct
                .entry((applied(e), req))
                .or_insert((e, 0, pos, (i, e.line)))
                .1 += 1;
        }
    }
    type Group = (Decision, Decision, String, String, String);
    let mut groups: BTreeMap<Group, (u64, String, String, (usize, usize))> = BTreeMap::new();
    let (mut newly_allowed, mut newly_denied) = (0u64, 0u64);
    for ((was, text), (e, n, first, order)) in distinct {
        let (enforced, audit) = decider.decide(&e.request());
        let rec = match (&audit, audit_only) {
            (Some(a), true) => a,
            _ => &enforced,
        };
        let now = if rec.decision == Action::Allow {
            Decision::Allow
        } else {
            Decision::Deny
        };
        if now == was {
            continue;
        }
        match now {
            Decision::Allow => newly_allowed += n,
            Decision::Deny => newly_denied += n,
        }
        let by = format!(
            "{} {}",
            rec.rule
                .clone()
                .or_else(|| rec.policy.clone())
                .unwrap_or_else(|| "-".into()),
            rec.reason
        );
        let key = (
            was,
            now,
            dest_key(e),
            e.method.clone().unwrap_or_else(|| "-".into()),
            by,
        );
        let g = groups
            .entry(key)
            .or_insert_with(|| (0, text.clone(), first.clone(), order));
        g.0 += n;
        if order < g.3 {
            (g.1, g.2, g.3) = (text, first, order);
        }
    }
    let mut rows: Vec<ChangeRow> = groups
        .into_iter()
        .map(
            |((was, now, destination, method, by), (requests, example, first, _))| ChangeRow {
                was: was.as_str(),
                now: now.as_str(),
                destination,
                method,
                by,
                requests,
                example,
                first,
            },
        )
        .collect();
    rows.sort_by(|a, b| {
        (a.now != "allow")
            .cmp(&(b.now != "allow"))
            .then_with(|| b.requests.cmp(&a.requests))
            .then_with(|| (&a.destination, &a.method).cmp(&(&b.destination, &b.method)))
    });
    r.change_groups = rows.len();
    rows.truncate(top.max(1));
    r.changes = Some(rows);
    r.changed = (newly_allowed, newly_denied);
    if refused > 0 {
        r.notes.push(format!(
            "{refused} logged request(s) were refused before any rule (malformed, or an SNI a `require sni-host-match` refused, which the line does not record); they are not re-decided"
        ));
    }
    if truncated > 0 {
        r.notes.push(format!(
            "{truncated} logged request(s) had a host or path the filter cut short in its line (over the line's limits); they are not re-decided"
        ));
    }
    if audit_only {
        r.notes.push(
            "the policy set has only audit policies, which enforce nothing: `now` is what they would decide if enforced".into(),
        );
    }
    if tls_beside_tcp > 0 {
        r.notes.push(format!(
            "{tls_beside_tcp} logged TLS connection(s) are on a port a `tcp` destination of the policy set covers, but a TLS line records the SNI, not the destination address: a `tcp` destination that would allow one by its address is not seen here"
        ));
    }
    let has_headers = spec.policies.iter().any(|p| {
        p.destinations
            .iter()
            .any(|d| d.rules.iter().any(|r| !r.headers.is_empty()))
    });
    if has_headers {
        r.notes.push(
            "the policy has `when header` rules, but audit lines record no headers: those rules were decided as if the request sent none".into(),
        );
    }
}

impl Report {
    /// The report as one JSON object (field names are stable; docs/workflow.md).
    pub fn to_json(&self) -> Value {
        let pairs = |v: &[(String, u64)]| -> Value {
            v.iter()
                .map(|(k, n)| json!({"destination": k, "requests": n}))
                .collect()
        };
        let mut o = json!({
            "lines": self.lines,
            "from": self.from,
            "to": self.to,
            "totals": self.totals.json(),
            "destinations": self.destinations.iter().map(|d| json!({
                "protocol": d.protocol, "authority": d.authority,
                "requests": d.counts.requests, "allowed": d.counts.allowed, "denied": d.counts.denied,
                "sources": d.sources,
            })).collect::<Value>(),
            "sources": self.sources.iter().map(|s| json!({
                "principal": s.principal,
                "requests": s.counts.requests, "allowed": s.counts.allowed, "denied": s.counts.denied,
                "destinations": pairs(&s.destinations),
            })).collect::<Value>(),
            "rules": self.rules.iter().map(|r| json!({
                "pool": r.pool, "decision": r.decision, "policy": r.policy, "rule": r.rule,
                "reason": r.reason, "requests": r.requests,
            })).collect::<Value>(),
            "denied": self.denied.iter().map(|d| json!({
                "reason": d.reason, "requests": d.requests, "destinations": pairs(&d.destinations),
            })).collect::<Value>(),
            "notes": self.notes,
        });
        if let (Some(changes), Some(obj)) = (&self.changes, o.as_object_mut()) {
            obj.insert(
                "changes".into(),
                json!({
                    "newly_allowed": self.changed.0,
                    "newly_denied": self.changed.1,
                    "group_count": self.change_groups,
                    "groups": changes.iter().map(|c| json!({
                        "was": c.was, "now": c.now, "destination": c.destination,
                        "method": c.method, "by": c.by, "requests": c.requests,
                        "example": c.example, "first": c.first,
                    })).collect::<Value>(),
                }),
            );
        }
        o
    }

    /// The report as text tables.
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let span = match (&self.from, &self.to) {
            (Some(f), Some(t)) => format!(", {f} to {t}"),
            _ => String::new(),
        };
        let _ = writeln!(
            s,
            "{} requests{span}: {} allowed, {} denied\n",
            self.lines, self.totals.allowed, self.totals.denied
        );
        let _ = writeln!(s, "Destinations (busiest {})", self.destinations.len());
        let mut t = Table::new(&["requests", "allowed", "denied", "sources", "destination"]);
        for d in &self.destinations {
            t.row(vec![
                d.counts.requests.to_string(),
                d.counts.allowed.to_string(),
                d.counts.denied.to_string(),
                d.sources.to_string(),
                format!("{} {}", d.protocol, d.authority),
            ]);
        }
        s.push_str(&t.render());
        let _ = writeln!(s, "\nSources (busiest {})", self.sources.len());
        let mut t = Table::new(&["requests", "denied", "source", "busiest destinations"]);
        for x in &self.sources {
            let ds: Vec<String> = x
                .destinations
                .iter()
                .map(|(d, n)| format!("{d} ({n})"))
                .collect();
            t.row(vec![
                x.counts.requests.to_string(),
                x.counts.denied.to_string(),
                x.principal
                    .clone()
                    .unwrap_or_else(|| "(no identity)".into()),
                ds.join(", "),
            ]);
        }
        s.push_str(&t.render());
        let _ = writeln!(s, "\nDecisions by policy and rule");
        let mut t = Table::new(&["requests", "pool", "decision", "policy", "rule", "reason"]);
        for r in &self.rules {
            t.row(vec![
                r.requests.to_string(),
                r.pool.into(),
                r.decision.into(),
                r.policy.clone(),
                r.rule.clone(),
                r.reason.clone(),
            ]);
        }
        s.push_str(&t.render());
        let _ = writeln!(s, "\nDenied, by reason");
        if self.denied.is_empty() {
            s.push_str("  (none)\n");
        } else {
            let mut t = Table::new(&["requests", "reason", "most denied destinations"]);
            for d in &self.denied {
                let ds: Vec<String> = d
                    .destinations
                    .iter()
                    .map(|(k, n)| format!("{k} ({n})"))
                    .collect();
                t.row(vec![
                    d.requests.to_string(),
                    d.reason.clone(),
                    ds.join(", "),
                ]);
            }
            s.push_str(&t.render());
        }
        if let Some(changes) = &self.changes {
            let _ = writeln!(
                s,
                "\nUnder the given policy: {} logged request(s) newly allowed, {} newly denied",
                self.changed.0, self.changed.1
            );
            if changes.len() < self.change_groups {
                let _ = writeln!(
                    s,
                    "  (the {} largest of {} groups; --top shows more)",
                    changes.len(),
                    self.change_groups
                );
            }
            if !changes.is_empty() {
                let mut t = Table::new(&[
                    "requests",
                    "was",
                    "now",
                    "destination",
                    "method",
                    "by",
                    "first",
                    "example",
                ]);
                for c in changes {
                    t.row(vec![
                        c.requests.to_string(),
                        c.was.into(),
                        c.now.into(),
                        c.destination.clone(),
                        c.method.clone(),
                        c.by.clone(),
                        c.first.clone(),
                        c.example.clone(),
                    ]);
                }
                s.push_str(&t.render());
            }
        }
        for n in &self.notes {
            let _ = writeln!(s, "\nnote: {n}");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]

    use super::*;
    use crate::audit_log::parse;

    fn line(
        decision: &str,
        reason: &str,
        host: &str,
        method: &str,
        path: &str,
        principal: Option<&str>,
    ) -> String {
        json!({
            "time": "2026-11-21T16:18:00.123Z", "decision": decision, "policy": "p",
            "rule": if reason == "rule" { Value::from("p/1") } else { Value::Null },
            "reason": reason, "enforced": true, "protocol": "http", "host": host, "port": 80,
            "method": method, "path": path, "principal": principal,
        })
        .to_string()
    }

    #[test]
    fn counts_rank_and_group() {
        let mut text = String::new();
        for _ in 0..3 {
            text += &line(
                "allow",
                "rule",
                "a.example",
                "GET",
                "/x",
                Some("cluster.local/ns/a/sa/s"),
            );
            text.push('\n');
        }
        text += &line("deny", "default", "b.example", "POST", "/y", None);
        text.push('\n');
        text += &line(
            "deny",
            "path-dot-segment",
            "a.example",
            "GET",
            "/a/../b",
            None,
        );
        text.push('\n');
        let p = parse(&text);
        let r = report(
            &[Log {
                name: "log",
                entries: &p.entries,
            }],
            None,
            DEFAULT_TOP,
        );
        assert_eq!(r.lines, 5);
        assert_eq!((r.totals.allowed, r.totals.denied), (3, 2));
        assert_eq!(r.destinations[0].authority, "a.example:80");
        assert_eq!(r.destinations[0].counts.requests, 4);
        assert_eq!(r.destinations[0].sources, 2);
        assert_eq!(
            r.sources[0].principal.as_deref(),
            Some("cluster.local/ns/a/sa/s")
        );
        assert_eq!(r.rules[0].rule, "p/1");
        assert_eq!(r.rules[0].requests, 3);
        assert_eq!(r.denied.len(), 2);
        assert!(r.changes.is_none());
        let text = r.render();
        assert!(text.contains("http a.example:80"), "{text}");
        assert!(text.contains("path-dot-segment"), "{text}");
    }

    #[test]
    fn a_policy_shows_what_it_would_change() {
        let text = [
            line("allow", "rule", "a.example", "GET", "/x", None),
            line("allow", "rule", "a.example", "POST", "/x", None),
            line("deny", "default", "b.example", "GET", "/", None),
            line(
                "deny",
                "path-dot-segment",
                "a.example",
                "GET",
                "/a/../b",
                None,
            ),
        ]
        .join("\n");
        let p = parse(&text);
        let (_, out) = crate::compile_str(
            "new.egress",
            "policy \"new\" { destination \"a.example\" port 80 http { allow GET } destination \"b.example\" port 80 http }",
        );
        let spec = out.compiled.unwrap().spec;
        let r = report(
            &[Log {
                name: "log",
                entries: &p.entries,
            }],
            Some(&spec),
            DEFAULT_TOP,
        );
        let changes = r.changes.as_ref().unwrap();
        assert_eq!(r.changed, (1, 1));
        assert_eq!(changes.len(), 2);
        assert_eq!((changes[0].was, changes[0].now), ("deny", "allow"));
        assert_eq!(changes[0].example, "GET http://b.example/");
        assert_eq!(changes[0].destination, "http b.example:80");
        assert_eq!(changes[0].by, "new/2 rule");
        assert_eq!((changes[1].was, changes[1].now), ("allow", "deny"));
        assert_eq!(changes[1].example, "POST http://a.example/x");
        assert_eq!(changes[1].method, "POST");
        assert!(
            r.notes
                .iter()
                .any(|n| n.contains("refused before any rule"))
        );
        let j = r.to_json();
        assert_eq!(j["changes"]["newly_allowed"], 1);
    }

    fn changes_under(lines: &[String], policy: &str) -> Report {
        let p = parse(&lines.join("\n"));
        let (_, out) = crate::compile_str("p.egress", policy);
        let spec = out.compiled.unwrap().spec;
        report(
            &[Log {
                name: "log",
                entries: &p.entries,
            }],
            Some(&spec),
            DEFAULT_TOP,
        )
    }

    #[test]
    fn logged_requests_are_re_decided_as_the_proxy_passed_them() {
        // A custom method the proxy let through, and a path Envoy would
        // have normalised before logging: neither is refused again.
        let r = changes_under(
            &[
                line("allow", "rule", "a.example", "FOOBAR", "/x", None),
                line("allow", "rule", "a.example", "GET", "/a/b", None),
            ],
            "policy \"p\" { destination \"a.example\" port 80 http { allow any } }",
        );
        assert_eq!(r.changed, (0, 0), "{:?}", r.changes);
    }

    #[test]
    fn an_audit_only_set_is_compared_by_what_it_would_decide() {
        let r = changes_under(
            &[line("allow", "rule", "a.example", "POST", "/x", None)],
            "policy \"p\" { mode audit destination \"a.example\" port 80 http { allow GET } }",
        );
        assert_eq!(r.changed, (0, 1));
        assert!(r.notes.iter().any(|n| n.contains("only audit policies")));
    }

    #[test]
    fn cut_lines_are_not_re_decided() {
        let mut l = line("allow", "rule", "a.example", "GET", "/files/aaaa", None);
        l = l.replacen("\"path\":", "\"path_bytes\":5000,\"path\":", 1);
        let r = changes_under(
            &[l],
            "policy \"p\" { destination \"a.example\" port 80 http { allow GET path \"/files/{*}.json\" } }",
        );
        assert_eq!(r.changed, (0, 0));
        assert!(
            r.notes.iter().any(|n| n.contains("cut short")),
            "{:?}",
            r.notes
        );
    }
}
