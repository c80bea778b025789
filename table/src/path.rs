//! Paths: the canonical form the filter accepts, and the *match form* in
//! which requests and patterns are compared.
//!
//! Envoy's path normalisation (Istio's default, BASE) resolves dot segments,
//! turns `\` into `/` and decodes escapes of unreserved characters, but it
//! forwards every other escape as it is: `/v1/sa%3AsignBlob` reaches the
//! upstream, which decodes it to `/v1/sa:signBlob` and routes it there
//! (RFC 3986 §2.1–2.4: an escape and the character it stands for are the
//! same data to the resource, except for delimiters that separate segments).
//! Comparing raw text would let `%3A`, `%40`, `%2B`… hide a request from a
//! `deny`. So the filter compares a **match form** of both sides:
//!
//! - every `%XX` escape is decoded, **except** `%2F` (`/`), `%5C` (`\`) and
//!   `%25` (`%`), which stay escaped, with upper-case hex digits: decoding
//!   them would merge segments (`/a%2Fb` is one segment to most upstreams,
//!   two after decoding) or decode twice (`%252F`);
//! - everything else is kept byte for byte.
//!
//! A request path is checked first ([`check_path`]: the filter refuses
//! anything Envoy's normalisation would have changed, and raw `;`), then
//! compared in match form. A pattern is read the same way ([`match_form`]);
//! a pattern may also hold raw characters that Envoy's URL canonicaliser
//! always escapes (`|`, `"`, `<`, space, non-ASCII…), which mean the same
//! thing as their escapes (see [`pattern_problem`]).
//!
//! Nothing on the request side allocates: [`MatchForm`] decodes on the fly.

/// Why a path is not canonical. Envoy normalises paths before filters run
/// (Istio's default: RFC 3986 dot segments, `\` to `/`, unreserved escapes
/// decoded), so a canonical request never has any of these; one that does is
/// either a normalisation setting we do not assume or an attempt to make a
/// denied path look like an allowed one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PathProblem {
    /// Empty, or not starting with `/`.
    NotAbsolute,
    /// `//`.
    EmptySegment,
    /// A `.` or `..` segment.
    DotSegment,
    /// `%2F` or `%5C`: an encoded slash or backslash.
    EncodedSlash,
    /// `%2E`, or another escape of an unreserved character (which
    /// normalisation would have decoded).
    EncodedUnreserved,
    /// `%00` or a NUL byte.
    Nul,
    /// A raw backslash.
    Backslash,
    /// A control character, space, DEL or a byte above 0x7F.
    InvalidByte,
    /// `%` not followed by two hex digits.
    InvalidEscape,
    /// A `;` path parameter (`/admin;x/secret`), which servers such as
    /// Tomcat strip before routing: a way to make a denied path look allowed.
    /// Send `%3B` for a literal semicolon.
    Parameter,
    /// `%25` followed by two hex digits: an escaped escape (`%252e`), which
    /// a server that decodes twice reads as the character (`.`). Envoy's
    /// canonicaliser turns nested escapes (`%%32%65`, `%25%32%65`) into
    /// this form too.
    DoubleEncoded,
    /// Escapes that decode to bytes that are not UTF-8 (an overlong `.` such
    /// as `%C0%AE`, a lone continuation byte, a surrogate), which lenient
    /// decoders have read as other characters.
    InvalidUtf8,
    /// Longer than the filter's `max_path_bytes` (query excluded; see
    /// [`crate::plugin_config::DEFAULT_MAX_PATH_BYTES`]): refused unread, so
    /// no path costs more than one at the limit.
    TooLong,
}

impl PathProblem {
    /// A stable code for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotAbsolute => "path-not-absolute",
            Self::EmptySegment => "path-empty-segment",
            Self::DotSegment => "path-dot-segment",
            Self::EncodedSlash => "path-encoded-slash",
            Self::EncodedUnreserved => "path-encoded-unreserved",
            Self::Nul => "path-nul",
            Self::Backslash => "path-backslash",
            Self::InvalidByte => "path-invalid-byte",
            Self::InvalidEscape => "path-invalid-escape",
            Self::Parameter => "path-parameter",
            Self::DoubleEncoded => "path-double-encoded",
            Self::InvalidUtf8 => "path-invalid-utf8",
            Self::TooLong => "path-too-long",
        }
    }
}

