//! Plain HTTP: an absolute-form request (`GET http://host:port/path`) goes
//! through the HTTP filter exactly as Envoy's connection manager would hand
//! it over, then, if allowed, upstream with the headers and the normalised
//! path the filter saw. The filter's answers (403, or the connection
//! manager's 400/404) reach the client as they are; an upstream that
//! refuses, resets or stalls gets 502 or 504 with a `Proxy-Status` header
//! (RFC 9209) and a log line.
//!
//! What the filter is handed (see `docs/proxy.md`): the method, the target
//! as sent (absolute form, so `:authority` is the URL's host and port, and a
//! `Host` header cannot contradict it), every request header, scheme
//! `http`, and `destination.port` = the URL's port (80 if none) — the port
//! the proxy will connect to, which is what Envoy reports for the
//! connection. No body: the filter decides on headers, and the body streams
//! upstream as it arrives.

use std::sync::Arc;

use egress_host::Headers;
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Request, Response, Uri};

use crate::body::{self, ProxyBody, Side, Watched};
use crate::server::State;
use crate::upstream::UpstreamError;
use crate::worker::HttpVerdict;

/// Headers that belong to one connection, never forwarded (RFC 9110
/// §7.6.1), plus the proxy's own credentials.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "proxy-connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authorization",
    "proxy-authenticate",
];

/// Whether `name` must not be forwarded, given the `Connection` header's
/// tokens.
fn hop_by_hop(name: &[u8], connection: &[Vec<u8>]) -> bool {
    HOP_BY_HOP
        .iter()
        .any(|h| name.eq_ignore_ascii_case(h.as_bytes()))
        || connection.iter().any(|t| name.eq_ignore_ascii_case(t))
}

