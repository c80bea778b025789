//! From what the proxy hands the filter to a decision: the one path that the
//! filter, `egressc explain`, `egressc simulate` and `egressc test` share.
//!
//! The filter calls [`decide_http`] in `on_http_request_headers` with the
//! header map Envoy's connection manager produced and a [`Properties`] that
//! reads Envoy attributes through the ABI; `explain` calls it with the map
//! the connection-manager emulation produced and the properties of the
//! simulated request. Both get the same normalised request, the same
//! decision and, with a [`Tracer`], the same trace. Nothing here allocates.

use core::net::IpAddr;

use crate::plugin_config::Options;
use crate::request::{self, HttpView, Method, Reason, SniState};
use crate::{Decision, Headers, Kind, Limited, NoHeaders, Request, Sni, Table, Tracer};

/// The Envoy attributes a decision may need. Each may cost a host call in
/// the filter, so they are fetched only when the table needs them.
pub trait Properties {
    /// The bytes of an attribute (a host buffer in the filter).
    type Bytes: AsRef<[u8]>;
    /// `request.host`: the authority when the header map has none.
    fn request_host(&self) -> Option<Self::Bytes>;
    /// `destination.port`: the port the connection is for.
    fn destination_port(&self) -> Option<u16>;
    /// `destination.address` (a connection's destination, with its port).
    fn destination_address(&self) -> Option<(Option<IpAddr>, Option<u16>)>;
    /// `connection.requested_server_name`.
    fn sni(&self) -> Option<Self::Bytes>;
    /// The peer's SPIFFE identity: filter state `io.istio.peer_principal` in
    /// an ambient waypoint, else `connection.uri_san_peer_certificate`.
    fn peer_principal(&self) -> Option<Self::Bytes>;
}

/// The peer's principal, fetched only when some rule compares one (it may
/// cost a host call).
fn peer_principal<P: Properties>(table: &Table, props: &P) -> Option<P::Bytes> {
    if table.uses_sources() {
        props.peer_principal()
    } else {
        None
    }
}

/// What was fetched for the principal, if it was: see
/// [`Decided::fetched_principal`].
fn fetched_of<'b, B: AsRef<[u8]>>(table: &Table, buf: Option<&'b B>) -> Option<Option<&'b [u8]>> {
    table
        .uses_sources()
        .then(|| buf.map(|b| request::normalize_principal(b.as_ref())))
}

/// The principal as rules compare it; `None` when there is none or it is
/// empty.
fn principal_of<B: AsRef<[u8]>>(buf: Option<&B>) -> Option<&[u8]> {
    buf.map(|b| request::normalize_principal(b.as_ref()))
        .filter(|p| !p.is_empty())
}

/// A decided request or connection, as the table saw it: what the caller
/// reports (log line, metrics, filter state) or explains.
#[derive(Debug, Clone, Copy)]
pub struct Decided<'a> {
    /// The decision.
    pub decision: Decision,
    /// HTTP request, TLS or TCP connection.
    pub kind: Kind,
    /// The normalised host (or SNI, or the address as text), else the raw
    /// authority of a refused request.
    pub host: &'a [u8],
    /// The port decided on (a best guess for a refused request).
    pub port: u16,
    /// The method as sent (HTTP).
    pub method: &'a [u8],
    /// The path without query, as sent (HTTP).
    pub path: &'a [u8],
    /// The normalised principal, if it was fetched.
    pub principal: Option<&'a [u8]>,
    /// What the principal fetch found, normalised but not filtered for
    /// emptiness, when the decision fetched it (`Some(None)`: there is
    /// none); `None` when it was not fetched. Saves a caller that logs the
    /// principal a second fetch.
    pub fetched_principal: Option<Option<&'a [u8]>>,
    /// The request the rules saw; `None` when it was refused before any rule.
    pub request: Option<Request<'a>>,
    /// Why it was refused before any rule, if it was.
    pub refused: Option<Reason>,
}

