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

/// The lists [`RuleIndex::build`] reuses from one destination to the next.
#[derive(Default)]
struct Scratch<'t> {
    /// The segments of one rule.
    segs: Vec<&'t [u8]>,
    /// (segment, rule), in rule order.
    pairs: Vec<(&'t [u8], u32)>,
    /// Per pair: its group.
    group_of: Vec<u32>,
    /// Per distinct segment, in first-seen order: the segment and how many
    /// pairs have it.
    groups: Vec<(&'t [u8], u32)>,
    /// Open addressing from segment to group + 1 (0: empty).
    slots: Vec<u32>,
}

impl Scratch<'_> {
    /// Groups `pairs` by segment into `groups` and `group_of`.
    fn group(&mut self) {
        self.groups.clear();
        self.group_of.clear();
        let size = (self.pairs.len() * 2).next_power_of_two();
        self.slots.clear();
        self.slots.resize(size, 0);
        let mask = size - 1;
        for &(seg, _) in &self.pairs {
            let mut i = crate::hash::hash64(seg) as usize & mask;
            // At most half full: the probe ends at an empty slot.
            let g = loop {
                match self.slots.get(i).copied() {
                    Some(0) | None => {
                        self.groups.push((seg, 0));
                        let g = u32_of(self.groups.len());
                        if let Some(slot) = self.slots.get_mut(i) {
                            *slot = g;
                        }
                        break g - 1;
                    }
                    Some(g) if self.groups.get(g as usize - 1).is_some_and(|e| e.0 == seg) => {
                        break g - 1;
                    }
                    Some(_) => i = (i + 1) & mask,
                }
            };
            if let Some((_, count)) = self.groups.get_mut(g as usize) {
                *count += 1;
            }
            self.group_of.push(g);
        }
    }
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
    /// Builds the index of `table`'s destinations. One pass over the rules
    /// and no allocation per key: each destination's (segment, rule) pairs
    /// are gathered in scratch lists reused from one destination to the
    /// next, grouped by segment through a small hash table, and appended
    /// as entries whose rules stay in rule order.
    pub(crate) fn build(table: &Table) -> Self {
        let mut always = Vec::with_capacity(table.dests.len());
        let mut lists: Vec<u32> = Vec::with_capacity(table.rules.len());
        let mut entries: Vec<(Str, Span)> = Vec::new();
        let mut key_bytes: Vec<u8> = Vec::new();
        let mut scratch = Scratch::default();
        for (di, d) in table.dests.iter().enumerate() {
            if d.rules.len() <= MIN_RULES {
                always.push(None);
                continue;
            }
            scratch.pairs.clear();
            let start = u32_of(lists.len());
            for idx in d.rules.start..d.rules.end {
                let keyed = table
                    .body(idx)
                    .is_some_and(|b| rule_keys(table, b.paths, &mut scratch.segs));
                if keyed {
                    let Scratch { pairs, segs, .. } = &mut scratch;
                    pairs.extend(segs.iter().map(|&seg| (seg, idx)));
                } else {
                    lists.push(idx);
                }
            }
            always.push(Some(Span {
                start,
                end: u32_of(lists.len()),
            }));
            scratch.group();
            // Each group's span in `lists`, then its rules, in rule order.
            let mut at = lists.len();
            for (seg, count) in &mut scratch.groups {
                let key = Str {
                    off: u32_of(key_bytes.len()),
                    len: u32_of(4 + seg.len()),
                };
                key_bytes.extend_from_slice(&u32_of(di).to_le_bytes());
                key_bytes.extend_from_slice(seg);
                let start = at;
                at += *count as usize;
                entries.push((
                    key,
                    Span {
                        start: u32_of(start),
                        end: u32_of(at),
                    },
                ));
                // From here on: where the group's next rule goes.
                *count = u32_of(start);
            }
            lists.resize(at, 0);
            for (&(_, rule), &g) in scratch.pairs.iter().zip(&scratch.group_of) {
                if let Some((_, next)) = scratch.groups.get_mut(g as usize) {
                    if let Some(slot) = lists.get_mut(*next as usize) {
                        *slot = rule;
                    }
                    *next += 1;
                }
            }
        }
        let mut keys = Index::with_capacity(entries.len());
        let key_of = |e: u32| {
            entries
                .get(e as usize)
                .map_or(&[][..], |(k, _)| k.of(&key_bytes))
        };
        for (i, (k, _)) in entries.iter().enumerate() {
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

    /// Bytes of heap the index holds.
    pub(crate) fn heap_bytes(&self) -> usize {
        core::mem::size_of_val(&*self.always)
            + self.keys.heap_bytes()
            + core::mem::size_of_val(&*self.entries)
            + self.key_bytes.len()
            + core::mem::size_of_val(&*self.lists)
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

/// The first segments a rule's plain paths fix, each once, into `out`;
/// false if some path does not fix one (or the rule has no plain path).
fn rule_keys<'t>(table: &'t Table, paths: Span, out: &mut Vec<&'t [u8]>) -> bool {
    out.clear();
    let refs = paths.of(&table.path_refs);
    !refs.is_empty()
        && refs.iter().all(|&p| match path_key(table, p) {
            Some(seg) => {
                if !out.contains(&seg) {
                    out.push(seg);
                }
                true
            }
            None => false,
        })
}

/// The first segment path `p` fixes, if it fixes one.
fn path_key(table: &Table, p: u32) -> Option<&[u8]> {
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
    (seg.len() <= MAX_KEY).then_some(seg)
}
