//! `egressc diff`: a semantic diff of two policy sets.
//!
//! [`diff`] compares two compiled sets (their [`TableSpec`]s) and returns
//! data, a [`Diff`]:
//!
//! - **structural changes** ([`Change`]): policies added or removed, a
//!   policy's `mode`, `default`, `log` or `require sni-host-match` changed;
//!   destinations added, removed or changed (keyed by policy, targets, ports
//!   and protocol; an old and a new destination of one policy that share a
//!   target, or their protocol and ports, are one changed destination;
//!   targets and ports compare as sets, and destinations sharing targets
//!   pair by greatest overlap); rules added, removed or changed (compared
//!   by their canonical text, [`crate::explain::rule_text`], as multisets:
//!   reordered rules are no change);
//! - for each change, **witnesses** ([`Witness`]): concrete requests whose
//!   decision differs between the two sets, found from both sets' own
//!   constants (see [`witness`]) and decided with [`Decider`], the same
//!   native decision path as `egressc explain`; each witness goes to the
//!   change that explains it (`attribution`: a destination whose other
//!   version the request does not reach, else the rule that decided it).
//!
//! The library does no I/O: `egressc diff OLD NEW` reads the files, and
//! prints [`Diff::render`] or [`Diff::to_json`].
//!
//! JSON (`egressc diff --format json`), one object:
//!
//! - `newly_allowed`, `newly_denied`, `audit_changed`: how many distinct
//!   candidate requests changed decision (enforced pool: deny → allow,
//!   allow → deny; audit pool: either way);
//! - `candidates`: how many requests were decided under both sets;
//!   `truncated`: whether a destination's candidates were capped (at
//!   [`witness::CAP`]; then `egressc diff` exits 1 too: it cannot prove
//!   that nothing is newly allowed); `capped_destinations`,
//!   `combinations` and `tried`: how many destinations were capped, their
//!   combinations in all, and how many of those were tried;
//! - `changes`: a list of objects with `change` (`added`, `removed`,
//!   `changed`), `level` (`policy`, `destination`, `rule`), `policy`,
//!   `destination` (the destination's text, or null), `old_rule` and
//!   `new_rule` (rule ids such as `api/3`, or null), `old` and `new` (the
//!   text before and after, or null), and `witnesses`;
//! - `unattributed`: witnesses that no change explains (expected empty);
//! - a witness: `effect` (`newly-allowed`, `newly-denied`,
//!   `audit-newly-allowed`, `audit-newly-denied`), `request` (a line for
//!   `egressc simulate --requests`), `case` (a `test` block line that holds
//!   under NEW), `old` and `new` (decision records: `decision`, `policy`,
//!   `rule`, `reason`), `old_audit` and `new_audit` (the same, or null).

mod attribution;
mod candidates;
pub mod witness;

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;

use egress_table::record::Record;
use egress_table::spec::{DestSpec, PolicySpec, TableSpec, Target};

use crate::explain::{Decider, rule_text};

pub use witness::{Effect, Witness};

/// Most witnesses reported under one change, for each effect (newly
/// allowed, newly denied, and the audit pool's kinds).
pub const WITNESSES_PER_CHANGE: usize = 3;

/// What happened to a policy, destination or rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// Only in NEW.
    Added,
    /// Only in OLD.
    Removed,
    /// In both, different.
    Changed,
}

impl Mark {
    /// `added`, `removed` or `changed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "added",
            Self::Removed => "removed",
            Self::Changed => "changed",
        }
    }

    fn sign(self) -> char {
        match self {
            Self::Added => '+',
            Self::Removed => '-',
            Self::Changed => '~',
        }
    }
}

/// What a change is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// A policy, or one of its settings.
    Policy,
    /// A destination.
    Destination,
    /// A rule.
    Rule,
}

impl Level {
    /// `policy`, `destination` or `rule`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Policy => "policy",
            Self::Destination => "destination",
            Self::Rule => "rule",
        }
    }
}

