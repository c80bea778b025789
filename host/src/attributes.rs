//! `proxy_get_property`: the attributes Envoy exposes to a filter
//! (`request.*`, `response.*`, `source.*`, `destination.*`, `connection.*`,
//! filter state, the plugin's names and the properties a test set), found
//! as Envoy's `Context::getProperty` finds them and encoded as
//! [`Value`] encodes them.

use std::net::SocketAddr;

use egress_abi::{AbiResult, Status, pairs};

use crate::header_map::first_value;
use crate::properties::{self, Found, Value};
use crate::state::{HostState, Kind, Stream};
use crate::types::Headers;

impl HostState {
    /// `Context::getProperty`, writing the value's encoding into `out`.
    pub(crate) fn property(&self, ctx: u32, path: &[u8], out: &mut Vec<u8>) -> AbiResult {
        let segs = properties::split_path(path);
        let segs = segs.as_slice();
        let Some((first, rest)) = segs.split_first() else {
            // No segment: the walk never starts and an empty CEL value fails to serialize.
            return Err(Status::SERIALIZATION_FAILURE);
        };
        // Envoy's attribute maps cannot list their keys (`ListKeys` is
        // unimplemented), so reading one whole fails to serialize.
        if rest.is_empty()
            && matches!(
                *first,
                b"request"
                    | b"response"
                    | b"connection"
                    | b"source"
                    | b"destination"
                    | b"upstream"
                    | b"filter_state"
                    | b"xds"
            )
        {
            return Err(Status::SERIALIZATION_FAILURE);
        }
        let stream = self.streams.get(&ctx);
        if let Some(s) = stream {
            match s.props.lookup(segs, out) {
                Found::Written => return Ok(()),
                Found::Missing => return Err(Status::NOT_FOUND),
                Found::Absent => {}
            }
        }
        match self.plugin.properties.lookup(segs, out) {
            Found::Written => return Ok(()),
            Found::Missing => return Err(Status::NOT_FOUND),
            Found::Absent => {}
        }
        // Wasm-only attributes (`findValue`'s PropertyToken switch).
        let plugin_value = match *first {
            b"plugin_name" => Some(self.plugin.name.as_bytes()),
            b"plugin_root_id" => Some(self.plugin.root_id.as_bytes()),
            b"plugin_vm_id" => Some(self.plugin.vm_id.as_bytes()),
            _ => None,
        };
        if let Some(v) = plugin_value {
            return leaf(v, rest, out);
        }
        // Everything else needs stream info: a root or VM context has none.
        let Some(s) = stream else {
            return properties::not_found();
        };
        match *first {
            b"request" => self.request_attr(s, rest, out),
            b"response" => response_attr(s, rest, out),
            b"source" => peer_attr(s.peer.source, rest, out),
            b"destination" => peer_attr(s.peer.destination, rest, out),
            b"connection" => connection_attr(s, rest, out),
            b"connection_id" => leaf(&Value::UInt(s.peer.connection_id).to_bytes(), rest, out),
            b"filter_state" => {
                let Some((key, more)) = rest.split_first() else {
                    // FilterStateWrapper cannot list its keys.
                    return Err(Status::SERIALIZATION_FAILURE);
                };
                let key = String::from_utf8_lossy(key);
                match s.fs_writes.get(key.as_ref()) {
                    Some(v) => leaf(v, more, out),
                    None => properties::not_found(),
                }
            }
            b"metadata" if rest.is_empty() => Ok(()),
            b"xds" | b"upstream" | b"metadata" | b"upstream_filter_state" => {
                properties::not_found()
            }
            name => {
                // Unknown top-level names fall back to a CelState in filter
                // state under "wasm." + name.
                let mut key = String::from("wasm.");
                key.push_str(&String::from_utf8_lossy(name));
                if let Some(v) = s.fs_writes.get(&key) {
                    return leaf(v, rest, out);
                }
                if rest.is_empty()
                    && let Found::Written = s.props.lookup(&[b"filter_state", key.as_bytes()], out)
                {
                    return Ok(());
                }
                properties::not_found()
            }
        }
    }

    /// `RequestWrapper`: header-derived attributes need the live (or logged)
    /// request headers; time and protocol come from stream info.
    fn request_attr(&self, s: &Stream, rest: &[&[u8]], out: &mut Vec<u8>) -> AbiResult {
        if s.kind != Kind::Http {
            return properties::not_found();
        }
        let Some((attr, more)) = rest.split_first() else {
            return Err(Status::SERIALIZATION_FAILURE);
        };
        let headers = (s.req_headers_live || s.access_log).then_some(&s.req_headers);
        let header = |name: &[u8]| headers.and_then(|h| first_value(h, name));
        match *attr {
            b"time" => leaf(&Value::Timestamp(s.start).to_bytes(), more, out),
            b"protocol" => leaf(b"HTTP/1.1", more, out),
            b"path" => opt_leaf(header(b":path"), more, out),
            b"url_path" => opt_leaf(
                header(b":path").map(|p| p.split(|c| *c == b'?').next().unwrap_or(p)),
                more,
                out,
            ),
            b"query" => match header(b":path") {
                Some(p) => leaf(
                    p.iter()
                        .position(|c| *c == b'?')
                        .and_then(|i| p.get(i + 1..))
                        .unwrap_or_default(),
                    more,
                    out,
                ),
                None => properties::not_found(),
            },
            b"host" => opt_leaf(header(b":authority"), more, out),
            b"scheme" => opt_leaf(header(b":scheme"), more, out),
            b"method" => opt_leaf(header(b":method"), more, out),
            b"referer" => opt_leaf(header(b"referer"), more, out),
            b"useragent" => opt_leaf(header(b"user-agent"), more, out),
            b"id" => opt_leaf(header(b"x-request-id"), more, out),
            // `RequestWrapper`: content-length if the headers have one (not
            // found if it does not parse), else the bytes received so far.
            b"size" => match headers.and_then(|h| first_value(h, b"content-length")) {
                Some(v) => match std::str::from_utf8(v)
                    .ok()
                    .and_then(|v| v.parse::<i64>().ok())
                {
                    Some(n) => leaf(&Value::Int(n).to_bytes(), more, out),
                    None => properties::not_found(),
                },
                None => leaf(
                    &Value::Int(i64::try_from(s.req_body.received).unwrap_or(i64::MAX)).to_bytes(),
                    more,
                    out,
                ),
            },
            b"headers" => {
                let Some(h) = headers else {
                    return properties::not_found();
                };
                headers_attr(h, more, out)
            }
            _ => properties::not_found(),
        }
    }
}

