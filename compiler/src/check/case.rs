//! Test blocks and their cases: a request written as a URL, and the
//! expected decision.

use std::net::IpAddr;

use egress_table::spec::{Action, Protocol, Target};

use super::{CCase, CDest, CTest, Checked, Ctx, action, pattern_matches};
use crate::ast;
use crate::diag::{Diagnostic, did_you_mean};
use crate::sim::SimRequest;
use crate::source::Span;

/// Checks a test block's cases, reporting each bad one.
pub(super) fn check_test(cx: &mut Ctx<'_>, t: &ast::Test) -> CTest {
    let mut cases = Vec::new();
    for c in &t.cases {
        match check_case(c) {
            Ok(cc) => cases.push(cc),
            Err(e) => cx.err(e),
        }
    }
    CTest {
        name: t.name.value.clone(),
        span: t.span,
        cases,
    }
}

/// Checks a test case: its URL (by scheme), then its options.
fn check_case(c: &ast::Case) -> Result<CCase, Diagnostic> {
    let url = &c.url.value;
    let (scheme, authority, path) = crate::sim::split_url(url);
    let mut r = SimRequest::default();
    let u = Url {
        text: url,
        span: c.url.span,
        scheme,
        authority,
        path,
    };
    match scheme {
        "http" | "https" => http_request(c, &u, &mut r)?,
        "tls" | "tcp" => connection_request(c, &u, &mut r)?,
        other => {
            return Err(
                Diagnostic::error("E0350", u.span, format!("unknown scheme `{other}`"))
                    .label("expected http, https, tls or tcp")
                    .maybe_help(did_you_mean(other, &["http", "https", "tls", "tcp"])),
            );
        }
    }
    apply_opts(c, &mut r)?;
    Ok(CCase {
        span: c.span,
        request: r,
        expect: action(c.expect.value),
        expect_audit: c.expect_audit.as_ref().map(|a| action(a.value)),
    })
}

/// A test case's URL, split.
struct Url<'a> {
    text: &'a str,
    span: Span,
    scheme: &'a str,
    authority: &'a str,
    path: &'a str,
}

/// Checks an `http(s)://` case (a method, E0351; a host, E0350) and fills
/// in the request.
fn http_request(c: &ast::Case, u: &Url<'_>, r: &mut SimRequest) -> Result<(), Diagnostic> {
    let Url {
        text: url,
        span,
        scheme,
        authority,
        path,
    } = *u;
    let Some(m) = &c.method else {
        return Err(
            Diagnostic::error("E0351", span, "an HTTP test case needs a method")
                .label("add the method before the URL")
                .help(format!("write GET {url}")),
        );
    };
    if authority.is_empty() {
        return Err(
            Diagnostic::error("E0350", span, format!("no host in `{url}`"))
                .label("expected scheme://host/path"),
        );
    }
    r.method = Some(m.value.clone());
    r.scheme = Some(scheme.to_owned());
    r.host = Some(authority.to_owned());
    // A CONNECT carries no path unless the URL has one.
    r.path = crate::sim::case_path(path, &m.value);
    Ok(())
}

/// Checks a `tls://` or `tcp://` case (no method, E0351; no path, a port,
/// E0350; an address for tcp, E0354) and fills in the request.
fn connection_request(c: &ast::Case, u: &Url<'_>, r: &mut SimRequest) -> Result<(), Diagnostic> {
    let Url {
        text: url,
        span,
        scheme,
        authority,
        path,
    } = *u;
    if let Some(m) = &c.method {
        return Err(Diagnostic::error(
            "E0351",
            m.span,
            format!("a {scheme} test case has no method"),
        )
        .label("connections carry no HTTP method")
        .help(format!("write {url} => ...")));
    }
    if !path.is_empty() {
        return Err(
            Diagnostic::error("E0350", span, format!("a {scheme} URL has no path"))
                .label("expected scheme://host:port")
                .help(format!("write {scheme}://{authority}")),
        );
    }
    let (host, port) = split_host_port(authority).ok_or_else(|| {
        Diagnostic::error("E0350", span, format!("`{url}` needs a port"))
            .label(format!("expected {scheme}://host:port"))
            .help(format!(
                "write {scheme}://{authority}:{}",
                if scheme == "tls" { 443 } else { 22 }
            ))
    })?;
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| {
            Diagnostic::error("E0350", span, format!("invalid port in `{url}`"))
                .label("ports are 1–65535")
        })?;
    r.port = Some(port);
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match (scheme, bare.parse::<IpAddr>()) {
        ("tcp", Ok(ip)) => r.destination = Some(ip),
        ("tcp", Err(_)) => {
            return Err(
                Diagnostic::error("E0354", span, format!("`{url}` needs an IP address"))
                    .label("a tcp connection is decided on its destination address")
                    .help("write tcp://140.82.112.3:22; for a host name use tls://host:443"),
            );
        }
        (_, Ok(ip)) => r.destination = Some(ip),
        _ => r.sni = Some(host.to_owned()),
    }
    Ok(())
}

