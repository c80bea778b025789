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

use crate::hash::hash64;
use crate::table::{Path, Span, Str, Table, u32_of};
use crate::template::Piece;

/// The longest first segment that is indexed.
pub(crate) const MAX_KEY: usize = 120;
/// Destinations with at most this many rules are scanned, not indexed.
const MIN_RULES: usize = 8;

/// The index (see the module docs). Each indexed destination has an
/// open-addressing table of its own, from segment to entry, built from the
/// hashes its rules' segments were grouped by: no key carries the
/// destination, nothing is hashed twice, and building it touches only the
/// destination's own slots.
#[derive(Debug, Default)]
pub(crate) struct RuleIndex {
    /// Per destination: `None` when it is not indexed.
    dests: Box<[Option<DestIndex>]>,
    /// Per entry: its segment (in `seg_bytes`) and its rules (in `lists`).
    entries: Box<[(Str, Span)]>,
    seg_bytes: Box<[u8]>,
    /// Every destination's slots, [`slot_count`] of them: 0 for
    /// an empty slot, else the entry plus one. Under two-thirds full, so a
    /// probe (linear, from [`home`]) ends at an empty slot.
    slots: Box<[u32]>,
    lists: Box<[u32]>,
}

/// One indexed destination: its always-rules (in `lists`) and its slots.
#[derive(Debug, Clone, Copy)]
struct DestIndex {
    always: Span,
    slots: Span,
}

