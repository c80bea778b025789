//! A rule: its methods and its conditions (paths, sources, headers).

use std::collections::HashMap;

use egress_table::spec::{Action, HeaderSpec, METHODS, MethodSet, Protocol, SourceSpec, ValueOp};

use super::path::check_path;
use super::{CPath, CRule, Ctx, a, action};
use crate::ast::{self, Cond, HeaderOp, Methods};
use crate::diag::{Diagnostic, did_you_mean};
use crate::source::{Span, Spanned};

/// E0322 (tls) or E0323 (tcp) for an HTTP-only condition on another protocol.
fn l7_error(span: Span, what: &str, protocol: Protocol, proto_span: Span) -> Diagnostic {
    let d = Diagnostic::error(
        if protocol == Protocol::Tls {
            "E0322"
        } else {
            "E0323"
        },
        span,
        format!("{what} condition on {} destination", a(protocol)),
    )
    .with_label(proto_span, protocol.as_str());
    if protocol == Protocol::Tls {
        d.label("the request is encrypted: the proxy sees only the TLS SNI")
            .help("to decide on methods, paths or headers the proxy must see plain HTTP: let the application send HTTP and have the waypoint originate TLS (`http originate-tls 443`), or decide on the host alone here")
    } else {
        d.label("raw TCP has no methods, paths or headers")
            .help("only sources (`from ...`) apply to tcp destinations")
    }
}

/// Checks a rule: its methods, then its conditions in order.
pub(super) fn check_rule(
    cx: &mut Ctx<'_>,
    r: &ast::Rule,
    protocol: Protocol,
    proto_span: &Span,
) -> Option<CRule> {
    if r.otherwise.is_some() {
        return Some(CRule {
            action: Action::Deny,
            fallback: true,
            ..CRule::implicit(r.span)
        });
    }
    let mut ok = true;
    let methods = check_methods(cx, r, protocol, *proto_span, &mut ok)?;
    let c = check_conds(cx, r, protocol, *proto_span, &mut ok)?;
    ok.then_some(CRule {
        span: r.span,
        action: action(r.action.value),
        methods,
        paths: c.paths,
        sources: c.sources,
        headers: c.headers,
        except_paths: c.except_paths,
        except_sources: c.except_sources,
        fallback: false,
    })
}

/// Checks the rule's methods: only on `http` (E0322, E0323), each a
/// standard method written once. `None` when the rule is not HTTP.
fn check_methods(
    cx: &mut Ctx<'_>,
    r: &ast::Rule,
    protocol: Protocol,
    proto_span: Span,
    ok: &mut bool,
) -> Option<MethodSet> {
    let mut methods = MethodSet::ANY;
    match &r.methods {
        None | Some(Methods::Any(_)) => {}
        Some(Methods::List(list) | Methods::AnyExcept(_, list)) => {
            if protocol != Protocol::Http {
                let at = match &r.methods {
                    Some(Methods::AnyExcept(s, _)) => *s,
                    _ => list.first().map_or(r.span, |m| m.span),
                };
                cx.err(l7_error(at, "a method", protocol, proto_span));
                return None;
            }
            let mut set = MethodSet(0);
            for m in list {
                if m.value == "any" {
                    cx.err(
                        Diagnostic::error("E0340", m.span, "`any` together with named methods")
                            .label("`any` already covers every method")
                            .help("write either `any` or a list of methods"),
                    );
                    *ok = false;
                    continue;
                }
                match MethodSet::standard(&m.value) {
                    Some(bit) => {
                        if set.0 & bit.0 != 0 {
                            cx.err(
                                Diagnostic::warning(
                                    "W0409",
                                    m.span,
                                    format!("method {} listed twice", m.value),
                                )
                                .label("duplicate")
                                .help("remove it"),
                            );
                        }
                        set = set.union(bit);
                    }
                    None => {
                        cx.err(unknown_method(m));
                        *ok = false;
                    }
                }
            }
            if set.0 != 0 {
                methods = match &r.methods {
                    Some(Methods::AnyExcept(..)) => MethodSet::any_except(set),
                    _ => set,
                };
            }
        }
    }
    Some(methods)
}

/// E0325 for a method in the wrong case, else E0324 for an unknown one.
fn unknown_method(m: &Spanned<String>) -> Diagnostic {
    let upper = m.value.to_ascii_uppercase();
    if MethodSet::standard(&upper).is_some() {
        Diagnostic::error(
            "E0325",
            m.span,
            format!("method `{}` must be upper case", m.value),
        )
        .label("HTTP methods are case-sensitive")
        .help(format!("write {upper}"))
    } else {
        Diagnostic::error(
            "E0324",
            m.span,
            format!("unknown method `{}`", m.value),
        )
        .label(format!("expected one of {}", METHODS.join(", ")))
        .maybe_help(
            did_you_mean(&m.value, &METHODS)
                .or_else(|| COND_HINT.get(m.value.as_str()).map(|s| (*s).to_owned()))
                .or_else(|| {
                    m.value.bytes().all(|b| b.is_ascii_uppercase()).then(|| {
                        format!("only the standard methods can be listed; `any` matches every method, {} included", m.value)
                    })
                }),
        )
    }
}

