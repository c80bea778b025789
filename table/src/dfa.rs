//! Path patterns compiled ahead of time into DFAs.
//!
//! The compiler (feature `build`) turns every URI template and regex into a
//! dense DFA from `regex-automata` and stores its serialized little-endian
//! bytes in the table. The filter only *deserializes and runs* them (feature
//! `dfa-search`), so no regex compiler ships in the `.wasm`.
//!
//! Matching is a full match of the path: the DFA is built with an anchored
//! start state and [`MatchKind::All`](regex_automata::MatchKind::All), fed
//! every byte of the path and then the end-of-input transition; the path
//! matches when that final state is a match state.

use regex_automata::dfa::Automaton;
use regex_automata::dfa::dense::DFA;
use regex_automata::util::start;
use regex_automata::{Anchored, dfa::StartKind};

/// A DFA loaded from a table.
#[derive(Debug, Clone)]
pub struct PathDfa {
    dfa: DFA<Vec<u32>>,
    start: regex_automata::util::primitives::StateID,
}

/// Why DFA bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DfaError(pub String);

impl PathDfa {
    /// Deserializes and validates DFA bytes (any alignment).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DfaError> {
        // regex-automata needs a 4-byte aligned slice: copy into u32 words.
        let mut words = vec![0u32; bytes.len().div_ceil(4)];
        bytemuck::cast_slice_mut::<u32, u8>(&mut words)
            .get_mut(..bytes.len())
            .ok_or_else(|| DfaError("buffer too short".into()))?
            .copy_from_slice(bytes);
        let aligned = bytemuck::cast_slice::<u32, u8>(&words)
            .get(..bytes.len())
            .unwrap_or(&[]);
        let (dfa, used) = DFA::from_bytes(aligned).map_err(|e| DfaError(e.to_string()))?;
        if used != bytes.len() {
            return Err(DfaError(format!(
                "{} trailing bytes after the DFA",
                bytes.len() - used
            )));
        }
        if !matches!(dfa.start_kind(), StartKind::Anchored | StartKind::Both) {
            return Err(DfaError("DFA has no anchored start state".into()));
        }
        let dfa = dfa.to_owned();
        let start = dfa
            .start_state(&start::Config::new().anchored(Anchored::Yes))
            .map_err(|e| DfaError(e.to_string()))?;
        Ok(Self { dfa, start })
    }

    /// Bytes of heap this DFA holds.
    pub fn heap_bytes(&self) -> usize {
        self.dfa.memory_usage()
    }

    /// Whether the whole of `path` (its bytes, e.g. a path's match form
    /// from [`crate::path::MatchForm`]) matches.
    #[inline]
    pub fn is_full_match(&self, path: impl IntoIterator<Item = u8>) -> bool {
        let mut state = self.start;
        for b in path {
            state = self.dfa.next_state(state, b);
            if self.dfa.is_dead_state(state) {
                return false;
            }
        }
        state = self.dfa.next_eoi_state(state);
        self.dfa.is_match_state(state)
    }

    /// [`Self::is_full_match`] of bytes already in match form (a path
    /// without escapes), read straight from the slice.
    #[inline]
    pub fn is_full_match_bytes(&self, path: &[u8]) -> bool {
        self.is_full_match(path.iter().copied())
    }
}

/// Largest serialized DFA the compiler writes for one pattern.
pub const MAX_DFA_BYTES: usize = 256 * 1024;

/// Most bytes of serialized DFAs the compiler writes into one table, all
/// patterns together: 1 MiB, which is 1.33 MiB of base64 in a WasmPlugin's
/// `pluginConfig`, inside the 1.5 MiB an object may have in Kubernetes.
/// (Without it, 300 regexes of 66 KiB each made a 20 MB table from a 13 KB
/// policy.)
pub const MAX_TOTAL_DFA_BYTES: usize = 1024 * 1024;

/// Compiles a regex (the regex crate's syntax, byte-oriented: Unicode classes
/// off) into serialized DFA bytes for a table.
#[cfg(feature = "build")]
pub fn build(pattern: &str) -> Result<Vec<u8>, DfaError> {
    use regex_automata::{MatchKind, dfa::dense, util::syntax};
    let dfa = dense::Builder::new()
        .configure(
            dense::Config::new()
                .start_kind(StartKind::Anchored)
                .match_kind(MatchKind::All)
                .minimize(true)
                .dfa_size_limit(Some(MAX_DFA_BYTES))
                .determinize_size_limit(Some(4 * MAX_DFA_BYTES)),
        )
        .syntax(syntax::Config::new().unicode(false).utf8(false))
        .build(pattern)
        .map_err(|e| DfaError(e.to_string()))?;
    let (bytes, pad) = dfa.to_bytes_little_endian();
    Ok(bytes.get(pad..).map(<[u8]>::to_vec).unwrap_or_default())
}