/// The lists [`RuleIndex::build`] reuses from one destination to the next.
#[derive(Default)]
struct Scratch<'t> {
    /// The segments of one rule, with their hashes.
    segs: Vec<(&'t [u8], u64)>,
    /// (segment, its hash, rule), in rule order.
    pairs: Vec<(&'t [u8], u64, u32)>,
    /// Per pair: its group.
    group_of: Vec<u32>,
    /// Per distinct segment, in first-seen order: the segment, how many
    /// pairs have it, and its hash.
    groups: Vec<(&'t [u8], u32, u64)>,
    /// Open addressing from segment to group + 1 (0: empty).
    slots: Vec<u32>,
}

impl<'t> Scratch<'t> {
    /// Gathers the rules `rules` of one destination: each keyed rule's
    /// (segment, hash, rule) pairs into `pairs`, grouped by segment
    /// (`groups`, `group_of`); each other rule, in order, to `always`.
    fn gather(
        &mut self,
        table: &Table,
        path_keys: &[Option<(&'t [u8], u64)>],
        rules: Span,
        mut always: impl FnMut(u32),
    ) {
        self.pairs.clear();
        for idx in rules.start..rules.end {
            let keyed = table
                .body(idx)
                .is_some_and(|b| rule_keys(table, path_keys, b.paths, &mut self.segs));
            if keyed {
                let Scratch { pairs, segs, .. } = self;
                pairs.extend(segs.iter().map(|&(seg, h)| (seg, h, idx)));
            } else {
                always(idx);
            }
        }
        self.group();
    }

    /// Groups `pairs` by segment into `groups` and `group_of`.
    fn group(&mut self) {
        self.groups.clear();
        self.group_of.clear();
        let size = (self.pairs.len() * 2).next_power_of_two();
        self.slots.clear();
        self.slots.resize(size, 0);
        let mask = size - 1;
        for &(seg, h, _) in &self.pairs {
            let mut i = h as usize & mask;
            // At most half full: the probe ends at an empty slot.
            let g = loop {
                match self.slots.get(i).copied() {
                    Some(0) | None => {
                        self.groups.push((seg, 0, h));
                        let g = u32_of(self.groups.len());
                        if let Some(slot) = self.slots.get_mut(i) {
                            *slot = g;
                        }
                        break g - 1;
                    }
                    Some(g)
                        if self
                            .groups
                            .get(g as usize - 1)
                            .is_some_and(|e| e.2 == h && e.0 == seg) =>
                    {
                        break g - 1;
                    }
                    Some(_) => i = (i + 1) & mask,
                }
            };
            if let Some((_, count, _)) = self.groups.get_mut(g as usize) {
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
    /// Builds the index of `table`'s destinations, with no allocation per
    /// key: each destination's (segment, rule) pairs are gathered in
    /// scratch lists reused from one destination to the next, grouped by
    /// segment through a small hash table, and appended as entries whose
    /// rules stay in rule order, with the destination's own slots. Two
    /// passes: the first only counts, so that every array is allocated
    /// once at its final size (growing them by doubling left up to twice
    /// their size behind in the `.wasm`'s linear memory, which never
    /// shrinks).
    pub(crate) fn build(table: &Table) -> Self {
        let mut scratch = Scratch::default();
        // Per path: the segment it fixes and its hash, worked out once
        // (paths are shared by many rules), not once per rule.
        let path_keys: Vec<Option<(&[u8], u64)>> = (0..table.paths.len())
            .map(|p| path_key(table, u32_of(p)).map(|seg| (seg, hash64(seg))))
            .collect();
        let (mut n_lists, mut n_entries, mut n_seg_bytes, mut n_slots) = (0, 0, 0, 0);
        for d in table.dests.iter().filter(|d| d.rules.len() > MIN_RULES) {
            let mut always = 0;
            scratch.gather(table, &path_keys, d.rules, |_| always += 1);
            let n = scratch.groups.len();
            n_lists += always + scratch.pairs.len();
            n_entries += n;
            n_seg_bytes += scratch.groups.iter().map(|g| g.0.len()).sum::<usize>();
            n_slots += slot_count(n);
        }
        let mut dests = Vec::with_capacity(table.dests.len());
        let mut lists: Vec<u32> = Vec::with_capacity(n_lists);
        let mut entries: Vec<(Str, Span)> = Vec::with_capacity(n_entries);
        let mut seg_bytes: Vec<u8> = Vec::with_capacity(n_seg_bytes);
        let mut slots: Vec<u32> = Vec::with_capacity(n_slots);
        for d in &table.dests {
            if d.rules.len() <= MIN_RULES {
                dests.push(None);
                continue;
            }
            let start = u32_of(lists.len());
            scratch.gather(table, &path_keys, d.rules, |idx| lists.push(idx));
            let always = Span {
                start,
                end: u32_of(lists.len()),
            };
            let size = slot_count(scratch.groups.len());
            let first_slot = slots.len();
            slots.resize(first_slot + size, 0);
            let own = slots.get_mut(first_slot..).unwrap_or(&mut []);
            // Each group's entry and span in `lists`, then its rules, in rule order.
            let mut at = lists.len();
            for (seg, count, h) in &mut scratch.groups {
                let entry = u32_of(entries.len());
                let key = Str {
                    off: u32_of(seg_bytes.len()),
                    len: u32_of(seg.len()),
                };
                seg_bytes.extend_from_slice(seg);
                let start = at;
                at += *count as usize;
                entries.push((
                    key,
                    Span {
                        start: u32_of(start),
                        end: u32_of(at),
                    },
                ));
                // Segments are distinct within a destination.
                let mut i = home(*h, size);
                while let Some(slot) = own.get_mut(i) {
                    if *slot == 0 {
                        *slot = entry + 1;
                        break;
                    }
                    i = if i + 1 == size { 0 } else { i + 1 };
                }
                // From here on: where the group's next rule goes.
                *count = u32_of(start);
            }
            lists.resize(at, 0);
            for (&(_, _, rule), &g) in scratch.pairs.iter().zip(&scratch.group_of) {
                if let Some((_, next, _)) = scratch.groups.get_mut(g as usize) {
                    if let Some(slot) = lists.get_mut(*next as usize) {
                        *slot = rule;
                    }
                    *next += 1;
                }
            }
            dests.push(Some(DestIndex {
                always,
                slots: Span {
                    start: u32_of(first_slot),
                    end: u32_of(first_slot + size),
                },
            }));
        }
        Self {
            dests: dests.into_boxed_slice(),
            entries: entries.into_boxed_slice(),
            seg_bytes: seg_bytes.into_boxed_slice(),
            slots: slots.into_boxed_slice(),
            lists: lists.into_boxed_slice(),
        }
    }

    /// Bytes of heap the index holds.
    pub(crate) fn heap_bytes(&self) -> usize {
        core::mem::size_of_val(&*self.dests)
            + core::mem::size_of_val(&*self.entries)
            + self.seg_bytes.len()
            + core::mem::size_of_val(&*self.slots)
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
        let Some(Some(dest)) = self.dests.get(di as usize) else {
            return Candidates::All(rules);
        };
        let Some(seg) = path.filter(|_| plain).and_then(first_segment) else {
            return Candidates::All(rules);
        };
        let keyed = if seg.len() > MAX_KEY {
            // Longer than any key: no keyed rule can match.
            &[][..]
        } else {
            self.keyed(dest.slots, seg)
        };
        Candidates::Lists(dest.always.of(&self.lists), keyed)
    }

    /// The rules keyed under `seg` in a destination's `slots`.
    #[inline]
    fn keyed(&self, slots: Span, seg: &[u8]) -> &[u32] {
        let own = slots.of(&self.slots);
        let size = own.len();
        let mut i = home(hash64(seg), size);
        // Under two-thirds full: a probe ends at an empty slot; the bound
        // is a formality.
        for _ in 0..size {
            let Some(&slot) = own.get(i) else { break };
            if slot == 0 {
                break;
            }
            if let Some((key, span)) = self.entries.get(slot as usize - 1)
                && key.len as usize == seg.len()
                && key.of(&self.seg_bytes) == seg
            {
                return span.of(&self.lists);
            }
            i = if i + 1 == size { 0 } else { i + 1 };
        }
        &[]
    }
}

/// How many slots a destination with `n` segments has: 1.5 per segment and
/// one more, so its table is under two-thirds full and a probe ends at an
/// empty slot.
fn slot_count(n: usize) -> usize {
    n + n / 2 + 1
}

/// The home slot of hash `h` among `size` slots: its high 32 bits scaled
/// to `0..size` (a multiply and a shift, so `size` need not be a power of
/// two).
#[inline]
fn home(h: u64, size: usize) -> usize {
    (((h >> 32) * size as u64) >> 32) as usize
}

/// The first segments (and their hashes) a rule's plain paths fix, each
/// once, into `out`; false if some path does not fix one (or the rule has
/// no plain path). `keys`: [`path_key`] of each path.
fn rule_keys<'t>(
    table: &Table,
    keys: &[Option<(&'t [u8], u64)>],
    paths: Span,
    out: &mut Vec<(&'t [u8], u64)>,
) -> bool {
    out.clear();
    let refs = paths.of(&table.path_refs);
    !refs.is_empty()
        && refs
            .iter()
            .all(|&p| match keys.get(p as usize).copied().flatten() {
                Some(key) => {
                    if !out.iter().any(|k| k.1 == key.1 && k.0 == key.0) {
                        out.push(key);
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
