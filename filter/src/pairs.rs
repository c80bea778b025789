//! The request's header pairs as the decision reads them: the ABI's pairs
//! codec (`egress_abi::pairs`, which validates the whole buffer before it
//! hands out a pair) seen as `egress_table::Headers`.

use egress_abi::pairs;
use egress_table::Headers;

/// A validated header-pairs buffer, read in place.
#[derive(Debug, Clone, Copy)]
pub struct Pairs<'a>(pairs::Pairs<'a>);

impl<'a> Pairs<'a> {
    /// Validates `buf`; `None` when it is malformed. An empty buffer (or a
    /// single NUL) is an empty map.
    pub fn parse(buf: &'a [u8]) -> Option<Self> {
        pairs::Pairs::parse(buf).map(Self)
    }

    /// The pairs, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        self.0.iter()
    }
}

impl Headers for Pairs<'_> {
    fn for_each<'s>(&'s self, f: &mut dyn FnMut(&'s [u8], &'s [u8])) {
        for (k, v) in self.iter() {
            f(k, v);
        }
    }
}

/// Replaces `out` with the encoding of `pairs` (local-response headers).
pub fn serialize(pairs: &[(&[u8], &[u8])], out: &mut Vec<u8>) {
    out.clear();
    pairs::encode(pairs.iter().copied(), out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_view() {
        let mut buf = vec![7];
        serialize(&[(b":authority", b"httpbin.org"), (b"x", b"1")], &mut buf);
        let p = Pairs::parse(&buf).unwrap();
        let mut seen = Vec::new();
        p.for_each(&mut |k, v| seen.push((k.to_vec(), v.to_vec())));
        assert_eq!(
            seen,
            [
                (b":authority".to_vec(), b"httpbin.org".to_vec()),
                (b"x".to_vec(), b"1".to_vec())
            ]
        );
        assert!(Pairs::parse(&buf[..buf.len() - 1]).is_none());
    }
}
