//! The translation of rules into Cedar conditions: ports, addresses,
//! sources, methods, and the host groups, path patterns and header tests
//! that the request builder ([`super::request`]) precomputes.

use std::collections::{BTreeMap, BTreeSet};

use egress_table::path::match_form;
use egress_table::spec::{
    Action, Cidr, DestSpec, HeaderSpec, HostKind, METHODS, MethodSet, PathSpec, PatternKind,
    PortRange, Protocol, RuleSpec, SourceSpec, Target,
};

use super::text::{Like, entity, latin1, like, string};
use super::*;

/// `context.port` in any of `ranges`.
pub(super) fn ports(ranges: &[PortRange]) -> String {
    disjunction(
        ranges
            .iter()
            .map(|r| {
                if r.lo == r.hi {
                    format!("context.port == {}", r.lo)
                } else {
                    format!("(context.port >= {} && context.port <= {})", r.lo, r.hi)
                }
            })
            .collect(),
    )
}

/// `!(x)`: the parentheses are needed, since `!` binds tighter than `==`,
/// `!=` and `like` (`!principal != X` would negate the entity).
pub(super) fn negation(x: &str) -> String {
    format!("!({x})")
}

/// `a || b || …`, in parentheses when there is more than one.
pub(super) fn disjunction(items: Vec<String>) -> String {
    match items.as_slice() {
        [one] => one.clone(),
        _ => format!("({})", items.join(" || ")),
    }
}

/// `context.destination` in a range. An IPv6 range that covers the
/// IPv4-mapped block also covers every IPv4 address (the request builder
/// passes a mapped address as IPv4); a range inside that block is an IPv4
/// range.
pub(super) fn address_test(c: &Cidr) -> String {
    use std::net::{IpAddr, Ipv6Addr};
    let mapped = Cidr {
        addr: IpAddr::V6(Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0)),
        prefix: 96,
    };
    let in_range = |c: &Cidr| {
        format!(
            "context.destination.isInRange(ip({}))",
            string(&c.to_string())
        )
    };
    match c.addr {
        IpAddr::V6(v6) if c.prefix >= 96 && mapped.contains(c.addr) => {
            let v4 = Cidr {
                addr: IpAddr::V4(
                    v6.to_ipv4_mapped()
                        .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED),
                ),
                prefix: c.prefix - 96,
            };
            in_range(&v4)
        }
        IpAddr::V6(_) if c.contains(mapped.addr) && c.prefix <= 96 => {
            format!("({} || context.destination.isIpv4())", in_range(c))
        }
        _ => in_range(c),
    }
}

#[derive(Default)]
pub(super) struct Cx {
    /// Host pattern → the groups (destinations) that list it.
    pub(super) hosts: BTreeMap<String, BTreeSet<String>>,
    /// Every group, in order.
    pub(super) groups: Vec<String>,
    /// Path patterns by key.
    pub(super) patterns: BTreeMap<String, PathPattern>,
    /// Header value tests by key.
    pub(super) header_tests: BTreeMap<String, HeaderTest>,
}

impl Cx {
    pub(super) fn group(&mut self, group: &str, d: &DestSpec) {
        if d.protocol == Protocol::Tcp {
            return;
        }
        self.groups.push(group.to_owned());
        for t in &d.targets {
            if let Target::Host(h) = t {
                // The ids [`host_patterns`] puts a host in; a new kind of
                // pattern needs its own there.
                let id = match h.kind {
                    HostKind::Exact | HostKind::OneLabel | HostKind::AnyDepth => h.to_string(),
                };
                self.hosts.entry(id).or_default().insert(group.to_owned());
            }
        }
    }

    pub(super) fn pattern(&mut self, kind: PatternKind, source: &str) -> String {
        let key = match kind {
            PatternKind::Template => source.to_owned(),
            PatternKind::Regex => format!("~{source}"),
        };
        let regex = match kind {
            PatternKind::Template => egress_table::dfa::template_regex(source).unwrap_or_default(),
            PatternKind::Regex => source.to_owned(),
        };
        self.patterns
            .entry(key.clone())
            .or_insert_with(|| PathPattern {
                key: key.clone(),
                kind,
                source: source.to_owned(),
                regex,
            });
        format!(
            "context.path_matches.contains({})",
            entity("PathPattern", &key)
        )
    }

    pub(super) fn path_test(&mut self, p: &PathSpec) -> String {
        let text = |s: &str| latin1(&match_form(s.as_bytes()));
        match p {
            PathSpec::Exact(s) => format!("context.path == {}", string(&text(s))),
            PathSpec::Prefix(s) => format!(
                "context.path like {}",
                like(&[Like::Text(text(s)), Like::Any])
            ),
            PathSpec::Suffix(s) => format!(
                "context.path like {}",
                like(&[Like::Any, Like::Text(text(s))])
            ),
            PathSpec::Pattern {
                kind: PatternKind::Template,
                source,
                ..
            } => {
                let toks = template_tokens(source);
                if toks.contains(&Tok::One) {
                    return self.pattern(PatternKind::Template, source);
                }
                let pieces: Vec<Like> = toks
                    .iter()
                    .map(|t| match t {
                        Tok::Lit(l) => Like::Text(latin1(l)),
                        Tok::One | Tok::Rest => Like::Any,
                    })
                    .collect();
                format!("context.path like {}", like(&pieces))
            }
            PathSpec::Pattern {
                kind: PatternKind::Regex,
                source,
                ..
            } => self.pattern(PatternKind::Regex, source),
        }
    }