/// One structural change, with the requests it flips.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Added, removed or changed.
    pub mark: Mark,
    /// Policy, destination or rule.
    pub level: Level,
    /// The policy's name.
    pub policy: String,
    /// The destination (NEW's text; OLD's when it was removed), for
    /// destination and rule changes.
    pub destination: Option<String>,
    /// The rule's id in OLD (rule changes).
    pub old_rule: Option<String>,
    /// The rule's id in NEW (rule changes).
    pub new_rule: Option<String>,
    /// The text before (a setting, a destination or a rule).
    pub old: Option<String>,
    /// The text after.
    pub new: Option<String>,
    /// Up to [`WITNESSES_PER_CHANGE`] requests this change flips, shortest first.
    pub witnesses: Vec<Witness>,
}

/// The semantic diff of two policy sets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Diff {
    /// Changes, by policy (OLD's order, then NEW's new ones), then
    /// settings, destinations and rules in source order.
    pub changes: Vec<Change>,
    /// Witnesses no change explains.
    pub unattributed: Vec<Witness>,
    /// Distinct candidate requests denied by OLD and allowed by NEW (enforced pool).
    pub newly_allowed: usize,
    /// Distinct candidate requests allowed by OLD and denied by NEW.
    pub newly_denied: usize,
    /// Distinct candidate requests whose audit-pool decision changed (only).
    pub audit_changed: usize,
    /// Requests decided under both sets.
    pub candidates: usize,
    /// Whether some destination had more candidates than the cap
    /// ([`witness::CAP`]): then the diff cannot prove that nothing is
    /// newly allowed, and [`Diff::gate`] fails.
    pub truncated: bool,
    /// How many destinations were capped.
    pub capped: usize,
    /// Their combinations in all (saturating).
    pub combinations: u64,
    /// How many of those were tried.
    pub tried: u64,
}

/// One side of the diff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The first set.
    Old,
    /// The second set.
    New,
}

impl Side {
    /// `OLD` or `NEW`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Old => "OLD",
            Self::New => "NEW",
        }
    }
}

/// Why [`diff_sources`] could not diff.
#[derive(Debug, Clone)]
pub enum DiffError {
    /// A side did not compile: which, and its diagnostics (sorted).
    Compile(Side, Vec<crate::Diagnostic>),
    /// A compiled set did not load as a table (an internal error).
    Internal(String),
}

/// Compiles both sides and diffs them.
pub fn diff_sources(old: &crate::Sources, new: &crate::Sources) -> Result<Diff, DiffError> {
    let compile = |s: &crate::Sources, side: Side| {
        let o = crate::compile(s);
        o.compiled.ok_or(DiffError::Compile(side, o.diagnostics))
    };
    let a = compile(old, Side::Old)?;
    let b = compile(new, Side::New)?;
    diff(&a.spec, &b.spec).map_err(DiffError::Internal)
}

/// Diffs two table specs: the structural changes, each with witnesses.
/// `Err` only when a spec does not encode into a table (an internal error).
pub fn diff(old: &TableSpec, new: &TableSpec) -> Result<Diff, String> {
    let mut changes = structural(old, new);
    let old_d = Decider::new(old)?;
    let new_d = Decider::new(new)?;
    let ctx = attribution::Attribution::new(old, new);
    let mut buckets: Vec<Vec<Witness>> = vec![Vec::new(); changes.len()];
    let mut unattributed = Vec::new();
    let mut out = Diff::default();
    let mut sink = |w: Witness| {
        match w.effect {
            Effect::NewlyAllowed => out.newly_allowed += 1,
            Effect::NewlyDenied => out.newly_denied += 1,
            Effect::AuditNewlyAllowed | Effect::AuditNewlyDenied => out.audit_changed += 1,
        }
        let hits = ctx.attribute(&changes, &w);
        if hits.is_empty() {
            keep(&mut unattributed, w);
            return;
        }
        for i in hits {
            if let Some(b) = buckets.get_mut(i) {
                keep(b, w.clone());
            }
        }
    };
    let found = witness::find(old, new, &changes, (&old_d, &new_d), &mut sink);
    out.candidates = found.candidates;
    out.truncated = found.capped > 0;
    out.capped = found.capped;
    out.combinations = found.combinations;
    out.tried = found.tried;
    for (c, mut ws) in changes.iter_mut().zip(buckets) {
        witness::pick(&mut ws, WITNESSES_PER_CHANGE);
        c.witnesses = ws;
    }
    witness::pick(&mut unattributed, WITNESSES_PER_CHANGE);
    out.unattributed = unattributed;
    out.changes = changes;
    Ok(out)
}

