//! The host-name hash and the open-addressing index built from it at load time.
//!
//! The hash mixes eight bytes at a time with 64-bit multiplies, which are
//! native instructions in wasm32 (unlike 128-bit multiplies or 32-bit-word
//! hashers that fall back to four bytes per step there). It is not part of the
//! table format: indexes are rebuilt when a table is loaded, so the function
//! may change without a format version bump.

const K: u64 = 0x9E37_79B9_7F4A_7C15;

/// A fast, non-cryptographic 64-bit hash of a short byte string.
#[inline]
pub fn hash64(bytes: &[u8]) -> u64 {
    let mut h: u64 = (bytes.len() as u64).wrapping_mul(K);
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h.rotate_left(23) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        for (d, s) in w.iter_mut().zip(rest) {
            *d = *s;
        }
        h = (h.rotate_left(23) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    // murmur3's fmix64 finaliser spreads the high bits into the low ones.
    h ^= h >> 33;
    h = h.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    h ^= h >> 33;
    h = h.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
    h ^ (h >> 33)
}

/// An open-addressing (linear probing) index from byte-string keys to `u32`
/// values. Slots hold `value + 1`; zero marks an empty slot. The table is at
/// most two-thirds full (a power of two of slots, at least 1.5 per key), so
/// a probe sequence always ends at an empty slot; a miss probes about five
/// slots on average at that load, comparing 32-bit tags that share a cache
/// line or two, and the slots take a third less memory than at half full.
/// (The host indexes use it; the rule index has a small table per
/// destination, `crate::rule_index`.)
#[derive(Debug, Clone, Default)]
pub struct Index {
    /// 0 for an empty slot, else the key's hash tag (its high 32 bits) in
    /// the high half and the value plus one in the low half: a probe
    /// compares tags first, so a lookup that misses (most wildcard lookups
    /// do) never touches a stored key, and one that hits touches one.
    slots: Box<[u64]>,
    mask: usize,
    len: usize,
    /// Bit `n` (of 256): some key is `n` bytes long (255: 255 or more).
    /// A lookup of a length no key has returns at once (most lookups of
    /// wildcard suffixes).
    lengths: [u64; 4],
}

/// The word and bit of `lengths` for a key of `len` bytes.
#[inline]
fn length_bit(len: usize) -> (usize, u64) {
    let n = len.min(255);
    (n / 64, 1 << (n % 64))
}

/// The tag stored with a key of hash `h`.
#[inline]
fn tag(h: u64) -> u64 {
    h & 0xFFFF_FFFF_0000_0000
}

impl Index {
    /// Bytes of heap this index holds.
    pub fn heap_bytes(&self) -> usize {
        core::mem::size_of_val(&*self.slots)
    }

    /// An index with room for `n` keys.
    pub fn with_capacity(n: usize) -> Self {
        let size = (n + n / 2 + 1).next_power_of_two();
        Self {
            slots: vec![0; size].into_boxed_slice(),
            mask: size - 1,
            len: 0,
            lengths: [0; 4],
        }
    }

    /// Inserts `value` under `key`; returns the value already stored under an
    /// equal key instead, if there is one. `key_of` resolves a stored value to its key.
    pub fn insert<'k>(
        &mut self,
        key: &[u8],
        value: u32,
        key_of: impl Fn(u32) -> &'k [u8],
    ) -> Result<(), u32> {
        let h = hash64(key);
        let mut i = (h as usize) & self.mask;
        for _ in 0..self.slots.len() {
            let Some(slot) = self.slots.get_mut(i) else {
                return Err(u32::MAX);
            };
            if *slot == 0 {
                *slot = tag(h) | u64::from(value.wrapping_add(1)).max(1);
                self.len += 1;
                let (w, bit) = length_bit(key.len());
                if let Some(word) = self.lengths.get_mut(w) {
                    *word |= bit;
                }
                return Ok(());
            }
            let existing = (*slot as u32).wrapping_sub(1);
            if tag(*slot) == tag(h) && key_of(existing) == key {
                return Err(existing);
            }
            i = (i + 1) & self.mask;
        }
        Err(u32::MAX)
    }

    /// Whether nothing is stored.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The value stored under `key`, if any.
    #[inline]
    pub fn get<'k>(&self, key: &[u8], key_of: impl Fn(u32) -> &'k [u8]) -> Option<u32> {
        let (w, bit) = length_bit(key.len());
        if self.lengths.get(w).is_none_or(|word| word & bit == 0) {
            return None;
        }
        let h = hash64(key);
        let mut i = (h as usize) & self.mask;
        for _ in 0..self.slots.len() {
            let slot = *self.slots.get(i)?;
            if slot == 0 {
                return None;
            }
            let v = (slot as u32).wrapping_sub(1);
            if tag(slot) == tag(h) && key_of(v) == key {
                return Some(v);
            }
            i = (i + 1) & self.mask;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_it_stores() {
        let keys: Vec<String> = (0..1000).map(|i| format!("h{i}.example.com")).collect();
        let mut idx = Index::with_capacity(keys.len());
        for (i, k) in keys.iter().enumerate() {
            idx.insert(k.as_bytes(), i as u32, |v| keys[v as usize].as_bytes())
                .unwrap();
        }
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(
                idx.get(k.as_bytes(), |v| keys[v as usize].as_bytes()),
                Some(i as u32)
            );
        }
        assert_eq!(
            idx.get(b"nope.example.com", |v| keys[v as usize].as_bytes()),
            None
        );
        assert_eq!(
            idx.insert(keys[5].as_bytes(), 9999, |v| keys[v as usize].as_bytes()),
            Err(5)
        );
    }

    #[test]
    fn hash_spreads_similar_keys() {
        let a = hash64(b"h1.example.com");
        let b = hash64(b"h2.example.com");
        assert_ne!(a & 0xFFFF, b & 0xFFFF);
        assert_ne!(hash64(b""), hash64(b"\0"));
    }
}
