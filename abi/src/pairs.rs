//! The header-map ("pairs") encoding: how header maps, gRPC metadata, and
//! map and list property values cross the ABI (spec v0.2.1, "Header map
//! serialization"; all integers little-endian):
//!
//! ```text
//! u32 count
//! count × (u32 key_len, u32 value_len)
//! count × (key bytes, 0x00, value bytes, 0x00)
//! ```
//!
//! An empty map may also be an empty buffer or a single `0x00`.
//! [`Pairs::parse`] validates a whole buffer before it hands out a pair and
//! never panics; [`encode`] writes the format.

use alloc::vec::Vec;

/// A validated pairs buffer, read in place.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pairs<'a> {
    /// `count` × (key length, value length).
    sizes: &'a [u8],
    /// The keys and values, each followed by a NUL byte.
    data: &'a [u8],
}

/// The little-endian `u32` at `at`, as a length.
fn u32_at(b: &[u8], at: usize) -> Option<usize> {
    let (word, _) = b.get(at..)?.split_first_chunk::<4>()?;
    usize::try_from(u32::from_le_bytes(*word)).ok()
}

impl<'a> Pairs<'a> {
    /// Validates `buf`: every length within the buffer, every key and value
    /// followed by a NUL, nothing left over. `None` for any malformation.
    // `#[inline]`: the filter's `.wasm` comes out smaller with it.
    #[inline]
    pub fn parse(buf: &'a [u8]) -> Option<Self> {
        if buf.is_empty() || buf == [0] {
            return Some(Self::default());
        }
        let count = u32_at(buf, 0)?;
        let sizes_end = count.checked_mul(8)?.checked_add(4)?;
        let sizes = buf.get(4..sizes_end)?;
        let data = buf.get(sizes_end..)?;
        // Each key and each value: its length, then its bytes and a NUL.
        let (mut at, mut pos) = (0, 0usize);
        while let Some(len) = u32_at(sizes, at) {
            let end = pos.checked_add(len)?;
            if *data.get(end)? != 0 {
                return None;
            }
            (at, pos) = (at + 4, end + 1);
        }
        (pos == data.len()).then_some(Self { sizes, data })
    }

    /// The pairs, in order, as (key, value).
    pub fn iter(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone + 'a {
        let (sizes, data) = (self.sizes, self.data);
        let mut pos = 0usize;
        // `parse` checked every length against `data`: no sum overflows.
        (0..self.len()).map_while(move |i| {
            let key_len = u32_at(sizes, i * 8)?;
            let value_len = u32_at(sizes, i * 8 + 4)?;
            let key = data.get(pos..pos + key_len)?;
            let value = data.get(pos + key_len + 1..pos + key_len + 1 + value_len)?;
            pos += key_len + value_len + 2;
            Some((key, value))
        })
    }

    /// The number of pairs.
    pub fn len(&self) -> usize {
        self.sizes.len() / 8
    }

    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.sizes.is_empty()
    }
}

fn len32(n: usize) -> [u8; 4] {
    u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes()
}

/// Appends the encoding of `pairs` to `out`.
pub fn encode<'a, I>(pairs: I, out: &mut Vec<u8>)
where
    I: IntoIterator<Item = (&'a [u8], &'a [u8])>,
    I::IntoIter: Clone,
{
    let pairs = pairs.into_iter();
    out.extend_from_slice(&len32(pairs.clone().count()));
    for (k, v) in pairs.clone() {
        out.extend_from_slice(&len32(k.len()));
        out.extend_from_slice(&len32(v.len()));
    }
    for (k, v) in pairs {
        out.extend_from_slice(k);
        out.push(0);
        out.extend_from_slice(v);
        out.push(0);
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec;

    use super::*;

    fn encoded(pairs: &[(&[u8], &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        encode(pairs.iter().copied(), &mut out);
        out
    }

    #[test]
    fn round_trip() {
        let pairs: &[(&[u8], &[u8])] = &[
            (b":authority", b"httpbin.org"),
            (b"x", b"\xff\x00y"),
            (b"", b""),
            (b"empty", b""),
        ];
        let buf = encoded(pairs);
        assert_eq!(buf[..4], 4u32.to_le_bytes());
        assert_eq!(buf[4..8], 10u32.to_le_bytes());
        let p = Pairs::parse(&buf).unwrap();
        assert_eq!(p.len(), 4);
        assert_eq!(p.iter().collect::<Vec<_>>(), pairs);
    }

    #[test]
    fn encode_appends() {
        let mut out = vec![9];
        encode([(&b"k"[..], &b"v"[..])], &mut out);
        assert_eq!(out[0], 9);
        assert_eq!(Pairs::parse(&out[1..]).unwrap().len(), 1);
    }

    #[test]
    fn empty_maps() {
        let buf = encoded(&[]);
        assert_eq!(buf, 0u32.to_le_bytes());
        for empty in [&buf[..], &[], &[0]] {
            let p = Pairs::parse(empty).unwrap();
            assert!(p.is_empty());
            assert_eq!(p.iter().next(), None);
        }
    }

    #[test]
    fn malformed_is_refused() {
        let buf = encoded(&[(b"key", b"value"), (b"k2", b"v2")]);
        // Every truncation is refused, never read past its end.
        for n in 1..buf.len() {
            assert!(Pairs::parse(&buf[..n]).is_none(), "truncated at {n}");
        }
        // A missing NUL after a key or a value.
        for at in [4 + 16 + 3, 4 + 16 + 4 + 5] {
            let mut bad = buf.clone();
            bad[at] = b'z';
            assert!(Pairs::parse(&bad).is_none(), "no NUL at {at}");
        }
        // Bytes left over.
        let mut long = buf.clone();
        long.push(0);
        assert!(Pairs::parse(&long).is_none());
        // Counts and lengths far past the buffer, or overflowing.
        assert!(Pairs::parse(&[0xff; 4]).is_none());
        assert!(Pairs::parse(&[0xff; 12]).is_none());
        let mut huge = 1u32.to_le_bytes().to_vec();
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        huge.extend_from_slice(&[0, 0]);
        assert!(Pairs::parse(&huge).is_none());
        assert!(Pairs::parse(&[1, 0, 0]).is_none());
    }

    #[test]
    fn any_bytes_parse_without_panic() {
        // Every buffer of up to three bytes, and mutations of a valid one.
        for a in 0..=255u8 {
            for b in [0u8, 1, 8, 255] {
                for c in [0u8, 1, 255] {
                    for buf in [&[a][..], &[a, b], &[a, b, c]] {
                        if let Some(p) = Pairs::parse(buf) {
                            assert_eq!(p.iter().count(), p.len());
                        }
                    }
                }
            }
        }
        let buf = encoded(&[(b"a", b"bc"), (b"", b"d")]);
        for at in 0..buf.len() {
            for v in [0u8, 1, 2, 3, 0x80, 0xff] {
                let mut m = buf.clone();
                m[at] = v;
                if let Some(p) = Pairs::parse(&m) {
                    assert_eq!(p.iter().count(), p.len(), "byte {at} = {v}");
                }
            }
        }
    }
}