/// The part of `:path` that rules see: everything before the first `?` or `#`.
pub fn strip_query(raw: &[u8]) -> &[u8] {
    let end = raw
        .iter()
        .position(|&b| b == b'?' || b == b'#')
        .unwrap_or(raw.len());
    raw.get(..end).unwrap_or(raw)
}

/// [`strip_query`] of a path that may be at most `max` bytes long without
/// its query: reads at most `max + 1` bytes, and refuses a longer path as
/// [`PathProblem::TooLong`] without reading the rest.
pub fn strip_query_within(raw: &[u8], max: u32) -> Result<&[u8], PathProblem> {
    let max = usize::try_from(max).unwrap_or(usize::MAX);
    let window = raw.get(..max.saturating_add(1)).unwrap_or(raw);
    let path = strip_query(window);
    if path.len() > max {
        return Err(PathProblem::TooLong);
    }
    Ok(path)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The byte an escape at `path[i]` (`%XX`) stands for.
fn escape_at(path: &[u8], i: usize) -> Option<u8> {
    let h = path.get(i + 1).copied().and_then(hex)?;
    let l = path.get(i + 2).copied().and_then(hex)?;
    Some(h * 16 + l)
}

fn is_unreserved(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~')
}

/// What [`problem`]'s scan must stop at: bit 0 in both modes (NUL, `\\`,
/// `%`, `/`), bit 1 only for a request (`;`, controls, space, DEL, bytes
/// above 0x7F), bit 2 only for a pattern (bytes above 0x7F, which may make
/// it fail to be UTF-8). Every other byte is passed over by one load and
/// one test.
#[expect(
    clippy::indexing_slicing,
    reason = "evaluated at compile time: an index out of range fails the build, never the filter"
)]
const STOP: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = match b as u8 {
            0 | b'\\' | b'%' | b'/' => 1,
            b';' | 0x01..=0x20 | 0x7F => 2,
            0x80..=0xFF => 2 | 4,
            _ => 0,
        };
        b += 1;
    }
    t
};

/// The checks shared by requests and patterns; `strict` adds the ones only
/// a request fails (raw bytes Envoy would have escaped, and `;`).
///
/// One pass over the bytes (a path may be nearly 60 KiB, the most Envoy
/// admits in a request head): bytes and escapes are checked as they come
/// and refused at the first bad one; segments are checked at each `/`, and
/// what they show (a dot segment, an empty one) is reported after the scan,
/// in that order, then text that is not UTF-8 (a second pass, only when
/// some byte is above 0x7F). So the reason for a path with several problems
/// is the one the checks give in the order of [`PathProblem`]'s
/// documentation: first bad byte or escape, then dot segment, then empty
/// segment, then UTF-8.
fn problem(path: &[u8], strict: bool) -> Result<(), PathProblem> {
    if path.first() != Some(&b'/') {
        return Err(PathProblem::NotAbsolute);
    }
    let stop = if strict { 1 | 2 } else { 1 | 4 };
    // Whether some byte (raw or escaped) is above 0x7F: only then can the
    // path fail to be UTF-8.
    let mut high = false;
    let (mut dot, mut empty) = (false, false);
    // Where the current segment starts (the path's first `/` opens the first).
    let mut seg = 1;
    let mut i = 1;
    while let Some(&b) = path.get(i) {
        if STOP.get(usize::from(b)).is_some_and(|&c| c & stop == 0) {
            i += 1;
            continue;
        }
        match b {
            b'/' => {
                match path.get(seg..i) {
                    Some([]) => empty = true,
                    Some(b"." | b"..") => dot = true,
                    _ => {}
                }
                seg = i + 1;
            }
            0 => return Err(PathProblem::Nul),
            b'\\' => return Err(PathProblem::Backslash),
            b';' if strict => return Err(PathProblem::Parameter),
            b'%' => {
                let Some(c) = escape_at(path, i) else {
                    return Err(PathProblem::InvalidEscape);
                };
                high |= c > 0x7F;
                match c {
                    0 => return Err(PathProblem::Nul),
                    b'/' | b'\\' => return Err(PathProblem::EncodedSlash),
                    c if is_unreserved(c) => return Err(PathProblem::EncodedUnreserved),
                    b'%' if escape_at(path, i + 2).is_some() => {
                        return Err(PathProblem::DoubleEncoded);
                    }
                    _ => {}
                }
                i += 3;
                continue;
            }
            b if strict && (b <= 0x20 || b >= 0x7F) => return Err(PathProblem::InvalidByte),
            b => high |= b > 0x7F,
        }
        i += 1;
    }
    // The last segment may be empty ("/a/"), not a dot segment.
    if matches!(path.get(seg..), Some(b"." | b"..")) {
        dot = true;
    }
    if dot {
        return Err(PathProblem::DotSegment);
    }
    if empty {
        return Err(PathProblem::EmptySegment);
    }
    if high && !decodes_to_utf8(path) {
        return Err(PathProblem::InvalidUtf8);
    }
    Ok(())
}

