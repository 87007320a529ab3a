//! Sequential specifications: what one operation does to an object's state.

use super::{KeyedOp, LinOp};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::hash::Hash;
use std::marker::PhantomData;

/// A sequential specification of an object, as Porcupine's `Model`.
///
/// `step` is a function of the state, the operation's input and what the operation
/// returned; `None` for the output means the outcome is unknown (an `info` operation, or a
/// timed-out read) and the model must accept whatever the operation could have returned.
pub trait Model {
    /// What an operation asks for.
    type Input: Clone + Debug;
    /// What an operation answered.
    type Output: Clone + Debug;
    /// The object's state; hashed to memoise the search.
    type State: Clone + Eq + Hash + Debug;

    /// The state before any operation.
    fn init(&self) -> Self::State;

    /// The state after applying `input` to `state` and seeing `output` (`None`: unknown),
    /// or `None` when that output is impossible from that state.
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: Option<&Self::Output>,
    ) -> Option<Self::State>;

    /// Whether `input` with `output` leaves every state it steps from unchanged (a read,
    /// a compare-and-set that failed). The search then places such an operation as soon
    /// as it can and tries no other place for it, which is sound only if this is true.
    /// The default, `false`, is always sound.
    fn read_only(&self, input: &Self::Input, output: Option<&Self::Output>) -> bool {
        let _ = (input, output);
        false
    }
}

/// An operation on a register: read, write, or compare-and-set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegInput {
    /// Read the value.
    Read,
    /// Write a value.
    Write(i64),
    /// Set the value to `new` if it is `expect`, else leave it.
    Cas {
        /// The value the register must hold for the write to happen.
        expect: i64,
        /// The value written when it does.
        new: i64,
    },
}

/// What a register operation answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegOutput {
    /// A read's value; `None` is nil (never written).
    Value(Option<i64>),
    /// A write, or a compare-and-set that succeeded.
    Ok,
    /// A compare-and-set that found another value and wrote nothing.
    Failed,
}

/// A read/write register holding an `i64` or nil. Compare-and-set is not part of this
/// model: a [`RegInput::Cas`] never steps (use [`CasRegister`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Register {
    /// The value before any write (`None`: nil).
    pub init: Option<i64>,
}

/// A read/write/compare-and-set register holding an `i64` or nil (the etcd model of
/// Knossos' and Porcupine's tests).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CasRegister {
    /// The value before any write (`None`: nil).
    pub init: Option<i64>,
}

fn read_write(
    state: &Option<i64>,
    input: &RegInput,
    output: Option<&RegOutput>,
) -> Option<Option<i64>> {
    match (input, output) {
        (RegInput::Read, None) => Some(*state),
        (RegInput::Read, Some(RegOutput::Value(v))) => (v == state).then_some(*state),
        (RegInput::Write(v), None | Some(RegOutput::Ok)) => Some(Some(*v)),
        _ => None,
    }
}

impl Model for Register {
    type Input = RegInput;
    type Output = RegOutput;
    type State = Option<i64>;

    fn init(&self) -> Option<i64> {
        self.init
    }

    fn step(
        &self,
        state: &Option<i64>,
        input: &RegInput,
        output: Option<&RegOutput>,
    ) -> Option<Option<i64>> {
        read_write(state, input, output)
    }

    fn read_only(&self, input: &RegInput, _: Option<&RegOutput>) -> bool {
        *input == RegInput::Read
    }
}

impl Model for CasRegister {
    type Input = RegInput;
    type Output = RegOutput;
    type State = Option<i64>;

    fn init(&self) -> Option<i64> {
        self.init
    }

    fn step(
        &self,
        state: &Option<i64>,
        input: &RegInput,
        output: Option<&RegOutput>,
    ) -> Option<Option<i64>> {
        let RegInput::Cas { expect, new } = *input else {
            return read_write(state, input, output);
        };
        let matches = *state == Some(expect);
        match output {
            // Unknown outcome: it did whatever the state made it do.
            None => Some(if matches { Some(new) } else { *state }),
            Some(RegOutput::Ok) => matches.then_some(Some(new)),
            Some(RegOutput::Failed) => (!matches).then_some(*state),
            Some(RegOutput::Value(_)) => None,
        }
    }

