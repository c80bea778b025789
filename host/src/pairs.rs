//! Stage: wire codecs. The ABI's header-map ("pairs") serialization and the
//! property-path encoding.
//!
//! Pairs layout (spec v0.2.1, "Header map serialization"; all integers
//! little-endian): `u32 count`, then `count` × (`u32 key_len`, `u32
//! value_len`), then for each pair `key bytes, 0x00, value bytes, 0x00`.

/// Appends the pairs encoding of `pairs` to `out`.
pub fn encode<'a, I>(pairs: I, out: &mut Vec<u8>)
where
    I: IntoIterator<Item = (&'a [u8], &'a [u8])>,
    I::IntoIter: Clone,
{
    let iter = pairs.into_iter();
    let start = out.len();
    out.extend_from_slice(&0u32.to_le_bytes());
    let mut count: u32 = 0;
    for (k, v) in iter.clone() {
        out.extend_from_slice(&len32(k.len()).to_le_bytes());
        out.extend_from_slice(&len32(v.len()).to_le_bytes());
        count = count.saturating_add(1);
    }
    for (k, v) in iter {
        out.extend_from_slice(k);
        out.push(0);
        out.extend_from_slice(v);
        out.push(0);
    }
    if let Some(slot) = out.get_mut(start..start + 4) {
        slot.copy_from_slice(&count.to_le_bytes());
    }
}

/// The size [`encode`] produces.
pub fn encoded_len<'a, I>(pairs: I) -> usize
where
    I: IntoIterator<Item = (&'a [u8], &'a [u8])>,
{
    pairs
        .into_iter()
        .fold(4, |n, (k, v)| n + 8 + k.len() + 1 + v.len() + 1)
}

fn len32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// proxy-wasm-cpp-host's limits on a pairs buffer from the guest
/// (`include/proxy-wasm/limits.h`: `PROXY_WASM_HOST_PAIRS_MAX_BYTES`,
/// `PROXY_WASM_HOST_PAIRS_MAX_COUNT`).
pub const MAX_PAIRS_BYTES: usize = 1024 * 1024;
/// See [`MAX_PAIRS_BYTES`].
pub const MAX_PAIRS_COUNT: u32 = 1024;

/// Decodes a pairs buffer the way cpp-host's `PairsUtil::toPairs` does: any
/// malformation (short buffer, a count over the limit, a missing NUL, bytes
/// left over) yields an *empty* list, never an error. The caller then acts
/// on an empty map, and the host call still returns OK.
pub fn decode_lenient(buf: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    decode(buf).unwrap_or_default()
}

/// Strict decoding; `None` for any malformation.
pub fn decode(buf: &[u8]) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    if buf.len() > MAX_PAIRS_BYTES {
        return None;
    }
    let count = read_u32(buf, 0)?;
    if count > MAX_PAIRS_COUNT {
        return None;
    }
    let count = count as usize;
    let mut sizes = Vec::with_capacity(count);
    for i in 0..count {
        let at = 4 + i * 8;
        sizes.push((read_u32(buf, at)? as usize, read_u32(buf, at + 4)? as usize));
    }
    let mut pos = 4 + count * 8;
    let mut out = Vec::with_capacity(count);
    for (kl, vl) in sizes {
        let k = buf.get(pos..pos.checked_add(kl)?)?;
        pos += kl;
        if *buf.get(pos)? != 0 {
            return None;
        }
        pos += 1;
        let v = buf.get(pos..pos.checked_add(vl)?)?;
        pos += vl;
        if *buf.get(pos)? != 0 {
            return None;
        }
        pos += 1;
        out.push((k.to_vec(), v.to_vec()));
    }
    if pos != buf.len() {
        return None;
    }
    Some(out)
}

fn read_u32(buf: &[u8], at: usize) -> Option<u32> {
    let b = buf.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(b.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let pairs: Vec<(&[u8], &[u8])> = vec![(b":path", b"/x"), (b"a", b"")];
        let mut buf = Vec::new();
        encode(pairs.iter().copied(), &mut buf);
        assert_eq!(buf.len(), encoded_len(pairs.iter().copied()));
        assert_eq!(&buf[..4], &2u32.to_le_bytes());
        let back = decode(&buf).unwrap();
        assert_eq!(
            back,
            vec![(b":path".to_vec(), b"/x".to_vec()), (b"a".to_vec(), vec![])]
        );
    }

    #[test]
    fn empty_and_malformed() {
        let mut buf = Vec::new();
        encode(std::iter::empty(), &mut buf);
        assert_eq!(buf, 0u32.to_le_bytes());
        assert_eq!(decode(&buf), Some(vec![]));
        // The spec allows a single 0x00 for an empty map; cpp-host reads it as empty.
        assert!(decode_lenient(&[0]).is_empty());
        // Count says one pair but nothing follows.
        assert!(decode_lenient(&1u32.to_le_bytes()).is_empty());
        // Trailing garbage.
        let mut buf = Vec::new();
        encode([(&b"k"[..], &b"v"[..])], &mut buf);
        buf.push(7);
        assert!(decode(&buf).is_none());
        // Too many pairs.
        assert!(decode(&2000u32.to_le_bytes()).is_none());
    }
}