    /// A header condition, fail-closed per action (docs/language.md,
    /// "Headers"), over the header facts of the context.
    pub(super) fn header_test(&mut self, h: &HeaderSpec, action: Action) -> String {
        let name = h.name();
        let folded = latin1(&fold(name.as_bytes()));
        let exact = format!("context.headers.names.contains({})", string(name));
        let variants = format!("context.headers.names_folded.contains({})", string(&folded));
        let Some((op, value, negated)) = h.value_test() else {
            return match (h, action) {
                (HeaderSpec::Present(_), Action::Allow) => exact,
                (HeaderSpec::Present(_), Action::Deny) => variants,
                (_, Action::Allow) => format!("!{variants}"),
                (_, Action::Deny) => format!("!{exact}"),
            };
        };
        let key = format!("{folded} {} {}", op_word(op), latin1(value));
        self.header_tests
            .entry(key.clone())
            .or_insert_with(|| HeaderTest {
                key: key.clone(),
                name: folded.clone(),
                op,
                value: value.to_vec(),
            });
        let test = entity("HeaderTest", &key);
        // Some occurrence passes (a deny's reading); the name is present and
        // every occurrence passes (an allow's). A negation is the other
        // action's reading, negated.
        let some = format!("context.headers.some.contains({test})");
        let every = format!("({exact} && context.headers.every.contains({test}))");
        match (action, negated) {
            (Action::Deny, false) => some,
            (Action::Allow, false) => every,
            (Action::Deny, true) => format!("!{every}"),
            (Action::Allow, true) => format!("!{some}"),
        }
    }

    /// One rule as one Cedar policy, or why it can never match.
    pub(super) fn translate(
        &mut self,
        d: &DestSpec,
        r: &RuleSpec,
        group: &str,
    ) -> Result<Translated, String> {
        // Every field named: a field added to the table spec (a new kind of
        // condition) stops this from compiling until it has a translation.
        let RuleSpec {
            id,
            action,
            methods,
            paths,
            sources,
            headers,
            line: _,
            except_paths,
            except_sources,
            fallback,
        } = r;
        let DestSpec {
            targets,
            protocol,
            ports: dest_ports,
            rules: _,
        } = d;
        let hosts = targets.iter().any(|t| matches!(t, Target::Host(_)));
        let cidrs: Vec<&Cidr> = targets
            .iter()
            .filter_map(|t| match t {
                Target::Cidr(c) => Some(c),
                Target::Host(_) => None,
            })
            .collect();
        let (action_scope, resource) = match protocol {
            Protocol::Http => {
                if !hosts {
                    return Err("an http destination without a host name".into());
                }
                (
                    http_actions(*methods, *action)?,
                    format!("resource in {}", entity("HostGroup", group)),
                )
            }
            // A connection's method is none of the standard ones: only an
            // open set (`any`, `any except …`) holds for it.
            Protocol::Tls | Protocol::Tcp if !methods.is_open() => {
                return Err("it names methods, and a connection has none".into());
            }
            Protocol::Tls => {
                if !hosts {
                    return Err("a tls destination without a host name".into());
                }
                (
                    "action == Action::\"connect\"".to_owned(),
                    format!("resource is Host in {}", entity("HostGroup", group)),
                )
            }
            Protocol::Tcp => {
                if cidrs.is_empty() {
                    return Err("a tcp destination without an address range".into());
                }
                (
                    "action == Action::\"connect\"".to_owned(),
                    "resource".to_owned(),
                )
            }
        };
        let mut conds: Vec<String> = vec![ports(dest_ports)];
        if *protocol == Protocol::Tcp {
            conds.push(format!(
                "context has destination && {}",
                disjunction(cidrs.iter().map(|c| address_test(c)).collect())
            ));
        }
        // Sources: with only plain sources and a single one, the scope says
        // it; anything else is a condition.
        let mut principal = "principal".to_owned();
        match (sources.as_slice(), except_sources.is_empty()) {
            ([], true) => {}
            ([one], true) if !matches!(one, SourceSpec::AnyPrincipal) => principal = source(one),
            (plain, _) => {
                let mut parts = Vec::new();
                if !plain.is_empty() {
                    parts.push(disjunction(plain.iter().map(source).collect()));
                } else if *action == Action::Allow {
                    // An allow's `except from` needs an identity.
                    parts.push(format!("principal != {}", entity("Workload", "")));
                }
                if !except_sources.is_empty() {
                    parts.push(negation(&disjunction(
                        except_sources.iter().map(source).collect(),
                    )));
                }
                conds.push(parts.join(" && "));
            }
        }
        if !paths.is_empty() || !except_paths.is_empty() {
            let mut parts = Vec::new();
            if !paths.is_empty() {
                parts.push(disjunction(
                    paths.iter().map(|x| self.path_test(x)).collect(),
                ));
            }
            if !except_paths.is_empty() {
                let any = disjunction(except_paths.iter().map(|x| self.path_test(x)).collect());
                parts.push(negation(&any));
            }
            let test = parts.join(" && ");
            conds.push(match action {
                Action::Allow => format!("context has path && {test}"),
                // A CONNECT without `:path`: the condition holds for a deny.
                Action::Deny => format!("(if context has path then {test} else true)"),
            });
        }
        for h in headers {
            conds.push(self.header_test(h, *action));
        }
        Ok(Translated {
            id: id.clone(),
            effect: match action {
                Action::Allow => "permit",
                Action::Deny => "forbid",
            },
            principal,
            action: action_scope,
            resource,
            conds,
            http: *protocol == Protocol::Http,
            fallback: *fallback,
        })
    }

