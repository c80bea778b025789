//! Test blocks and their cases: a request written as a URL, and the
//! expected decision.

use std::net::IpAddr;

use super::{CCase, CTest, Ctx, action};
use crate::ast;
use crate::diag::{Diagnostic, did_you_mean};
use crate::sim::SimRequest;

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
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
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
    span: crate::source::Span,
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
    r.path = match (path.is_empty(), m.value == "CONNECT") {
        (true, true) => None,
        (true, false) => Some("/".to_owned()),
        (false, _) => Some(path.to_owned()),
    };
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
