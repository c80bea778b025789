//! Cedar's side of the scale benchmark ([`egress_tests::scale::CedarSide`]):
//! `cedar-policy`'s `is_authorized` on two encodings of a generated policy.
//! Included with `#[path]` by `benches/scale.rs` and `tests/scale_smoke.rs`,
//! so that `cedar-policy` stays a dev-dependency of the tests crate.
//!
//! - **Grouped** is egressc's Cedar export as written (docs/cedar.md): one
//!   policy per rule, `resource in HostGroup::"<policy>/destination-<n>"`,
//!   each host pattern an entity whose parent is its destination's group.
//! - **Per host** is the same policies with one copy per host of the
//!   destination: `resource == Host::"h"` for an exact host, `resource in
//!   HostPattern::"*.x"` for a wildcard (a request's `Host` entity is in the
//!   patterns it matches).
//!
//! Both share one entity store: the export's entities plus the entities of
//! every request (built before timing), so that the timed call is
//! `is_authorized` alone, with nothing rebuilt per request.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr as _;
use std::time::Instant;

use cedar_policy::{
    Authorizer, Context, Decision, Entities, EntityUid, PolicySet, Request, Schema,
};
use egress_tests::scale::{CedarRun, CedarSide, Encoding};
use egressc::cedar::Export;
use egressc::cedar::request::CedarRequest;
use serde_json::Value;

/// Cedar through `cedar-policy`.
#[derive(Debug, Default)]
pub struct CedarPolicy;

fn err<E: std::fmt::Debug>(what: &str) -> impl Fn(E) -> String + '_ {
    move |e| format!("{what}: {e:?}")
}

/// The host patterns of each host group, from the export's entities.
fn groups(statics: &[Value]) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for e in statics {
        let uid = &e["uid"];
        if uid["type"] != "HostPattern" {
            continue;
        }
        let Some(host) = uid["id"].as_str() else {
            continue;
        };
        for p in e["parents"].as_array().into_iter().flatten() {
            if let Some(g) = p["id"].as_str() {
                out.entry(g.to_owned()).or_default().push(host.to_owned());
            }
        }
    }
    out
}

/// A Cedar string literal.
fn lit(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// The per-host policy text: every policy scoped to a host group, once per
/// host of the group.
fn per_host(set: &PolicySet, groups: &HashMap<String, Vec<String>>) -> String {
    let mut out = String::new();
    for p in set.policies() {
        let text = p.to_string();
        let scoped = ["resource is Host in HostGroup::", "resource in HostGroup::"]
            .iter()
            .find_map(|prefix| {
                let at = text.find(prefix)?;
                let rest = text.get(at + prefix.len()..)?;
                let end = rest.get(1..)?.find('"')? + 2;
                let group: String = serde_json::from_str(rest.get(..end)?).ok()?;
                Some((
                    at,
                    at + prefix.len() + end,
                    group,
                    prefix.contains("is Host"),
                ))
            });
        let Some((start, end, group, _)) = scoped else {
            out.push_str(&text);
            out.push('\n');
            continue;
        };
        for h in groups.get(&group).into_iter().flatten() {
            let scope = if h.starts_with('*') {
                format!("resource in HostPattern::{}", lit(h))
            } else {
                format!("resource == Host::{}", lit(h))
            };
            out.push_str(text.get(..start).unwrap_or(""));
            out.push_str(&scope);
            out.push_str(text.get(end..).unwrap_or(""));
            out.push('\n');
        }
    }
    out
}

impl CedarSide for CedarPolicy {
    fn run(
        &self,
        encoding: Encoding,
        export: &Export,
        requests: &[CedarRequest],
        rounds: usize,
    ) -> Result<CedarRun, String> {
        let t = Instant::now();
        let (schema, _) = Schema::from_cedarschema_str(&export.schema).map_err(err("schema"))?;
        let grouped = PolicySet::from_str(&export.policies).map_err(err("policies.cedar"))?;
        let statics: Vec<Value> = match &export.entities {
            Some(text) => serde_json::from_str::<Value>(text)
                .map_err(err("entities.json"))?
                .as_array()
                .cloned()
                .unwrap_or_default(),
            None => Vec::new(),
        };
        let set = match encoding {
            Encoding::Grouped => grouped,
            Encoding::PerHost => PolicySet::from_str(&per_host(&grouped, &groups(&statics)))
                .map_err(err("per-host policies"))?,
        };
        // One store: the export's entities and every request's own.
        let mut all: BTreeMap<String, Value> = BTreeMap::new();
        for e in statics
            .iter()
            .chain(requests.iter().flat_map(|r| r.entities.iter()))
        {
            all.insert(e["uid"].to_string(), e.clone());
        }
        let entities =
            Entities::from_json_value(Value::Array(all.into_values().collect()), Some(&schema))
                .map_err(err("entities"))?;
        let build_ms = t.elapsed().as_secs_f64() * 1e3;
        let uid = |v: Value| EntityUid::from_json(v).map_err(err("entity uid"));
        let mut built = Vec::with_capacity(requests.len());
        for r in requests {
            let action = uid(r.action.json())?;
            let context = Context::from_json_value(r.context.clone(), Some((&schema, &action)))
                .map_err(err("context"))?;
            built.push(
                Request::new(
                    uid(r.principal.json())?,
                    action,
                    uid(r.resource.json())?,
                    context,
                    Some(&schema),
                )
                .map_err(err("request"))?,
            );
        }
        let authorizer = Authorizer::new();
        let mut run = CedarRun {
            build_ms,
            policies: set.policies().count(),
            ..CedarRun::default()
        };
        for round in 0..rounds.max(1) {
            for req in &built {
                let t = Instant::now();
                let response = authorizer.is_authorized(req, &set, &entities);
                run.times_ns.push(t.elapsed().as_nanos() as f64);
                if round > 0 {
                    continue;
                }
                if let Some(e) = response.diagnostics().errors().next() {
                    return Err(format!("Cedar evaluation error: {e}"));
                }
                let mut ids: Vec<String> = response
                    .diagnostics()
                    .reason()
                    .filter_map(|id| set.policy(id)?.annotation("id").map(str::to_owned))
                    .collect();
                ids.sort();
                ids.dedup();
                run.answers
                    .push((response.decision() == Decision::Allow, ids));
            }
        }
        Ok(run)
    }
}
