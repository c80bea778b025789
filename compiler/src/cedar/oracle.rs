//! Cedar's side (feature `cedar`): strict validation of an export, and
//! Cedar's authorizer deciding requests, its answer read back as the
//! filter's [`Record`] so that the two can be compared field by field.
//!
//! **Reading Cedar's answer.** Cedar returns a decision and the set of
//! determining policies: every satisfied `forbid` when it denies, every
//! satisfied `permit` when it allows. The filter reports one rule, the
//! first in table order among the matching rules of the winning action.
//! So a Cedar answer maps to a verdict this way (per pool):
//!
//! | Cedar | verdict |
//! |---|---|
//! | Deny, `invalid-sni` or `sni-host-mismatch` among the reasons | that refusal (it comes before any rule) |
//! | Deny, ids of `deny` rules among the reasons | deny by the first of them in table order |
//! | Deny, ids of `otherwise deny` rules only | deny by the first of them in table order |
//! | Deny, no reason, a connection without SNI on a `no_sni_ports` port | `no-sni` |
//! | Deny, no reason | the pool's default (deny) |
//! | Allow, rule ids among the reasons | allow by the first of them in table order |
//! | Allow, only `<policy>/default` | the pool's default (allow) |
//! | Allow, only `no-enforced-policy` | nothing enforced |
//!
//! Any other answer — an evaluation error, an unknown id, a deny with a
//! permit's id — is reported as an error: with strict validation none can
//! happen.

use std::str::FromStr as _;

use cedar_policy::{
    Authorizer, Context, Decision, Entities, EntityUid, PolicySet, Request, Schema, ValidationMode,
    Validator,
};
use egress_table::Headers;
use egress_table::proxy::Properties;
use egress_table::record::Record;
use egress_table::request::Reason;
use egress_table::spec::{Action, Mode};
use serde_json::Value;

use super::request::{self, CedarRequest, Tests, Uid};
use super::{Export, Meta, NO_POLICY_ID, Pool, default_id};
use crate::sim::{SimProps, SimRequest};

/// The ids of the refusal policies (`require sni-host-match`).
const REFUSALS: [Reason; 2] = [Reason::InvalidSni, Reason::SniHostMismatch];

