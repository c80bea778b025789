//! The request builder: what the proxy hands the filter, as a Cedar request
//! for the exported policies (`docs/cedar.md`, "Requests").
//!
//! It takes the same inputs as the filter's decision path
//! ([`egress_table::proxy`]): the header map and the Envoy attributes. The
//! filter's normalisation runs first, through the same functions
//! ([`egress_table::request`]): a request it refuses before any rule
//! (`invalid-authority`, a non-canonical path, `invalid-method`, …) has no
//! Cedar request — the builder returns the refusal, and a caller denies it
//! without asking Cedar. Those refusals are properties of the raw message,
//! not of a policy, and are out of the oracle's scope (the filter's own
//! tests pin them).
//!
//! Everything after that is computed here, from the language reference,
//! independently of the table's decision code: the host patterns the host
//! falls into, the path's match form and the patterns it matches, the
//! principal's namespace and service account, and the header facts.

use std::collections::BTreeSet;

use egress_table::Headers;
use egress_table::path::match_form;
use egress_table::proxy::Properties;
use egress_table::request::{self, Reason};
use egress_table::spec::{METHODS, PatternKind, ValueOp};
use serde_json::{Value, json};

use super::text::latin1;
use super::{HeaderTest, Meta, Tok, fold, host_patterns, template_tokens};

/// An entity reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uid {
    /// The entity type (`Workload`, `Action`, `Host`, …).
    pub ty: &'static str,
    /// The id.
    pub id: String,
}

impl Uid {
    fn new(ty: &'static str, id: impl Into<String>) -> Self {
        Self { ty, id: id.into() }
    }

    /// Cedar's JSON form, `{"type": …, "id": …}`.
    pub fn json(&self) -> Value {
        json!({ "type": self.ty, "id": self.id })
    }
}

/// A Cedar request: principal, action, resource, context (Cedar's JSON
/// form), and the entities the request brings (the principal and the host,
/// with the parents computed for them).
#[derive(Debug, Clone, PartialEq)]
pub struct CedarRequest {
    /// `Workload::"…"`.
    pub principal: Uid,
    /// `Action::"GET"`, …, `Action::"other"` or `Action::"connect"`.
    pub action: Uid,
    /// `Host::"…"` or `Address::"…"`.
    pub resource: Uid,
    /// The context, in Cedar's JSON form (`__entity`, `__extn` explicit).
    pub context: Value,
    /// The request's own entities, in Cedar's JSON entity form.
    pub entities: Vec<Value>,
}

impl CedarRequest {
    /// The destination port the context names.
    pub fn port(&self) -> Option<u16> {
        self.context
            .get("port")
            .and_then(Value::as_u64)
            .and_then(|p| u16::try_from(p).ok())
    }
}

/// What the request builder evaluates for an export: its path patterns
/// and header value tests.
#[derive(Debug)]
pub struct Tests {
    patterns: Vec<(String, Matcher)>,
    headers: Vec<HeaderTest>,
}

#[derive(Debug)]
enum Matcher {
    Template(Vec<Tok>),
    Regex(regex::bytes::Regex),
}

impl Tests {
    /// Prepares the tests of an export: templates are matched piece by
    /// piece, regexes with the `regex` crate (bytes, Unicode off, anchored
    /// at both ends).
    pub fn new(meta: &Meta) -> Result<Self, String> {
        let mut patterns = Vec::with_capacity(meta.patterns.len());
        for p in &meta.patterns {
            let m = match p.kind {
                PatternKind::Template => Matcher::Template(template_tokens(&p.source)),
                PatternKind::Regex => Matcher::Regex(
                    regex::bytes::RegexBuilder::new(&format!("^(?:{})$", p.source))
                        .unicode(false)
                        .build()
                        .map_err(|e| format!("path regex {:?}: {e}", p.source))?,
                ),
            };
            patterns.push((p.key.clone(), m));
        }
        Ok(Self {
            patterns,
            headers: meta.header_tests.clone(),
        })
    }