/// Adds `w` to `ws`, keeping only the shortest few now and then (a change
/// may flip hundreds of thousands of candidates).
fn keep(ws: &mut Vec<Witness>, w: Witness) {
    ws.push(w);
    if ws.len() >= 32 * WITNESSES_PER_CHANGE {
        witness::pick(ws, 8 * WITNESSES_PER_CHANGE);
    }
}

/// A target as a policy writes it: a quoted host, or a CIDR.
fn target_text(t: &Target) -> String {
    match t {
        Target::Host(h) => format!("{:?}", h.to_string()),
        Target::Cidr(c) => c.to_string(),
    }
}

/// A destination's key as text: `"a.com", "*.b.com" port 80 http`.
pub fn dest_text(d: &DestSpec) -> String {
    let targets: Vec<String> = d.targets.iter().map(target_text).collect();
    let cidr = matches!(d.targets.first(), Some(Target::Cidr(_)));
    let ports: Vec<String> = d.ports.iter().map(ToString::to_string).collect();
    format!(
        "{}{} port {} {}",
        if cidr { "cidr " } else { "" },
        targets.join(", "),
        ports.join(", "),
        d.protocol.as_str()
    )
}

/// A destination's identity: its targets and ports as sorted sets, and
/// its protocol (so reordering hosts is no change).
fn dest_key(d: &DestSpec) -> String {
    let mut targets: Vec<String> = d.targets.iter().map(target_text).collect();
    targets.sort();
    targets.dedup();
    let mut ports: Vec<String> = d.ports.iter().map(ToString::to_string).collect();
    ports.sort();
    ports.dedup();
    format!(
        "{} port {} {}",
        targets.join(", "),
        ports.join(", "),
        d.protocol.as_str()
    )
}

fn change(mark: Mark, level: Level, policy: &str) -> Change {
    Change {
        mark,
        level,
        policy: policy.to_owned(),
        destination: None,
        old_rule: None,
        new_rule: None,
        old: None,
        new: None,
        witnesses: Vec::new(),
    }
}

fn policy_summary(p: &PolicySpec) -> String {
    format!(
        "mode {}, default {}, {} destination{}",
        mode_str(p.mode),
        p.default.as_str(),
        p.destinations.len(),
        if p.destinations.len() == 1 { "" } else { "s" }
    )
}

fn mode_str(m: egress_table::spec::Mode) -> &'static str {
    match m {
        egress_table::spec::Mode::Enforce => "enforce",
        egress_table::spec::Mode::Audit => "audit",
    }
}

fn log_str(l: egress_table::spec::LogSetting) -> &'static str {
    match l {
        egress_table::spec::LogSetting::None => "none",
        egress_table::spec::LogSetting::Denied => "denied",
        egress_table::spec::LogSetting::All => "all",
    }
}

/// The structural changes, in report order.
fn structural(old: &TableSpec, new: &TableSpec) -> Vec<Change> {
    let mut out = Vec::new();
    let find = |set: &'_ TableSpec, name: &str| -> Option<usize> {
        set.policies.iter().position(|p| p.name == name)
    };
    for a in &old.policies {
        match find(new, &a.name).and_then(|i| new.policies.get(i)) {
            None => out.push(Change {
                old: Some(policy_summary(a)),
                ..change(Mark::Removed, Level::Policy, &a.name)
            }),
            Some(b) => policy_changes(a, b, &mut out),
        }
    }
    for b in &new.policies {
        if find(old, &b.name).is_none() {
            out.push(Change {
                new: Some(policy_summary(b)),
                ..change(Mark::Added, Level::Policy, &b.name)
            });
        }
    }
    out
}

