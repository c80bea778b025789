//! A zero-copy reader for the ABI's header-map "pairs" serialization:
//! `u32 count`, then `count` × (`u32 key_len`, `u32 value_len`), then each
//! key and value followed by a NUL byte (all little-endian). The whole buffer
//! is validated before any pair is handed out; a malformed buffer is `None`.

use egress_table::Headers;

#[derive(Debug, Clone, Copy)]
pub struct Pairs<'a> {
    sizes: &'a [u8],
    data: &'a [u8],
}

fn u32_at(b: &[u8], at: usize) -> Option<usize> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([*s.first()?, *s.get(1)?, *s.get(2)?, *s.get(3)?]) as usize)
}

impl<'a> Pairs<'a> {
    /// Validates `buf`. An empty buffer (or a single NUL) is an empty map.
    pub fn parse(buf: &'a [u8]) -> Option<Self> {
        if buf.is_empty() || buf == [0] {
            return Some(Self {
                sizes: &[],
                data: &[],
            });
        }
        let count = u32_at(buf, 0)?;
        let sizes_len = count.checked_mul(8)?;
        let sizes = buf.get(4..4usize.checked_add(sizes_len)?)?;
        let data = buf.get(4 + sizes_len..)?;
        let mut pos = 0usize;
        for i in 0..count {
            for len in [u32_at(sizes, i * 8)?, u32_at(sizes, i * 8 + 4)?] {
                let end = pos.checked_add(len)?;
                if *data.get(end)? != 0 {
                    return None;
                }
                pos = end + 1;
            }
        }
        (pos == data.len()).then_some(Self { sizes, data })
    }

    /// The pairs, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        let (sizes, data) = (self.sizes, self.data);
        let mut pos = 0usize;
        (0..sizes.len() / 8).map_while(move |i| {
            let kl = u32_at(sizes, i * 8)?;
            let vl = u32_at(sizes, i * 8 + 4)?;
            let k = data.get(pos..pos + kl)?;
            let v = data.get(pos + kl + 1..pos + kl + 1 + vl)?;
            pos += kl + vl + 2;
            Some((k, v))
        })
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.sizes.len() / 8
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Headers for Pairs<'_> {
    fn for_each(&self, f: &mut dyn FnMut(&[u8], &[u8])) {
        for (k, v) in self.iter() {
            f(k, v);
        }
    }
}

/// Serializes pairs (for local-response headers).
pub fn serialize(pairs: &[(&[u8], &[u8])], out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
    for (k, v) in pairs {
        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
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
    use super::*;

    #[test]
    fn round_trip_and_rejects() {
        let mut buf = Vec::new();
        serialize(
            &[(b":authority", b"httpbin.org"), (b"x", b"\xff\x00y")],
            &mut buf,
        );
        let v: Vec<_> = Pairs::parse(&buf)
            .map(|p| p.iter().collect())
            .unwrap_or_default();
        assert_eq!(
            v,
            vec![
                (&b":authority"[..], &b"httpbin.org"[..]),
                (&b"x"[..], &b"\xff\x00y"[..])
            ]
        );
        for n in 0..buf.len() {
            assert!(
                Pairs::parse(&buf[..n]).is_none_or(|p| p.is_empty()),
                "truncated at {n}"
            );
        }
        let mut bad = buf.clone();
        if let Some(last) = bad.last_mut() {
            *last = b'z';
        }
        assert!(Pairs::parse(&bad).is_none());
        assert!(Pairs::parse(&[0xff, 0xff, 0xff, 0xff]).is_none());
        assert_eq!(Pairs::parse(&[]).map(|p| p.len()), Some(0));
    }
}
