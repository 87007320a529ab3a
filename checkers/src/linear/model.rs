//! Sequential specifications: what one operation does to an object's state.

use std::fmt::Debug;
use std::hash::Hash;

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