    /// The keys of the patterns the path (in match form) matches.
    fn matching(&self, form: &[u8]) -> Vec<&str> {
        self.patterns
            .iter()
            .filter(|(_, m)| match m {
                Matcher::Template(toks) => template_matches(toks, form),
                Matcher::Regex(re) => re.is_match(form),
            })
            .map(|(k, _)| k.as_str())
            .collect()
    }
}

/// Whether the whole of `s` matches the template pieces.
fn template_matches(toks: &[Tok], s: &[u8]) -> bool {
    let Some((first, rest)) = toks.split_first() else {
        return s.is_empty();
    };
    match first {
        Tok::Lit(l) => s
            .strip_prefix(l.as_slice())
            .is_some_and(|tail| template_matches(rest, tail)),
        Tok::One => {
            let run = s.iter().position(|&b| b == b'/').unwrap_or(s.len());
            (1..=run).any(|k| s.get(k..).is_some_and(|tail| template_matches(rest, tail)))
        }
        Tok::Rest => {
            (0..=s.len()).any(|k| s.get(k..).is_some_and(|tail| template_matches(rest, tail)))
        }
    }
}

/// The principal: the peer's identity without `spiffe://`, in its service
/// account and namespace when it reads `TRUST_DOMAIN/ns/NS/sa/SA`; no
/// identity is `Workload::""`, in nothing.
fn principal<P: Properties>(props: &P) -> (Uid, Value) {
    let raw = props.peer_principal();
    let bytes = raw.as_ref().map_or(&[][..], AsRef::as_ref);
    let id = bytes.strip_prefix(b"spiffe://").unwrap_or(bytes);
    let mut parents = Vec::new();
    let parts: Vec<&[u8]> = id.split(|&b| b == b'/').collect();
    if let [td, b"ns", ns, b"sa", sa] = parts.as_slice()
        && !td.is_empty()
        && !ns.is_empty()
        && !sa.is_empty()
    {
        parents.push(Uid::new("ServiceAccount", format!("{}/{}", latin1(ns), latin1(sa))).json());
        parents.push(Uid::new("Namespace", latin1(ns)).json());
    }
    let uid = Uid::new("Workload", latin1(id));
    let entity = json!({ "uid": uid.json(), "attrs": {}, "parents": parents });
    (uid, entity)
}

/// The resource for a normalised host, and its entity in every host
/// pattern that matches it.
fn host(name: &str) -> (Uid, Value) {
    let uid = Uid::new("Host", name);
    let parents: Vec<Value> = host_patterns(name)
        .into_iter()
        .map(|p| Uid::new("HostPattern", p).json())
        .collect();
    let entity = json!({ "uid": uid.json(), "attrs": {}, "parents": parents });
    (uid, entity)
}

/// The elements of a list-valued field (RFC 9110 §5.6.1): split on `,`,
/// spaces and tabs trimmed, empty elements dropped.
fn elements(v: &[u8]) -> Vec<&[u8]> {
    let ows = |b: &u8| *b == b' ' || *b == b'\t';
    v.split(|&b| b == b',')
        .map(|e| {
            let start = e.iter().position(|b| !ows(b)).unwrap_or(e.len());
            let end = e.iter().rposition(|b| !ows(b)).map_or(start, |i| i + 1);
            e.get(start..end).unwrap_or(&[])
        })
        .filter(|e| !e.is_empty())
        .collect()
}

