//! What Envoy's HTTP connection manager does to a request's path before any
//! HTTP filter sees it: path normalization (Istio's `meshConfig.pathNormalization`)
//! and the request checks that end in a local 400.
//!
//! Facts, from Envoy `source/common/http/conn_manager_utility.cc`
//! (`maybeNormalizePath`) and `source/common/http/path_utility.cc`:
//!
//! 1. a path with a `#` fragment is rejected (runtime flag
//!    `http_reject_path_with_fragment`, on by default);
//! 2. with `path_with_escaped_slashes_action: UNESCAPE_AND_FORWARD` (Istio's
//!    DECODE_AND_MERGE_SLASHES), `%2F`/`%2f` become `/` and `%5C`/`%5c` become
//!    `\` (`PathUtil::unescapeSlashes`);
//! 3. with `normalize_path` (BASE and above), the part before `?` goes through
//!    Chromium's URL path canonicalizer (`PathUtil::canonicalPath` →
//!    `url::CanonicalizePath`, the copy Envoy vendors): dot segments resolved
//!    (`.`, `..`, `%2e`), `\` turned into `/`, percent-escapes of unreserved
//!    characters (`-`, `.`, `0-9`, `A-Z`, `_`, `a-z`, `~`) decoded once, unsafe
//!    bytes escaped, and `%00` (or a raw NUL) makes the request invalid (400);
//!    a `%` that began no escape but would begin one once the escapes after
//!    it are decoded becomes `%25` (`CheckForNestedEscapes`: `%%32%65` →
//!    `%252e`, `%%300` → `%2500`), as `%25%32%65` is `%252e` already, so a
//!    nested escape never turns into the character it spells;
//! 4. with `merge_slashes` (MERGE_SLASHES and above), runs of `/` in the part
//!    before `?` collapse (`PathUtil::mergeSlashes`).
//!
//! The query string is never touched. The function here is our own
//! implementation of those rules, tested against the cases Istio documents.

use std::fmt;
use std::str::FromStr;

/// Istio's `meshConfig.pathNormalization.normalization`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PathNormalization {
    /// `NONE`: `normalize_path: false`; only the fragment check runs.
    None,
    /// `BASE` (Istio's default): `normalize_path: true`.
    #[default]
    Base,
    /// `MERGE_SLASHES`: BASE plus `merge_slashes: true`.
    MergeSlashes,
    /// `DECODE_AND_MERGE_SLASHES`: MERGE_SLASHES plus `%2F`/`%5C` decoding
    /// (`path_with_escaped_slashes_action: UNESCAPE_AND_FORWARD`).
    DecodeAndMergeSlashes,
}

impl PathNormalization {
    fn canonicalizes(self) -> bool {
        !matches!(self, Self::None)
    }
    fn merges_slashes(self) -> bool {
        matches!(self, Self::MergeSlashes | Self::DecodeAndMergeSlashes)
    }
    fn decodes_slashes(self) -> bool {
        matches!(self, Self::DecodeAndMergeSlashes)
    }
}

impl fmt::Display for PathNormalization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::None => "none",
            Self::Base => "base",
            Self::MergeSlashes => "merge-slashes",
            Self::DecodeAndMergeSlashes => "decode-and-merge-slashes",
        })
    }
}

/// The text of a [`PathNormalization`] that did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownNormalization(pub String);

impl fmt::Display for UnknownNormalization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown path normalization {:?}: expected one of none, base, merge-slashes, decode-and-merge-slashes",
            self.0
        )
    }
}

impl std::error::Error for UnknownNormalization {}

impl FromStr for PathNormalization {
    type Err = UnknownNormalization;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "none" => Ok(Self::None),
            "base" => Ok(Self::Base),
            "merge-slashes" => Ok(Self::MergeSlashes),
            "decode-and-merge-slashes" => Ok(Self::DecodeAndMergeSlashes),
            _ => Err(UnknownNormalization(s.to_owned())),
        }
    }
}

/// Why the connection manager refused a request before any filter ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejection {
    /// The status of the local reply (400 or 404).
    pub status: u16,
    /// Envoy's response code details for it.
    pub details: &'static str,
}

/// `PathNormalizationFailed` in Envoy's `ResponseCodeDetails`.
pub const PATH_NORMALIZATION_FAILED: Rejection = Rejection {
    status: 400,
    details: "path_normalization_failed",
};