/// Whether the bytes `path` stands for (escapes decoded; raw bytes as they
/// are) are UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing past
/// U+10FFFF). Without allocating: one pass, counting continuation bytes.
fn decodes_to_utf8(path: &[u8]) -> bool {
    let mut i = 0;
    // Continuation bytes still expected, and the range the next one must be
    // in (the first one after E0, ED, F0 and F4 is narrower).
    let mut need = 0u8;
    let (mut lo, mut hi) = (0x80u8, 0xBFu8);
    while let Some(&raw) = path.get(i) {
        let b = match raw {
            b'%' => match escape_at(path, i) {
                Some(c) => {
                    i += 3;
                    c
                }
                None => {
                    i += 1;
                    raw
                }
            },
            _ => {
                i += 1;
                raw
            }
        };
        if need > 0 {
            if b < lo || b > hi {
                return false;
            }
            need -= 1;
            (lo, hi) = (0x80, 0xBF);
            continue;
        }
        (need, lo, hi) = match b {
            0x00..=0x7F => (0, 0x80, 0xBF),
            0xC2..=0xDF => (1, 0x80, 0xBF),
            0xE0 => (2, 0xA0, 0xBF),
            0xE1..=0xEC | 0xEE..=0xEF => (2, 0x80, 0xBF),
            0xED => (2, 0x80, 0x9F),
            0xF0 => (3, 0x90, 0xBF),
            0xF1..=0xF3 => (3, 0x80, 0xBF),
            0xF4 => (3, 0x80, 0x8F),
            _ => return false,
        };
    }
    need == 0
}

/// Checks that a request path (query already stripped) is canonical; see
/// [`PathProblem`].
pub fn check_path(path: &[u8]) -> Result<(), PathProblem> {
    problem(path, true)
}

/// Checks a pattern's literal text. Like [`check_path`], but raw bytes that
/// Envoy's URL canonicaliser escapes before forwarding (controls, space,
/// `"`, `<`, `>`, `|`, non-ASCII…) are allowed, since they mean the same as
/// their escapes in match form, and so is `;` (a literal semicolon, which a
/// request sends as `%3B`). NUL, `\`, dot segments, `//`, `%2F`/`%5C`,
/// escaped unreserved characters and broken escapes can never match and are
/// refused.
pub fn pattern_problem(text: &[u8]) -> Result<(), PathProblem> {
    problem(text, false)
}

/// Checks the text of a suffix pattern (`path suffix ".json"`, Istio's
/// `*.json`): the end of some canonical path. Any non-empty text that can
/// follow a path's first character passes, so a suffix need not start with
/// `/`; the same things as in [`pattern_problem`] can never match.
pub fn suffix_problem(text: &[u8]) -> Result<(), PathProblem> {
    if text.is_empty() {
        return Err(PathProblem::NotAbsolute);
    }
    // As the end of "/x…": the first, partial segment can be no dot segment.
    let mut probe = [b'/', b'x'].to_vec();
    probe.extend_from_slice(text);
    problem(&probe, false)
}