fn policy_changes(a: &PolicySpec, b: &PolicySpec, out: &mut Vec<Change>) {
    let settings = [
        (
            format!("mode {}", mode_str(a.mode)),
            format!("mode {}", mode_str(b.mode)),
        ),
        (
            format!("default {}", a.default.as_str()),
            format!("default {}", b.default.as_str()),
        ),
        (
            format!("log {}", log_str(a.log)),
            format!("log {}", log_str(b.log)),
        ),
        (
            sni_text(a.require_sni_host_match),
            sni_text(b.require_sni_host_match),
        ),
    ];
    for (x, y) in settings {
        if x != y {
            out.push(Change {
                old: Some(x),
                new: Some(y),
                ..change(Mark::Changed, Level::Policy, &a.name)
            });
        }
    }
    for (x, y) in pair_dests(&a.destinations, &b.destinations) {
        match (x, y) {
            (Some(x), None) => out.push(Change {
                destination: Some(dest_text(x)),
                old: Some(dest_text(x)),
                ..change(Mark::Removed, Level::Destination, &a.name)
            }),
            (None, Some(y)) => out.push(Change {
                destination: Some(dest_text(y)),
                new: Some(dest_text(y)),
                ..change(Mark::Added, Level::Destination, &a.name)
            }),
            (Some(x), Some(y)) => {
                let (tx, ty) = (dest_text(x), dest_text(y));
                if dest_key(x) != dest_key(y) {
                    out.push(Change {
                        destination: Some(ty.clone()),
                        old: Some(tx),
                        new: Some(ty.clone()),
                        ..change(Mark::Changed, Level::Destination, &a.name)
                    });
                }
                rule_changes(&a.name, &ty, x, y, out);
            }
            (None, None) => {}
        }
    }
}

fn sni_text(on: bool) -> String {
    if on {
        "require sni-host-match".to_owned()
    } else {
        "no require sni-host-match".to_owned()
    }
}

/// Most pairs of unmatched destinations (or rules) compared one by one.
const PAIRWISE_BUDGET: usize = 250_000;

/// Whether two destinations are one, changed.
type Alike = dyn Fn(&DestSpec, &DestSpec) -> bool;

/// Pairs OLD's destinations of a policy with NEW's: equal keys first, then
/// ones that share a target (same protocol), then ones with the same
/// protocol and ports. In OLD's order, then NEW's unpaired ones.
pub(crate) fn pair_dests<'a>(
    a: &'a [DestSpec],
    b: &'a [DestSpec],
) -> Vec<(Option<&'a DestSpec>, Option<&'a DestSpec>)> {
    let mut partner: Vec<Option<usize>> = vec![None; a.len()];
    let mut taken = vec![false; b.len()];
    let pair = |i: usize, j: usize, partner: &mut Vec<Option<usize>>, taken: &mut Vec<bool>| {
        if let Some(p) = partner.get_mut(i) {
            *p = Some(j);
        }
        if let Some(t) = taken.get_mut(j) {
            *t = true;
        }
    };
    // Equal keys, through a map: a policy may have thousands of destinations.
    let mut by_key: HashMap<String, VecDeque<usize>> = HashMap::new();
    for (j, y) in b.iter().enumerate() {
        by_key.entry(dest_key(y)).or_default().push_back(j);
    }
    for (i, x) in a.iter().enumerate() {
        if let Some(j) = by_key.get_mut(&dest_key(x)).and_then(VecDeque::pop_front) {
            pair(i, j, &mut partner, &mut taken);
        }
    }
    // The rest pairwise, unless there are too many to compare.
    let left_a = partner.iter().filter(|p| p.is_none()).count();
    let left_b = taken.iter().filter(|t| !**t).count();
    if left_a.saturating_mul(left_b) <= PAIRWISE_BUDGET {
        // Shared targets (same protocol), greatest overlap first (by the
        // share of both target sets, then equal rules); then the same
        // protocol and ports, in order.
        let mut scored: Vec<(usize, bool, usize, usize)> = Vec::new();
        for (i, x) in a.iter().enumerate() {
            if partner.get(i).copied().flatten().is_some() {
                continue;
            }
            for (j, y) in b.iter().enumerate() {
                if taken.get(j).copied().unwrap_or(true) || x.protocol != y.protocol {
                    continue;
                }
                let shared = x.targets.iter().filter(|t| y.targets.contains(t)).count();
                if shared > 0 {
                    let whole = (x.targets.len() + y.targets.len()).max(1);
                    let score = shared * 2 * 1_000_000 / whole;
                    scored.push((score, x.rules == y.rules, i, j));
                }
            }
        }
        scored.sort_by(|p, q| {
            (q.0, q.1)
                .cmp(&(p.0, p.1))
                .then((p.2, p.3).cmp(&(q.2, q.3)))
        });
        for (_, _, i, j) in scored {
            let free = partner.get(i).copied().flatten().is_none()
                && !taken.get(j).copied().unwrap_or(true);
            if free {
                pair(i, j, &mut partner, &mut taken);
            }
        }
        let same: &Alike = &|x, y| x.protocol == y.protocol && x.ports == y.ports;
        for (i, x) in a.iter().enumerate() {
            if partner.get(i).copied().flatten().is_some() {
                continue;
            }
            let hit = b
                .iter()
                .enumerate()
                .find(|(j, y)| !taken.get(*j).copied().unwrap_or(true) && same(x, y));
            if let Some((j, _)) = hit {
                pair(i, j, &mut partner, &mut taken);
            }
        }
    }
    let mut out: Vec<_> = a
        .iter()
        .zip(&partner)
        .map(|(x, p)| (Some(x), p.and_then(|j| b.get(j))))
        .collect();
    out.extend(
        b.iter()
            .zip(&taken)
            .filter(|(_, t)| !**t)
            .map(|(y, _)| (None, Some(y))),
    );
    out
}

