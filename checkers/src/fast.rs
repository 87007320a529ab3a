//! Small, fast collections for the checkers' hot path.
//!
//! Checkers look up an account or a process for nearly every operation, so the default
//! SipHash (built to resist hash flooding from untrusted input) would cost more than the
//! checks themselves. Histories are the harness's own output, so a multiplicative hash is
//! enough here.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// A map keyed by small ids (accounts, processes, charges).
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;
/// A set of small ids.
pub(crate) type FastSet<K> = HashSet<K, BuildHasherDefault<IdHasher>>;

/// A multiply-rotate hasher (the scheme of rustc's `FxHasher`).
#[derive(Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl IdHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn write_isize(&mut self, n: isize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A set of process numbers: one bit each below [`ProcessSet::DENSE`], hashed above.
///
/// Jepsen-style harnesses hand out fresh process numbers in order, so the bits stay
/// few (a 10-million-operation history with 1% indeterminate operations retires about
/// 50,000 processes: 6 KB).
#[derive(Default)]
pub(crate) struct ProcessSet {
    bits: Vec<u64>,
    sparse: FastSet<u32>,
}

impl ProcessSet {
    /// Numbers below this live in the bit vector (at most 512 KB).
    const DENSE: u32 = 1 << 22;

    pub(crate) fn insert(&mut self, p: u32) {
        if p >= Self::DENSE {
            self.sparse.insert(p);
            return;
        }
        let word = (p / 64) as usize;
        if word >= self.bits.len() {
            self.bits.resize(word + 1, 0);
        }
        self.bits[word] |= 1 << (p % 64);
    }

    pub(crate) fn contains(&self, p: u32) -> bool {
        if p >= Self::DENSE {
            return self.sparse.contains(&p);
        }
        let word = (p / 64) as usize;
        self.bits.get(word).is_some_and(|w| w & (1 << (p % 64)) != 0)
    }
}

/// A map keyed by account: a vector slot per id below [`AccountMap::DENSE`] (ids are
/// usually small and dense), hashed above.
pub(crate) struct AccountMap<V> {
    dense: Vec<Option<V>>,
    sparse: FastMap<u32, V>,
}

impl<V> Default for AccountMap<V> {
    fn default() -> AccountMap<V> {
        AccountMap { dense: Vec::new(), sparse: FastMap::default() }
    }
}

impl<V> AccountMap<V> {
    /// Ids below this live in the vector, which grows to the largest id seen.
    const DENSE: u32 = 1 << 16;

    pub(crate) fn get(&self, id: u32) -> Option<&V> {
        match self.dense.get(id as usize) {
            Some(slot) => slot.as_ref(),
            None if id < Self::DENSE => None,
            None => self.sparse.get(&id),
        }
    }

    pub(crate) fn get_mut(&mut self, id: u32) -> Option<&mut V> {
        match self.dense.get_mut(id as usize) {
            Some(slot) => slot.as_mut(),
            None if id < Self::DENSE => None,
            None => self.sparse.get_mut(&id),
        }
    }

    pub(crate) fn insert(&mut self, id: u32, value: V) {
        if id >= Self::DENSE {
            self.sparse.insert(id, value);
            return;
        }
        if id as usize >= self.dense.len() {
            self.dense.resize_with(id as usize + 1, || None);
        }
        self.dense[id as usize] = Some(value);
    }

    /// Every entry, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, &V)> {
        let dense =
            self.dense.iter().enumerate().filter_map(|(id, v)| Some((id as u32, v.as_ref()?)));
        dense.chain(self.sparse.iter().map(|(id, v)| (*id, v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_set_holds_dense_and_sparse_numbers() {
        let mut set = ProcessSet::default();
        for p in [0, 63, 64, 1000, ProcessSet::DENSE, u32::MAX] {
            assert!(!set.contains(p));
            set.insert(p);
            assert!(set.contains(p));
        }
        assert!(!set.contains(1));
        assert!(!set.contains(ProcessSet::DENSE + 1));
    }

    #[test]
    fn an_account_map_holds_dense_and_sparse_ids() {
        let mut map = AccountMap::default();
        for id in [3, 0, 70_000, u32::MAX] {
            assert_eq!(map.get(id), None);
            map.insert(id, id);
            assert_eq!(map.get(id), Some(&id));
        }
        *map.get_mut(3).expect("present") = 4;
        assert_eq!(map.get(1), None);
        let mut all: Vec<(u32, u32)> = map.iter().map(|(id, v)| (id, *v)).collect();
        all.sort_unstable();
        assert_eq!(all, [(0, 0), (3, 4), (70_000, 70_000), (u32::MAX, u32::MAX)]);
    }

    #[test]
    fn fast_maps_find_what_they_hold() {
        let mut map: FastMap<(u32, String), u32> = FastMap::default();
        map.insert((7, "a-long-idempotency-key".into()), 1);
        map.insert((7, "another-key".into()), 2);
        assert_eq!(map[&(7, "a-long-idempotency-key".into())], 1);
        assert_eq!(map[&(7, "another-key".into())], 2);
    }
}