/// Decides an HTTP request from the header map the proxy hands the filter
/// (pseudo-headers included) and its properties, and calls `finish` with
/// the outcome (and the tracer, to read what it saw). Every step is the filter's: [`request::scan_headers`],
/// [`request::normalize_http`] on the connection's port, the principal when
/// a rule has a source condition, the SNI when a policy requires it to
/// agree with `Host`, then [`Table::decide_traced`]. `options` are the
/// plugin configuration's settings for the proxy: which header names the
/// destination, the longest path decided on, and how much of a header a
/// value condition reads.
pub fn decide_http<P: Properties, T: Tracer, R>(
    table: &Table,
    headers: &dyn Headers,
    props: &P,
    options: &Options,
    tracer: &mut T,
    finish: impl FnOnce(&Decided<'_>, &mut T) -> R,
) -> R {
    let named = options.authority_header.as_deref().map(str::as_bytes);
    let mut view: HttpView<'_> = request::scan_headers(headers, named);
    let fallback;
    // Envoy's `request.host` when the map has no authority; a proxy that
    // names its header has no fallback (its own attribute may be the very
    // value the named header replaces).
    if view.authority.is_none() && named.is_none() {
        fallback = props.request_host();
        view.authority = fallback.as_ref().map(AsRef::as_ref);
    }
    let connection_port = props.destination_port();
    let method = view.method.unwrap_or(b"");
    let n = match request::normalize_http(&view, connection_port, options.max_path_bytes) {
        Ok(n) => n,
        Err(reason) => {
            // What is shown of the path stops where the limit does.
            let raw = view.path.unwrap_or(b"");
            let limit = usize::try_from(options.max_path_bytes).unwrap_or(usize::MAX);
            let path = request::strip_query(raw.get(..limit).unwrap_or(raw));
            return finish(
                &Decided {
                    decision: table.reject(reason),
                    kind: Kind::Http,
                    host: view.authority.unwrap_or(b""),
                    port: view.port_hint(connection_port),
                    method,
                    path,
                    principal: None,
                    fetched_principal: None,
                    request: None,
                    refused: Some(reason),
                },
                tracer,
            );
        }
    };
    let principal_buf = peer_principal(table, props);
    let principal = principal_of(principal_buf.as_ref());
    // The SNI matters only to a pool that requires it to agree with Host;
    // whether an invalid SNI is refused is that pool's decision.
    let sni_buf = if table.uses_sni_host_match() {
        props.sni()
    } else {
        None
    };
    let sni = SniState::from_raw(sni_buf.as_ref().map(AsRef::as_ref));
    let headers = Limited {
        headers,
        max_value_bytes: usize::try_from(options.max_header_bytes).unwrap_or(usize::MAX),
    };
    let req = Request {
        kind: Kind::Http,
        host: n.host.as_bytes(),
        port: n.port,
        method: n.method,
        path: n.path,
        principal,
        sni: sni.as_sni(),
        dst_ip: None,
        headers: &headers,
    };
    let decision = table.decide_traced(&req, tracer);
    finish(
        &Decided {
            decision,
            kind: Kind::Http,
            host: n.host.as_bytes(),
            port: n.port,
            method,
            // `normalize_http` stripped the query already; `None` only for a
            // CONNECT without `:path`.
            path: n.path.unwrap_or(b""),
            principal,
            fetched_principal: fetched_of(table, principal_buf.as_ref()),
            request: Some(req),
            refused: None,
        },
        tracer,
    )
}

/// Decides a connection (the network filter, in `on_new_connection`): on
/// its SNI if it has one (`tls` destinations, and `tcp` ones by address),
/// else on its destination address and port.
pub fn decide_connection<P: Properties, T: Tracer, R>(
    table: &Table,
    props: &P,
    tracer: &mut T,
    finish: impl FnOnce(&Decided<'_>, &mut T) -> R,
) -> R {
    let sni_buf = props.sni();
    let sni_raw = sni_buf.as_ref().map_or(&[][..], AsRef::as_ref);
    let (ip, addr_port) = props.destination_address().unwrap_or((None, None));
    let port = addr_port.or_else(|| props.destination_port()).unwrap_or(0);
    // The address as text, for the log line, in a stack buffer.
    let mut ip_text = request::TextBuf::new();
    if let Some(i) = ip {
        let _ = core::fmt::Write::write_fmt(&mut ip_text, format_args!("{i}"));
    }
    let kind = if sni_raw.is_empty() {
        Kind::Tcp
    } else {
        Kind::Tls
    };
    let principal_buf = peer_principal(table, props);
    let principal = principal_of(principal_buf.as_ref());
    let sni = request::normalize_host(sni_raw);
    let refused = match (kind, &sni, ip) {
        (Kind::Tls, None, _) => Some(Reason::InvalidSni),
        (Kind::Tcp, _, None) => Some(Reason::NoDestination),
        _ => None,
    };
    let host = match (kind, &sni) {
        (Kind::Tls, Some(h)) => h.as_bytes(),
        (Kind::Tls, None) => sni_raw,
        _ => ip_text.as_bytes(),
    };
    let req = Request {
        kind,
        host: if kind == Kind::Tls { host } else { b"" },
        port,
        method: Method::OTHER,
        path: None,
        principal,
        sni: Sni::Absent,
        dst_ip: ip,
        headers: &NoHeaders,
    };
    let decision = match refused {
        Some(reason) => table.reject(reason),
        None => table.decide_traced(&req, tracer),
    };
    finish(
        &Decided {
            decision,
            kind,
            host,
            port,
            method: b"",
            path: b"",
            principal,
            fetched_principal: fetched_of(table, principal_buf.as_ref()),
            request: refused.is_none().then_some(req),
            refused,
        },
        tracer,
    )
}

/// Splits Envoy's `destination.address` text (`1.2.3.4:443`, `[::1]:443`,
/// or a bare address).
pub fn split_address(s: &[u8]) -> (Option<IpAddr>, Option<u16>) {
    let text = core::str::from_utf8(s).unwrap_or("");
    if let Ok(sa) = text.parse::<core::net::SocketAddr>() {
        return (Some(sa.ip()), Some(sa.port()));
    }
    (text.parse().ok(), None)
}

/// Reads an integer attribute as Envoy encodes it (8 bytes little-endian),
/// or as decimal text.
pub fn int_attribute(b: &[u8]) -> Option<u64> {
    if let Ok(a) = <[u8; 8]>::try_from(b) {
        return Some(u64::from_le_bytes(a));
    }
    core::str::from_utf8(b).ok()?.trim().parse().ok()
}