    fn read_only(&self, input: &RegInput, output: Option<&RegOutput>) -> bool {
        *input == RegInput::Read || output == Some(&RegOutput::Failed)
    }
}

/// An operation on a key-value map of `i64`s: a register per key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvInput<K> {
    /// Read a key's value (answered by [`RegOutput::Value`]; `None`: absent).
    Get(K),
    /// Set a key's value.
    Put(K, i64),
    /// Set a key's value to `new` if it is `expect`, else leave it.
    Cas {
        /// The key.
        key: K,
        /// The value the key must hold for the write to happen.
        expect: i64,
        /// The value written when it does.
        new: i64,
    },
}

/// A map from keys to `i64`s, checked as one object: every key starts absent, and
/// outputs are [`RegOutput`]s as for a [`CasRegister`].
///
/// Linearizability is local (Herlihy & Wing): a history of the whole map is
/// linearizable iff each key's sub-history is. So `check(&KeyValue::default(),
/// &key_value(ops), budget)` and [`check_per_key`](super::check_per_key) with a
/// [`CasRegister`] over the same `ops` must give the same verdict (the crate's tests
/// check it on random histories); they differ only in the evidence (ids of the whole
/// history against ids of one key's) and in cost: the whole map's search interleaves
/// every key's concurrent operations, exponentially more work, so per key is the way to
/// check large histories and the whole map a cross-check. The state is a `BTreeMap`
/// cloned on every step.
pub struct KeyValue<K> {
    keys: PhantomData<fn() -> K>,
}

impl<K> Default for KeyValue<K> {
    fn default() -> Self {
        KeyValue { keys: PhantomData }
    }
}

impl<K: Clone + Ord + Hash + Debug> Model for KeyValue<K> {
    type Input = KvInput<K>;
    type Output = RegOutput;
    type State = BTreeMap<K, i64>;

    fn init(&self) -> BTreeMap<K, i64> {
        BTreeMap::new()
    }

    fn step(
        &self,
        state: &BTreeMap<K, i64>,
        input: &KvInput<K>,
        output: Option<&RegOutput>,
    ) -> Option<BTreeMap<K, i64>> {
        let put = |key: &K, v: i64| {
            let mut next = state.clone();
            next.insert(key.clone(), v);
            next
        };
        match (input, output) {
            (KvInput::Get(_), None) => Some(state.clone()),
            (KvInput::Get(k), Some(RegOutput::Value(v))) => {
                (state.get(k).copied() == *v).then(|| state.clone())
            }
            (KvInput::Put(k, v), None | Some(RegOutput::Ok)) => Some(put(k, *v)),
            (KvInput::Cas { key, expect, new }, output) => {
                let matches = state.get(key) == Some(expect);
                match output {
                    None if matches => Some(put(key, *new)),
                    None => Some(state.clone()),
                    Some(RegOutput::Ok) => matches.then(|| put(key, *new)),
                    Some(RegOutput::Failed) => (!matches).then(|| state.clone()),
                    Some(RegOutput::Value(_)) => None,
                }
            }
            _ => None,
        }
    }
}

/// A keyed register history as operations on one [`KeyValue`] map, in the same order
/// (so operation ids are the same).
pub fn key_value<K: Clone>(
    ops: &[KeyedOp<K, RegInput, RegOutput>],
) -> Vec<LinOp<KvInput<K>, RegOutput>> {
    ops.iter()
        .map(|(key, op)| {
            let input = match op.input {
                RegInput::Read => KvInput::Get(key.clone()),
                RegInput::Write(v) => KvInput::Put(key.clone(), v),
                RegInput::Cas { expect, new } => KvInput::Cas { key: key.clone(), expect, new },
            };
            LinOp { client: op.client, call: op.call, ret: op.ret, input, output: op.output }
        })
        .collect()
}

#[cfg(test)]
mod key_value_tests {
    use super::*;
    use crate::linear::{Budget, Outcome, check, check_per_key};
    use proptest::prelude::*;
    use proptest::test_runner::RngSeed;