/// Checks the case's options (header names, `sni` only on HTTP: E0352)
/// and adds them to the request.
fn apply_opts(c: &ast::Case, r: &mut SimRequest) -> Result<(), Diagnostic> {
    for o in &c.opts {
        match o {
            ast::CaseOpt::From(_, p) => r.principal = Some(p.value.clone()),
            ast::CaseOpt::Header(_, n, v) => {
                if !egress_table::format::is_header_name(n.value.to_ascii_lowercase().as_bytes()) {
                    return Err(Diagnostic::error(
                        "E0352",
                        n.span,
                        format!("invalid header name \"{}\"", n.value),
                    )
                    .label("not a header name")
                    .help("header names are tokens: letters, digits and `-`, e.g. \"x-tenant\""));
                }
                r.headers
                    .push((n.value.to_ascii_lowercase(), v.value.clone()));
            }
            ast::CaseOpt::Sni(s, v) => {
                if r.is_http() {
                    r.sni = Some(v.value.clone());
                } else {
                    return Err(
                        Diagnostic::error("E0352", *s, "`sni` applies to HTTP cases")
                            .label("a tls:// URL already names the SNI"),
                    );
                }
            }
        }
    }
    Ok(())
}

/// `host:port` or `[v6]:port` to host and port.
fn split_host_port(a: &str) -> Option<(&str, &str)> {
    if a.starts_with('[') {
        let (h, rest) = a.split_once(']')?;
        return Some((h.get(1..)?, rest.strip_prefix(':')?));
    }
    a.rsplit_once(':')
}

/// E0355: test cases that name a host (and port) only destinations of
/// another protocol have, so the filter that decides them never sees those
/// destinations: an HTTP request (the HTTP filter, `http` destinations)
/// to a `tls` or `tcp` destination, a `tls://` connection (SNI, `tls`
/// destinations) to an `http` one, a `tcp://` one (address) to an `http`
/// one. Only destinations in the case's own file count: `egressc test`
/// runs each file on its own. CONNECT is left alone: the HTTP filter
/// decides it, and denying it to a `tls` host is a fair thing to test.
pub(super) fn unreachable_cases(c: &Checked, diags: &mut Vec<Diagnostic>) {
    for case in c
        .policies
        .iter()
        .flat_map(|p| &p.tests)
        .flat_map(|t| &t.cases)
    {
        let dests: Vec<&CDest> = c
            .policies
            .iter()
            .flat_map(|p| &p.dests)
            .filter(|d| d.span.file == case.span.file)
            .collect();
        if let Some(d) = unreachable(case, &dests) {
            diags.push(d);
        }
    }
}

/// How a case reaches the filter: its kind, host (or address) and port.
enum Seen {
    /// An HTTP request to a host (name or address).
    Http(String, u16),
    /// A TLS connection with this SNI.
    Tls(String, u16),
    /// A connection without SNI, to an address.
    Tcp(IpAddr, u16),
}