/// Whether an escape of `c` stays escaped in match form.
fn kept_escaped(c: u8) -> bool {
    matches!(c, b'/' | b'\\' | b'%')
}

/// The match form of a path, byte by byte, without allocating. Expects a
/// path that passed [`check_path`] or [`pattern_problem`] (a broken escape is
/// passed through as it is).
#[derive(Debug, Clone)]
pub struct MatchForm<'a> {
    path: &'a [u8],
    i: usize,
    /// Bytes of a kept escape still to come (`%2F` → `2`, `F`).
    pending: [u8; 2],
    pending_len: u8,
}

const UPPER_HEX: &[u8; 16] = b"0123456789ABCDEF";

impl<'a> MatchForm<'a> {
    /// Starts decoding `path`.
    pub fn new(path: &'a [u8]) -> Self {
        Self {
            path,
            i: 0,
            pending: [0; 2],
            pending_len: 0,
        }
    }
}

impl Iterator for MatchForm<'_> {
    type Item = u8;

    #[inline]
    fn next(&mut self) -> Option<u8> {
        if self.pending_len > 0 {
            let idx = 2 - usize::from(self.pending_len);
            self.pending_len -= 1;
            return self.pending.get(idx).copied();
        }
        let b = *self.path.get(self.i)?;
        if b != b'%' {
            self.i += 1;
            return Some(b);
        }
        let Some(c) = escape_at(self.path, self.i) else {
            self.i += 1;
            return Some(b);
        };
        self.i += 3;
        if kept_escaped(c) {
            self.pending = [
                UPPER_HEX.get(usize::from(c >> 4)).copied().unwrap_or(b'0'),
                UPPER_HEX.get(usize::from(c & 15)).copied().unwrap_or(b'0'),
            ];
            self.pending_len = 2;
            return Some(b'%');
        }
        Some(c)
    }
}

/// The match form of `path` as owned bytes (the compiler, the table decoder
/// and tools; the filter's hot path uses [`MatchForm`] or the borrowed fast
/// path of [`Subject`]).
pub fn match_form(path: &[u8]) -> Vec<u8> {
    MatchForm::new(path).collect()
}

/// A request path ready to be compared with patterns in match form.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    raw: &'a [u8],
    /// Whether the raw path has an escape (so it must be decoded).
    escaped: bool,
}

impl<'a> Subject<'a> {
    /// Wraps a checked request path (query stripped).
    pub fn new(raw: &'a [u8]) -> Self {
        Self {
            raw,
            escaped: raw.contains(&b'%'),
        }
    }

    /// The path as the request sent it (after the proxy's normalisation).
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// Whether the path has no escape, so its bytes are its match form.
    #[inline]
    pub fn is_plain(&self) -> bool {
        !self.escaped
    }

