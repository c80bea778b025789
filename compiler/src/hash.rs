//! A fast, non-keyed hasher for the compiler's internal tables (the
//! overlap lints' indexes, the lowering's caches), which hash hundreds of
//! thousands of short keys per compilation: std's SipHash is built to
//! resist chosen-key attacks, a cost a compiler reading its author's own
//! policy need not pay. Nothing here decides anything: the maps are looked
//! up, never iterated into output, so the hash function changes no result.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// A multiplicative hasher: each word is mixed into the state with a
/// rotation, an exclusive or and a multiplication by an odd constant; the
/// result is folded so that its high bits (which the table's control bytes
/// use) depend on every input bit.
#[derive(Debug, Default, Clone, Copy)]
pub struct FastHasher(u64);

/// An odd constant with well-spread bits (2^64 divided by the golden ratio).
const MIX: u64 = 0x9e37_79b9_7f4a_7c15;

impl FastHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(26) ^ word).wrapping_mul(MIX);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            if let Some(dst) = w.get_mut(..rest.len()) {
                dst.copy_from_slice(rest);
            }
            // The length tells "ab" from "ab\0".
            self.add(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        let h = self.0;
        (h ^ (h >> 29)).wrapping_mul(MIX) ^ (h >> 32)
    }
}

/// Builds [`FastHasher`]s.
pub type FastBuild = BuildHasherDefault<FastHasher>;

/// A `HashMap` with [`FastHasher`].
pub type FastMap<K, V> = HashMap<K, V, FastBuild>;

/// A `HashSet` with [`FastHasher`].
pub type FastSet<T> = HashSet<T, FastBuild>;

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;

    #[test]
    fn distinguishes_short_keys() {
        let h = |s: &str| FastBuild::default().hash_one(s);
        assert_ne!(h("ab"), h("ab\0"));
        assert_ne!(h(""), h("\0"));
        assert_ne!(h("/admin/"), h("/admin"));
        let mut seen = FastSet::default();
        for i in 0..10_000u32 {
            assert!(seen.insert(format!("host{i}.example.com")));
        }
        assert_eq!(seen.len(), 10_000);
    }
}