/// The destination target (and its destination) a case names but cannot
/// reach, when no destination it can reach matches it; see
/// [`unreachable_cases`].
fn unreachable(case: &CCase, dests: &[&CDest]) -> Option<Diagnostic> {
    let r = &case.request;
    let port = r.effective_port();
    let seen = if r.is_http() {
        if r.method.as_deref() == Some("CONNECT") {
            return None;
        }
        let a = egress_table::host::parse_authority(r.host.as_deref()?.as_bytes()).ok()?;
        Seen::Http(
            String::from_utf8_lossy(a.host.as_bytes()).into_owned(),
            port,
        )
    } else if let Some(sni) = &r.sni {
        let h = egress_table::host::normalize_host(sni.as_bytes())?;
        Seen::Tls(String::from_utf8_lossy(h.as_bytes()).into_owned(), port)
    } else {
        Seen::Tcp(r.destination?, port)
    };
    let dests: Vec<&CDest> = dests
        .iter()
        .copied()
        .filter(|d| d.ports.iter().any(|p| p.lo <= port && port <= p.hi))
        .collect();
    let host_at = |d: &'_ CDest, host: &str| -> Option<Span> {
        d.targets
            .iter()
            .find(|t| matches!(&t.value, Target::Host(h) if pattern_matches(h, host)))
            .map(|t| t.span)
    };
    let addr_at = |d: &'_ CDest, ip: IpAddr| -> Option<Span> {
        d.targets
            .iter()
            .find(|t| matches!(&t.value, Target::Cidr(c) if c.contains(ip)))
            .map(|t| t.span)
    };
    // Whether a destination the deciding filter sees matches; else the
    // first one of another protocol that does.
    let (reached, missed) = match &seen {
        Seen::Http(host, _) => {
            let ip = host.parse::<IpAddr>().ok();
            let reached = dests
                .iter()
                .any(|d| d.protocol == Protocol::Http && host_at(d, host).is_some());
            let missed = dests.iter().find_map(|d| {
                let at = match d.protocol {
                    Protocol::Http => None,
                    Protocol::Tls => host_at(d, host),
                    Protocol::Tcp => ip.and_then(|ip| addr_at(d, ip)),
                };
                at.map(|s| (*d, s))
            });
            (reached, missed)
        }
        Seen::Tls(host, _) => {
            let reached = dests
                .iter()
                .any(|d| d.protocol == Protocol::Tls && host_at(d, host).is_some());
            let missed = dests
                .iter()
                .filter(|d| d.protocol == Protocol::Http)
                .find_map(|d| host_at(d, host).map(|s| (*d, s)));
            (reached, missed)
        }
        Seen::Tcp(ip, _) => {
            let reached = dests
                .iter()
                .any(|d| d.protocol == Protocol::Tcp && addr_at(d, *ip).is_some());
            let text = egress_table::host::normalize_host(ip.to_string().as_bytes())
                .map(|h| String::from_utf8_lossy(h.as_bytes()).into_owned())
                .unwrap_or_default();
            let missed = dests
                .iter()
                .filter(|d| d.protocol == Protocol::Http)
                .find_map(|d| host_at(d, &text).map(|s| (*d, s)));
            (reached, missed)
        }
    };
    if reached {
        return None;
    }
    let (dest, target) = missed?;
    Some(unreachable_error(case, &seen, dest, target))
}

/// The E0355 error for `case`, decided as `seen` says, which names the
/// destination `dest` (at `target`) of a protocol that never sees it.
fn unreachable_error(case: &CCase, seen: &Seen, dest: &CDest, target: Span) -> Diagnostic {
    let addr = |ip: &IpAddr| match ip {
        IpAddr::V6(a) => format!("[{a}]"),
        IpAddr::V4(a) => a.to_string(),
    };
    let host_text = |h: &str| match h.parse::<IpAddr>() {
        Ok(ip) => addr(&ip),
        Err(_) => h.to_owned(),
    };
    let http_url = |h: &str, port: u16| match port {
        80 => format!("GET http://{}/", host_text(h)),
        p => format!("GET http://{}:{p}/", host_text(h)),
    };
    let proto = dest.protocol.as_str();
    let (what, decided, there, rewrite) = match seen {
        Seen::Http(host, port) => {
            let url = if dest.protocol == Protocol::Tcp {
                format!("tcp://{}:{port}", host_text(host))
            } else {
                format!("tls://{host}:{port}")
            };
            let there = if dest.protocol == Protocol::Tcp {
                "a tcp destination: its connections are decided on their address, before any HTTP is read"
            } else {
                "a tls destination: its connections stay encrypted and are decided on their SNI, with no method or path to see"
            };
            (
                "HTTP request",
                "the HTTP filter decides it, against `http` destinations only",
                there,
                url,
            )
        }
        Seen::Tls(host, port) => (
            "TLS connection",
            "decided on its SNI, against `tls` destinations only",
            "an http destination: it sees plain HTTP requests, not TLS connections",
            http_url(host, *port),
        ),
        Seen::Tcp(ip, port) => (
            "connection",
            "decided on its address, against `tcp` destinations only",
            "an http destination: it sees HTTP requests, not bare connections",
            http_url(&ip.to_string(), *port),
        ),
    };
    let mut fix = rewrite;
    if let Some(p) = &case.request.principal {
        fix.push_str(&format!(" from {p:?}"));
    }
    fix.push_str(&format!(" => {}", case.expect.as_str()));
    if let Some(a) = case.expect_audit {
        fix.push_str(&format!(", audit {}", a.as_str()));
    }
    let matched = match seen {
        Seen::Http(..) => "`http`",
        Seen::Tls(..) => "`tls`",
        Seen::Tcp(..) => "`tcp`",
    };
    let mut note = format!(
        "no {matched} destination in this file matches it, so it gets the policy's default whatever the {proto} destination says"
    );
    if case.expect == Action::Deny {
        note.push_str("; `=> deny` holds only because of that default");
    }
    Diagnostic::error(
        "E0355",
        case.span,
        format!("this {what} never reaches the {proto} destination it names"),
    )
    .label(decided)
    .with_label(target, there)
    .help(format!("to test the {proto} destination write `{fix}`"))
    .note(note)
}
