//! AuthorizationPolicy rules to policy-language rules.
//!
//! An Istio rule matches when one of its `from` sources, one of its `to`
//! operations and every `when` condition match; fields inside a source or
//! operation are AND-ed, values inside a field OR-ed, and `notX: [a, b]`
//! is NOT(a OR b). A language rule has one clause of each kind, so an Istio
//! rule becomes one rule per combination of `from`, `to` and OR-ed `when`
//! values. `hosts`, `ports`, `destination.port` and `connection.sni` pick
//! destinations rather than adding conditions.

use super::{At, Dest, Node, Proto, World, namespace_of};
use crate::diag::Diagnostic;
use crate::fmt::quote;

/// A source condition atom (what `from` can say).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Src {
    Any,
    Principal(String),
    Namespace(String),
    ServiceAccount(String, String),
}

impl Src {
    fn text(&self) -> String {
        match self {
            Self::Any => "principal \"*\"".to_owned(),
            Self::Principal(p) => format!("principal {}", quote(p.as_bytes())),
            Self::Namespace(n) => format!("namespace {}", quote(n.as_bytes())),
            Self::ServiceAccount(n, s) => {
                format!("serviceaccount {}", quote(format!("{n}/{s}").as_bytes()))
            }
        }
    }

    /// `TD/ns/NS/sa/SA` → (NS, SA).
    fn parts(p: &str) -> Option<(&str, &str)> {
        let mut it = p.split('/');
        let (_, ns_kw, ns, sa_kw, sa) =
            (it.next()?, it.next()?, it.next()?, it.next()?, it.next()?);
        (ns_kw == "ns" && sa_kw == "sa" && it.next().is_none()).then_some((ns, sa))
    }

    /// Both at once, if anything can be.
    fn and(&self, other: &Self) -> Option<Self> {
        use Src::{Any, Namespace, Principal, ServiceAccount};
        match (self, other) {
            (Any, x) | (x, Any) => Some(x.clone()),
            (Principal(p), Principal(q)) => (p == q).then(|| self.clone()),
            (Principal(p), Namespace(n)) | (Namespace(n), Principal(p)) => Self::parts(p)
                .is_some_and(|(ns, _)| ns == n)
                .then(|| Principal(p.clone())),
            (Principal(p), ServiceAccount(n, s)) | (ServiceAccount(n, s), Principal(p)) => {
                Self::parts(p)
                    .is_some_and(|(ns, sa)| ns == n && sa == s)
                    .then(|| Principal(p.clone()))
            }
            (Namespace(n), Namespace(m)) => (n == m).then(|| self.clone()),
            (Namespace(n), ServiceAccount(m, s)) | (ServiceAccount(m, s), Namespace(n)) => {
                (n == m).then(|| ServiceAccount(m.clone(), s.clone()))
            }
            (ServiceAccount(..), ServiceAccount(..)) => (self == other).then(|| self.clone()),
        }
    }
}

/// An OR-list of sources AND-ed with another.
fn and_lists(a: Option<Vec<Src>>, b: Vec<Src>) -> Option<Vec<Src>> {
    let Some(a) = a else { return Some(b) };
    let mut out = Vec::new();
    for x in &a {
        for y in &b {
            if let Some(z) = x.and(y)
                && !out.contains(&z)
            {
                out.push(z);
            }
        }
    }
    Some(out)
}

/// What an unsupported part does to its rule.
#[derive(Debug, Default)]
struct Part {
    /// A condition the language cannot say: an ALLOW rule is dropped, a
    /// DENY rule goes without it.
    inexact: bool,
}

/// One `from` alternative.
#[derive(Debug, Default)]
struct From {
    /// `None`: no positive source condition.
    only: Option<Vec<Src>>,
    except: Vec<Src>,
    part: Part,
}

/// One `to` alternative.
#[derive(Debug, Default)]
struct To {
    methods: Option<Vec<String>>,
    not_methods: Vec<String>,
    paths: Option<Vec<String>>,
    not_paths: Vec<String>,
    hosts: Option<Vec<String>>,
    not_hosts: Vec<String>,
    ports: Option<Vec<u16>>,
    not_ports: Vec<u16>,
    /// Uses a field Istio reads only from HTTP requests.
    http_only: bool,
    /// A `notPaths: ["*"]` and the like: nothing matches.
    never: bool,
    part: Part,
}

const METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

fn strings(n: Option<&Node>) -> Vec<String> {
    n.and_then(Node::as_seq)
        .map(|v| {
            v.iter()
                .filter_map(|x| match x {
                    Node::Str(s) => Some(s.clone()),
                    Node::Int(i) => Some(i.to_string()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// An Istio principal string as a source, if the language can say it.
fn principal(p: &str) -> Option<Src> {
    let p = p.strip_prefix("spiffe://").unwrap_or(p);
    if p == "*" {
        return Some(Src::Any);
    }
    if let Some(rest) = p.strip_prefix("*/") {
        return Src::parts(&format!("x/{rest}"))
            .filter(|(ns, sa)| !ns.contains('*') && !sa.contains('*'))
            .map(|(ns, sa)| Src::ServiceAccount(ns.to_owned(), sa.to_owned()));
    }
    (!p.contains('*') && Src::parts(p).is_some()).then(|| Src::Principal(p.to_owned()))
}

fn namespace(n: &str) -> Option<Src> {
    if n == "*" {
        return Some(Src::Any);
    }
    (!n.contains('*') && !n.is_empty() && !n.contains('/')).then(|| Src::Namespace(n.to_owned()))
}

fn service_account(s: &str) -> Option<Src> {
    let (n, a) = s.split_once('/')?;
    (!s.contains('*') && !n.is_empty() && !a.is_empty() && !a.contains('/'))
        .then(|| Src::ServiceAccount(n.to_owned(), a.to_owned()))
}

fn unsupported(at: &At, what: &str) -> Diagnostic {
    at.warn("W0607", format!("{what} cannot be expressed"))
        .label("an ALLOW rule that needs it is dropped (it allows less); a DENY rule goes without it (it denies more)")
}

/// Converts a list of Istio source strings; `None` entries are
/// unsupported.
fn sources(
    at: &At,
    list: &[String],
    conv: fn(&str) -> Option<Src>,
    part: &mut Part,
    diags: &mut Vec<Diagnostic>,
) -> Vec<Src> {
    let mut out = Vec::new();
    for (i, s) in list.iter().enumerate() {
        match conv(s) {
            Some(src) => out.push(src),
            None => {
                part.inexact = true;
                let d = unsupported(&at.index(i), &format!("source {s:?}"))
                    .help("the language matches exact principals, `principal \"*\"`, namespaces and service accounts (`*/ns/NS/sa/SA`)");
                diags.push(d);
            }
        }
    }
    out
}

fn from_alt(n: &Node, at: &At, diags: &mut Vec<Diagnostic>) -> From {
    let mut f = From::default();
    let src = n.get("source");
    let at = at.field("source");
    let get = |k: &str| strings(src.and_then(|s| s.get(k)));
    for key in [
        "requestPrincipals",
        "notRequestPrincipals",
        "ipBlocks",
        "notIpBlocks",
        "remoteIpBlocks",
        "notRemoteIpBlocks",
    ] {
        if !get(key).is_empty() {
            f.part.inexact = true;
            diags.push(unsupported(&at.field(key), &format!("`{key}`")).help(
                "the filter decides on the peer's SPIFFE identity, not on JWTs or IP addresses",
            ));
        }
    }
    let mut positive: Option<Vec<Src>> = None;
    for (key, conv) in [
        ("principals", principal as fn(&str) -> Option<Src>),
        ("namespaces", namespace),
        ("serviceAccounts", service_account),
    ] {
        let list = get(key);
        if list.is_empty() {
            continue;
        }
        let before = f.part.inexact;
        f.part.inexact = false;
        let srcs = sources(&at.field(key), &list, conv, &mut f.part, diags);
        // A field with an entry the language cannot say is left out: the
        // ALLOW rule is dropped anyway, and a DENY rule denies more.
        if !f.part.inexact {
            positive = and_lists(positive, srcs);
        }
        f.part.inexact |= before;
    }
    for (key, conv) in [
        ("notPrincipals", principal as fn(&str) -> Option<Src>),
        ("notNamespaces", namespace),
        ("notServiceAccounts", service_account),
    ] {
        let list = get(key);
        f.except
            .extend(sources(&at.field(key), &list, conv, &mut f.part, diags));
    }
    f.only = positive;
    f
}

/// An Istio path as a language pattern, or `Err` when it cannot be one;
/// `Ok(None)` for `*` (any path).
fn path(p: &str) -> Result<Option<String>, ()> {
    if p == "*" {
        return Ok(None);
    }
    // Istio matches the normalised path without its query: a pattern with
    // `?` or `#`, a relative one, or one no normalised path has never
    // matches; the language refuses such patterns.
    let odd = p.contains(['?', '#', '\\'])
        || p.contains("//")
        || p.contains("/./")
        || p.contains("/../")
        || p.ends_with("/.")
        || p.ends_with("/..")
        || !(p.starts_with('/') || p.starts_with('*'));
    if odd {
        return Err(());
    }
    if p.contains('{') {
        return Ok(Some(quote(p.as_bytes())));
    }
    let stars = p.matches('*').count();
    if stars == 0 {
        return Ok(Some(quote(p.as_bytes())));
    }
    if stars > 1 {
        return Err(());
    }
    if let Some(s) = p.strip_prefix('*') {
        return Ok(Some(format!("suffix {}", quote(s.as_bytes()))));
    }
    if let Some(s) = p.strip_suffix('*') {
        return Ok(Some(format!("prefix {}", quote(s.as_bytes()))));
    }
    Err(())
}

fn to_alt(n: &Node, at: &At, diags: &mut Vec<Diagnostic>) -> To {
    let mut t = To::default();
    let op = n.get("operation");
    let at = at.field("operation");
    let get = |k: &str| strings(op.and_then(|s| s.get(k)));
    for (key, negated) in [("methods", false), ("notMethods", true)] {
        let list = get(key);
        if list.is_empty() {
            continue;
        }
        t.http_only = true;
        let mut ok = Vec::new();
        for (i, m) in list.iter().enumerate() {
            if METHODS.contains(&m.as_str()) {
                ok.push(m.clone());
            } else {
                t.part.inexact = true;
                diags.push(
                    unsupported(&at.field(key).index(i), &format!("method {m:?}"))
                        .help("the language names the standard methods, in upper case (Envoy refuses lower-case methods)"),
                );
            }
        }
        if negated {
            t.not_methods = ok;
        } else {
            if !t.part.inexact {
                // (with an unnamed method the field is left out)
                t.methods = Some(ok);
            }
        }
    }
    for (key, negated) in [("paths", false), ("notPaths", true)] {
        let list = get(key);
        if list.is_empty() {
            continue;
        }
        t.http_only = true;
        let mut pats = Vec::new();
        let (mut any, mut bad) = (false, false);
        for (i, p) in list.iter().enumerate() {
            match path(p) {
                Ok(Some(pat)) => pats.push(pat),
                Ok(None) => any = true,
                Err(()) => {
                    bad = true;
                    t.part.inexact = true;
                    diags.push(
                        unsupported(&at.field(key).index(i), &format!("path {p:?}")).help(
                            "Istio paths are exact, `/x*`, `*x`, `*` or `{*}`/`{**}` templates",
                        ),
                    );
                }
            }
        }
        match (negated, any) {
            (false, true) => {}         // `*`: any path
            (false, false) if bad => {} // left out (see `from_alt`)
            (false, false) => t.paths = Some(pats),
            (true, true) => t.never = true,
            (true, false) => t.not_paths = pats,
        }
    }
    for (key, negated) in [("hosts", false), ("notHosts", true)] {
        let list = get(key);
        if list.is_empty() {
            continue;
        }
        t.http_only = true;
        for (i, h) in list.iter().enumerate() {
            if !h.contains(':') {
                diags.push(
                    at.field(key).index(i).warn(
                        "W0608",
                        format!("host {h:?} is matched on every port"),
                    )
                    .label(format!("Istio compares the whole Host header: {h:?} does not match `Host: {h}:443` or `{h}:8080`"))
                    .help(format!("imported as meant: the host name on any port (Istio's best practice writes [\"{h}\", \"{h}:*\"]); the language compares the host and the port separately")),
                );
            }
        }
        let hs: Vec<String> = list.iter().map(|h| h.to_ascii_lowercase()).collect();
        if negated {
            t.not_hosts = hs;
        } else {
            t.hosts = Some(hs);
        }
    }
    for (key, negated) in [("ports", false), ("notPorts", true)] {
        let list = get(key);
        if list.is_empty() {
            continue;
        }
        let ps: Vec<u16> = list.iter().filter_map(|p| p.parse().ok()).collect();
        if negated {
            t.not_ports = ps;
        } else {
            t.ports = Some(ps);
        }
    }
    t
}

/// Whether an Istio host pattern (`h`, `*.x`, `x*`, `*`, each with an
/// optional `:port` or `:*`) matches destination `d`: `Some(true)` for all
/// its requests, `Some(false)` for none, `None` when only for some.
fn host_matches(pattern: &str, d: &Dest) -> Option<bool> {
    if d.cidr {
        return Some(false);
    }
    let (host, port) = match pattern.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, Some(p)),
        _ => (pattern, None),
    };
    if let Some(p) = port
        && p != "*"
        && p.parse::<u16>().ok() != Some(d.port)
    {
        return Some(false);
    }
    let Some(target) = d.targets.first() else {
        return Some(false);
    };
    let t = target.as_str();
    if host == "*" {
        return Some(true);
    }
    if let Some(suffix) = host.strip_prefix('*') {
        // Istio: a raw suffix, any depth.
        let covers = if let Some(rest) = t.strip_prefix("**.").or_else(|| t.strip_prefix("*.")) {
            format!(".{rest}").ends_with(suffix)
        } else {
            t.ends_with(suffix)
        };
        return if covers {
            Some(true)
        } else if t.starts_with('*') && suffix.ends_with(t.trim_start_matches('*')) {
            None
        } else {
            Some(false)
        };
    }
    if let Some(prefix) = host.strip_suffix('*') {
        return if t.starts_with('*') {
            None
        } else {
            Some(t.starts_with(prefix))
        };
    }
    if t.starts_with('*') {
        let rest = t.trim_start_matches('*');
        return if host.ends_with(rest) {
            None
        } else {
            Some(false)
        };
    }
    Some(host == t)
}

/// Header `when` values as language conditions; `Err` for an invalid name.
fn header_cond(name: &str, v: &str, negated: bool) -> String {
    let n = quote(name.as_bytes());
    if v == "*" {
        return format!("header {n} {}", if negated { "absent" } else { "present" });
    }
    let neg = if negated { "not " } else { "" };
    if let Some(s) = v.strip_prefix('*') {
        return format!("header {n} {neg}suffix {}", quote(s.as_bytes()));
    }
    if let Some(s) = v.strip_suffix('*') {
        return format!("header {n} {neg}prefix {}", quote(s.as_bytes()));
    }
    format!(
        "header {n} {} {}",
        if negated { "!=" } else { "==" },
        quote(v.as_bytes())
    )
}

/// The `when` conditions: OR-ed alternatives of AND-ed header conditions,
/// and what they do to sources and destinations.
#[derive(Debug, Default)]
struct When {
    headers: Vec<Vec<String>>,
    sources: Option<Vec<Src>>,
    except: Vec<Src>,
    ports: Option<Vec<u16>>,
    not_ports: Vec<u16>,
    sni: Option<Vec<String>>,
    not_sni: Vec<String>,
    http_only: bool,
    part: Part,
}

fn when(rule: &Node, at: &At, diags: &mut Vec<Diagnostic>) -> When {
    let mut w = When {
        headers: vec![Vec::new()],
        ..When::default()
    };
    for (i, c) in rule
        .get("when")
        .and_then(Node::as_seq)
        .unwrap_or(&[])
        .iter()
        .enumerate()
    {
        let c_at = at.field("when").index(i);
        let key = c.get("key").and_then(Node::as_str).unwrap_or("");
        let values = strings(c.get("values"));
        let not_values = strings(c.get("notValues"));
        if let Some(h) = key
            .strip_prefix("request.headers[")
            .and_then(|k| k.strip_suffix(']'))
        {
            w.http_only = true;
            let name = h.to_ascii_lowercase();
            if !egress_table::format::is_header_name(name.as_bytes()) {
                w.part.inexact = true;
                diags.push(unsupported(
                    &c_at.field("key"),
                    &format!("header name {h:?}"),
                ));
                continue;
            }
            if !values.is_empty() {
                let mut next = Vec::new();
                for alt in &w.headers {
                    for v in &values {
                        let mut a = alt.clone();
                        a.push(header_cond(&name, v, false));
                        next.push(a);
                    }
                }
                w.headers = next;
            }
            for alt in &mut w.headers {
                for v in &not_values {
                    alt.push(header_cond(&name, v, true));
                }
            }
            continue;
        }
        let conv = match key {
            "source.principal" => Some(principal as fn(&str) -> Option<Src>),
            "source.namespace" => Some(namespace as fn(&str) -> Option<Src>),
            _ => None,
        };
        if let Some(conv) = conv {
            if !values.is_empty() {
                let mut part = Part::default();
                let s = sources(&c_at.field("values"), &values, conv, &mut part, diags);
                if part.inexact {
                    w.part.inexact = true; // left out (see `from_alt`)
                } else {
                    w.sources = and_lists(w.sources.take(), s);
                }
            }
            let e = sources(
                &c_at.field("notValues"),
                &not_values,
                conv,
                &mut w.part,
                diags,
            );
            w.except.extend(e);
            continue;
        }
        match key {
            "destination.port" => {
                if !values.is_empty() {
                    let ps: Vec<u16> = values.iter().filter_map(|p| p.parse().ok()).collect();
                    w.ports = Some(match w.ports.take() {
                        Some(old) => old.into_iter().filter(|p| ps.contains(p)).collect(),
                        None => ps,
                    });
                }
                w.not_ports
                    .extend(not_values.iter().filter_map(|p| p.parse::<u16>().ok()));
            }
            "connection.sni" => {
                if !values.is_empty() {
                    w.sni = Some(values.iter().map(|v| v.to_ascii_lowercase()).collect());
                }
                w.not_sni
                    .extend(not_values.iter().map(|v| v.to_ascii_lowercase()));
            }
            _ => {
                w.part.inexact = true;
                diags.push(
                    unsupported(&c_at.field("key"), &format!("condition `{key}`"))
                        .help("the language can say request.headers[…], source.principal, source.namespace, destination.port and connection.sni"),
                );
            }
        }
    }
    w
}

/// Whether an SNI pattern (Istio string match: exact, `x*`, `*x`, `*`)
/// matches a tls destination: `None` when only for some of its requests.
fn sni_matches(pattern: &str, d: &Dest) -> Option<bool> {
    if d.proto != Proto::Tls {
        return Some(false); // plain HTTP and raw TCP carry no SNI
    }
    host_matches(
        pattern,
        &Dest {
            port: d.port,
            ..d.clone()
        },
    )
}

/// Applies every AuthorizationPolicy to the destinations.
pub(crate) fn apply(world: &World, dests: &mut [Dest], diags: &mut Vec<Diagnostic>) {
    for (pol, at, key) in &world.policies {
        let spec = pol.get("spec");
        let spec_at = at.field("spec");
        let ns = namespace_of(pol);
        let dry_run = pol
            .get("metadata")
            .and_then(|m| m.get("annotations"))
            .and_then(|a| a.get("istio.io/dry-run"))
            .and_then(Node::as_str)
            == Some("true");
        if dry_run {
            diags.push(at.field("metadata.annotations").warn(
                "W0609",
                format!("AuthorizationPolicy {key} is a dry run: it changes no decision, so it is not imported"),
            ).help("to see what it would do, import it without the annotation into a policy of its own and give that policy `mode audit`"));
            continue;
        }
        let action = spec
            .and_then(|s| s.get("action"))
            .and_then(Node::as_str)
            .unwrap_or("ALLOW");
        let deny = match action {
            "ALLOW" => false,
            "DENY" => true,
            "AUDIT" => {
                diags.push(spec_at.field("action").warn(
                    "W0609",
                    format!("AuthorizationPolicy {key}: AUDIT changes no decision; not imported"),
                ));
                continue;
            }
            other => {
                diags.push(
                    spec_at.field("action").warn(
                        "W0607",
                        format!("AuthorizationPolicy {key}: action {other} cannot be expressed; not imported"),
                    )
                    .label("its external authorizer may deny requests the imported policy allows")
                    .help("keep the CUSTOM policy in the mesh next to the filter"),
                );
                continue;
            }
        };
        // Scope: the destinations this policy applies to.
        let refs: Vec<&Node> = spec
            .and_then(|s| s.get("targetRefs"))
            .and_then(Node::as_seq)
            .map(|v| v.iter().collect())
            .or_else(|| spec.and_then(|s| s.get("targetRef")).map(|r| vec![r]))
            .unwrap_or_default();
        let mut scope: Vec<usize> = Vec::new();
        if refs.is_empty() {
            scope = (0..dests.len()).collect();
        } else {
            for (i, r) in refs.iter().enumerate() {
                let kind = r.get("kind").and_then(Node::as_str).unwrap_or("");
                let name = r.get("name").and_then(Node::as_str).unwrap_or("");
                match kind {
                    "ServiceEntry" | "Service" => {
                        let owner = format!("{kind}/{ns}/{name}");
                        let before = scope.len();
                        scope.extend(
                            dests
                                .iter()
                                .enumerate()
                                .filter(|(_, d)| d.owner == owner)
                                .map(|(j, _)| j),
                        );
                        if scope.len() == before {
                            diags.push(spec_at.field("targetRefs").index(i).warn(
                                "W0610",
                                format!("no imported {kind} {ns}/{name}: the policy applies to nothing"),
                            ).help("import the file that defines it too"));
                        }
                    }
                    "Gateway" | "GatewayClass" => scope.extend(0..dests.len()),
                    other => diags.push(spec_at.field("targetRefs").index(i).warn(
                        "W0610",
                        format!("a targetRef of kind {other:?} is not imported"),
                    )),
                }
            }
            scope.sort_unstable();
            scope.dedup();
        }
        let rules = spec
            .and_then(|s| s.get("rules"))
            .and_then(Node::as_seq)
            .unwrap_or(&[]);
        if !deny {
            for &j in &scope {
                if let Some(d) = dests.get_mut(j) {
                    d.allow_policy = true;
                }
            }
        }
        for (ri, rule) in rules.iter().enumerate() {
            let r_at = spec_at.field("rules").index(ri);
            let froms: Vec<From> = match rule.get("from").and_then(Node::as_seq) {
                Some(fs) if !fs.is_empty() => fs
                    .iter()
                    .enumerate()
                    .map(|(i, f)| from_alt(f, &r_at.field("from").index(i), diags))
                    .collect(),
                _ => vec![From::default()],
            };
            let tos: Vec<To> = match rule.get("to").and_then(Node::as_seq) {
                Some(ts) if !ts.is_empty() => ts
                    .iter()
                    .enumerate()
                    .map(|(i, t)| to_alt(t, &r_at.field("to").index(i), diags))
                    .collect(),
                _ => vec![To::default()],
            };
            let w = when(rule, &r_at, diags);
            let comment = format!("# AuthorizationPolicy {key} ({action}), {}", r_at.show());
            for &j in &scope {
                let Some(d) = dests.get_mut(j) else { continue };
                for f in &froms {
                    for t in &tos {
                        let mut partial = false;
                        let texts = combine(d, f, t, &w, deny, &mut partial);
                        if partial {
                            diags.push(
                                r_at.warn(
                                    "W0607",
                                    format!(
                                        "a host or SNI pattern that covers only some hosts of the wildcard destination {:?} cannot be expressed",
                                        d.targets.join(", ")
                                    ),
                                )
                                .label("an ALLOW rule that needs it is dropped (it allows less); a DENY rule goes without it (it denies more)")
                                .help("list the host in a ServiceEntry of its own"),
                            );
                        }
                        if let Some(texts) = texts {
                            for text in texts {
                                let line = format!("{text}  {comment}");
                                if deny {
                                    d.denies.push(line);
                                } else {
                                    d.allows.push(line);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The rules for one destination and one combination, or `None` when the
/// combination cannot match there (or, for ALLOW, cannot be said exactly).
fn combine(
    d: &Dest,
    f: &From,
    t: &To,
    w: &When,
    deny: bool,
    partial: &mut bool,
) -> Option<Vec<String>> {
    let http = d.proto == Proto::Http;
    let inexact = f.part.inexact || t.part.inexact || w.part.inexact;
    if t.never || (inexact && !deny) {
        return None;
    }
    // Istio on TCP/TLS traffic: an ALLOW rule with an HTTP-only field does
    // not apply; a DENY rule is applied without those fields.
    let http_fields = t.http_only || w.http_only;
    if http_fields && !http && !deny {
        return None;
    }
    // Destination picks: ports, hosts, SNI.
    let port_ok = |ps: &Option<Vec<u16>>, not: &[u16]| {
        ps.as_ref().is_none_or(|ps| ps.contains(&d.port)) && !not.contains(&d.port)
    };
    if !port_ok(&t.ports, &t.not_ports) || !port_ok(&w.ports, &w.not_ports) {
        return None;
    }
    if http {
        if let Some(hs) = &t.hosts {
            let m: Vec<Option<bool>> = hs.iter().map(|h| host_matches(h, d)).collect();
            if m.contains(&Some(true)) {
            } else if m.contains(&None) {
                *partial = true;
                if !deny {
                    return None;
                }
            } else {
                return None;
            }
        }
        for h in &t.not_hosts {
            match host_matches(h, d) {
                Some(true) => return None,
                None => {
                    *partial = true;
                    if !deny {
                        return None;
                    }
                }
                Some(false) => {}
            }
        }
    }
    if let Some(snis) = &w.sni {
        let m: Vec<Option<bool>> = snis.iter().map(|s| sni_matches(s, d)).collect();
        if !m.contains(&Some(true)) && m.contains(&None) {
            *partial = true;
        }
        if !(m.contains(&Some(true)) || (deny && m.contains(&None))) {
            return None;
        }
    }
    for s in &w.not_sni {
        match sni_matches(s, d) {
            Some(true) => return None,
            None => {
                *partial = true;
                if !deny {
                    return None;
                }
            }
            Some(false) => {}
        }
    }
    // Sources.
    let only = match (&f.only, &w.sources) {
        (None, None) => None,
        (Some(a), None) | (None, Some(a)) => Some(a.clone()),
        (Some(a), Some(b)) => and_lists(Some(a.clone()), b.clone()),
    };
    if only.as_ref().is_some_and(Vec::is_empty) {
        return None; // no principal can be both
    }
    let mut except: Vec<Src> = f.except.clone();
    for e in &w.except {
        if !except.contains(e) {
            except.push(e.clone());
        }
    }
    let mut s = String::from(if deny { "deny" } else { "allow" });
    if http {
        match (&t.methods, t.not_methods.is_empty()) {
            (Some(ms), _) => {
                let ms: Vec<&String> = ms.iter().filter(|m| !t.not_methods.contains(m)).collect();
                if ms.is_empty() {
                    if deny && t.part.inexact {
                        s.push_str(" any");
                    } else {
                        return None;
                    }
                } else {
                    let list: Vec<&str> = ms.iter().map(|m| m.as_str()).collect();
                    s.push(' ');
                    s.push_str(&list.join(", "));
                }
            }
            (None, false) => s.push_str(&format!(" any except {}", t.not_methods.join(", "))),
            (None, true) => s.push_str(" any"),
        }
        if let Some(ps) = &t.paths {
            if ps.is_empty() {
                if !deny {
                    return None;
                }
            } else {
                s.push_str(&format!(" path {}", ps.join(", ")));
            }
        }
        if !t.not_paths.is_empty() {
            s.push_str(&format!(" except path {}", t.not_paths.join(", ")));
        }
    }
    if let Some(o) = &only {
        let list: Vec<String> = o.iter().map(Src::text).collect();
        s.push_str(&format!(" from {}", list.join(", ")));
    }
    if !except.is_empty() {
        let list: Vec<String> = except.iter().map(Src::text).collect();
        s.push_str(&format!(" except from {}", list.join(", ")));
    }
    if !http {
        return Some(vec![s]);
    }
    let mut out = Vec::new();
    for alt in &w.headers {
        if alt.is_empty() {
            out.push(s.clone());
        } else {
            out.push(format!("{s} when {}", alt.join(" and ")));
        }
    }
    Some(out)
}