/// `HeadersWrapper`: one header is all its values joined with ","; the
/// whole map is serialized as pairs with unique keys.
fn headers_attr(h: &Headers, rest: &[&[u8]], out: &mut Vec<u8>) -> AbiResult {
    match rest.split_first() {
        Some((name, more)) => {
            let lower = name.to_ascii_lowercase();
            let lower = if lower == b"host" {
                b":authority".to_vec()
            } else {
                lower
            };
            let mut joined: Option<Vec<u8>> = None;
            for (_, v) in h.iter().filter(|(k, _)| *k == lower) {
                match &mut joined {
                    None => joined = Some(v.clone()),
                    Some(j) => {
                        j.push(b',');
                        j.extend_from_slice(v);
                    }
                }
            }
            match joined {
                Some(j) => leaf(&j, more, out),
                None => properties::not_found(),
            }
        }
        None => {
            let mut merged: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
            for (k, v) in h {
                match merged.iter_mut().find(|(mk, _)| mk == k) {
                    Some((_, mv)) => {
                        mv.push(b',');
                        mv.extend_from_slice(v);
                    }
                    None => merged.push((k.clone(), v.clone())),
                }
            }
            pairs::encode(
                merged.iter().map(|(k, v)| (k.as_slice(), v.as_slice())),
                out,
            );
            Ok(())
        }
    }
}

/// `ResponseWrapper`: the code once a response exists, headers while live or logged.
fn response_attr(s: &Stream, rest: &[&[u8]], out: &mut Vec<u8>) -> AbiResult {
    let Some((attr, more)) = rest.split_first() else {
        return Err(Status::SERIALIZATION_FAILURE);
    };
    match *attr {
        b"code" => match s.response_code {
            Some(c) => leaf(&Value::Int(i64::from(c)).to_bytes(), more, out),
            None => properties::not_found(),
        },
        b"code_details" if !s.details.is_empty() => leaf(s.details.as_bytes(), more, out),
        b"headers" => match s
            .resp_headers
            .as_ref()
            .filter(|_| s.resp_headers_live || s.access_log)
        {
            Some(h) => headers_attr(h, more, out),
            None => properties::not_found(),
        },
        b"trailers" => match s
            .resp_trailers
            .as_ref()
            .filter(|_| s.resp_trailers_live || s.access_log)
        {
            Some(h) => headers_attr(h, more, out),
            None => properties::not_found(),
        },
        _ => properties::not_found(),
    }
}

/// `PeerWrapper`: `address` is "ip:port", `port` an int64.
fn peer_attr(addr: Option<SocketAddr>, rest: &[&[u8]], out: &mut Vec<u8>) -> AbiResult {
    let Some(a) = addr else {
        return properties::not_found();
    };
    let Some((attr, more)) = rest.split_first() else {
        return Err(Status::SERIALIZATION_FAILURE);
    };
    match *attr {
        b"address" => leaf(a.to_string().as_bytes(), more, out),
        b"port" => leaf(&Value::Int(i64::from(a.port())).to_bytes(), more, out),
        _ => properties::not_found(),
    }
}

/// `ConnectionWrapper`: SNI is always there (maybe empty), mTLS is false
/// without a peer certificate, certificate fields need TLS.
fn connection_attr(s: &Stream, rest: &[&[u8]], out: &mut Vec<u8>) -> AbiResult {
    let Some((attr, more)) = rest.split_first() else {
        return Err(Status::SERIALIZATION_FAILURE);
    };
    match *attr {
        b"requested_server_name" => leaf(&s.peer.sni, more, out),
        b"mtls" => leaf(&[0], more, out),
        b"id" => leaf(&Value::UInt(s.peer.connection_id).to_bytes(), more, out),
        _ => properties::not_found(),
    }
}

/// A scalar value: the path must end here.
fn leaf(v: &[u8], rest: &[&[u8]], out: &mut Vec<u8>) -> AbiResult {
    if !rest.is_empty() {
        return properties::not_found();
    }
    out.extend_from_slice(v);
    Ok(())
}

fn opt_leaf(v: Option<&[u8]>, rest: &[&[u8]], out: &mut Vec<u8>) -> AbiResult {
    match v {
        Some(v) => leaf(v, rest, out),
        None => properties::not_found(),
    }
}
