//! Envoy's header map: how names are keyed (lower-case, `host` as
//! `:authority` in a request) and how a value is added to, found in and
//! removed from a map.

use egress_abi::MapType;

use crate::types::Headers;

/// The first value of `name` (Envoy's `getHeaderMapValue` returns only the
/// first of repeated headers).
pub(crate) fn first_value<'a>(h: &'a Headers, name: &[u8]) -> Option<&'a [u8]> {
    h.iter()
        .find(|(k, _)| k.as_slice() == name)
        .map(|(_, v)| v.as_slice())
}

/// Request and response headers Envoy keeps as "inline" (O(1)) entries: a
/// second value added for one of them is appended with "," instead of
/// becoming a new entry (`HeaderMapImpl::insertByKey`).
pub(crate) fn is_inline(key: &[u8]) -> bool {
    key.first() == Some(&b':')
        || key.starts_with(b"x-envoy-")
        || matches!(
            key,
            b"content-type"
                | b"content-length"
                | b"user-agent"
                | b"x-forwarded-for"
                | b"x-forwarded-proto"
                | b"x-forwarded-host"
                | b"x-forwarded-client-cert"
                | b"x-request-id"
                | b"x-client-trace-id"
                | b"connection"
                | b"transfer-encoding"
                | b"te"
                | b"upgrade"
                | b"via"
                | b"expect"
                | b"keep-alive"
                | b"proxy-connection"
                | b"proxy-status"
                | b"grpc-timeout"
                | b"date"
                | b"server"
                | b"location"
        )
}

/// Lower-cases a header name; in a request map `host` is an alias of
/// `:authority` (Envoy's request header lookup table maps the legacy name).
pub(crate) fn map_key(ty: MapType, key: &[u8]) -> Vec<u8> {
    let k = key.to_ascii_lowercase();
    if k == b"host" && matches!(ty, MapType::RequestHeaders) {
        b":authority".to_vec()
    } else {
        k
    }
}

/// `addCopy`: append (or coalesce into an inline header, where Envoy's
/// `appendToHeader` adds "," + value, and nothing for an empty value);
/// pseudo-headers stay in front.
pub(crate) fn header_add(h: &mut Headers, key: Vec<u8>, value: &[u8]) {
    if is_inline(&key)
        && let Some((_, v)) = h.iter_mut().find(|(k, _)| *k == key)
    {
        if !value.is_empty() {
            if !v.is_empty() {
                v.push(b',');
            }
            v.extend_from_slice(value);
        }
        return;
    }
    if key.first() == Some(&b':') {
        let at = h
            .iter()
            .position(|(k, _)| k.first() != Some(&b':'))
            .unwrap_or(h.len());
        h.insert(at, (key, value.to_vec()));
    } else {
        h.push((key, value.to_vec()));
    }
}

/// `remove`: drops every entry with this name.
pub(crate) fn header_remove(h: &mut Headers, key: &[u8]) {
    h.retain(|(k, _)| k.as_slice() != key);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_headers_coalesce() {
        let mut h: Headers = vec![
            (b":authority".to_vec(), b"a".to_vec()),
            (b"x".to_vec(), b"1".to_vec()),
        ];
        header_add(&mut h, b"user-agent".to_vec(), b"u1");
        header_add(&mut h, b"user-agent".to_vec(), b"u2");
        header_add(&mut h, b"user-agent".to_vec(), b"");
        header_add(&mut h, b"x".to_vec(), b"2");
        header_add(&mut h, b":path".to_vec(), b"/");
        let names: Vec<&[u8]> = h.iter().map(|(k, _)| k.as_slice()).collect();
        assert_eq!(
            names,
            [&b":authority"[..], b":path", b"x", b"user-agent", b"x"]
        );
        assert_eq!(first_value(&h, b"user-agent"), Some(&b"u1,u2"[..]));
        assert_eq!(map_key(MapType::RequestHeaders, b"Host"), b":authority");
        assert_eq!(map_key(MapType::ResponseHeaders, b"Host"), b"host");
    }
}
