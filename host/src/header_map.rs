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

pub(crate) use egress_hcm::header_add;

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
