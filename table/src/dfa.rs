//! Path patterns compiled ahead of time into DFAs.
//!
//! The compiler (feature `build`) turns every URI template that is not
//! simple and every regex into a minimal dense DFA with `regex-automata`,
//! then writes it in the table in a form of its own (see
//! [`crate::format`], REGEXES): the 256 bytes' classes, and per state
//! whether a path may end there and the next state for each class. The
//! filter reads that into one flat transition array and runs it with a
//! loop of its own: no regex compiler, and no `regex-automata` at all,
//! ships in the `.wasm`.
//!
//! Matching is a full match of the path: the DFA is built with an anchored
//! start state and `MatchKind::All`, fed every byte of the path, and the
//! path matches when the state it ends in accepts (regex-automata's
//! end-of-input transition leads to a match state from it). State 0 is
//! the dead state, from which nothing matches: the loop stops there.

/// A DFA loaded from a table.
#[derive(Debug, Clone)]
pub struct PathDfa {
    /// The class of each byte.
    classes: [u8; 256],
    /// Transitions: the state at index `s` (a multiple of the number of
    /// classes) goes on byte `b` to `trans[s + classes[b]]`, itself such
    /// an index. Index 0 is the dead state.
    trans: Box<[u32]>,
    /// Whether a path may end in each state (by state number).
    accept: Box<[bool]>,
    /// The start state's index in `trans`.
    start: u32,
    /// The number of classes (at least 1).
    stride: u32,
}

/// Why DFA bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DfaError(pub String);

impl PathDfa {
    /// A DFA from its parts as the table stores them: the class of each
    /// byte, the number of classes `stride`, the start state, and per
    /// state whether it accepts and its `stride` next states (turned into
    /// transition indexes in place: loading holds one array of them).
    /// Checks that every class and state number is in range and that
    /// state 0 is dead (accepts nothing, leads only to itself).
    pub(crate) fn from_parts(
        classes: [u8; 256],
        stride: usize,
        start: u32,
        accept: Vec<bool>,
        mut next: Vec<u32>,
    ) -> Result<Self, DfaError> {
        let states = accept.len();
        if stride == 0 || stride > 256 || classes.iter().any(|&c| usize::from(c) >= stride) {
            return Err(DfaError("a byte class out of range".into()));
        }
        if states.checked_mul(stride) != Some(next.len()) || start as usize >= states {
            return Err(DfaError("state count does not fit the transitions".into()));
        }
        if accept.first() != Some(&false) || next.iter().take(stride).any(|&t| t != 0) {
            return Err(DfaError("state 0 is not the dead state".into()));
        }
        // State `s` becomes its index `s × stride` (which fits: the array
        // has `states × stride` entries).
        let index = |s: u32| {
            (s as usize)
                .checked_mul(stride)
                .and_then(|i| u32::try_from(i).ok())
                .filter(|_| (s as usize) < states)
        };
        for t in &mut next {
            *t = index(*t).ok_or_else(|| {
                DfaError(format!("next state {t} out of range ({states} states)"))
            })?;
        }
        Ok(Self {
            classes,
            trans: next.into_boxed_slice(),
            accept: accept.into_boxed_slice(),
            start: index(start).unwrap_or(0),
            stride: u32::try_from(stride).unwrap_or(1),
        })
    }

    /// Reads serialized DFA bytes (the part of a REGEXES record after its
    /// length; what [`build`] writes), all of them.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DfaError> {
        crate::format::dfa_from_bytes(bytes).map_err(|e| DfaError(e.to_string()))
    }

    /// Bytes of heap this DFA holds.
    pub fn heap_bytes(&self) -> usize {
        self.trans.len() * 4 + self.accept.len()
    }

    /// Whether the whole of `path` (its bytes, e.g. a path's match form
    /// from [`crate::path::MatchForm`]) matches.
    #[inline]
    pub fn is_full_match(&self, path: impl IntoIterator<Item = u8>) -> bool {
        let mut s = self.start;
        for b in path {
            let class = self.classes.get(usize::from(b)).copied().unwrap_or(0);
            s = match self.trans.get(s as usize + usize::from(class)) {
                Some(&next) => next,
                None => return false,
            };
            if s == 0 {
                return false;
            }
        }
        let state = s.checked_div(self.stride).unwrap_or(0);
        self.accept.get(state as usize).copied().unwrap_or(false)
    }

    /// [`Self::is_full_match`] of bytes already in match form (a path
    /// without escapes), read straight from the slice.
    #[inline]
    pub fn is_full_match_bytes(&self, path: &[u8]) -> bool {
        self.is_full_match(path.iter().copied())
    }
}

