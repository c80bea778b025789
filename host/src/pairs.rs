//! Pairs buffers from the guest (header maps, gRPC metadata, local-response
//! headers) as proxy-wasm-cpp-host reads them (`PairsUtil::toPairs`): within
//! its limits, and a malformed buffer read as an empty map. The codec itself
//! is `egress_abi::pairs`.

use egress_abi::pairs::Pairs;

use crate::types::Headers;

/// cpp-host's limits on a pairs buffer from the guest
/// (`include/proxy-wasm/limits.h`: `PROXY_WASM_HOST_PAIRS_MAX_BYTES`,
/// `PROXY_WASM_HOST_PAIRS_MAX_COUNT`).
pub const MAX_PAIRS_BYTES: usize = 1024 * 1024;
/// See [`MAX_PAIRS_BYTES`].
pub const MAX_PAIRS_COUNT: usize = 1024;

fn within_limits(buf: &[u8]) -> Option<Pairs<'_>> {
    if buf.len() > MAX_PAIRS_BYTES {
        return None;
    }
    Pairs::parse(buf).filter(|p| p.len() <= MAX_PAIRS_COUNT)
}

/// Decodes a pairs buffer; `None` for any malformation or a buffer over
/// cpp-host's limits.
pub fn decode(buf: &[u8]) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    within_limits(buf).map(|p| p.iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect())
}

/// What the host acts on: the pairs, or none at all when the buffer is
/// malformed or over the limits (the host call still returns OK).
pub(crate) fn lenient(buf: &[u8]) -> Pairs<'_> {
    within_limits(buf).unwrap_or_default()
}

/// [`lenient`] as a header list, each name turned into the header map's key.
pub(crate) fn lenient_headers(buf: &[u8], key: impl Fn(&[u8]) -> Vec<u8>) -> Headers {
    lenient(buf)
        .iter()
        .map(|(k, v)| (key(k), v.to_vec()))
        .collect()
}

#[cfg(test)]
mod tests {
    use egress_abi::pairs::encode;

    use super::*;

    #[test]
    fn decodes_within_limits() {
        let mut buf = Vec::new();
        encode([(&b":path"[..], &b"/x"[..]), (b"a", b"")], &mut buf);
        assert_eq!(
            decode(&buf),
            Some(vec![
                (b":path".to_vec(), b"/x".to_vec()),
                (b"a".to_vec(), vec![])
            ])
        );
        assert_eq!(lenient(&buf).len(), 2);
    }

    #[test]
    fn malformed_or_too_large_is_empty() {
        // Count says one pair but nothing follows.
        assert!(decode(&1u32.to_le_bytes()).is_none());
        assert!(lenient(&1u32.to_le_bytes()).is_empty());
        // The spec's single 0x00 is an empty map.
        assert!(lenient(&[0]).is_empty());
        // Over the count limit, although well-formed.
        let many: Vec<(&[u8], &[u8])> = vec![(b"k", b"v"); MAX_PAIRS_COUNT + 1];
        let mut buf = Vec::new();
        encode(many.iter().copied(), &mut buf);
        assert!(decode(&buf).is_none());
        assert!(lenient(&buf).is_empty());
        // Over the byte limit, although well-formed.
        let big = vec![b'v'; MAX_PAIRS_BYTES];
        let mut buf = Vec::new();
        encode([(&b"k"[..], &big[..])], &mut buf);
        assert!(decode(&buf).is_none());
    }
}