/// The header facts of the context (the schema's `Headers`).
fn header_facts(headers: &dyn Headers, tests: &[HeaderTest]) -> Value {
    let mut names = BTreeSet::new();
    let mut folded = BTreeSet::new();
    let mut all: Vec<(Vec<u8>, &[u8])> = Vec::new();
    headers.for_each(&mut |k, v| {
        names.insert(latin1(&k.to_ascii_lowercase()));
        let f = fold(k);
        folded.insert(latin1(&f));
        all.push((f, v));
    });
    let (mut some, mut every) = (Vec::new(), Vec::new());
    for t in tests {
        let passes = |v: &[u8]| match t.op {
            ValueOp::Equals => v == t.value.as_slice(),
            ValueOp::Prefix => v.starts_with(&t.value),
            ValueOp::Suffix => v.ends_with(&t.value),
        };
        let values: Vec<&[u8]> = all
            .iter()
            .filter(|(name, _)| name.as_slice() == t.name.as_bytes())
            .map(|(_, v)| *v)
            .collect();
        // Longer than the filter reads (`max_header_bytes`, which the
        // header view carries): the answer that denies, as the filter
        // gives it.
        let over = values.iter().map(|v| v.len()).sum::<usize>() > headers.max_value_bytes();
        // Some occurrence passes, whole or as one of its list's elements.
        if over
            || values
                .iter()
                .any(|v| passes(v) || elements(v).into_iter().any(passes))
        {
            some.push(json!({ "__entity": Uid::new("HeaderTest", t.key.clone()).json() }));
        }
        // Every occurrence passes, whole or element by element.
        if !over
            && !values.is_empty()
            && values.iter().all(|v| {
                let list = elements(v);
                passes(v) || (!list.is_empty() && list.into_iter().all(passes))
            })
        {
            every.push(json!({ "__entity": Uid::new("HeaderTest", t.key.clone()).json() }));
        }
    }
    json!({
        "names": names,
        "names_folded": folded,
        "some": some,
        "every": every,
    })
}

/// The Cedar request for an HTTP request: `headers` is the header map the
/// proxy hands the filter (pseudo-headers included), `props` its attributes.
pub fn http<P: Properties>(
    headers: &dyn Headers,
    props: &P,
    tests: &Tests,
) -> Result<CedarRequest, Reason> {
    let mut view = request::scan_headers(headers, None);
    let fallback;
    if view.authority.is_none() {
        fallback = props.request_host();
        view.authority = fallback.as_ref().map(AsRef::as_ref);
    }
    let n = request::normalize_http(
        &view,
        props.destination_port(),
        egress_table::plugin_config::DEFAULT_MAX_PATH_BYTES,
    )?;
    let method = view.method.unwrap_or(b"");
    let action = METHODS
        .iter()
        .find(|m| m.as_bytes() == method)
        .map_or("other", |m| *m);
    let host_name = latin1(n.host.as_bytes());
    let (principal, principal_entity) = principal(props);
    let (resource, host_entity) = host(&host_name);
    let mut context = serde_json::Map::new();
    context.insert("host".into(), json!(host_name));
    context.insert("port".into(), json!(n.port));
    let mut matches = Vec::new();
    if let Some(path) = n.path {
        let form = match_form(path);
        matches = tests
            .matching(&form)
            .into_iter()
            .map(|k| json!({ "__entity": Uid::new("PathPattern", k).json() }))
            .collect();
        context.insert("path".into(), json!(latin1(&form)));
    }
    context.insert("path_matches".into(), Value::Array(matches));
    let sni = props.sni();
    let sni = sni.as_ref().map_or(&[][..], AsRef::as_ref);
    let mut sni_invalid = false;
    if !sni.is_empty() {
        match request::normalize_host(sni) {
            Some(h) => {
                context.insert("sni".into(), json!(latin1(h.as_bytes())));
            }
            None => sni_invalid = true,
        }
    }
    context.insert("sni_invalid".into(), json!(sni_invalid));
    context.insert("headers".into(), header_facts(headers, &tests.headers));
    Ok(CedarRequest {
        principal,
        action: Uid::new("Action", action),
        resource,
        context: Value::Object(context),
        entities: vec![principal_entity, host_entity],
    })
}