/// The tokens of every `Connection` header value.
fn connection_tokens<'a>(values: impl Iterator<Item = &'a [u8]>) -> Vec<Vec<u8>> {
    values
        .flat_map(|v| v.split(|c| *c == b','))
        .map(|t| t.trim_ascii().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

/// A response the proxy itself makes.
pub(crate) fn reply(status: u16, proxy_status: Option<&str>, body: &str) -> Response<ProxyBody> {
    let mut r = Response::new(body::full(body.to_owned()));
    *r.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let h = r.headers_mut();
    h.insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if let Some(e) = proxy_status
        && let Ok(v) = HeaderValue::from_str(&format!("egressc; error={e}"))
    {
        h.insert(HeaderName::from_static("proxy-status"), v);
    }
    r
}

/// Answers a request that cannot be proxied, with a line saying how to fix it.
fn refuse(state: &State, what: &str, status: u16, body: &str) -> Response<ProxyBody> {
    state
        .log
        .warn(&format!("{status} {what}: {}", body.trim_end()));
    reply(status, None, body)
}

/// Handles one non-CONNECT request.
pub(crate) async fn handle(state: Arc<State>, req: Request<Incoming>) -> Response<ProxyBody> {
    let what = format!("{} {}", req.method(), req.uri());
    let uri = req.uri().clone();
    let scheme = uri.scheme_str().map(str::to_ascii_lowercase);
    let Some(authority) = uri.authority().cloned() else {
        return refuse(
            &state,
            &what,
            400,
            &format!(
                "egress proxy: this is a forward proxy; send absolute-form requests (GET http://host/path), e.g. with http_proxy=http://{}\n",
                state.listen
            ),
        );
    };
    match scheme.as_deref() {
        Some("http") => {}
        Some("https") => {
            return refuse(
                &state,
                &what,
                400,
                &format!(
                    "egress proxy: https:// targets go through a CONNECT tunnel (set https_proxy=http://{}); this proxy does not originate TLS\n",
                    state.listen
                ),
            );
        }
        _ => {
            return refuse(
                &state,
                &what,
                400,
                "egress proxy: only http:// targets (and CONNECT tunnels) are proxied\n",
            );
        }
    }
    let what: Arc<str> = Arc::from(what);
    let (parts, client_body) = req.into_parts();
    let upstream = if state.bypass_filter {
        upstream_request(
            &bypass_headers(&parts, &authority),
            client_body,
            &state,
            what.clone(),
        )
    } else {
        // The connection manager takes `destination.port` from the URL's
        // authority (80 if none): the port the proxy connects to.
        let decided =
            state.filters.http(
                &parts.method,
                &uri,
                &parts.headers,
                |verdict| match verdict {
                    HttpVerdict::Forward(h) => {
                        Decided::Upstream(upstream_request(h, client_body, &state, what.clone()))
                    }
                    HttpVerdict::Respond {
                        status,
                        headers,
                        body,
                    } => Decided::Answer(filter_reply(status, headers, body.to_vec())),
                },
            );
        match decided {
            Ok(Decided::Upstream(r)) => r,
            Ok(Decided::Answer(answer)) => return answer,
            Err(e) => {
                state.log.error(&format!(
                    "500 {what}: {e}; the request is refused (fail closed)"
                ));
                return reply(
                    500,
                    Some("proxy_internal_error"),
                    "egress proxy: the egress filter failed on this request, so it was refused; see the proxy's log\n",
                );
            }
        }
    };
    let upstream = match upstream {
        Ok(r) => r,
        Err(e) => return refuse(&state, &what, 400, &format!("egress proxy: {e}\n")),
    };
    send(&state, upstream, &what).await
}

/// What the HTTP filter's verdict turns into.
enum Decided {
    /// The request to send upstream (or why it cannot be built).
    Upstream(Result<Request<ProxyBody>, String>),
    /// The filter's (or the connection manager's) answer to the client.
    Answer(Response<ProxyBody>),
}

/// The headers as they go upstream when the filter is bypassed: the same
/// shape the filter would hand back, without normalisation.
fn bypass_headers(
    parts: &hyper::http::request::Parts,
    authority: &hyper::http::uri::Authority,
) -> Headers {
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .as_bytes()
        .to_vec();
    let mut h: Headers = vec![
        (
            b":authority".to_vec(),
            authority.as_str().as_bytes().to_vec(),
        ),
        (b":path".to_vec(), path),
        (
            b":method".to_vec(),
            parts.method.as_str().as_bytes().to_vec(),
        ),
    ];
    h.extend(
        parts
            .headers
            .iter()
            .filter(|(k, _)| *k != hyper::header::HOST)
            .map(|(k, v)| (k.as_str().as_bytes().to_vec(), v.as_bytes().to_vec())),
    );
    h
}

/// The filter's (or the connection manager's) own answer.
fn filter_reply(status: u16, headers: &Headers, body: Vec<u8>) -> Response<ProxyBody> {
    let mut r = Response::new(body::full(body));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::FORBIDDEN);
    for (k, v) in headers {
        if k.first() == Some(&b':') {
            continue;
        }
        if let (Ok(k), Ok(v)) = (HeaderName::from_bytes(k), HeaderValue::from_bytes(v)) {
            // hyper frames the body itself.
            if k != hyper::header::CONTENT_LENGTH {
                r.headers_mut().append(k, v);
            }
        }
    }
    r
}

/// The upstream request from the headers the filter let through.
fn upstream_request(
    headers: &Headers,
    client_body: Incoming,
    state: &State,
    what: Arc<str>,
) -> Result<Request<ProxyBody>, String> {
    let pseudo = |name: &[u8]| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_slice())
    };
    let (Some(authority), Some(path), Some(method)) =
        (pseudo(b":authority"), pseudo(b":path"), pseudo(b":method"))
    else {
        return Err("the filter's headers lack :authority, :path or :method".into());
    };
    let target = [b"http://", authority, path].concat();
    let uri = Uri::try_from(target.as_slice()).map_err(|e| {
        format!(
            "the request target {:?} is not a valid URI after normalisation ({e})",
            String::from_utf8_lossy(&target)
        )
    })?;
    let method = hyper::Method::from_bytes(method).map_err(|e| format!("bad method: {e}"))?;
    let tokens = connection_tokens(
        headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(b"connection"))
            .map(|(_, v)| v.as_slice()),
    );
    let body = Watched::new(
        client_body,
        state.timeouts.idle,
        Side::Request,
        what,
        state.log.clone(),
    );
    let mut req = Request::new(http_body_util::BodyExt::boxed(body));
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    let h = req.headers_mut();
    h.insert(
        hyper::header::HOST,
        HeaderValue::from_bytes(authority).map_err(|e| format!("bad authority: {e}"))?,
    );
    for (k, v) in headers {
        if k.first() == Some(&b':') || k.eq_ignore_ascii_case(b"host") || hop_by_hop(k, &tokens) {
            continue;
        }
        let name = HeaderName::from_bytes(k).map_err(|e| format!("bad header name: {e}"))?;
        let value = HeaderValue::from_bytes(v).map_err(|e| format!("bad header value: {e}"))?;
        h.append(name, value);
    }
    Ok(req)
}