/// Rule changes within a paired destination: the rule texts matched as
/// multisets (deny rules decide before allow rules, so their order is no
/// change); the unmatched removed and added rules pair up as changed ones.
fn rule_changes(policy: &str, dest: &str, x: &DestSpec, y: &DestSpec, out: &mut Vec<Change>) {
    let ta: Vec<String> = x.rules.iter().map(rule_text).collect();
    let tb: Vec<String> = y.rules.iter().map(rule_text).collect();
    if ta == tb {
        return;
    }
    let mut gap_a: Vec<usize> = Vec::new();
    let mut gap_b: Vec<usize> = Vec::new();
    let flush = |ga: &mut Vec<usize>, gb: &mut Vec<usize>, out: &mut Vec<Change>| {
        // In a gap, a removed rule and an added one are one changed rule
        // when they are alike (same action, and same methods or paths or
        // sources): the first alike added rule, in order.
        let mut pairs: Vec<(Option<usize>, Option<usize>)> = Vec::new();
        let mut used = vec![false; gb.len()];
        for &i in ga.iter() {
            let alike = |j: usize| match (x.rules.get(i), y.rules.get(j)) {
                (Some(r), Some(q)) => {
                    r.action == q.action
                        && r.fallback == q.fallback
                        && (r.methods == q.methods || r.paths == q.paths || r.sources == q.sources)
                }
                _ => false,
            };
            let hit = gb
                .iter()
                .enumerate()
                .find(|(k, j)| !used.get(*k).copied().unwrap_or(true) && alike(**j));
            if let Some((k, j)) = hit {
                if let Some(u) = used.get_mut(k) {
                    *u = true;
                }
                pairs.push((Some(i), Some(*j)));
            } else {
                pairs.push((Some(i), None));
            }
        }
        let added = gb.iter().zip(&used).filter(|(_, u)| !**u);
        pairs.extend(added.map(|(j, _)| (None, Some(*j))));
        for (i, j) in pairs {
            let mark = match (i, j) {
                (Some(_), Some(_)) => Mark::Changed,
                (Some(_), None) => Mark::Removed,
                _ => Mark::Added,
            };
            out.push(Change {
                destination: Some(dest.to_owned()),
                old_rule: i.and_then(|i| x.rules.get(i)).map(|r| r.id.clone()),
                new_rule: j.and_then(|j| y.rules.get(j)).map(|r| r.id.clone()),
                old: i.and_then(|i| ta.get(i)).cloned(),
                new: j.and_then(|j| tb.get(j)).cloned(),
                ..change(mark, Level::Rule, policy)
            });
        }
        ga.clear();
        gb.clear();
    };
    let mut pool: HashMap<&str, VecDeque<usize>> = HashMap::new();
    for (j, t) in tb.iter().enumerate() {
        pool.entry(t.as_str()).or_default().push_back(j);
    }
    let mut common = vec![false; tb.len()];
    for (i, t) in ta.iter().enumerate() {
        match pool.get_mut(t.as_str()).and_then(VecDeque::pop_front) {
            Some(j) => {
                if let Some(c) = common.get_mut(j) {
                    *c = true;
                }
            }
            None => gap_a.push(i),
        }
    }
    gap_b.extend((0..tb.len()).filter(|j| !common.get(*j).copied().unwrap_or(true)));
    flush(&mut gap_a, &mut gap_b, out);
}

