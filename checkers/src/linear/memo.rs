//! The search's memory: which operations are linearized, and the (linearized set, state)
//! pairs already tried.
//!
//! Sets are hashed incrementally (Zobrist hashing): each operation has a fixed random word,
//! XORed into the set's hash when it is linearized and out again when it is undone, so a
//! step costs O(1) to hash whatever the history's length. A set is copied only when a pair
//! is memoised. Pairs with equal 64-bit hashes are compared in
//! full, so a hash collision can cost time but never a wrong answer.

use crate::fast::IdHasher;
use hashbrown::HashTable;
use hashbrown::hash_table::Entry;
use std::hash::{Hash, Hasher};

/// The set of linearized operations, with its hash kept up to date.
pub(super) struct Linearized {
    bits: Vec<u64>,
    hash: u64,
    /// Each operation's random word.
    keys: Vec<u64>,
}

impl Linearized {
    /// The empty set over `n` operations.
    pub(super) fn new(n: usize) -> Self {
        // SplitMix64 from a fixed seed: the same words on every run.
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let keys = (0..n)
            .map(|_| {
                seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let mut z = seed;
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                z ^ (z >> 31)
            })
            .collect();
        Linearized { bits: vec![0; n.div_ceil(64).max(INLINE)], hash: 0, keys }
    }

    /// Adds or removes operation `i` (which must be out, or in, respectively).
    pub(super) fn toggle(&mut self, i: usize) {
        self.bits[i / 64] ^= 1 << (i % 64);
        self.hash ^= self.keys[i];
    }
}

/// The memoised (linearized set, state) pairs.
///
/// A pair's state and the first [`INLINE`] words of its set sit together, so that telling
/// a memoised pair from a new one usually reads one record.
pub(super) struct Memo<S> {
    /// Indices of pairs, by hash.
    table: HashTable<u32>,
    /// Pair `i`'s state and the first words of its set.
    records: Vec<(S, [u64; INLINE])>,
    /// Pair `i`'s other words: `rest[i * r..(i + 1) * r]`, `r` the set's words past
    /// [`INLINE`].
    rest: Vec<u64>,
    /// Pair `i`'s hash, to grow the table without rehashing.
    hashes: Vec<u64>,
}

/// Words of a set kept beside its state: 128 operations.
const INLINE: usize = 2;

impl<S: Clone + Eq + Hash> Memo<S> {
    pub(super) fn new() -> Self {
        Memo { table: HashTable::new(), records: Vec::new(), rest: Vec::new(), hashes: Vec::new() }
    }

    /// How many pairs are memoised.
    pub(super) fn len(&self) -> usize {
        self.records.len()
    }

    /// The bytes the memoised pairs take, as allocated (states held on the heap not
    /// counted: a register's is inline).
    pub(super) fn bytes(&self) -> usize {
        use std::mem::size_of;
        self.records.capacity() * size_of::<(S, [u64; INLINE])>()
            + (self.rest.capacity() + self.hashes.capacity()) * size_of::<u64>()
            + self.table.capacity() * (size_of::<u32>() + 1)
    }

    /// Memoises `(set, state)`; false if it already was.
    pub(super) fn insert(&mut self, set: &Linearized, state: &S) -> bool {
        let mut hasher = IdHasher::default();
        state.hash(&mut hasher);
        let hash = set.hash ^ hasher.finish();
        let (head, tail) = set.bits.split_at(INLINE);
        let head: [u64; INLINE] = head.try_into().expect("INLINE words");
        let r = tail.len();
        let Memo { table, records, rest, hashes } = self;
        let same = |&i: &u32| {
            let at = i as usize;
            let (s, h) = &records[at];
            *h == head && s == state && rest[at * r..(at + 1) * r] == *tail
        };
        match table.entry(hash, same, |&i| hashes[i as usize]) {
            Entry::Occupied(_) => false,
            Entry::Vacant(slot) => {
                let new = u32::try_from(records.len()).expect("fewer than 2^32 memoised pairs");
                slot.insert(new);
                records.push((state.clone(), head));
                rest.extend_from_slice(tail);
                hashes.push(hash);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_differing_in_any_word_or_the_state_are_distinct() {
        let mut set = Linearized::new(300);
        let mut memo = Memo::new();
        assert!(memo.insert(&set, &None::<i64>));
        assert!(!memo.insert(&set, &None));
        assert!(memo.insert(&set, &Some(1)));
        for i in [0, 64, 130, 299] {
            set.toggle(i);
            assert!(memo.insert(&set, &None), "operation {i} in");
            assert!(!memo.insert(&set, &None), "operation {i} in, again");
            set.toggle(i);
            assert!(!memo.insert(&set, &None), "operation {i} out again");
        }
        set.toggle(130);
        set.toggle(299);
        assert!(memo.insert(&set, &None), "two past the inline words");
        assert_eq!(memo.len(), 7);
    }
}
