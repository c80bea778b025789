//! An index of each destination's rules by the first path segment they can
//! match, built at load time, so that a request is tested against the few
//! rules that could match its path instead of all of its destination's.
//!
//! A rule is **keyed** when each of its plain paths fixes the first segment
//! of the paths it matches (in match form):
//!
//! - exact `/a/b` fixes `a` (and exact `/a` fixes `a`);
//! - a prefix `/a/…` that has a `/` after its first segment fixes `a`;
//! - a simple template whose first literal piece is `/a/…` (or that is
//!   literal to the end, `/a`) fixes `a`.
//!
//! Every other rule (no plain path; a suffix, regex, DFA template or short
//! prefix; a first segment longer than [`MAX_KEY`]) is **always** a
//! candidate. A keyed rule is listed under each segment its paths fix. For a
//! request whose path has no escape (its bytes are its match form), the
//! candidates are the always-rules and the rules keyed under its first
//! segment; a rule keyed under another segment cannot match it. A request
//! whose path has an escape, or no path, is tested against every rule.
//! Destinations with few rules are not indexed: scanning them is as fast.

use crate::hash::Index;
use crate::table::{Path, Span, Str, Table, u32_of};
use crate::template::Piece;

/// The longest first segment that is indexed.
pub(crate) const MAX_KEY: usize = 120;
/// Destinations with at most this many rules are scanned, not indexed.
const MIN_RULES: usize = 8;

/// The index (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct RuleIndex {
    /// Per destination: its always-rules (into `lists`), or `None` when it
    /// is not indexed.
    always: Box<[Option<Span>]>,
    /// (destination, segment) → entry.
    keys: Index,
    /// Per entry: its key (destination index, 4 bytes little-endian, then
    /// the segment) in `key_bytes`, and its rules in `lists`.
    entries: Box<[(Str, Span)]>,
    key_bytes: Box<[u8]>,
    lists: Box<[u32]>,
}

/// The candidate rules of one destination for one request.
pub(crate) enum Candidates<'a> {
    /// Every rule of the destination.
    All(Span),
    /// The always-rules, then the rules keyed under the path's segment.
    Lists(&'a [u32], &'a [u32]),
}

/// The first segment of a path in match form (`/a/b` → `a`, `/` → empty).
fn first_segment(path: &[u8]) -> Option<&[u8]> {
    let rest = path.strip_prefix(b"/")?;
    let end = rest.iter().position(|&b| b == b'/').unwrap_or(rest.len());
    rest.get(..end)
}

impl RuleIndex {
    /// Builds the index of `table`'s destinations.
    pub(crate) fn build(table: &Table) -> Self {
        let mut always = Vec::with_capacity(table.dests.len());
        let mut lists: Vec<u32> = Vec::new();
        // (key bytes, rules), in the order keys are first seen.
        let mut keyed: Vec<(Vec<u8>, Vec<u32>)> = Vec::new();
        for (di, d) in table.dests.iter().enumerate() {
            if d.rules.len() <= MIN_RULES {
                always.push(None);
                continue;
            }
            let mut mine: Vec<(Vec<u8>, Vec<u32>)> = Vec::new();
            let start = u32_of(lists.len());
            for idx in d.rules.start..d.rules.end {
                match table.body(idx).and_then(|b| rule_keys(table, b.paths)) {
                    Some(segs) => {
                        for seg in segs {
                            match mine.iter_mut().find(|(k, _)| k.as_slice() == seg) {
                                Some((_, rules)) => {
                                    if rules.last() != Some(&idx) {
                                        rules.push(idx);
                                    }
                                }
                                None => mine.push((seg.to_vec(), vec![idx])),
                            }
                        }
                    }
                    None => lists.push(idx),
                }
            }
            always.push(Some(Span {
                start,
                end: u32_of(lists.len()),
            }));
            for (seg, rules) in mine {
                let mut key = u32_of(di).to_le_bytes().to_vec();
                key.extend_from_slice(&seg);
                keyed.push((key, rules));
            }
        }
        let mut key_bytes = Vec::new();
        let mut entries = Vec::with_capacity(keyed.len());
        for (key, rules) in &keyed {
            let k = Str {
                off: u32_of(key_bytes.len()),
                len: u32_of(key.len()),
            };
            key_bytes.extend_from_slice(key);
            let start = u32_of(lists.len());
            lists.extend_from_slice(rules);
            entries.push((
                k,
                Span {
                    start,
                    end: u32_of(lists.len()),
                },
            ));
        }
        let mut keys = Index::with_capacity(entries.len());
        for (i, (k, _)) in entries.iter().enumerate() {
            let key_of = |e: u32| {
                entries
                    .get(e as usize)
                    .map_or(&[][..], |(k, _)| k.of(&key_bytes))
            };
            // Keys are distinct by construction.
            let _ = keys.insert(k.of(&key_bytes), u32_of(i), key_of);
        }
        Self {
            always: always.into_boxed_slice(),
            keys,
            entries: entries.into_boxed_slice(),
            key_bytes: key_bytes.into_boxed_slice(),
            lists: lists.into_boxed_slice(),
        }
    }