/// The regex a URI template stands for, over paths in match form (see
/// [`crate::path`]): `{*}` is one non-empty path segment (`[^/]+`), `{**}`
/// any run of bytes including `/` (`.*`); everything else is literal, taken
/// in match form (`%3A` is `:`) and written as `\xHH` unless it is a letter,
/// a digit or `/`, so that no character can take a meaning in the regex
/// syntax (a backslash before `<` or `>` would make a word-boundary
/// assertion in regex-syntax 0.8). Returns `None` if the template is
/// malformed (the compiler checks templates before calling this and reports
/// why).
pub fn template_regex(template: &str) -> Option<String> {
    use core::fmt::Write as _;
    let mut out = String::with_capacity(template.len() * 2 + 8);
    let literal = |out: &mut String, text: &str| {
        for b in crate::path::match_form(text.as_bytes()) {
            if b.is_ascii_alphanumeric() || b == b'/' {
                out.push(char::from(b));
            } else {
                let _ = write!(out, "\\x{b:02X}");
            }
        }
    };
    let mut rest = template;
    while !rest.is_empty() {
        let next = rest.find('{').unwrap_or(rest.len());
        let (text, tail) = rest.split_at(next);
        if text.contains('}') {
            return None;
        }
        literal(&mut out, text);
        if let Some(r) = tail.strip_prefix("{**}") {
            out.push_str("(?s-u:.*)");
            rest = r;
        } else if let Some(r) = tail.strip_prefix("{*}") {
            out.push_str("[^/]+");
            rest = r;
        } else if tail.is_empty() {
            rest = tail;
        } else {
            return None;
        }
    }
    Some(out)
}

#[cfg(test)]
#[cfg(feature = "build")]
mod tests {
    use super::*;

    fn dfa(p: &str) -> PathDfa {
        PathDfa::from_bytes(&build(p).unwrap()).unwrap()
    }

    #[test]
    fn full_match_only() {
        let d = dfa("/v2/items/[0-9]+");
        assert!(d.is_full_match(*b"/v2/items/42"));
        assert!(!d.is_full_match(*b"/v2/items/42/x"));
        assert!(!d.is_full_match(*b"/x/v2/items/42"));
        assert!(!d.is_full_match(*b"/v2/items/"));
    }

    #[test]
    fn alternation_prefers_nothing() {
        let d = dfa("/a|/ab");
        assert!(d.is_full_match(*b"/a"));
        assert!(d.is_full_match(*b"/ab"));
        assert!(!d.is_full_match(*b"/abc"));
    }

    #[test]
    fn explicit_anchors_are_harmless() {
        let d = dfa("^/x$");
        assert!(d.is_full_match(*b"/x"));
        assert!(!d.is_full_match(*b"/xy"));
    }

    #[test]
    fn templates() {
        let d = dfa(&template_regex("/v1/{*}/items/{**}").unwrap());
        assert!(d.is_full_match(*b"/v1/acme/items/"));
        assert!(d.is_full_match(*b"/v1/acme/items/1/2"));
        assert!(!d.is_full_match(*b"/v1//items/1"));
        assert!(!d.is_full_match(*b"/v1/a/b/items/1"));
        assert!(!d.is_full_match(*b"/v1/acme/items"));
        let e = dfa(&template_regex("/files/{*}.json").unwrap());
        assert!(e.is_full_match(*b"/files/a.json"));
        assert!(!e.is_full_match(*b"/files/a/b.json"));
        assert_eq!(template_regex("/x/{y}"), None);
        assert_eq!(template_regex("/x/}"), None);
    }

    #[test]
    fn template_literals_keep_their_meaning() {
        // `<` and `>` are literal, not word boundaries.
        let d = dfa(&template_regex("/p/<q/{**}").unwrap());
        assert!(!d.is_full_match(*b"/p/q/z"));
        assert!(d.is_full_match(*b"/p/<q/z"));
        for lit in [
            "/a.b", "/a+b", "/a|b", "/(x)", "/[x]", "/a^b$", "/a\\d", "/é", "/a b",
        ] {
            let d = dfa(&template_regex(&format!("{lit}/{{*}}")).unwrap());
            let mut path = crate::path::match_form(lit.as_bytes());
            path.extend_from_slice(b"/seg");
            assert!(d.is_full_match(path.iter().copied()), "{lit}");
        }
        // `.` is a dot, not any byte.
        let d = dfa(&template_regex("/a.b/{*}").unwrap());
        assert!(!d.is_full_match(*b"/axb/c"));
        // Literals are in match form: `%3A` and `:` are one character.
        let d = dfa(&template_regex("/v1/{*}%3AsignBlob").unwrap());
        assert!(d.is_full_match(*b"/v1/sa:signBlob"));
    }

    #[test]
    fn corrupt_bytes_are_refused() {
        let mut bytes = build("/a[0-9]+").unwrap();
        assert!(PathDfa::from_bytes(&bytes[..bytes.len() / 2]).is_err());
        bytes.push(0);
        assert!(PathDfa::from_bytes(&bytes).is_err());
        assert!(PathDfa::from_bytes(b"").is_err());
    }
}