    type Keyed = KeyedOp<u8, RegInput, RegOutput>;

    fn kv(ops: &[Keyed]) -> Outcome {
        check(&KeyValue::default(), &key_value(ops), Budget::UNLIMITED)
    }

    fn op(key: u8, call: u64, ret: u64, input: RegInput, output: RegOutput) -> Keyed {
        (key, LinOp { client: call, call, ret: Some(ret), input, output: Some(output) })
    }

    #[test]
    fn keys_are_independent_registers_of_one_map() {
        let write = |k, c, v| op(k, c, c + 1, RegInput::Write(v), RegOutput::Ok);
        let read = |k, c, v| op(k, c, c + 1, RegInput::Read, RegOutput::Value(v));
        let cas = |k, c, e, n, out| op(k, c, c + 1, RegInput::Cas { expect: e, new: n }, out);
        let ok =
            [write(1, 0, 5), read(2, 2, None), cas(1, 4, 5, 6, RegOutput::Ok), read(1, 6, Some(6))];
        assert_eq!(kv(&ok), Outcome::Linearizable);
        // Key 2 was never written, so a cas on it fails; key 1's stale read is caught.
        let bad = [write(1, 0, 5), cas(2, 2, 5, 6, RegOutput::Failed), read(1, 4, None)];
        assert_eq!(kv(&bad), Outcome::NotLinearizable { longest_prefix: vec![0, 1], stuck: 2 });
    }

    /// Up to eight operations on three keys, at random times; outputs either what running
    /// them in call order gives (a linearizable history) or random ones.
    fn history() -> impl Strategy<Value = Vec<Keyed>> {
        let input = prop_oneof![
            Just(RegInput::Read),
            (0..3i64).prop_map(RegInput::Write),
            (0..3i64, 0..3i64).prop_map(|(expect, new)| RegInput::Cas { expect, new }),
        ];
        let output = prop_oneof![
            (proptest::option::of(0..3i64)).prop_map(RegOutput::Value),
            Just(RegOutput::Ok),
            Just(RegOutput::Failed),
        ];
        let op = (0..3u8, 0..20u64, proptest::option::of(0..8u64), input, output);
        (proptest::collection::vec(op, 1..8), any::<bool>()).prop_map(|(ops, honest)| {
            let mut ops: Vec<Keyed> = ops
                .into_iter()
                .enumerate()
                .map(|(i, (key, call, len, input, output))| {
                    let ret = len.map(|l| call + l);
                    (key, LinOp { client: i as u64, call, ret, input, output: ret.map(|_| output) })
                })
                .collect();
            if honest {
                run_in_call_order(&mut ops);
            }
            ops
        })
    }

    fn run_in_call_order(ops: &mut [Keyed]) {
        let mut order: Vec<usize> = (0..ops.len()).collect();
        order.sort_by_key(|&i| ops[i].1.call);
        let mut map = BTreeMap::new();
        for i in order {
            let (key, op) = &mut ops[i];
            let held = map.get(key).copied();
            let output = match op.input {
                RegInput::Read => RegOutput::Value(held),
                RegInput::Write(v) => {
                    map.insert(*key, v);
                    RegOutput::Ok
                }
                RegInput::Cas { expect, new } if held == Some(expect) => {
                    map.insert(*key, new);
                    RegOutput::Ok
                }
                RegInput::Cas { .. } => RegOutput::Failed,
            };
            op.output = op.ret.map(|_| output);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 2000,
            rng_seed: RngSeed::Fixed(15),
            ..ProptestConfig::default()
        })]

        #[test]
        fn the_whole_map_is_linearizable_iff_every_key_is(ops in history()) {
            let whole = kv(&ops);
            let per_key = check_per_key(&CasRegister::default(), &ops, Budget::UNLIMITED);
            let every_key = per_key.values().all(|o| *o == Outcome::Linearizable);
            prop_assert!(!matches!(whole, Outcome::Unknown(_)));
            prop_assert_eq!(whole == Outcome::Linearizable, every_key, "{:?}", per_key);
        }
    }
}
