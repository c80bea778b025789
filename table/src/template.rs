//! URI templates matched piece by piece, without a DFA.
//!
//! A template (`/v1/{*}/items/{**}`) means the regex that
//! [`crate::dfa::template_regex`] writes: its literal text in match form,
//! `{*}` as `[^/]+` and `{**}` as `.*` (any bytes, `/` included). Most
//! templates are **simple**: every `{*}` is followed by the end, by `{**}`,
//! or by literal text that starts with `/`. A simple template is matched in
//! one pass, each piece deciding on its own:
//!
//! - literal text must come next, byte for byte;
//! - `{*}` before `/` or the end takes the whole segment (the run of bytes
//!   up to the next `/`), which must not be empty: a shorter run would leave
//!   a byte that is not `/` where `/` or the end must come;
//! - `{*}` before `{**}` takes one byte that is not `/`: `[^/]+.*` and
//!   `[^/].*` match the same paths;
//! - `{**}`, the last operator, followed by literal text `L`: what is left
//!   must end with `L` (and be at least as long).
//!
//! So a simple template is matched in time linear in the path, and the table
//! stores no DFA for it (since format 3.0). Other templates (`/{*}.json`,
//! `/{*}{*}`) keep their DFA.

use crate::path::{MatchForm, Subject, match_form};

/// One piece of a simple template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Piece {
    /// Literal text in match form: `(offset, length)` in the table's
    /// buffer of match forms.
    Lit(u32, u32),
    /// `{*}` before `/` or the end: one non-empty segment.
    Segment,
    /// `{*}` before `{**}`: one byte that is not `/`.
    NotSlash,
    /// `{**}` and the literal text after it, `(offset, length)`: the rest of
    /// the path must end with that text.
    Rest(u32, u32),
}

/// The pieces of a template before their literals are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Part {
    Lit(Vec<u8>),
    Segment,
    NotSlash,
    Rest(Vec<u8>),
}

/// Splits a template into its pieces: `None` when it is not simple (or is
/// malformed: an unknown `{…}`, `{**}` twice or not last).
pub(crate) fn simple_parts(template: &[u8]) -> Option<Vec<Part>> {
    #[derive(PartialEq)]
    enum Tok {
        Lit(Vec<u8>),
        One,
        Any,
    }
    let mut toks = Vec::new();
    let mut rest = template;
    while !rest.is_empty() {
        let next = rest.iter().position(|&b| b == b'{').unwrap_or(rest.len());
        let (text, tail) = rest.split_at(next);
        if text.contains(&b'}') {
            return None;
        }
        if !text.is_empty() {
            toks.push(Tok::Lit(match_form(text)));
        }
        if let Some(r) = tail.strip_prefix(b"{**}") {
            toks.push(Tok::Any);
            rest = r;
        } else if let Some(r) = tail.strip_prefix(b"{*}") {
            toks.push(Tok::One);
            rest = r;
        } else if tail.is_empty() {
            rest = tail;
        } else {
            return None;
        }
    }
    let mut parts = Vec::with_capacity(toks.len());
    let mut it = toks.into_iter().peekable();
    while let Some(t) = it.next() {
        match t {
            Tok::Lit(l) => parts.push(Part::Lit(l)),
            Tok::One => match it.peek() {
                None => parts.push(Part::Segment),
                Some(Tok::Lit(l)) if l.first() == Some(&b'/') => parts.push(Part::Segment),
                Some(Tok::Any) => parts.push(Part::NotSlash),
                Some(_) => return None,
            },
            Tok::Any => {
                let tail = match it.next() {
                    None => Vec::new(),
                    Some(Tok::Lit(l)) => l,
                    Some(_) => return None,
                };
                if it.next().is_some() {
                    return None;
                }
                parts.push(Part::Rest(tail));
            }
        }
    }
    Some(parts)
}

/// Whether a request path matches a simple template's pieces; `lit` gives
/// the bytes of a stored literal.
pub(crate) fn matches<'t>(
    pieces: &[Piece],
    lit: impl Fn(u32, u32) -> &'t [u8],
    path: &Subject<'_>,
) -> bool {
    if path.is_plain() {
        return matches_plain(pieces, lit, path.raw());
    }
    let mut it = path.bytes();
    for p in pieces {
        match *p {
            Piece::Lit(o, n) => {
                if !lit(o, n).iter().all(|&b| it.next() == Some(b)) {
                    return false;
                }
            }
            Piece::Segment => {
                let mut took = false;
                while let Some(b) = peek(&it) {
                    if b == b'/' {
                        break;
                    }
                    it.next();
                    took = true;
                }
                if !took {
                    return false;
                }
            }
            Piece::NotSlash => {
                if it.next().is_none_or(|b| b == b'/') {
                    return false;
                }
            }
            Piece::Rest(o, n) => {
                let tail = lit(o, n);
                let left = it.clone().count();
                let Some(skip) = left.checked_sub(tail.len()) else {
                    return false;
                };
                return it.skip(skip).eq(tail.iter().copied());
            }
        }
    }
    it.next().is_none()
}

fn peek(it: &MatchForm<'_>) -> Option<u8> {
    it.clone().next()
}

