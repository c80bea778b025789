//! A destination: its clauses (protocol, ports, `originate-tls`, `timeout`,
//! `service`), its targets and its rules.

use egress_table::spec::{PortRange, Protocol, Target};

use super::host::host_pattern;
use super::rule::{check_rule, replace_span};
use super::values::{cidr, duration_ms, mapped_warning, parse_port, port_range};
use super::{CDest, CRule, Ctx, a};
use crate::ast::{self, DestClause, Targets};
use crate::diag::Diagnostic;
use crate::source::{Span, Spanned};

/// The clauses of a destination, each at most once.
#[derive(Default)]
struct Clauses<'a> {
    protocol: Option<Spanned<Protocol>>,
    ports: Option<(Span, Vec<PortRange>)>,
    originate: Option<(Span, u16)>,
    timeout: Option<(Span, u64)>,
    service: Option<(Span, &'a Vec<Spanned<String>>)>,
}

/// Checks a destination: clauses, protocol, ports, targets, services and
/// rules, in that order. `None` when any of it is wrong.
pub(super) fn check_dest(cx: &mut Ctx<'_>, d: &ast::Destination) -> Option<CDest> {
    let mut ok = true;
    let Clauses {
        protocol,
        ports,
        originate,
        timeout,
        service,
    } = check_clauses(cx, d, &mut ok);
    let Some(protocol) = protocol else {
        missing_protocol(cx, d, ports.as_ref());
        return None;
    };
    check_http_only(cx, &protocol, originate.as_ref(), timeout.as_ref(), &mut ok);
    let ports = match ports {
        Some((_, r)) => r,
        None => default_ports(cx, &protocol)?,
    };
    let targets = check_targets(cx, d, &protocol, &mut ok)?;
    let services = match service {
        Some((span, names)) => crate::service::check(
            names,
            span,
            protocol.value,
            &targets,
            originate.map(|(s, _)| s),
            cx.diags,
        )
        .unwrap_or_else(|| {
            ok = false;
            Vec::new()
        }),
        None => Vec::new(),
    };
    let (rules, implicit, empty_block) = check_block(cx, d, &protocol, &mut ok);
    ok.then_some(CDest {
        span: d.span,
        targets,
        protocol: protocol.value,
        ports,
        rules,
        implicit,
        empty_block,
        originate_tls: originate.map(|(_, p)| p),
        timeout_ms: timeout.map(|(_, t)| t),
        originate_tls_span: originate.map(|(s, _)| s),
        timeout_span: timeout.map(|(s, _)| s),
        services,
    })
}

