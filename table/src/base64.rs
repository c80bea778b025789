//! Standard base64 (RFC 4648 §4, with `=` padding): how the binary table
//! travels inside the JSON `pluginConfig`.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Encodes `bytes` as padded standard base64.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b0 = chunk.first().copied().unwrap_or(0);
        let b1 = chunk.get(1).copied().unwrap_or(0);
        let b2 = chunk.get(2).copied().unwrap_or(0);
        let n = (u32::from(b0) << 16) | (u32::from(b1) << 8) | u32::from(b2);
        let sym = |shift: u32| {
            char::from(
                ALPHABET
                    .get(((n >> shift) & 63) as usize)
                    .copied()
                    .unwrap_or(b'='),
            )
        };
        out.push(sym(18));
        out.push(sym(12));
        out.push(if chunk.len() > 1 { sym(6) } else { '=' });
        out.push(if chunk.len() > 2 { sym(0) } else { '=' });
    }
    out
}

/// Why a base64 string could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base64Error {
    /// The length is not a multiple of four.
    Length(usize),
    /// A byte outside the alphabet, at this offset.
    Symbol(usize),
    /// Padding somewhere other than the last one or two positions.
    Padding(usize),
}

impl core::fmt::Display for Base64Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Length(n) => write!(f, "base64 length {n} is not a multiple of 4"),
            Self::Symbol(at) => write!(f, "invalid base64 character at offset {at}"),
            Self::Padding(at) => write!(f, "misplaced base64 padding at offset {at}"),
        }
    }
}