    /// The rules of destination `di` (whose rules are `rules`) that could
    /// match a request with `path` (`plain`: the path has no escape).
    #[inline]
    pub(crate) fn candidates(
        &self,
        di: u32,
        rules: Span,
        path: Option<&[u8]>,
        plain: bool,
    ) -> Candidates<'_> {
        let Some(Some(always)) = self.always.get(di as usize) else {
            return Candidates::All(rules);
        };
        let Some(seg) = path.filter(|_| plain).and_then(first_segment) else {
            return Candidates::All(rules);
        };
        let mut buf = [0u8; 4 + MAX_KEY];
        let keyed = match buf.get_mut(..4 + seg.len()) {
            Some(key) => {
                let (d, s) = key.split_at_mut(4);
                d.copy_from_slice(&di.to_le_bytes());
                s.copy_from_slice(seg);
                let key_of = |e: u32| {
                    self.entries
                        .get(e as usize)
                        .map_or(&[][..], |(k, _)| k.of(&self.key_bytes))
                };
                self.keys
                    .get(key, key_of)
                    .and_then(|e| self.entries.get(e as usize))
                    .map_or(&[][..], |(_, span)| span.of(&self.lists))
            }
            // Longer than any key: no keyed rule can match.
            None => &[],
        };
        Candidates::Lists(always.of(&self.lists), keyed)
    }
}

/// The first segments a rule's plain paths fix, or `None` if some path does
/// not fix one (or the rule has no plain path).
fn rule_keys(table: &Table, paths: Span) -> Option<Vec<&[u8]>> {
    let refs = paths.of(&table.path_refs);
    if refs.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(refs.len());
    for &p in refs {
        let seg = match table.paths.get(p as usize)? {
            Path::Exact { form, .. } => first_segment(table.form(*form))?,
            Path::Prefix { form, .. } => {
                let f = table.form(*form);
                let seg = first_segment(f)?;
                // The prefix must go on past the segment with a `/`.
                (f.len() > seg.len() + 1).then_some(seg)?
            }
            Path::Template { pieces, .. } => {
                let pieces = pieces.of(&table.pieces);
                let Some(Piece::Lit(off, len)) = pieces.first() else {
                    return None;
                };
                let lit = table.form(Str {
                    off: *off,
                    len: *len,
                });
                let seg = first_segment(lit)?;
                let whole = pieces.len() == 1;
                (whole || lit.len() > seg.len() + 1).then_some(seg)?
            }
            Path::Suffix { .. } | Path::Dfa { .. } => return None,
        };
        if seg.len() > MAX_KEY {
            return None;
        }
        if !out.contains(&seg) {
            out.push(seg);
        }
    }
    Some(out)
}