/// Applies the connection manager's path handling to a `:path` value.
pub fn normalize_path(path: &[u8], mode: PathNormalization) -> Result<Vec<u8>, Rejection> {
    if path.contains(&b'#') {
        return Err(PATH_NORMALIZATION_FAILED);
    }
    let q = path.iter().position(|b| *b == b'?').unwrap_or(path.len());
    let (p, query) = path.split_at(q);
    let mut p = p.to_vec();
    if mode.decodes_slashes() {
        for (from, to) in [
            (&b"%2F"[..], b'/'),
            (b"%2f", b'/'),
            (b"%5C", b'\\'),
            (b"%5c", b'\\'),
        ] {
            p = replace_all(&p, from, to);
        }
    }
    if mode.canonicalizes() {
        p = canonicalize(&p).ok_or(PATH_NORMALIZATION_FAILED)?;
    }
    if mode.merges_slashes() {
        p = merge_slashes(&p);
    }
    p.extend_from_slice(query);
    Ok(p)
}

fn replace_all(hay: &[u8], needle: &[u8], with: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if hay.get(i..i + needle.len()) == Some(needle) {
            out.push(with);
            i += needle.len();
        } else {
            out.extend(hay.get(i));
            i += 1;
        }
    }
    out
}

/// `PathUtil::mergeSlashes`: keep one leading and one trailing slash, join
/// the non-empty segments with single slashes (so `//` stays `//`).
fn merge_slashes(p: &[u8]) -> Vec<u8> {
    if !p.windows(2).any(|w| w == b"//") {
        return p.to_vec();
    }
    let mut out = Vec::with_capacity(p.len());
    if p.first() == Some(&b'/') {
        out.push(b'/');
    }
    let mut first = true;
    for seg in p.split(|b| *b == b'/').filter(|s| !s.is_empty()) {
        if !first {
            out.push(b'/');
        }
        out.extend_from_slice(seg);
        first = false;
    }
    if p.last() == Some(&b'/') {
        out.push(b'/');
    }
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Copied as is.
    Pass,
    /// Percent-encoded on output.
    Escape,
    /// An escape of it is decoded.
    Unescape,
    /// `.`, handled by the dot-segment logic.
    Dot,
    /// NUL: the path is invalid.
    Invalid,
}

/// The character classes of the path canonicalizer Envoy vendors (googleurl
/// `url_canon_path.cc`, `kPathCharLookup`, the IE-compatible table).
fn class(c: u8) -> Class {
    match c {
        0 => Class::Invalid,
        1..=0x20
        | b'"'
        | b'#'
        | b'%'
        | b'<'
        | b'>'
        | b'?'
        | b'\\'
        | b'^'
        | b'`'
        | b'{'
        | b'|'
        | b'}'
        | 0x7f..=0xff => Class::Escape,
        b'-' | b'0'..=b'9' | b'A'..=b'Z' | b'_' | b'a'..=b'z' | b'~' => Class::Unescape,
        b'.' => Class::Dot,
        _ => Class::Pass,
    }
}

fn is_slash(c: Option<&u8>) -> bool {
    matches!(c, Some(b'/' | b'\\'))
}