/// The value of each byte as a base64 symbol; 64 marks a byte outside the
/// alphabet (including `=`).
#[allow(
    clippy::indexing_slicing,
    reason = "evaluated at compile time: an index out of range fails the build, not a run"
)]
const VALUES: [u8; 256] = {
    let mut t = [64u8; 256];
    let mut i = 0;
    while i < 64 {
        t[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    t
};

/// `b`'s value as a symbol, or 64.
#[inline]
fn sym(b: u8) -> u8 {
    VALUES.get(usize::from(b)).copied().unwrap_or(64)
}

#[inline]
fn value(b: u8) -> Option<u32> {
    let v = sym(b);
    (v < 64).then_some(u32::from(v))
}

/// Decodes padded standard base64; never panics.
pub fn decode(text: &[u8]) -> Result<Vec<u8>, Base64Error> {
    let mut buf = text.to_vec();
    let n = decode_in_place(&mut buf, 0, text.len())?;
    buf.truncate(n);
    Ok(buf)
}

/// Decodes the padded standard base64 at `buf[start..start + len]` into the
/// front of `buf` (the decoded bytes are never more than the text they come
/// from, so each is written at or before the text it was read from, which has
/// already been read); returns the decoded length. Offsets in errors count
/// from `start`. On an error the front of `buf` holds partial output. Never
/// panics: a range outside `buf` decodes as much of it as there is.
pub fn decode_in_place(buf: &mut [u8], start: usize, len: usize) -> Result<usize, Base64Error> {
    let end = start.saturating_add(len).min(buf.len());
    let len = end.saturating_sub(start);
    if !len.is_multiple_of(4) {
        return Err(Base64Error::Length(len));
    }
    let quads = len / 4;
    let mut o = 0usize;
    let mut i = start;
    // Fast path: every quad but the last, two at a time while both are four
    // symbols (no padding, no stray byte); the first quad that is not, and
    // the last, take the careful loop below.
    let body = start + quads.saturating_sub(1) * 4;
    while i + 8 <= body {
        let Some(&[a, b, c, d, e, f, g, h]) = buf.get(i..i + 8) else {
            break;
        };
        let [a, b, c, d, e, f, g, h] = [a, b, c, d, e, f, g, h].map(sym);
        if (a | b | c | d | e | f | g | h) >= 64 {
            break;
        }
        let n = (u64::from(a) << 42)
            | (u64::from(b) << 36)
            | (u64::from(c) << 30)
            | (u64::from(d) << 24)
            | (u64::from(e) << 18)
            | (u64::from(f) << 12)
            | (u64::from(g) << 6)
            | u64::from(h);
        let [_, _, b0, b1, b2, b3, b4, b5] = n.to_be_bytes();
        // `o + 6 <= i + 8` (`o` is three quarters of `i - start`): no byte
        // is written past the eight just read, which are already copied out.
        if let Some([d0, d1, d2, d3, d4, d5]) = buf.get_mut(o..o + 6) {
            (*d0, *d1, *d2, *d3, *d4, *d5) = (b0, b1, b2, b3, b4, b5);
        }
        i += 8;
        o += 6;
    }
    for qi in (i - start) / 4..quads {
        let last = qi + 1 == quads;
        let quad = match buf.get(i..i + 4) {
            Some(&[a, b, c, d]) => [a, b, c, d],
            _ => return Err(Base64Error::Length(len)),
        };
        i += 4;
        // Fast path: four symbols, no padding (every quad but the last).
        let [a, b, c, d] = quad.map(sym);
        let (out, take) = if !last && (a | b | c | d) < 64 {
            let n =
                (u32::from(a) << 18) | (u32::from(b) << 12) | (u32::from(c) << 6) | u32::from(d);
            (n, 3)
        } else {
            let mut n = 0u32;
            let mut pad = 0usize;
            for (k, &s) in quad.iter().enumerate() {
                let at = qi * 4 + k;
                if s == b'=' {
                    // Padding only in the last quad, positions 2 and 3, and
                    // once it starts it continues.
                    if !last || k < 2 {
                        return Err(Base64Error::Padding(at));
                    }
                    pad += 1;
                    n <<= 6;
                    continue;
                }
                if pad > 0 {
                    return Err(Base64Error::Padding(at));
                }
                let v = value(s).ok_or(Base64Error::Symbol(at))?;
                n = (n << 6) | v;
            }
            (n, 3 - pad)
        };
        let bytes = out.to_be_bytes();
        // `o + 3 <= start + 4 * qi + 3 < i`: inside `buf`, and behind the read position.
        for &b in bytes.iter().skip(1).take(take) {
            if let Some(slot) = buf.get_mut(o) {
                *slot = b;
            }
            o += 1;
        }
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4648_vectors() {
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(encode(plain.as_bytes()), enc);
            assert_eq!(decode(enc.as_bytes()).unwrap(), plain.as_bytes());
        }
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(decode(b"Zm9"), Err(Base64Error::Length(3)));
        assert_eq!(decode(b"Zm9*"), Err(Base64Error::Symbol(3)));
        assert_eq!(decode(b"Z=9v"), Err(Base64Error::Padding(1)));
        assert_eq!(decode(b"Zg==Zm9v"), Err(Base64Error::Padding(2)));
        assert_eq!(decode(b"Zm=v"), Err(Base64Error::Padding(3)));
        // Past the fast path's first blocks: the offset is still exact.
        let text = encode(&[7u8; 120]);
        for at in [0, 7, 8, 41, 95, 150, 159] {
            let mut bad = text.clone().into_bytes();
            bad[at] = b'*';
            assert_eq!(decode(&bad), Err(Base64Error::Symbol(at)), "{at}");
            if at < 156 {
                // (`=` in the last quad's last position is padding.)
                bad[at] = b'=';
                assert_eq!(decode(&bad), Err(Base64Error::Padding(at)), "{at}");
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn round_trip(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            proptest::prop_assert_eq!(decode(encode(&bytes).as_bytes()).unwrap(), bytes.clone());
            // In place, behind some leading bytes.
            let text = encode(&bytes);
            let mut buf = b"{\"table\":\"".to_vec();
            let at = buf.len();
            buf.extend_from_slice(text.as_bytes());
            buf.extend_from_slice(b"\"}");
            let n = decode_in_place(&mut buf, at, text.len()).unwrap();
            proptest::prop_assert_eq!(&buf[..n], &bytes[..]);
        }
    }
}
