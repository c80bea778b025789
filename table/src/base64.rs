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

fn value(b: u8) -> Option<u32> {
    match b {
        b'A'..=b'Z' => Some(u32::from(b - b'A')),
        b'a'..=b'z' => Some(u32::from(b - b'a') + 26),
        b'0'..=b'9' => Some(u32::from(b - b'0') + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Decodes padded standard base64; never panics.
pub fn decode(text: &[u8]) -> Result<Vec<u8>, Base64Error> {
    if !text.len().is_multiple_of(4) {
        return Err(Base64Error::Length(text.len()));
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let quads = text.len() / 4;
    for (qi, quad) in text.chunks_exact(4).enumerate() {
        let last = qi + 1 == quads;
        // Fast path: four symbols, no padding (every quad but the last).
        if !last
            && let [a, b, c, d] = *quad
            && let (Some(a), Some(b), Some(c), Some(d)) = (value(a), value(b), value(c), value(d))
        {
            let n = (a << 18) | (b << 12) | (c << 6) | d;
            out.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8]);
            continue;
        }
        let mut n = 0u32;
        let mut pad = 0usize;
        for (i, &b) in quad.iter().enumerate() {
            let at = qi * 4 + i;
            if b == b'=' {
                // Padding only in the last quad, positions 2 and 3, and once it starts it continues.
                if !last || i < 2 {
                    return Err(Base64Error::Padding(at));
                }
                pad += 1;
                n <<= 6;
                continue;
            }
            if pad > 0 {
                return Err(Base64Error::Padding(at));
            }
            let v = value(b).ok_or(Base64Error::Symbol(at))?;
            n = (n << 6) | v;
        }
        let bytes = n.to_be_bytes();
        let take = 3 - pad;
        out.extend(bytes.iter().skip(1).take(take));
    }
    Ok(out)
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
    }

    proptest::proptest! {
        #[test]
        fn round_trip(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            proptest::prop_assert_eq!(decode(encode(&bytes).as_bytes()).unwrap(), bytes);
        }
    }
}