/// Length of a dot (`.` or `%2e`/`%2E`) at `i`, or 0.
fn dot_len(s: &[u8], i: usize) -> usize {
    match s.get(i) {
        Some(b'.') => 1,
        Some(b'%') if s.get(i + 1) == Some(&b'2') && matches!(s.get(i + 2), Some(b'e' | b'E')) => 3,
        _ => 0,
    }
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn push_escaped(out: &mut Vec<u8>, c: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push(b'%');
    out.extend(HEX.get(usize::from(c >> 4)));
    out.extend(HEX.get(usize::from(c & 0xf)));
}

/// Removes the last path segment: the output ends in `/`; cut back to the
/// previous `/`, never above the first one.
fn back_up(out: &mut Vec<u8>) {
    let Some(mut i) = out.len().checked_sub(1) else {
        return;
    };
    if i == 0 {
        return;
    }
    i -= 1;
    while i > 0 && out.get(i) != Some(&b'/') {
        i -= 1;
    }
    out.truncate(i + 1);
}

/// The canonicalizer's guard against nested escapes (`CheckForNestedEscapes`
/// in the copy Envoy vendors): a `%` that began no valid escape, followed by
/// decoded characters that make it one (`%%32%65` → `%2e`), is escaped to
/// `%25` so the output cannot be read as the character (`%252e`).
///
/// Called right after an escape at most two output bytes after that `%`
/// (at `p`) was decoded; `next` is the next unread input byte. When only one
/// byte follows the `%`, the next input byte is tried in its place.
fn fix_nested_escape(s: &[u8], next: usize, p: usize, out: &mut Vec<u8>) {
    let len = out.len();
    let Some(&decoded) = out.last() else {
        return;
    };
    let borrowed = p.saturating_add(2) == len;
    if borrowed {
        match s.get(next) {
            Some(&c) if c < 0x80 => out.push(c),
            _ => return,
        }
    }
    let escape = p.saturating_add(3) <= out.len()
        && out.get(p + 1).copied().and_then(hex).is_some()
        && out.get(p + 2).copied().and_then(hex).is_some();
    if escape {
        if !borrowed && let Some(&c) = out.get(p + 1) {
            out.push(c);
        }
        if let Some(b) = out.get_mut(p + 1) {
            *b = b'2';
        }
        if let Some(b) = out.get_mut(p + 2) {
            *b = b'5';
        }
        out.push(decoded);
    } else if borrowed {
        out.truncate(len);
    }
}

/// Our implementation of the canonicalizer's rules (see the module docs).
/// `None` means the path is invalid (a NUL, raw or as `%00`).
pub fn canonicalize(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() + 1);
    if s.is_empty() {
        out.push(b'/');
        return Some(out);
    }
    if !is_slash(s.first()) {
        out.push(b'/');
    }
    let mut ok = true;
    // Where in `out` the last `%` that began no valid escape was written.
    let mut last_invalid: Option<usize> = None;
    let mut i = 0;
    while let Some(&c) = s.get(i) {
        let dl = dot_len(s, i);
        if dl > 0 {
            if out.last() == Some(&b'/') {
                let after = i + dl;
                if after == s.len() {
                    // "/." at the end: the current directory.
                    i = after;
                } else if is_slash(s.get(after)) {
                    i = after + 1;
                } else {
                    let dl2 = dot_len(s, after);
                    let after2 = after + dl2;
                    if dl2 > 0 && after2 == s.len() {
                        back_up(&mut out);
                        i = after2;
                    } else if dl2 > 0 && is_slash(s.get(after2)) {
                        back_up(&mut out);
                        i = after2 + 1;
                    } else {
                        out.push(b'.');
                        i = after;
                    }
                }
            } else {
                out.push(b'.');
                i += dl;
            }
            continue;
        }
        match class(c) {
            Class::Pass | Class::Unescape | Class::Dot => out.push(c),
            Class::Invalid => {
                push_escaped(&mut out, c);
                ok = false;
            }
            Class::Escape if c == b'\\' => out.push(b'/'),
            Class::Escape if c == b'%' => {
                let decoded = match (
                    s.get(i + 1).copied().and_then(hex),
                    s.get(i + 2).copied().and_then(hex),
                ) {
                    (Some(h), Some(l)) => Some((h << 4) | l),
                    _ => None,
                };
                match decoded {
                    Some(v) => {
                        match class(v) {
                            Class::Unescape => {
                                out.push(v);
                                if let Some(p) = last_invalid
                                    && p.saturating_add(3) >= out.len()
                                {
                                    fix_nested_escape(s, i + 3, p, &mut out);
                                }
                            }
                            Class::Invalid => {
                                out.extend_from_slice(s.get(i..i + 3).unwrap_or_default());
                                ok = false;
                            }
                            _ => out.extend_from_slice(s.get(i..i + 3).unwrap_or_default()),
                        }
                        i += 3;
                        continue;
                    }
                    None => {
                        last_invalid = Some(out.len());
                        out.push(b'%');
                    }
                }
            }
            Class::Escape => push_escaped(&mut out, c),
        }
        i += 1;
    }
    ok.then_some(out)
}