/// [`matches`] for a path without escapes: its bytes are its match form.
fn matches_plain<'t>(pieces: &[Piece], lit: impl Fn(u32, u32) -> &'t [u8], mut s: &[u8]) -> bool {
    for p in pieces {
        match *p {
            Piece::Lit(o, n) => match s.strip_prefix(lit(o, n)) {
                Some(r) => s = r,
                None => return false,
            },
            Piece::Segment => {
                let run = s.iter().position(|&b| b == b'/').unwrap_or(s.len());
                if run == 0 {
                    return false;
                }
                s = s.get(run..).unwrap_or(&[]);
            }
            Piece::NotSlash => match s.split_first() {
                Some((&b, r)) if b != b'/' => s = r,
                _ => return false,
            },
            Piece::Rest(o, n) => return s.ends_with(lit(o, n)),
        }
    }
    s.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stores the parts' literals in a buffer, as the table does.
    fn store(parts: &[Part]) -> (Vec<u8>, Vec<Piece>) {
        let mut buf = Vec::new();
        let mut put = |l: &[u8]| {
            let o = buf.len() as u32;
            buf.extend_from_slice(l);
            (o, l.len() as u32)
        };
        let pieces = parts
            .iter()
            .map(|p| match p {
                Part::Lit(l) => {
                    let (o, n) = put(l);
                    Piece::Lit(o, n)
                }
                Part::Segment => Piece::Segment,
                Part::NotSlash => Piece::NotSlash,
                Part::Rest(l) => {
                    let (o, n) = put(l);
                    Piece::Rest(o, n)
                }
            })
            .collect();
        (buf, pieces)
    }

    fn m(t: &str, path: &str) -> bool {
        let parts = simple_parts(t.as_bytes()).expect("simple");
        let (buf, pieces) = store(&parts);
        matches(
            &pieces,
            |o, n| buf.get(o as usize..(o + n) as usize).unwrap_or(&[]),
            &Subject::new(path.as_bytes()),
        )
    }

    #[test]
    fn which_templates_are_simple() {
        for t in [
            "/v1/{*}/items",
            "/v1/{*}",
            "/api/{**}",
            "/files/{**}.json",
            "/{*}{**}",
            "/{*}/{**}/x",
            "/a",
        ] {
            assert!(simple_parts(t.as_bytes()).is_some(), "{t}");
        }
        for t in ["/{*}.json", "/{*}{*}", "/{**}/{**}", "/{id}", "/a}"] {
            assert!(simple_parts(t.as_bytes()).is_none(), "{t}");
        }
    }

    #[test]
    fn pieces_match_like_the_regex() {
        assert!(m("/v1/{*}/items", "/v1/abc/items"));
        assert!(!m("/v1/{*}/items", "/v1//items"));
        assert!(!m("/v1/{*}/items", "/v1/a/b/items"));
        assert!(m("/v1/{*}", "/v1/a"));
        assert!(!m("/v1/{*}", "/v1/"));
        assert!(!m("/v1/{*}", "/v1/a/"));
        assert!(m("/x/{**}", "/x/"));
        assert!(m("/x/{**}", "/x/a/b"));
        assert!(!m("/x/{**}", "/x"));
        assert!(m("/f/{**}.json", "/f/.json"));
        assert!(m("/f/{**}.json", "/f/a/b.json"));
        assert!(!m("/f/{**}.json", "/f/.jso"));
        // `[^/]+.*x` on `/ax`: the `{*}` must leave the `x`.
        assert!(m("/{*}{**}x", "/ax"));
        assert!(!m("/{*}{**}x", "//x"));
        // Escapes: compared in match form.
        assert!(m("/v1/{*}/sa:sign", "/v1/p/sa%3Asign"));
        assert!(m("/v1/{*}/x", "/v1/a%2Fb/x"));
        assert!(m("/v1/{*}", "/v1/a%2F"));
        assert!(m("/d/{**}%2F", "/d/a%2f"));
    }

    /// Every simple template agrees with its DFA on every path over a small
    /// alphabet (escapes included), up to a length.
    #[cfg(feature = "build")]
    #[test]
    fn pieces_agree_with_the_dfa() {
        let templates = [
            "/v1/{*}/items",
            "/v1/{*}",
            "/{*}",
            "/api/{**}",
            "/{**}",
            "/a/{**}b",
            "/{*}{**}b",
            "/{*}/{*}/{**}",
            "/a:{*}/b",
            "/{*}/{**}/a",
        ];
        let atoms = ["/", "a", "b", ":", "%3A", "%2F", "%61"];
        let mut paths = vec![String::new()];
        let mut all = Vec::new();
        for _ in 0..5 {
            let mut next = Vec::new();
            for p in &paths {
                for a in atoms {
                    next.push(format!("{p}{a}"));
                }
            }
            all.extend(next.iter().filter(|p| p.starts_with('/')).cloned());
            paths = next;
        }
        for t in templates {
            let re = crate::dfa::template_regex(t).expect("regex");
            let dfa = crate::dfa::PathDfa::from_bytes(&crate::dfa::build(&re).expect("dfa"))
                .expect("load");
            for p in &all {
                let want = dfa.is_full_match(MatchForm::new(p.as_bytes()));
                assert_eq!(m(t, p), want, "template {t} path {p}");
            }
        }
    }
}