fn by(r: &Record) -> String {
    match (&r.rule, &r.policy, r.reason.as_str()) {
        (Some(rule), _, _) => format!("{} by {rule}", r.decision.as_str()),
        (None, Some(p), "default") => format!("{} by {p}/default", r.decision.as_str()),
        (None, Some(p), reason) => format!("{} by {p} ({reason})", r.decision.as_str()),
        (None, None, reason) => format!("{} ({reason})", r.decision.as_str()),
    }
}

impl Diff {
    /// Whether a CI gate should fail: a request is newly allowed, or the
    /// candidates were capped so that the diff cannot prove none is.
    pub fn gate(&self) -> bool {
        self.newly_allowed > 0 || self.truncated
    }

    /// Whether the sets differ at all (a change, or a flipped request).
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.unattributed.is_empty()
    }

    /// The human report: changes grouped by policy, then destination,
    /// marked `+` (added), `-` (removed) and `~` (changed), each with the
    /// requests it flips as `test` block lines; then a summary line.
    /// `quiet`: only the changes that newly allow something, and the summary.
    pub fn render(&self, quiet: bool) -> String {
        let mut s = String::new();
        let mut policy: Option<&str> = None;
        let mut dest: Option<&str> = None;
        for c in &self.changes {
            let allows = c.witnesses.iter().any(|w| w.effect == Effect::NewlyAllowed);
            if quiet && !allows {
                continue;
            }
            if policy != Some(c.policy.as_str()) {
                let _ = writeln!(s, "policy {:?}", c.policy);
                policy = Some(&c.policy);
                dest = None;
            }
            let text = match (&c.old, &c.new) {
                (Some(o), Some(n)) => format!("{o}  ->  {n}"),
                (Some(t), None) | (None, Some(t)) => t.clone(),
                (None, None) => String::new(),
            };
            let indent = match c.level {
                Level::Policy => "  ",
                Level::Destination => {
                    dest = c.destination.as_deref();
                    "  "
                }
                Level::Rule => {
                    if dest != c.destination.as_deref() {
                        let d = c.destination.as_deref().unwrap_or_default();
                        let _ = writeln!(s, "    destination {d}");
                        dest = c.destination.as_deref();
                    }
                    "      "
                }
            };
            let what = match c.level {
                Level::Policy if c.old.is_some() && c.new.is_some() => "setting".to_owned(),
                Level::Rule => {
                    let id = match (&c.old_rule, &c.new_rule) {
                        (Some(a), Some(b)) if a != b => format!("{a} -> {b}"),
                        (_, Some(b)) => b.clone(),
                        (Some(a), None) => a.clone(),
                        (None, None) => String::new(),
                    };
                    format!("rule {id}:")
                }
                l => l.as_str().to_owned(),
            };
            match (c.level, &c.old, &c.new) {
                // A changed destination or rule: before and after on lines of their own.
                (Level::Destination | Level::Rule, Some(o), Some(n)) => {
                    let what = what.trim_end_matches(':');
                    let _ = writeln!(s, "{indent}~ {what}\n{indent}    - {o}\n{indent}    + {n}");
                }
                _ => {
                    let _ = writeln!(s, "{indent}{} {what} {text}", c.mark.sign());
                }
            }
            write_witnesses(&mut s, &c.witnesses, indent);
            if c.witnesses.is_empty() {
                let _ = writeln!(s, "{indent}    no request found whose decision changes");
            }
        }
        if !self.unattributed.is_empty() {
            let _ = writeln!(s, "requests no listed change explains:");
            write_witnesses(&mut s, &self.unattributed, "");
        }
        let _ = writeln!(s, "{}", self.summary());
        s
    }

    /// The last line of the human report.
    pub fn summary(&self) -> String {
        if self.is_empty() {
            return format!(
                "no changes: the two sets are the same ({} requests compared)",
                self.candidates
            );
        }
        let cap = if self.truncated {
            format!(
                "; CAPPED: {} destination{} had more candidate requests than the cap of {}, {} of {} combinations tried, so this diff cannot prove that nothing else is newly allowed",
                self.capped,
                if self.capped == 1 { "" } else { "s" },
                witness::CAP,
                self.tried,
                self.combinations
            )
        } else {
            String::new()
        };
        let verdict = match (self.newly_allowed, self.newly_denied) {
            (0, 0) => "no request changes its enforced decision".to_owned(),
            (0, d) => format!("nothing newly allowed; {d} of them newly denied"),
            (a, 0) => format!("{a} of them NEWLY ALLOWED"),
            (a, d) => format!("{a} of them NEWLY ALLOWED, {d} newly denied"),
        };
        format!(
            "{} change{}; {} requests compared: {verdict}; {} changed in the audit pool only{cap}",
            self.changes.len(),
            if self.changes.len() == 1 { "" } else { "s" },
            self.candidates,
            self.audit_changed
        )
    }

    /// The JSON object (fields in the module documentation).
    pub fn to_json(&self) -> serde_json::Value {
        let changes: Vec<serde_json::Value> = self
            .changes
            .iter()
            .map(|c| {
                serde_json::json!({
                    "change": c.mark.as_str(),
                    "level": c.level.as_str(),
                    "policy": c.policy,
                    "destination": c.destination,
                    "old_rule": c.old_rule,
                    "new_rule": c.new_rule,
                    "old": c.old,
                    "new": c.new,
                    "witnesses": c.witnesses.iter().map(Witness::to_json).collect::<Vec<_>>(),
                })
            })
            .collect();
        serde_json::json!({
            "newly_allowed": self.newly_allowed,
            "newly_denied": self.newly_denied,
            "audit_changed": self.audit_changed,
            "candidates": self.candidates,
            "truncated": self.truncated,
            "capped_destinations": self.capped,
            "combinations": self.combinations,
            "tried": self.tried,
            "changes": changes,
            "unattributed": self.unattributed.iter().map(Witness::to_json).collect::<Vec<_>>(),
        })
    }
}