/// Largest serialized DFA the compiler writes for one pattern (also the
/// most memory regex-automata may use to build it).
pub const MAX_DFA_BYTES: usize = 256 * 1024;

/// Most bytes of serialized DFAs the compiler writes into one table, all
/// patterns together: 1 MiB, which is 1.33 MiB of base64 in a WasmPlugin's
/// `pluginConfig`, inside the 1.5 MiB an object may have in Kubernetes.
/// (Without it, 300 regexes of 66 KiB each made a 20 MB table from a 13 KB
/// policy.)
pub const MAX_TOTAL_DFA_BYTES: usize = 1024 * 1024;

/// Compiles a regex (the regex crate's syntax, byte-oriented: Unicode classes
/// off) into serialized DFA bytes for a table (see [`crate::format`],
/// REGEXES): a minimal dense DFA from regex-automata, its states numbered
/// in the order a breadth-first walk from the anchored start state reaches
/// them, after the dead state 0.
#[cfg(feature = "build")]
pub fn build(pattern: &str) -> Result<Vec<u8>, DfaError> {
    use std::collections::HashMap;

    use regex_automata::dfa::{Automaton, StartKind, dense};
    use regex_automata::util::{primitives::StateID, start, syntax};
    use regex_automata::{Anchored, MatchKind};

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
    let first = dfa
        .start_state(&start::Config::new().anchored(Anchored::Yes))
        .map_err(|e| DfaError(e.to_string()))?;
    // The classes, and one byte of each to step with (the first byte of
    // the class, whatever order regex-automata numbers classes in).
    let classes: [u8; 256] =
        core::array::from_fn(|b| dfa.byte_classes().get(u8::try_from(b).unwrap_or(u8::MAX)));
    let stride = classes
        .iter()
        .map(|&c| usize::from(c) + 1)
        .max()
        .unwrap_or(1);
    let mut first_byte: Vec<Option<u8>> = vec![None; stride];
    for (b, &c) in (0..=255u8).zip(&classes) {
        if let Some(slot @ None) = first_byte.get_mut(usize::from(c)) {
            *slot = Some(b);
        }
    }
    let sample: Vec<u8> = first_byte
        .into_iter()
        .map(|b| b.ok_or_else(|| DfaError("a byte class with no byte".into())))
        .collect::<Result<_, _>>()?;
    // Breadth-first from the start state; the dead state is 0.
    let mut number: HashMap<StateID, u32> = HashMap::new();
    let mut order: Vec<Option<StateID>> = vec![None];
    let mut visit = |s: StateID, order: &mut Vec<Option<StateID>>| -> u32 {
        if dfa.is_dead_state(s) {
            return 0;
        }
        *number.entry(s).or_insert_with(|| {
            order.push(Some(s));
            u32::try_from(order.len() - 1).unwrap_or(u32::MAX)
        })
    };
    let start = visit(first, &mut order);
    let mut states: Vec<(bool, Vec<u32>)> = vec![(false, vec![0; sample.len()])];
    let mut i = 1;
    while let Some(&Some(s)) = order.get(i) {
        let accept = dfa.is_match_state(dfa.next_eoi_state(s));
        let next = sample
            .iter()
            .map(|&b| visit(dfa.next_state(s, b), &mut order))
            .collect();
        states.push((accept, next));
        i += 1;
    }
    let mut out = Vec::new();
    out.push(u8::try_from(sample.len() - 1).unwrap_or(u8::MAX));
    out.extend_from_slice(&classes);
    crate::format::put_v(&mut out, u32::try_from(states.len()).unwrap_or(u32::MAX));
    crate::format::put_v(&mut out, start);
    for (accept, next) in &states {
        out.push(u8::from(*accept));
        for &t in next {
            crate::format::put_v(&mut out, t);
        }
    }
    if out.len() > MAX_DFA_BYTES {
        return Err(DfaError(format!(
            "the DFA ({} bytes) exceeds the limit of {MAX_DFA_BYTES} bytes",
            out.len()
        )));
    }
    Ok(out)
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
        let good = build("/a[0-9]+").unwrap();
        assert!(PathDfa::from_bytes(&good[..good.len() / 2]).is_err());
        let mut longer = good.clone();
        longer.push(0);
        let e = PathDfa::from_bytes(&longer).unwrap_err();
        assert!(e.0.contains("1 bytes after the DFA"), "{e:?}");
        assert!(PathDfa::from_bytes(b"").is_err());
        // The layout: C − 1, 256 classes, S, start, then the dead state.
        let classes = usize::from(good[0]) + 1;
        let (states, start) = (good[257], good[258]);
        assert!(states >= 3 && start == 1, "{states} {start}");
        // A class out of range.
        let mut b = good.clone();
        b[1 + usize::from(b'/')] = good[0] + 1;
        assert!(PathDfa::from_bytes(&b).unwrap_err().0.contains("class"));
        // A dead state that accepts, or leads elsewhere.
        let mut b = good.clone();
        b[259] = 1;
        assert!(PathDfa::from_bytes(&b).unwrap_err().0.contains("dead"));
        let mut b = good.clone();
        b[260] = 1;
        assert!(PathDfa::from_bytes(&b).unwrap_err().0.contains("dead"));
        // A next state out of range, an accept byte that is not 0 or 1.
        let mut b = good.clone();
        b[261 + classes] = states;
        assert!(
            PathDfa::from_bytes(&b)
                .unwrap_err()
                .0
                .contains("out of range")
        );
        let mut b = good.clone();
        b[260 + classes] = 2;
        assert!(
            PathDfa::from_bytes(&b)
                .unwrap_err()
                .0
                .contains("neither 0 nor 1")
        );
        // A start state out of range.
        let mut b = good;
        b[258] = states;
        assert!(
            PathDfa::from_bytes(&b)
                .unwrap_err()
                .0
                .contains("out of range")
        );
    }

    #[test]
    fn a_pattern_that_matches_nothing_starts_dead() {
        let d = dfa("[a&&b]");
        assert!(!d.is_full_match(*b""));
        assert!(!d.is_full_match(*b"a"));
        let e = dfa("");
        assert!(e.is_full_match(*b""));
        assert!(!e.is_full_match(*b"/"));
    }

    const PATTERNS: &[&str] = &[
        "/(a|aa)+b",
        "/v[0-9]+/items/[a-z0-9-]{1,36}",
        "/(?i)api/v1/.*",
        "/files/[^/]+\\.(json|yaml)",
        "/a*b*c*",
        "(/x|/y)?/z",
        "/\\x00[\\x80-\\xff]+",
        "/[^a]*a[^a]*",
        "/\\d{2,3}(/|$)",
    ];

    proptest::proptest! {
        /// Every path decides as the `regex` crate's whole-string match
        /// of the same pattern: the conversion from regex-automata's DFA
        /// to the table's form loses nothing.
        #[test]
        fn dfas_agree_with_the_regex_crate(
            which in 0..PATTERNS.len(),
            path in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::sample::select(b"/abcxyz0123.-I".to_vec()),
                    proptest::num::u8::ANY,
                ],
                0..24,
            ),
        ) {
            let p = PATTERNS[which];
            let d = dfa(p);
            let re = regex::bytes::RegexBuilder::new(&format!("^(?:{p})$"))
                .unicode(false)
                .build()
                .unwrap();
            proptest::prop_assert_eq!(d.is_full_match(path.iter().copied()), re.is_match(&path));
        }
    }
}
