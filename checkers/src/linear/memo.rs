//! The search's memory: which operations are linearized, and the (linearized set, state)
//! pairs already tried.
//!
//! Sets are hashed incrementally (Zobrist hashing): each operation has a fixed random word,
//! XORed into the set's hash when it is linearized and out again when it is undone, so a
//! step costs O(1) to hash whatever the history's length. A set is copied only when a pair
//! is memoised, into one flat arena. Pairs with equal 64-bit hashes are chained and
//! compared in full, so a hash collision can cost time but never a wrong answer.

use crate::fast::{FastMap, IdHasher};
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
        Linearized { bits: vec![0; n.div_ceil(64)], hash: 0, keys }
    }

    /// Adds or removes operation `i` (which must be out, or in, respectively).
    pub(super) fn toggle(&mut self, i: usize) {
        self.bits[i / 64] ^= 1 << (i % 64);
        self.hash ^= self.keys[i];
    }
}

/// The memoised (linearized set, state) pairs.
pub(super) struct Memo<S> {
    /// The newest pair for each hash; older ones with the same hash follow `next`.
    heads: FastMap<u64, u32>,
    /// Pair `i`'s set is `sets[i * words..(i + 1) * words]`.
    sets: Vec<u64>,
    states: Vec<S>,
    next: Vec<u32>,
}

const END: u32 = u32::MAX;

impl<S: Clone + Eq + Hash> Memo<S> {
    pub(super) fn new() -> Self {
        Memo { heads: FastMap::default(), sets: Vec::new(), states: Vec::new(), next: Vec::new() }
    }

    /// How many pairs are memoised.
    pub(super) fn len(&self) -> usize {
        self.states.len()
    }

    /// Memoises `(set, state)`; false if it already was.
    pub(super) fn insert(&mut self, set: &Linearized, state: &S) -> bool {
        let mut hasher = IdHasher::default();
        state.hash(&mut hasher);
        let hash = set.hash ^ hasher.finish();
        let words = set.bits.len();
        let new = u32::try_from(self.states.len()).expect("fewer than 2^32 memoised states");
        let head = self.heads.entry(hash).or_insert(END);
        let mut i = *head;
        while i != END {
            let at = i as usize;
            if self.states[at] == *state && self.sets[at * words..(at + 1) * words] == set.bits {
                return false;
            }
            i = self.next[at];
        }
        self.next.push(*head);
        *head = new;
        self.sets.extend_from_slice(&set.bits);
        self.states.push(state.clone());
        true
    }
}