fn write_witnesses(s: &mut String, ws: &[Witness], indent: &str) {
    for w in ws {
        let (old, new) = w.records();
        let _ = writeln!(
            s,
            "{indent}    {}: {}  (old: {}, new: {})",
            w.effect.as_str().replace('-', " "),
            w.case,
            by(old),
            by(new)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use egress_table::spec::TableSpec;

    fn spec(text: &str) -> TableSpec {
        let (_, o) = crate::compile_str("p.egress", text);
        o.compiled.map(|c| c.spec).unwrap_or_default()
    }

    #[test]
    fn reordered_hosts_and_rules_are_no_change() {
        let a = spec(
            "policy \"p\" {\n  destination \"a.example.com\", \"b.example.com\" port 80 http {\n    allow GET\n    deny any path prefix \"/admin\"\n  }\n  destination \"c.example.com\" port 80 http {\n    allow POST\n  }\n}\n",
        );
        let b = spec(
            "policy \"p\" {\n  destination \"c.example.com\" port 80 http {\n    allow POST\n  }\n  destination \"b.example.com\", \"a.example.com\" port 80 http {\n    deny any path prefix \"/admin\"\n    allow GET\n  }\n}\n",
        );
        assert!(!a.policies.is_empty());
        assert_eq!(structural(&a, &b), Vec::new());
    }
}