    /// `entities.json`, when there is any entity to list.
    pub(super) fn entities(&self) -> Option<String> {
        use serde_json::{Value, json};
        let uid = |ty: &str, id: &str| json!({ "type": ty, "id": id });
        let mut list: Vec<Value> = Vec::new();
        for g in &self.groups {
            list.push(json!({ "uid": uid("HostGroup", g), "attrs": {}, "parents": [] }));
        }
        for (h, groups) in &self.hosts {
            let parents: Vec<Value> = groups.iter().map(|g| uid("HostGroup", g)).collect();
            list.push(json!({ "uid": uid("HostPattern", h), "attrs": {}, "parents": parents }));
        }
        for p in self.patterns.values() {
            list.push(json!({
                "uid": uid("PathPattern", &p.key),
                "attrs": { "regex": p.regex },
                "parents": []
            }));
        }
        for t in self.header_tests.values() {
            list.push(json!({
                "uid": uid("HeaderTest", &t.key),
                "attrs": { "name": t.name, "op": op_word(t.op), "value": latin1(&t.value) },
                "parents": []
            }));
        }
        if list.is_empty() {
            return None;
        }
        serde_json::to_string_pretty(&Value::Array(list))
            .ok()
            .map(|s| s + "\n")
    }
}

/// A source condition on the principal.
pub(super) fn source(s: &SourceSpec) -> String {
    match s {
        SourceSpec::Principal(x) => format!("principal == {}", entity("Workload", x)),
        SourceSpec::Namespace(n) => format!("principal in {}", entity("Namespace", n)),
        SourceSpec::ServiceAccount { namespace, name } => format!(
            "principal in {}",
            entity("ServiceAccount", &format!("{namespace}/{name}"))
        ),
        SourceSpec::AnyPrincipal => format!("principal != {}", entity("Workload", "")),
    }
}

/// The action scope of an HTTP rule. `any` is a group; `allow any` (and any
/// open set in an allow) never admits CONNECT, which must be named.
pub(super) fn http_actions(methods: MethodSet, action: Action) -> Result<String, String> {
    if methods.is_any() {
        return Ok(match action {
            Action::Deny => "action in Action::\"any\"".to_owned(),
            Action::Allow => "action in Action::\"any except CONNECT\"".to_owned(),
        });
    }
    let mut names: Vec<&str> = if methods.is_open() {
        let excluded = methods.excluded();
        METHODS
            .iter()
            .copied()
            .filter(|m| !excluded.names().any(|x| x == *m))
            .filter(|m| action == Action::Deny || *m != "CONNECT")
            .collect()
    } else {
        methods.names().collect()
    };
    if methods.is_open() {
        names.push("other");
    }
    let list: Vec<String> = names.iter().map(|m| entity("Action", m)).collect();
    match list.as_slice() {
        [] => Err("it names no method".into()),
        [one] => Ok(format!("action == {one}")),
        many => Ok(format!("action in [{}]", many.join(", "))),
    }
}

/// The host patterns a normalised host is in: itself; unless it is an IP
/// literal, `*.` and the host without its first label (`*` for a one-label
/// host), `**.` and every suffix after a dot, and `**`.
pub fn host_patterns(host: &str) -> Vec<String> {
    let mut out = vec![host.to_owned()];
    if host.parse::<std::net::IpAddr>().is_ok() {
        return out;
    }
    match host.split_once('.') {
        Some((_, rest)) => out.push(format!("*.{rest}")),
        None => out.push("*".to_owned()),
    }
    for (i, c) in host.char_indices() {
        if c == '.'
            && let Some(suffix) = host.get(i + 1..)
        {
            out.push(format!("**.{suffix}"));
        }
    }
    out.push("**".to_owned());
    out
}