/// Cedar's messages, one per line.
fn messages<E: std::fmt::Display>(errors: impl IntoIterator<Item = E>) -> String {
    errors
        .into_iter()
        .map(|e| format!("  {e}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Parses and strictly validates a policy set.
fn validated(schema: &Schema, text: &str, file: &str) -> Result<PolicySet, String> {
    let set =
        PolicySet::from_str(text).map_err(|e| format!("{file} does not parse as Cedar: {e:?}"))?;
    let result = Validator::new(schema.clone()).validate(&set, ValidationMode::Strict);
    if !result.validation_passed() {
        return Err(format!(
            "{file} does not pass Cedar's strict validation against schema.cedarschema:\n{}",
            messages(result.validation_errors())
        ));
    }
    Ok(set)
}

/// An export, parsed and strictly validated, ready to decide requests.
#[derive(Debug)]
pub struct Oracle {
    schema: Schema,
    enforced: PolicySet,
    audit: Option<PolicySet>,
    statics: Vec<Value>,
    meta: Meta,
    tests: Tests,
}

/// Cedar's answer for one pool, read as the filter's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The verdict, as the filter records it.
    pub record: Record,
    /// The rule ids among Cedar's determining policies, in table order.
    pub determining: Vec<String>,
}

/// Cedar's answers for a request.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The enforced pool's verdict.
    pub enforced: Verdict,
    /// The audit pool's, when the export has one.
    pub audit: Option<Verdict>,
    /// The Cedar request, or why the filter refuses the request before any
    /// rule (then Cedar was not asked).
    pub request: Result<CedarRequest, Reason>,
}

/// Parses the export and checks it the way `egressc cedar` does: the schema
/// parses, each policy set passes Cedar's **strict** validation against it
/// (an erroring `forbid` would otherwise be skipped silently), and the
/// entities conform to it.
pub fn validate(export: &Export) -> Result<(), String> {
    Oracle::new(export).map(|_| ())
}

impl Oracle {
    /// Parses and validates an export (see [`validate`]).
    pub fn new(export: &Export) -> Result<Self, String> {
        let (schema, _warnings) = Schema::from_cedarschema_str(&export.schema)
            .map_err(|e| format!("schema.cedarschema does not parse: {e:?}"))?;
        let enforced = validated(&schema, &export.policies, "policies.cedar")?;
        let audit = export
            .audit
            .as_deref()
            .map(|a| validated(&schema, a, "audit.cedar"))
            .transpose()?;
        let statics: Vec<Value> = match &export.entities {
            Some(text) => {
                let v: Value = serde_json::from_str(text)
                    .map_err(|e| format!("entities.json is not JSON: {e}"))?;
                Entities::from_json_value(v.clone(), Some(&schema))
                    .map_err(|e| format!("entities.json does not conform to the schema: {e:?}"))?;
                v.as_array().cloned().unwrap_or_default()
            }
            None => Vec::new(),
        };
        let tests = Tests::new(&export.meta)?;
        Ok(Self {
            schema,
            enforced,
            audit,
            statics,
            meta: export.meta.clone(),
            tests,
        })
    }

    /// The export's facts.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// Decides an HTTP request from what the proxy hands the filter.
    pub fn decide_http<P: Properties>(
        &self,
        headers: &dyn Headers,
        props: &P,
    ) -> Result<Outcome, String> {
        self.decide(request::http(headers, props, &self.tests))
    }

    /// Decides a connection from what the proxy hands the network filter.
    pub fn decide_connection<P: Properties>(&self, props: &P) -> Result<Outcome, String> {
        self.decide(request::connection(props))
    }

    /// Decides a simulated request: an HTTP request goes through the
    /// emulation of Envoy's connection manager first (as in `egressc
    /// simulate`); `None` when the proxy itself refuses it (no filter runs).
    pub fn decide_sim(
        &self,
        req: &SimRequest,
        normalization: egress_hcm::PathNormalization,
    ) -> Result<Option<Outcome>, String> {
        if !req.is_http() {
            return self.decide_connection(&SimProps(req)).map(Some);
        }
        let Ok(headers) = handed(req, normalization) else {
            return Ok(None);
        };
        let pairs: Vec<(&[u8], &[u8])> = headers
            .iter()
            .map(|(k, v)| (k.as_slice(), v.as_slice()))
            .collect();
        self.decide_http(&pairs, &SimProps(req)).map(Some)
    }

    fn decide(&self, built: Result<CedarRequest, Reason>) -> Result<Outcome, String> {
        let (enforced, audit) = match &built {
            Ok(req) => {
                let entities = self.entities(req)?;
                let cedar = self.request(req)?;
                let enforced =
                    self.verdict(Mode::Enforce, &self.enforced, &cedar, &entities, req)?;
                let audit = match &self.audit {
                    Some(set) => Some(self.verdict(Mode::Audit, set, &cedar, &entities, req)?),
                    None => None,
                };
                (enforced, audit)
            }
            Err(reason) => (
                refused(&self.meta.enforced, *reason),
                self.audit
                    .as_ref()
                    .map(|_| refused(&self.meta.audit, *reason)),
            ),
        };
        Ok(Outcome {
            enforced,
            audit,
            request: built,
        })
    }

    fn entities(&self, req: &CedarRequest) -> Result<Entities, String> {
        let mut all = self.statics.clone();
        all.extend(req.entities.iter().cloned());
        Entities::from_json_value(Value::Array(all), Some(&self.schema))
            .map_err(|e| format!("the request's entities do not conform to the schema: {e:?}"))
    }

    fn request(&self, req: &CedarRequest) -> Result<Request, String> {
        let uid =
            |u: &Uid| EntityUid::from_json(u.json()).map_err(|e| format!("entity {u:?}: {e:?}"));
        let action = uid(&req.action)?;
        let context = Context::from_json_value(req.context.clone(), Some((&self.schema, &action)))
            .map_err(|e| format!("the request's context does not conform to the schema: {e:?}"))?;
        Request::new(
            uid(&req.principal)?,
            action,
            uid(&req.resource)?,
            context,
            Some(&self.schema),
        )
        .map_err(|e| format!("the request does not conform to the schema: {e:?}"))
    }

    /// Runs Cedar's authorizer on one pool's policy set and reads the answer.
    fn verdict(
        &self,
        mode: Mode,
        set: &PolicySet,
        request: &Request,
        entities: &Entities,
        req: &CedarRequest,
    ) -> Result<Verdict, String> {
        let response = Authorizer::new().is_authorized(request, set, entities);
        let errors: Vec<String> = response
            .diagnostics()
            .errors()
            .map(ToString::to_string)
            .collect();
        if !errors.is_empty() {
            return Err(format!(
                "Cedar reported evaluation errors (a validated set has none):\n  {}",
                errors.join("\n  ")
            ));
        }
        let mut ids = Vec::new();
        for p in response.diagnostics().reason() {
            let id = set
                .annotation(p, "id")
                .ok_or_else(|| format!("Cedar policy {p} has no @id"))?;
            ids.push(id.to_owned());
        }
        read(
            &self.meta,
            self.meta.pool(mode),
            response.decision() == Decision::Allow,
            &ids,
            req,
        )
    }
}

/// The verdict of a pool for a request the filter refuses before any rule.
fn refused(pool: &Pool, reason: Reason) -> Verdict {
    let record = if pool.any {
        Record {
            decision: Action::Deny,
            policy: None,
            rule: None,
            reason: reason.as_str().to_owned(),
        }
    } else {
        nothing_enforced()
    };
    Verdict {
        record,
        determining: Vec::new(),
    }
}

fn nothing_enforced() -> Record {
    Record {
        decision: Action::Allow,
        policy: None,
        rule: None,
        reason: NO_POLICY_ID.to_owned(),
    }
}

/// Reads Cedar's decision and determining policy ids as a verdict (the
/// table in the module docs).
fn read(
    meta: &Meta,
    pool: &Pool,
    allowed: bool,
    ids: &[String],
    req: &CedarRequest,
) -> Result<Verdict, String> {
    let mut rules: Vec<(usize, &str)> = Vec::new();
    let mut fallbacks: Vec<(usize, &str)> = Vec::new();
    let mut others: Vec<&str> = Vec::new();
    for id in ids {
        match meta.rule_index(id) {
            Some(i) if meta.rules.get(i).is_some_and(|r| r.fallback) => fallbacks.push((i, id)),
            Some(i) => rules.push((i, id)),
            None => others.push(id),
        }
    }
    rules.sort_unstable();
    fallbacks.sort_unstable();
    let want_action = if allowed { Action::Allow } else { Action::Deny };
    for (i, id) in rules.iter().chain(&fallbacks) {
        if meta.rules.get(*i).map(|r| r.action) != Some(want_action) {
            return Err(format!(
                "Cedar {} with rule {id} among its reasons, which is a{} rule",
                if allowed { "allowed" } else { "denied" },
                if allowed { " deny" } else { "n allow" }
            ));
        }
    }
    // A deny rule decides before an `otherwise deny`.
    if rules.is_empty() {
        rules = fallbacks;
    }
    let determining: Vec<String> = rules.iter().map(|(_, id)| (*id).to_owned()).collect();
    let rule_record = |action: Action| {
        rules.first().map(|(i, id)| Record {
            decision: action,
            policy: meta.rules.get(*i).map(|r| r.policy.clone()),
            rule: Some((*id).to_owned()),
            reason: "rule".to_owned(),
        })
    };
    let default_record = |action: Action| Record {
        decision: action,
        policy: pool.default_policy.clone(),
        rule: None,
        reason: "default".to_owned(),
    };
    let unexpected = |what: &str| {
        Err(format!(
            "Cedar {} with reasons {ids:?}: {what}",
            if allowed { "allowed" } else { "denied" }
        ))
    };
    let record = if !pool.any {
        match (allowed, ids) {
            (true, [only]) if only == NO_POLICY_ID => nothing_enforced(),
            _ => return unexpected("expected only the no-enforced-policy permit"),
        }
    } else if allowed {
        let default = default_id(pool.default_policy.as_deref().unwrap_or(""));
        if others.iter().any(|o| *o != default) {
            return unexpected("a permit that is neither a rule nor the default");
        }
        match rule_record(Action::Allow) {
            Some(r) => r,
            None if others.len() == 1 && pool.default == Action::Allow => {
                default_record(Action::Allow)
            }
            None => return unexpected("no rule and no default permit"),
        }
    } else if let Some(refusal) = REFUSALS.iter().find(|r| others.contains(&r.as_str())) {
        Record {
            decision: Action::Deny,
            policy: None,
            rule: None,
            reason: refusal.as_str().to_owned(),
        }
    } else if !others.is_empty() {
        return unexpected("a forbid that is neither a rule nor a refusal");
    } else if let Some(r) = rule_record(Action::Deny) {
        r
    } else if req.action.id == "connect"
        && req.resource.ty == "Address"
        && req
            .port()
            .is_some_and(|p| pool.no_sni_ports.iter().any(|r| r.lo <= p && p <= r.hi))
    {
        Record {
            decision: Action::Deny,
            policy: None,
            rule: None,
            reason: Reason::NoSni.as_str().to_owned(),
        }
    } else if pool.default == Action::Deny {
        default_record(Action::Deny)
    } else {
        return unexpected("nothing determined a denial, but the default is allow");
    };
    // Only a rule's verdict has determining rules.
    let determining = if record.rule.is_some() {
        determining
    } else {
        Vec::new()
    };
    Ok(Verdict {
        record,
        determining,
    })
}

/// Header (name, value) pairs, in order.
pub type HeaderPairs = Vec<(Vec<u8>, Vec<u8>)>;

/// The header map the filter receives for a simulated HTTP request: the
/// request after Envoy's connection manager ([`egress_hcm::prepare`]), or
/// the proxy's own refusal.
pub fn handed(
    req: &SimRequest,
    normalization: egress_hcm::PathNormalization,
) -> Result<HeaderPairs, egress_hcm::Rejection> {
    let client = req.header_pairs();
    egress_hcm::prepare(&req.client_request(&client), normalization).map(|p| p.headers)
}