/// The Cedar request for a connection the network filter sees: on its SNI
/// when it has one (resource `Host`), else on its destination address
/// (resource `Address`).
pub fn connection<P: Properties>(props: &P) -> Result<CedarRequest, Reason> {
    let sni = props.sni();
    let sni = sni.as_ref().map_or(&[][..], AsRef::as_ref);
    let (ip, addr_port) = props.destination_address().unwrap_or((None, None));
    let port = addr_port.or_else(|| props.destination_port()).unwrap_or(0);
    let ip = ip.map(|a| a.to_canonical());
    let (principal, principal_entity) = principal(props);
    let (resource, resource_entity) = if sni.is_empty() {
        let ip = ip.ok_or(Reason::NoDestination)?;
        let uid = Uid::new("Address", ip.to_string());
        let entity = json!({ "uid": uid.json(), "attrs": {}, "parents": [] });
        (uid, entity)
    } else {
        let h = request::normalize_host(sni).ok_or(Reason::InvalidSni)?;
        host(&latin1(h.as_bytes()))
    };
    let mut context = serde_json::Map::new();
    context.insert("port".into(), json!(port));
    if let Some(ip) = ip {
        context.insert(
            "destination".into(),
            json!({ "__extn": { "fn": "ip", "arg": ip.to_string() } }),
        );
    }
    Ok(CedarRequest {
        principal,
        action: Uid::new("Action", "connect"),
        resource,
        context: Value::Object(context),
        entities: vec![principal_entity, resource_entity],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_piece_by_piece() {
        let t = |tpl: &str, path: &str| template_matches(&template_tokens(tpl), path.as_bytes());
        assert!(t("/v1/{*}/items/{**}", "/v1/acme/items/"));
        assert!(t("/v1/{*}/items/{**}", "/v1/acme/items/1/2"));
        assert!(!t("/v1/{*}/items/{**}", "/v1//items/1"));
        assert!(!t("/v1/{*}/items/{**}", "/v1/a/b/items/1"));
        assert!(!t("/v1/{*}/items/{**}", "/v1/acme/items"));
        assert!(t("/files/{*}.json", "/files/a.json"));
        assert!(!t("/files/{*}.json", "/files/a/b.json"));
        assert!(!t("/files/{*}.json", "/files/.json"));
        assert!(t("/x/{**}", "/x/"));
        assert!(!t("/x/{**}", "/x"));
    }

    #[test]
    fn header_facts_fail_closed() {
        let pairs: Vec<(&[u8], &[u8])> = vec![
            (b"X-Debug", b"0, 1"),
            (b"x_debug", b"1"),
            (b"x-tenant", b"acme , acme"),
            (b"x-tenant", b"acme"),
            (b"x-date", b"Tue, 15 Nov 1994"),
        ];
        let test = |name: &str, op, value: &str| HeaderTest {
            key: format!("{name} {value}"),
            name: name.to_owned(),
            op,
            value: value.as_bytes().to_vec(),
        };
        let tests = [
            test("x-debug", ValueOp::Equals, "1"),
            test("x-tenant", ValueOp::Equals, "acme"),
            test("x-date", ValueOp::Equals, "Tue, 15 Nov 1994"),
            test("x-tenant", ValueOp::Prefix, "ac"),
            test("x-other", ValueOp::Equals, "1"),
        ];
        let facts = header_facts(&pairs, &tests);
        let list = |k: &str| -> Vec<String> {
            facts[k]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| match v.get("__entity") {
                    Some(e) => e["id"].as_str().unwrap().to_owned(),
                    None => v.as_str().unwrap().to_owned(),
                })
                .collect()
        };
        assert_eq!(list("names"), ["x-date", "x-debug", "x-tenant", "x_debug"]);
        assert_eq!(list("names_folded"), ["x-date", "x-debug", "x-tenant"]);
        assert_eq!(
            list("some"),
            [
                "x-debug 1",
                "x-tenant acme",
                "x-date Tue, 15 Nov 1994",
                "x-tenant ac"
            ]
        );
        assert_eq!(
            list("every"),
            ["x-tenant acme", "x-date Tue, 15 Nov 1994", "x-tenant ac"]
        );
        // Past max_header_bytes: the answer that denies, as in the filter.
        let long = b"acme, ".repeat(1400);
        let pairs: Vec<(&[u8], &[u8])> = vec![(b"x-tenant", &long), (b"x-debug", b"0")];
        let facts = header_facts(&pairs, &tests);
        let keys = |k: &str| -> Vec<&str> {
            facts[k]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["__entity"]["id"].as_str().unwrap())
                .collect()
        };
        assert_eq!(keys("some"), ["x-tenant acme", "x-tenant ac"]);
        assert!(keys("every").is_empty(), "{facts}");
    }
}