/// Sends the request upstream and turns the answer, or the failure, into
/// the client's response.
async fn send(state: &State, req: Request<ProxyBody>, what: &Arc<str>) -> Response<ProxyBody> {
    let limit = state.timeouts.response;
    let sent = tokio::time::timeout(limit, state.client.request(req)).await;
    let resp = match sent {
        Ok(Ok(r)) => r,
        Err(_) => {
            let msg = format!(
                "the upstream did not answer within {} ms",
                limit.as_millis()
            );
            state.log.warn(&format!("504 {what}: {msg}"));
            return reply(
                504,
                Some("http_response_timeout"),
                &format!("egress proxy: 504 Gateway Timeout: {msg}\n"),
            );
        }
        Ok(Err(e)) => {
            let (status, kind, msg) = classify(&e);
            state.log.warn(&format!("{status} {what}: {msg}"));
            let reason = if status == 504 {
                "Gateway Timeout"
            } else {
                "Bad Gateway"
            };
            return reply(
                status,
                Some(kind),
                &format!("egress proxy: {status} {reason}: {msg}\n"),
            );
        }
    };
    let (mut parts, upstream_body) = resp.into_parts();
    let tokens = connection_tokens(
        parts
            .headers
            .get_all(hyper::header::CONNECTION)
            .iter()
            .map(HeaderValue::as_bytes),
    );
    let names: Vec<HeaderName> = parts
        .headers
        .keys()
        .filter(|k| hop_by_hop(k.as_str().as_bytes(), &tokens))
        .cloned()
        .collect();
    for n in names {
        parts.headers.remove(n);
    }
    let body = Watched::new(
        upstream_body,
        state.timeouts.idle,
        Side::Response,
        what.clone(),
        state.log.clone(),
    );
    Response::from_parts(parts, http_body_util::BodyExt::boxed(body))
}

/// Status, `Proxy-Status` error type and message for a failed exchange.
fn classify(e: &hyper_util::client::legacy::Error) -> (u16, &'static str, String) {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(u) = s.downcast_ref::<UpstreamError>() {
            return (u.status(), u.proxy_status(), u.to_string());
        }
        if let Some(h) = s.downcast_ref::<hyper::Error>()
            && (h.is_incomplete_message() || h.is_closed() || h.is_canceled())
        {
            return (
                502,
                "connection_terminated",
                "the upstream closed the connection before it answered".into(),
            );
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionReset
        {
            return (
                502,
                "connection_terminated",
                "the upstream reset the connection before it answered".into(),
            );
        }
        source = s.source();
    }
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    (
        502,
        "http_protocol_error",
        format!("the upstream failed: {msg}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers() {
        let tokens = connection_tokens([&b"keep-alive, X-Secret ,"[..], b"close"].into_iter());
        assert_eq!(
            tokens,
            vec![
                b"keep-alive".to_vec(),
                b"x-secret".to_vec(),
                b"close".to_vec()
            ]
        );
        assert!(hop_by_hop(b"X-Secret", &tokens));
        assert!(hop_by_hop(b"Proxy-Authorization", &tokens));
        assert!(hop_by_hop(b"transfer-encoding", &[]));
        assert!(!hop_by_hop(b"user-agent", &tokens));
    }
}