/// Checks each clause's value and that no clause is given twice (E0311).
fn check_clauses<'a>(cx: &mut Ctx<'_>, d: &'a ast::Destination, ok: &mut bool) -> Clauses<'a> {
    let mut out = Clauses::default();
    // A destination has a handful of clauses: a list beats a hash map.
    let mut seen: Vec<(&'static str, Span)> = Vec::new();
    let mut first_ports: Option<&Vec<Spanned<String>>> = None;
    for c in &d.clauses {
        let key = match c {
            DestClause::Port(..) => "port",
            DestClause::Protocol(_) => "protocol",
            DestClause::OriginateTls(..) => "originate-tls",
            DestClause::Timeout(..) => "timeout",
            DestClause::Service(..) => "service",
        };
        if let Some(prev) = replace_span(&mut seen, key, c.span()) {
            cx.err(duplicate_clause(c, key, prev, first_ports));
            *ok = false;
            continue;
        }
        match c {
            DestClause::Port(span, list) => {
                first_ports = Some(list);
                let mut ranges = Vec::new();
                for p in list {
                    match port_range(p) {
                        Ok(r) => ranges.push(r),
                        Err(e) => {
                            cx.err(e);
                            *ok = false;
                        }
                    }
                }
                out.ports = Some((*span, ranges));
            }
            DestClause::Protocol(p) => {
                out.protocol = Some(Spanned::new(
                    match p.value.as_str() {
                        "http" => Protocol::Http,
                        "tls" => Protocol::Tls,
                        _ => Protocol::Tcp,
                    },
                    p.span,
                ));
            }
            DestClause::OriginateTls(span, port) => {
                let p = match port {
                    Some(p) => match parse_port(p) {
                        Ok(p) => p,
                        Err(e) => {
                            cx.err(e);
                            *ok = false;
                            443
                        }
                    },
                    None => 443,
                };
                out.originate = Some((*span, p));
            }
            DestClause::Timeout(span, v) => match duration_ms(v) {
                Ok(ms) => out.timeout = Some((*span, ms)),
                Err(e) => {
                    cx.err(e);
                    *ok = false;
                }
            },
            DestClause::Service(span, names) => out.service = Some((*span, names)),
        }
    }
    out
}

/// E0311 for a clause given a second time (`first_ports`: the first `port`
/// clause, if any, to suggest one list).
fn duplicate_clause(
    c: &DestClause,
    key: &str,
    prev: Span,
    first_ports: Option<&Vec<Spanned<String>>>,
) -> Diagnostic {
    let msg = if key == "protocol" {
        "a destination has one protocol".to_owned()
    } else {
        format!("`{key}` is given twice")
    };
    let mut diag = Diagnostic::error("E0311", c.span(), msg)
        .label("second")
        .with_label(prev, "first");
    if let (DestClause::Port(_, more), Some(first)) = (c, first_ports) {
        let all: Vec<&str> = first.iter().chain(more).map(|p| p.value.as_str()).collect();
        diag = diag.help(format!(
            "list several ports in one clause: port {}",
            all.join(", ")
        ));
    } else if key == "protocol" {
        diag = diag.help("use one destination per protocol");
    } else {
        diag = diag.help("keep one");
    }
    diag
}

/// E0310 for a destination without a protocol, with the likely one.
fn missing_protocol(
    cx: &mut Ctx<'_>,
    d: &ast::Destination,
    ports: Option<&(Span, Vec<PortRange>)>,
) {
    let port = ports.and_then(|(_, r)| r.first().map(|r| r.lo));
    let guess = match port {
        _ if matches!(d.targets, Targets::Cidrs(_)) => "tcp",
        Some(443 | 8443) => "tls",
        Some(22) => "tcp",
        _ => "http",
    };
    let end = d
        .clauses
        .last()
        .map(DestClause::span)
        .or_else(|| match &d.targets {
            Targets::Hosts(h) | Targets::Cidrs(h) => h.last().map(|t| t.span),
        });
    cx.err(
        Diagnostic::error("E0310", d.keyword.to(end.unwrap_or(d.keyword)), "destination has no protocol")
            .label("add http, tls or tcp")
            .help(format!("add `{guess}`, the likely protocol here"))
            .note("the protocol says how the proxy sees the traffic: `http` is plain HTTP (rules may look at methods, paths and headers), `tls` is HTTPS passed through (decided on the SNI), `tcp` is raw TCP (decided on address and port)"),
    );
}

/// Checks that `originate-tls` (E0335) and `timeout` (E0337) are on an
/// `http` destination.
fn check_http_only(
    cx: &mut Ctx<'_>,
    protocol: &Spanned<Protocol>,
    originate: Option<&(Span, u16)>,
    timeout: Option<&(Span, u64)>,
    ok: &mut bool,
) {
    if let (Some((span, _)), false) = (originate, protocol.value == Protocol::Http) {
        cx.err(
            Diagnostic::error("E0335", *span, format!("`originate-tls` on {} destination", a(protocol.value)))
                .label("only plain HTTP can be upgraded to TLS by the proxy")
                .help("with TLS origination the application sends plain HTTP to port 80 and the waypoint opens TLS: make this an `http` destination"),
        );
        *ok = false;
    }
    if let (Some((span, _)), false) = (timeout, protocol.value == Protocol::Http) {
        cx.err(
            Diagnostic::error("E0337", *span, "`timeout` applies to HTTP requests")
                .label(format!("this is {} destination", a(protocol.value)))
                .help("remove it, or make this an `http` destination"),
        );
        *ok = false;
    }
}

/// The protocol's default ports; E0314 for `tcp`, which has none.
fn default_ports(cx: &mut Ctx<'_>, protocol: &Spanned<Protocol>) -> Option<Vec<PortRange>> {
    Some(match protocol.value {
        Protocol::Http => vec![PortRange { lo: 80, hi: 80 }],
        Protocol::Tls => vec![PortRange { lo: 443, hi: 443 }],
        Protocol::Tcp => {
            cx.err(
                Diagnostic::error("E0314", protocol.span, "a tcp destination needs a port")
                    .label("no default port for raw TCP")
                    .help("add the port, e.g. `port 22` for SSH"),
            );
            return None;
        }
    })
}

/// Checks the targets against the protocol: host names (E0320 on `tcp`)
/// or CIDRs (E0320 on anything else).
fn check_targets(
    cx: &mut Ctx<'_>,
    d: &ast::Destination,
    protocol: &Spanned<Protocol>,
    ok: &mut bool,
) -> Option<Vec<Spanned<Target>>> {
    Some(match &d.targets {
        Targets::Hosts(hosts) => {
            if protocol.value == Protocol::Tcp {
                cx.err(
                    Diagnostic::error("E0320", hosts.first().map_or(d.keyword, |h| h.span), "a tcp destination is decided on addresses, not host names")
                        .label("raw TCP carries no host name")
                        .with_label(protocol.span, "tcp")
                        .help("list address ranges: destination cidr 140.82.112.0/20 port 22 tcp; for HTTPS by host name use `tls`"),
                );
                return None;
            }
            host_targets(cx, hosts, ok)
        }
        Targets::Cidrs(list) => {
            if protocol.value != Protocol::Tcp {
                cx.err(
                    Diagnostic::error("E0320", list.first().map_or(d.keyword, |c| c.span), format!("`cidr` on {} destination", a(protocol.value)))
                        .label("address ranges are for tcp destinations")
                        .with_label(protocol.span, "not tcp")
                        .help(format!("{} destinations are decided on the host name: list hosts, or make this a `tcp` destination", protocol.value.as_str())),
                );
                return None;
            }
            cidr_targets(cx, list, ok)
        }
    })
}

/// Checks each host pattern (E03xx), with W0423 for an IPv4-mapped address.
fn host_targets(
    cx: &mut Ctx<'_>,
    hosts: &[Spanned<String>],
    ok: &mut bool,
) -> Vec<Spanned<Target>> {
    let mut targets = Vec::new();
    for h in hosts {
        match host_pattern(&h.value, h.span) {
            Ok(p) => {
                if let Some(v4) = h
                    .value
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<std::net::Ipv6Addr>()
                    .ok()
                    .and_then(|a| a.to_ipv4_mapped())
                {
                    cx.err(mapped_warning(h.span, &h.value, &v4.to_string()));
                }
                targets.push(Spanned::new(Target::Host(p), h.span));
            }
            Err(e) => {
                cx.err(e);
                *ok = false;
            }
        }
    }
    targets
}

/// Checks each CIDR (E0321), with W0423 for IPv4-mapped ranges.
fn cidr_targets(cx: &mut Ctx<'_>, list: &[Spanned<String>], ok: &mut bool) -> Vec<Spanned<Target>> {
    let mut targets = Vec::new();
    for c in list {
        match cidr(c) {
            Ok(c2) => {
                if c.value.contains(':') && c2.addr.is_ipv4() {
                    cx.err(mapped_warning(c.span, &c.value, &c2.to_string()));
                } else if c2.touches_ipv4_mapped() {
                    cx.err(
                        Diagnostic::warning("W0423", c.span, format!("{c2} also covers every IPv4 address"))
                            .label("it contains the IPv4-mapped range ::ffff:0:0/96")
                            .note("the filter decides an IPv4-mapped destination (::ffff:a.b.c.d) as the IPv4 address a.b.c.d, so an IPv6 range that covers ::ffff:0:0/96 matches IPv4 connections too")
                            .help("list IPv4 ranges separately, and start the IPv6 range above ::ffff:0:0/96 (e.g. 2000::/3 for global unicast)"),
                    );
                }
                targets.push(Spanned::new(Target::Cidr(c2), c.span));
            }
            Err(e) => {
                cx.err(e);
                *ok = false;
            }
        }
    }
    targets
}

/// The rules of the block, each checked; the implicit `allow` without one.
fn check_block(
    cx: &mut Ctx<'_>,
    d: &ast::Destination,
    protocol: &Spanned<Protocol>,
    ok: &mut bool,
) -> (Vec<CRule>, bool, bool) {
    let mut rules = Vec::new();
    let (implicit, empty_block) = match &d.block {
        None => {
            rules.push(CRule::implicit(d.span));
            (true, false)
        }
        Some((_, rs, _)) => {
            for r in rs {
                match check_rule(cx, r, protocol.value, &protocol.span) {
                    Some(cr) => rules.push(cr),
                    None => *ok = false,
                }
            }
            (false, rs.is_empty())
        }
    };
    (rules, implicit, empty_block)
}