/// The conditions of a rule, checked.
#[derive(Default)]
struct Conds {
    paths: Vec<Spanned<CPath>>,
    except_paths: Vec<Spanned<CPath>>,
    sources: Vec<SourceSpec>,
    except_sources: Vec<SourceSpec>,
    headers: Vec<HeaderSpec>,
}

/// Checks the rule's conditions: each clause once (E0339), paths and
/// headers only on `http`. `None` when a condition does not fit the protocol.
fn check_conds(
    cx: &mut Ctx<'_>,
    r: &ast::Rule,
    protocol: Protocol,
    proto_span: Span,
    ok: &mut bool,
) -> Option<Conds> {
    let mut out = Conds::default();
    // A rule has a handful of clauses: a list beats a hash map.
    let mut seen: Vec<(&'static str, Span)> = Vec::new();
    for c in &r.conds {
        let key = c.keyword();
        if let Some(prev) = replace_span(&mut seen, key, c.span()) {
            cx.err(duplicate_cond(c, key, prev));
            *ok = false;
            continue;
        }
        match c {
            Cond::Path(span, pats) | Cond::ExceptPath(span, pats) => {
                if protocol != Protocol::Http {
                    cx.err(l7_error(*span, "a path", protocol, proto_span));
                    return None;
                }
                let into = if matches!(c, Cond::Path(..)) {
                    &mut out.paths
                } else {
                    &mut out.except_paths
                };
                for p in pats {
                    match check_path(p, &mut cx.regexes) {
                        Ok(cp) => into.push(Spanned::new(cp, p.span)),
                        Err(e) => {
                            cx.err(e);
                            *ok = false;
                        }
                    }
                }
            }
            Cond::From(_, items) | Cond::ExceptFrom(_, items) => {
                let into = if matches!(c, Cond::From(..)) {
                    &mut out.sources
                } else {
                    &mut out.except_sources
                };
                collect(cx, items, into, ok, check_source);
            }
            Cond::When(span, conds) => {
                if protocol != Protocol::Http {
                    cx.err(l7_error(*span, "a header", protocol, proto_span));
                    return None;
                }
                collect(cx, conds, &mut out.headers, ok, check_header);
            }
        }
    }
    Some(out)
}

/// Records `span` for `key` in `seen`, returning the span recorded before
/// (as `HashMap::insert` does).
pub(super) fn replace_span(
    seen: &mut Vec<(&'static str, Span)>,
    key: &'static str,
    span: Span,
) -> Option<Span> {
    match seen.iter_mut().find(|(k, _)| *k == key) {
        Some((_, prev)) => Some(std::mem::replace(prev, span)),
        None => {
            seen.push((key, span));
            None
        }
    }
}

/// Checks each item with `check`, keeping what passes and reporting the rest.
fn collect<I, T>(
    cx: &mut Ctx<'_>,
    items: &[I],
    into: &mut Vec<T>,
    ok: &mut bool,
    check: impl Fn(&I) -> Result<T, Diagnostic>,
) {
    for item in items {
        match check(item) {
            Ok(v) => into.push(v),
            Err(e) => {
                cx.err(e);
                *ok = false;
            }
        }
    }
}

/// E0339 for a condition clause given a second time.
fn duplicate_cond(c: &Cond, key: &str, prev: Span) -> Diagnostic {
    let help = match key {
        "path" => "list alternatives in one clause: path \"/a\", \"/b\"",
        "except path" => "list alternatives in one clause: except path \"/a\", \"/b\"",
        "from" => "list alternatives in one clause: from namespace \"a\", \"b\"",
        "except from" => "list alternatives in one clause: except from namespace \"a\", \"b\"",
        _ => "join header conditions with `and`: when header \"a\" present and header \"b\" absent",
    };
    Diagnostic::error("E0339", c.span(), format!("a rule has one `{key}` clause"))
        .label("second")
        .with_label(prev, "first")
        .help(help)
}

static COND_HINT: std::sync::LazyLock<HashMap<&'static str, &'static str>> =
    std::sync::LazyLock::new(|| {
        HashMap::from([
            ("ALL", "write `any` for every method"),
            ("all", "write `any` for every method"),
            ("*", "write `any` for every method"),
            ("ANY", "write `any` (lower case) for every method"),
            (
                "path",
                "conditions follow the methods: allow GET path \"/x\"",
            ),
        ])
    });

/// Checks a source: a principal (E0332), namespace or service account (E0333).
fn check_source(s: &ast::SourceItem) -> Result<SourceSpec, Diagnostic> {
    let v = s.value.value.trim();
    let span = s.value.span;
    let visible = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_graphic());
    match s.kind.value.as_str() {
        "principal" => {
            let p = v.strip_prefix("spiffe://").unwrap_or(v);
            if p == "*" {
                return Ok(SourceSpec::AnyPrincipal);
            }
            if !visible(p) || p.contains('*') {
                let ns = p
                    .split_once("/ns/")
                    .and_then(|(_, r)| r.split('/').next())
                    .filter(|n| !n.contains('*') && !n.is_empty());
                let help = match ns {
                    Some(ns) if p.contains('*') => format!("for every service account of a namespace write namespace \"{ns}\""),
                    _ if p.contains('*') => "principals are exact (or \"*\" alone: any principal); for every service account of a namespace write namespace \"NS\"".to_owned(),
                    _ => "write the SPIFFE id, e.g. \"cluster.local/ns/default/sa/admin\"".to_owned(),
                };
                return Err(
                    Diagnostic::error("E0332", span, format!("invalid principal \"{v}\""))
                        .label("not a principal")
                        .help(help),
                );
            }
            if egress_table::request::principal_parts(p.as_bytes()).is_none() && p.contains("/ns/")
            {
                return Err(Diagnostic::error(
                    "E0332",
                    span,
                    format!("malformed principal \"{v}\""),
                )
                .label("expected TRUST_DOMAIN/ns/NAMESPACE/sa/SERVICE_ACCOUNT")
                .help("e.g. \"cluster.local/ns/default/sa/admin\""));
            }
            Ok(SourceSpec::Principal(p.to_owned()))
        }
        "namespace" => {
            if !visible(v) || v.contains('/') {
                return Err(
                    Diagnostic::error("E0333", span, format!("invalid namespace \"{v}\""))
                        .label("a namespace is a single name")
                        .help(if v.matches('/').count() == 1 {
                            format!("for one service account write serviceaccount \"{v}\"")
                        } else {
                            "for one service account write serviceaccount \"namespace/name\""
                                .to_owned()
                        }),
                );
            }
            Ok(SourceSpec::Namespace(v.to_owned()))
        }
        _ => match v.split_once('/') {
            Some((ns, name)) if visible(ns) && visible(name) && !name.contains('/') => {
                Ok(SourceSpec::ServiceAccount {
                    namespace: ns.to_owned(),
                    name: name.to_owned(),
                })
            }
            _ => Err(
                Diagnostic::error("E0333", span, format!("invalid service account \"{v}\""))
                    .label("expected \"namespace/name\"")
                    .help(if v.contains("/ns/") {
                        format!("this looks like a SPIFFE identity: write principal \"{v}\"")
                    } else if v.contains('/') {
                        "a service account is exactly \"namespace/name\", with one `/`".to_owned()
                    } else {
                        format!(
                            "write serviceaccount \"NAMESPACE/{}\"",
                            if v.is_empty() { "name" } else { v }
                        )
                    }),
            ),
        },
    }
}

/// Checks a header condition: its name (E0334) and a non-empty prefix or suffix (E0342).
fn check_header(h: &ast::HeaderCond) -> Result<HeaderSpec, Diagnostic> {
    let name = h.name.value.to_ascii_lowercase();
    if !egress_table::format::is_header_name(name.as_bytes()) {
        return Err(Diagnostic::error(
            "E0334",
            h.name.span,
            format!("invalid header name \"{}\"", h.name.value),
        )
        .label("header names are tokens: letters, digits and !#$%&'*+-.^_`|~")
        .help("drop spaces and `:`; e.g. \"x-tenant\""));
    }
    Ok(match &h.op {
        HeaderOp::Present(_) => HeaderSpec::Present(name),
        HeaderOp::Absent(_) => HeaderSpec::Absent(name),
        HeaderOp::Equals(v) => HeaderSpec::Equals(name, v.value.clone()),
        HeaderOp::Compare {
            span,
            op,
            negated,
            value,
        } => {
            if *op != ValueOp::Equals && value.value.is_empty() {
                let (word, instead) = if *negated {
                    ("not prefix", "absent")
                } else {
                    ("prefix", "present")
                };
                let word = if *op == ValueOp::Suffix {
                    word.replace("prefix", "suffix")
                } else {
                    word.to_owned()
                };
                return Err(Diagnostic::error(
                    "E0342",
                    value.span,
                    format!("empty `{word}` value"),
                )
                .with_label(*span, "every value starts and ends with the empty string")
                .help(format!("write header \"{}\" {instead}", h.name.value)));
            }
            HeaderSpec::from_value_test(name, *op, value.value.clone(), *negated)
        }
    })
}