/// RFC 9110 `tchar`.
pub fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(p: &str, m: PathNormalization) -> Result<String, u16> {
        normalize_path(p.as_bytes(), m)
            .map(|v| String::from_utf8(v).unwrap())
            .map_err(|r| r.status)
    }

    #[test]
    fn base() {
        let b = PathNormalization::Base;
        assert_eq!(n("/a/b/../c", b), Ok("/a/c".into()));
        assert_eq!(n("/a/./b/.", b), Ok("/a/b/".into()));
        assert_eq!(n("/../../x", b), Ok("/x".into()));
        assert_eq!(n("/a/%2e%2E/b", b), Ok("/b".into()));
        assert_eq!(n("/a\\b", b), Ok("/a/b".into()));
        assert_eq!(n("/%41%7e%2d%5F%30", b), Ok("/A~-_0".into()));
        // Only once: %2541 is an escaped '%' followed by "41".
        assert_eq!(n("/%2541", b), Ok("/%2541".into()));
        // Escapes that stay escaped keep their case.
        assert_eq!(n("/a%2fb%2Fc", b), Ok("/a%2fb%2Fc".into()));
        assert_eq!(n("/a//b", b), Ok("/a//b".into()));
        assert_eq!(n("/a b", b), Ok("/a%20b".into()));
        assert_eq!(n("/x?a=/../b", b), Ok("/x?a=/../b".into()));
        assert_eq!(n("/a%00b", b), Err(400));
        assert_eq!(n("/a#frag", b), Err(400));
        assert_eq!(n("/a..b/..c", b), Ok("/a..b/..c".into()));
        assert_eq!(n("/a/..", b), Ok("/".into()));
    }

    #[test]
    fn nested_escapes_stay_escaped() {
        // A '%' that begins no escape, followed by escapes that would make
        // it one once decoded, becomes %25 (CheckForNestedEscapes).
        for m in [
            PathNormalization::Base,
            PathNormalization::MergeSlashes,
            PathNormalization::DecodeAndMergeSlashes,
        ] {
            assert_eq!(n("/%%32%65", m), Ok("/%252e".into()), "{m}");
            assert_eq!(n("/%25%32%65", m), Ok("/%252e".into()), "{m}");
            assert_eq!(
                n("/public/%%32%65%%32%65/private", m),
                Ok("/public/%252e%252e/private".into()),
                "{m}"
            );
            assert_eq!(
                n("/public/%25%32%65%25%32%65/private", m),
                Ok("/public/%252e%252e/private".into()),
                "{m}"
            );
            // One byte decoded, the next one raw; both decoded.
            assert_eq!(n("/%%300", m), Ok("/%2500".into()), "{m}");
            assert_eq!(n("/%%30%30", m), Ok("/%2500".into()), "{m}");
            assert_eq!(n("/%%34%31x", m), Ok("/%2541x".into()), "{m}");
            // No escape results: left alone.
            assert_eq!(n("/%%7a", m), Ok("/%z".into()), "{m}");
            assert_eq!(n("/%%3g", m), Ok("/%%3g".into()), "{m}");
            assert_eq!(n("/%", m), Ok("/%".into()), "{m}");
            assert_eq!(n("/%%", m), Ok("/%%".into()), "{m}");
        }
        // Without normalisation the path is not touched.
        assert_eq!(
            n("/%%32%65", PathNormalization::None),
            Ok("/%%32%65".into())
        );
    }

    #[test]
    fn merge_and_decode() {
        assert_eq!(
            n("//a///b/", PathNormalization::MergeSlashes),
            Ok("/a/b/".into())
        );
        assert_eq!(
            n("/a%2F%2fb", PathNormalization::MergeSlashes),
            Ok("/a%2F%2fb".into())
        );
        assert_eq!(
            n("/a%2F%2fb", PathNormalization::DecodeAndMergeSlashes),
            Ok("/a/b".into())
        );
        assert_eq!(
            n("/a%5C..%5Cb", PathNormalization::DecodeAndMergeSlashes),
            Ok("/b".into())
        );
        assert_eq!(
            n("/a/%2F../b", PathNormalization::DecodeAndMergeSlashes),
            Ok("/a/b".into())
        );
        assert_eq!(
            n("/a//../b?x//y", PathNormalization::None),
            Ok("/a//../b?x//y".into())
        );
        assert_eq!(n("/a%00", PathNormalization::None), Ok("/a%00".into()));
    }

    #[test]
    fn parse_display() {
        for m in [
            PathNormalization::None,
            PathNormalization::Base,
            PathNormalization::MergeSlashes,
            PathNormalization::DecodeAndMergeSlashes,
        ] {
            assert_eq!(m.to_string().parse::<PathNormalization>(), Ok(m));
        }
        assert_eq!(
            "DECODE_AND_MERGE_SLASHES".parse(),
            Ok(PathNormalization::DecodeAndMergeSlashes)
        );
        assert!("bogus".parse::<PathNormalization>().is_err());
    }
}