    /// The match form, byte by byte.
    pub fn bytes(&self) -> MatchForm<'a> {
        MatchForm::new(self.raw)
    }

    /// Whether the match form equals `pattern` (itself in match form).
    #[inline]
    pub fn equals(&self, pattern: &[u8]) -> bool {
        if !self.escaped {
            return self.raw == pattern;
        }
        self.bytes().eq(pattern.iter().copied())
    }

    /// Whether the match form starts with `prefix` (itself in match form).
    #[inline]
    pub fn starts_with(&self, prefix: &[u8]) -> bool {
        if !self.escaped {
            return self.raw.starts_with(prefix);
        }
        let mut it = self.bytes();
        prefix.iter().all(|&p| it.next() == Some(p))
    }

    /// Whether the match form ends with `suffix` (itself in match form).
    #[inline]
    pub fn ends_with(&self, suffix: &[u8]) -> bool {
        if !self.escaped {
            return self.raw.ends_with(suffix);
        }
        let len = self.bytes().count();
        let Some(skip) = len.checked_sub(suffix.len()) else {
            return false;
        };
        self.bytes().skip(skip).eq(suffix.iter().copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The checks of [`problem`] written the plain way, one pass per check
    /// (what the filter ran before the scan was fused): the fused scan must
    /// give the same answer, reason included, for every short path over
    /// the bytes that matter.
    fn problem_by_passes(path: &[u8], strict: bool) -> Result<(), PathProblem> {
        if path.first() != Some(&b'/') {
            return Err(PathProblem::NotAbsolute);
        }
        let mut i = 0;
        let mut high = false;
        while let Some(&b) = path.get(i) {
            high |= b > 0x7F;
            match b {
                0 => return Err(PathProblem::Nul),
                b'\\' => return Err(PathProblem::Backslash),
                b';' if strict => return Err(PathProblem::Parameter),
                b'%' => {
                    let c = escape_at(path, i).ok_or(PathProblem::InvalidEscape)?;
                    high |= c > 0x7F;
                    match c {
                        0 => return Err(PathProblem::Nul),
                        b'/' | b'\\' => return Err(PathProblem::EncodedSlash),
                        c if is_unreserved(c) => return Err(PathProblem::EncodedUnreserved),
                        b'%' if escape_at(path, i + 2).is_some() => {
                            return Err(PathProblem::DoubleEncoded);
                        }
                        _ => {}
                    }
                    i += 3;
                    continue;
                }
                b if strict && (b <= 0x20 || b >= 0x7F) => return Err(PathProblem::InvalidByte),
                _ => {}
            }
            i += 1;
        }
        if path
            .split(|&b| b == b'/')
            .skip(1)
            .any(|s| matches!(s, b"." | b".."))
        {
            return Err(PathProblem::DotSegment);
        }
        if path.windows(2).any(|w| w == b"//") {
            return Err(PathProblem::EmptySegment);
        }
        if high && !decodes_to_utf8(path) {
            return Err(PathProblem::InvalidUtf8);
        }
        Ok(())
    }

    #[test]
    fn one_pass_agrees_with_one_pass_per_check() {
        const BYTES: &[u8] = b"/.%2eEa;\\ \x00\xc3";
        let mut path = Vec::new();
        let mut checked = 0u32;
        // Every path of up to five bytes over BYTES, each after a `/`, and
        // the same after a prefix that is already fine.
        for len in 0..=5u32 {
            for n in 0..(BYTES.len() as u32).pow(len) {
                for prefix in [&b"/"[..], b"/a/b"] {
                    path.clear();
                    path.extend_from_slice(prefix);
                    let mut k = n;
                    for _ in 0..len {
                        path.push(BYTES[(k % BYTES.len() as u32) as usize]);
                        k /= BYTES.len() as u32;
                    }
                    for strict in [true, false] {
                        assert_eq!(
                            problem(&path, strict),
                            problem_by_passes(&path, strict),
                            "{:?} strict={strict}",
                            String::from_utf8_lossy(&path)
                        );
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 1_000_000, "{checked}");
    }

    #[test]
    fn canonical_paths() {
        for ok in [
            "/",
            "/get",
            "/a/b/",
            "/a%20b",
            "/a%3Bb",
            "/%C3%A9",
            "/a.b/.c/..d",
        ] {
            assert_eq!(check_path(ok.as_bytes()), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("", PathProblem::NotAbsolute),
            ("get", PathProblem::NotAbsolute),
            ("//get", PathProblem::EmptySegment),
            ("/a//b", PathProblem::EmptySegment),
            ("/a/./b", PathProblem::DotSegment),
            ("/a/../b", PathProblem::DotSegment),
            ("/a/..", PathProblem::DotSegment),
            ("/a/.", PathProblem::DotSegment),
            ("/a%2Fb", PathProblem::EncodedSlash),
            ("/a%2fb", PathProblem::EncodedSlash),
            ("/a%5Cb", PathProblem::EncodedSlash),
            ("/a%2E%2E/b", PathProblem::EncodedUnreserved),
            ("/a/%252e%252e/b", PathProblem::DoubleEncoded),
            ("/a%252Fb", PathProblem::DoubleEncoded),
            ("/a/%c0%ae%c0%ae/b", PathProblem::InvalidUtf8),
            ("/a/%e0%80%ae", PathProblem::InvalidUtf8),
            ("/a/%80", PathProblem::InvalidUtf8),
            ("/a/%ed%a0%80", PathProblem::InvalidUtf8),
            ("/a/%f4%90%80%80", PathProblem::InvalidUtf8),
            ("/a/%e9t%e9", PathProblem::InvalidUtf8),
            ("/a/%c3", PathProblem::InvalidUtf8),
            ("/%61dmin", PathProblem::EncodedUnreserved),
            ("/a%00", PathProblem::Nul),
            ("/a\0", PathProblem::Nul),
            ("/a\\b", PathProblem::Backslash),
            ("/a b", PathProblem::InvalidByte),
            ("/a\x7f", PathProblem::InvalidByte),
            ("/é", PathProblem::InvalidByte),
            ("/a%2", PathProblem::InvalidEscape),
            ("/a%zz", PathProblem::InvalidEscape),
            ("/admin;x/secret", PathProblem::Parameter),
        ] {
            assert_eq!(check_path(bad.as_bytes()), Err(why), "{bad:?}");
        }
        assert_eq!(strip_query(b"/a?b#c"), b"/a");
        assert_eq!(strip_query(b"/a#c?d"), b"/a");
    }

    #[test]
    fn patterns_may_hold_what_envoy_escapes() {
        for ok in ["/q/a|b", "/a b", "/é", "/a;b", "/x<y>", "/%7C"] {
            assert_eq!(pattern_problem(ok.as_bytes()), Ok(()), "{ok}");
        }
        for bad in [
            "/a\\b", "/a//b", "/a/../b", "/a%2F", "/%41", "/a\0", "/a%g0",
        ] {
            assert!(pattern_problem(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn match_form_decodes_all_but_slashes_and_percent() {
        let m = |s: &str| String::from_utf8_lossy(&match_form(s.as_bytes())).into_owned();
        assert_eq!(m("/v1/sa%3AsignBlob"), "/v1/sa:signBlob");
        assert_eq!(m("/v1/sa%3asignBlob"), "/v1/sa:signBlob");
        assert_eq!(m("/%40evil/pkg"), "/@evil/pkg");
        assert_eq!(m("/v1/a%2Bb"), "/v1/a+b");
        assert_eq!(m("/a%2fb%5cc%25d"), "/a%2Fb%5Cc%25d");
        assert_eq!(m("/100%2541"), "/100%2541");
        assert_eq!(m("/q/a%7Cb"), "/q/a|b");
        assert_eq!(m("/caf%C3%A9"), "/café");
        assert_eq!(match_form(b"/%FF"), b"/\xff");
        assert_eq!(m("/plain"), "/plain");
    }

    #[test]
    fn subjects_compare_in_match_form() {
        let s = Subject::new(b"/v1/sa%3AsignBlob");
        assert!(s.equals(b"/v1/sa:signBlob"));
        assert!(!s.equals(b"/v1/sa%3AsignBlob"));
        assert!(s.starts_with(b"/v1/sa:"));
        assert!(!s.starts_with(b"/v1/sa:signBlobX"));
        let p = Subject::new(b"/plain/x");
        assert!(p.equals(b"/plain/x"));
        assert!(p.starts_with(b"/plain/"));
        let k = Subject::new(b"/a%2fb");
        assert!(k.equals(b"/a%2Fb"));
        assert!(!k.equals(b"/a/b"));
    }

    #[test]
    fn suffixes_compare_in_match_form() {
        let s = Subject::new(b"/v1/sa%3AsignBlob.json");
        assert!(s.ends_with(b":signBlob.json"));
        assert!(s.ends_with(b".json"));
        assert!(!s.ends_with(b"%3AsignBlob.json"));
        assert!(!s.ends_with(b"/x/v1/sa:signBlob.json"));
        let p = Subject::new(b"/a/b.json");
        assert!(p.ends_with(b".json") && p.ends_with(b"/a/b.json") && !p.ends_with(b"x/a/b.json"));
        for ok in [".json", "/info", "/", "x", "a.", "%3A"] {
            assert_eq!(suffix_problem(ok.as_bytes()), Ok(()), "{ok}");
        }
        for bad in ["", "//a", "/..", "/./x", "a%2Fb", "%41", "a\\b"] {
            assert!(suffix_problem(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
