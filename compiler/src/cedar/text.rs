//! Cedar literals: strings, `like` patterns and entity references, written
//! so that Cedar reads back exactly the characters meant.
//!
//! Request bytes (paths in match form, header values) are not always UTF-8,
//! so they reach Cedar through [`latin1`]: each byte becomes the code point
//! of the same value. The mapping is injective and byte-by-byte, so
//! equality, prefixes and `like` over the bytes mean the same over the
//! string; pattern literals go through the same mapping.

use std::fmt::Write as _;

/// Bytes as a Cedar string, each byte the code point of the same value
/// (ISO 8859-1): `/café` in UTF-8 (`63 61 66 C3 A9`) becomes `/cafÃ©`.
pub fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

fn escape_into(out: &mut String, s: &str, star: bool) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '*' if star => out.push_str("\\*"),
            ' '..='~' => out.push(c),
            _ => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
        }
    }
}

/// A Cedar string literal, quoted: printable ASCII as it is, `"` and `\`
/// escaped, everything else as `\u{…}`.
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    escape_into(&mut out, s, false);
    out.push('"');
    out
}

/// One piece of a `like` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Like {
    /// Literal text (a `*` in it is escaped).
    Text(String),
    /// `*`: any run of characters, possibly empty.
    Any,
}

/// A quoted `like` pattern.
pub fn like(pieces: &[Like]) -> String {
    let mut out = String::from("\"");
    for p in pieces {
        match p {
            Like::Text(t) => escape_into(&mut out, t, true),
            Like::Any => out.push('*'),
        }
    }
    out.push('"');
    out
}

/// An entity reference, `Type::"id"`.
pub fn entity(ty: &str, id: &str) -> String {
    format!("{ty}::{}", string(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals() {
        assert_eq!(string("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(string("a*b"), r#""a*b""#);
        assert_eq!(string("\u{7f}\n\u{e9}"), r#""\u{7f}\u{a}\u{e9}""#);
        assert_eq!(
            like(&[
                Like::Text("/a*".into()),
                Like::Any,
                Like::Text(".json".into())
            ]),
            r#""/a\**.json""#
        );
        assert_eq!(latin1(b"/caf\xc3\xa9"), "/caf\u{c3}\u{a9}");
        assert_eq!(entity("Host", "a.com"), r#"Host::"a.com""#);
    }
}
