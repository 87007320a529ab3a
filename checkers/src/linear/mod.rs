//! Linearizability: is there a total order of a history's operations, consistent with
//! real time, in which every operation's output is what a sequential object would give?
//!
//! Issue 15; `faultline check --model` checks register histories with it.
//!
//! Readers of other tools' histories: [`jepsen`] (Jepsen's text logs of a register
//! test, as Knossos' and Porcupine's test data keep them), [`edn`] (Jepsen's EDN) and
//! [`jsonl`] (faultline's own); [`formats`] tells them apart (`faultline check --model`).
//!
//! # Operations
//!
//! A [`LinOp`] is independent of faultline's billing history: a client, a call time (or
//! index), a return time or `None`, an input and an output. Times only need to be
//! comparable: `a` precedes `b` in real time iff `a` returned and `a.ret < b.call`; equal
//! times are concurrent. Operation ids are indices into the slice handed to [`check`].
//!
//! # The search (Wing & Gong, with Lowe's memoisation, as Porcupine does it)
//!
//! This is the algorithm of Porcupine (Anish Athalye's Go checker, used by etcd's
//! robustness tests), itself Lowe's refinement of Wing & Gong's:
//!
//! 1. Every operation becomes a *call* entry and, if it returned, a *return* entry; the
//!    entries are sorted by time (calls before returns at equal times) into a doubly
//!    linked list.
//! 2. Walking the list from its head: at a call entry, try to linearize that operation
//!    next: step the [`Model`] from the current state. If the step succeeds and the pair
//!    (set of linearized operations, new state) has not been seen before, push the
//!    entry and the old state, *lift* the call and its return out of the list, and start
//!    again from the head. Otherwise move on to the next entry.
//! 3. At a return entry the operation it closes must already have been linearized (it
//!    would have been lifted), so the current attempt is wrong: pop the last linearized
//!    operation, *unlift* its entries back into the list, restore the state, and carry on
//!    from the entry after it.
//! 4. Linearizable once every returned operation is linearized; not linearizable when a
//!    return entry is reached with nothing left to pop.
//!
//! One refinement of ours: an operation that never changes the state (a read, a failed
//! compare-and-set: [`Model::read_only`]) and can be linearized next may as well be:
//! in any linearization it can be moved forward to here, as nothing that must precede it
//! is left (else a return entry would come first in the list) and it changes no state on
//! the way. So once placing it next has failed, everything from here has failed, and the
//! search backtracks past it at once rather than trying other orders around it.
//!
//! The memo set is sound because what remains to be decided depends only on which
//! operations are linearized and on the state: the list's shape is a function of the
//! former.
//!
//! The linearized set is hashed incrementally (a random word per operation, XORed in and
//! out as the search steps and backtracks), so a step costs the same whatever the
//! history's length, and a set is copied only when a new pair is memoised; pairs are
//! compared in full on a hash match, so the memo is exact.
//!
//! # Operations whose outcome is unknown (`info`)
//!
//! An operation with `ret: None` crashed or timed out: it may have taken effect at any
//! moment after its call, or never. As in Knossos and Porcupine its return is placed at
//! +infinity, so it never precedes anything in real time. We implement "or never" by
//! giving it no return entry at all: the search may linearize its call anywhere after its
//! call time, or walk past it forever, and success only asks that every operation *that
//! returned* is linearized. Unlinearized `info` operations at the end are thus dropped.
//! (Porcupine instead requires every operation to be linearized, which is equivalent when
//! the model accepts an unknown-output step from every state, as [`Register`] and
//! [`CasRegister`] do; dropping keeps the checker sound for models that do not.) Its
//! output is usually `None` (unknown), meaning the model accepts whatever it would have
//! returned.
//!
//! # Budget
//!
//! The search is exponential in the worst case: a [`Budget`] bounds the number of steps,
//! of memoised states and the bytes they take, and the checker answers [`Outcome::Unknown`] when it runs out
//! rather than hanging or exhausting memory.
//!
//! # Keys
//!
//! Linearizability is compositional (Herlihy & Wing's locality, "P-compositionality" in
//! Porcupine): a history over independent keys is linearizable iff each key's
//! sub-history is. [`check_per_key`] splits by key and checks each.
//!
//! ```
//! use checkers::linear::{Budget, CasRegister, LinOp, Outcome, RegInput, RegOutput, check};
//!
//! // Client 0 writes 1 (returns at 10), then client 1 reads nil (20..30): a stale read.
//! let ops = [
//!     LinOp { client: 0, call: 0, ret: Some(10), input: RegInput::Write(1), output: Some(RegOutput::Ok) },
//!     LinOp { client: 1, call: 20, ret: Some(30), input: RegInput::Read, output: Some(RegOutput::Value(None)) },
//! ];
//! let outcome = check(&CasRegister::default(), &ops, Budget::default());
//! assert_eq!(outcome, Outcome::NotLinearizable { longest_prefix: vec![0], stuck: 1 });
//!
//! // Had the write crashed (an `info` operation), reading nil would be fine.
//! let crashed = [LinOp { ret: None, output: None, ..ops[0].clone() }, ops[1].clone()];
//! assert_eq!(check(&CasRegister::default(), &crashed, Budget::default()), Outcome::Linearizable);
//! ```

pub mod edn;
pub mod formats;
pub mod jepsen;
pub mod jsonl;
mod memo;
mod model;
mod read;

pub use model::{CasRegister, Model, RegInput, RegOutput, Register};
pub use model::{KeyValue, KvInput, key_value};
pub use read::{ReadError, RegOp};

use memo::{Linearized, Memo};
use std::collections::BTreeMap;
use std::fmt;

/// One operation on one object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinOp<I, O> {
    /// Who issued it (informational: the search only uses times).
    pub client: u64,
    /// When it was invoked (a time or an index).
    pub call: u64,
    /// When it returned; `None` for an `info` operation: it may take effect at any time
    /// after `call`, or never.
    pub ret: Option<u64>,
    /// What it asked for.
    pub input: I,
    /// What it answered; `None` when unknown (any output the model allows).
    pub output: Option<O>,
}

/// Limits on a search, so that a hard history ends in [`Outcome::Unknown`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Most steps (model steps plus backtracks) before giving up.
    pub max_steps: u64,
    /// Most memoised (linearized set, state) pairs before giving up.
    pub max_states: usize,
    /// Most bytes the memoised pairs may take before giving up. Each pair holds a copy of
    /// the linearized set (a bit per operation), so on a long history this, not
    /// `max_states`, is what bounds memory.
    pub max_memory: usize,
}

impl Default for Budget {
    /// Ten million steps, one million memoised states, 1 GiB of them.
    fn default() -> Self {
        Budget { max_steps: 10_000_000, max_states: 1_000_000, max_memory: 1 << 30 }
    }
}

impl Budget {
    /// No limit at all.
    pub const UNLIMITED: Budget =
        Budget { max_steps: u64::MAX, max_states: usize::MAX, max_memory: usize::MAX };
}

/// The verdict on one object's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Some order of the operations, consistent with real time, satisfies the model.
    Linearizable,
    /// None does.
    NotLinearizable {
        /// The longest sequence of operation ids the search managed to linearize.
        longest_prefix: Vec<usize>,
        /// The operation that returned before it could be placed after that prefix.
        stuck: usize,
    },
    /// The search could not decide.
    Unknown(String),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Linearizable => f.write_str("linearizable"),
            Outcome::NotLinearizable { longest_prefix, stuck } => write!(
                f,
                "not linearizable: after {longest_prefix:?}, operation {stuck} cannot be placed"
            ),
            Outcome::Unknown(reason) => write!(f, "unknown: {reason}"),
        }
    }
}

const NIL: u32 = u32::MAX;

#[derive(Clone, Copy, Debug)]
struct Entry {
    op: u32,
    /// For a call entry, its return entry (or `NIL`); for a return entry, `NIL`.
    ret: u32,
    prev: u32,
    next: u32,
    is_call: bool,
}

/// The entry list, with entry 0 as the head sentinel.
struct List {
    e: Vec<Entry>,
}

impl List {
    fn unlink(&mut self, i: u32) {
        let Entry { prev, next, .. } = self.e[i as usize];
        self.e[prev as usize].next = next;
        if next != NIL {
            self.e[next as usize].prev = prev;
        }
    }

    fn relink(&mut self, i: u32) {
        let Entry { prev, next, .. } = self.e[i as usize];
        self.e[prev as usize].next = i;
        if next != NIL {
            self.e[next as usize].prev = i;
        }
    }

    /// Takes a call entry and its return (if any) out of the list.
    fn lift(&mut self, call: u32) {
        self.unlink(call);
        let ret = self.e[call as usize].ret;
        if ret != NIL {
            self.unlink(ret);
        }
    }

    /// Undoes [`List::lift`], in reverse order.
    fn unlift(&mut self, call: u32) {
        let ret = self.e[call as usize].ret;
        if ret != NIL {
            self.relink(ret);
        }
        self.relink(call);
    }

    fn head(&self) -> u32 {
        self.e[0].next
    }
}

fn build_list<I, O>(ops: &[LinOp<I, O>]) -> List {
    // (time, calls before returns at equal times, op): ties between calls or between
    // returns keep the input order.
    let mut events: Vec<(u64, bool, u32)> = Vec::with_capacity(ops.len() * 2);
    for (i, op) in ops.iter().enumerate() {
        let i = i as u32;
        events.push((op.call, false, i));
        if let Some(ret) = op.ret {
            events.push((ret, true, i));
        }
    }
    events.sort_unstable();
    let mut e = Vec::with_capacity(events.len() + 1);
    e.push(Entry { op: NIL, ret: NIL, is_call: false, prev: NIL, next: NIL });
    let mut call_entry = vec![NIL; ops.len()];
    for (k, &(_, is_ret, op)) in events.iter().enumerate() {
        let idx = k as u32 + 1;
        e.push(Entry { op, ret: NIL, is_call: !is_ret, prev: idx - 1, next: NIL });
        e[k].next = idx;
        if is_ret {
            e[call_entry[op as usize] as usize].ret = idx;
        } else {
            call_entry[op as usize] = idx;
        }
    }
    List { e }
}

/// Checks one object's history against `model`, within `budget`.
///
/// Operation ids in the outcome are indices into `ops`. An operation that returned before
/// it was called makes the outcome [`Outcome::Unknown`], and so does a history of
/// 2^31 operations or more.
pub fn check<M: Model>(model: &M, ops: &[LinOp<M::Input, M::Output>], budget: Budget) -> Outcome {
    if let Some((i, _)) = ops.iter().enumerate().find(|(_, op)| op.ret.is_some_and(|r| r < op.call))
    {
        return Outcome::Unknown(format!("operation {i} returned before it was called"));
    }
    if ops.len() >= 1 << 31 {
        return Outcome::Unknown(format!("{} operations are too many to search", ops.len()));
    }
    let mut list = build_list(ops);
    let read_only: Vec<bool> =
        ops.iter().map(|o| model.read_only(&o.input, o.output.as_ref())).collect();
    let mut to_return = ops.iter().filter(|op| op.ret.is_some()).count();
    let mut state = model.init();
    let mut linearized = Linearized::new(ops.len());
    let mut memo = Memo::new();
    let mut stack: Vec<(u32, M::State)> = Vec::new();
    // The longest prefix linearized so far, and the operation stuck after it; `mark` is
    // the shallowest the stack has been since, so only the stack above it is copied when
    // a longer prefix is found (a whole copy each time would be quadratic).
    let mut best: Option<(Vec<usize>, usize)> = None;
    let mut mark = 0;
    let mut steps: u64 = 0;

    let mut entry = list.head();
    while to_return > 0 {
        steps += 1;
        if steps > budget.max_steps {
            return Outcome::Unknown(format!("gave up after {} steps", budget.max_steps));
        }
        let Entry { op, is_call, next, .. } = list.e[entry as usize];
        let op = op as usize;
        if is_call {
            let o = &ops[op];
            let Some(new_state) = model.step(&state, &o.input, o.output.as_ref()) else {
                entry = next;
                continue;
            };
            if memo.len() >= budget.max_states {
                return Outcome::Unknown(format!(
                    "gave up after memoising {} states",
                    budget.max_states
                ));
            }
            if memo.bytes() >= budget.max_memory {
                return Outcome::Unknown(format!(
                    "gave up after memoising {} states in {} MiB",
                    memo.len(),
                    memo.bytes() >> 20
                ));
            }
            linearized.toggle(op);
            if memo.insert(&linearized, &new_state) {
                stack.push((entry, std::mem::replace(&mut state, new_state)));
                if o.ret.is_some() {
                    to_return -= 1;
                }
                list.lift(entry);
                entry = list.head();
                continue;
            }
            linearized.toggle(op);
            if !read_only[op] {
                entry = next;
                continue;
            }
            // Placing this read-only operation first was tried and failed: so does
            // every other order from here.
        } else if best.as_ref().is_none_or(|(prefix, _)| stack.len() > prefix.len()) {
            let (mut prefix, _) = best.take().unwrap_or_default();
            prefix.truncate(mark);
            prefix.extend(stack[mark..].iter().map(|&(e, _)| list.e[e as usize].op as usize));
            best = Some((prefix, op));
            mark = stack.len();
        }
        // A dead end: undo the last step, and the ones before it while they were
        // read-only (the first thing to try, so the last).
        loop {
            let Some((call, old)) = stack.pop() else {
                let (longest_prefix, stuck) = best.expect("a dead end is reached at a return");
                return Outcome::NotLinearizable { longest_prefix, stuck };
            };
            mark = mark.min(stack.len());
            let op = list.e[call as usize].op as usize;
            state = old;
            linearized.toggle(op);
            if ops[op].ret.is_some() {
                to_return += 1;
            }
            list.unlift(call);
            entry = list.e[call as usize].next;
            if !read_only[op] {
                break;
            }
        }
    }
    Outcome::Linearizable
}

/// The outcome for each key of a keyed history, with operation ids mapped back to indices
/// into the whole history.
pub fn check_per_key<K: Ord + Clone, M: Model>(
    model: &M,
    ops: &[KeyedOp<K, M::Input, M::Output>],
    budget: Budget,
) -> BTreeMap<K, Outcome> {
    partition(ops)
        .into_iter()
        .map(|(key, (ids, sub))| {
            let outcome = match check(model, &sub, budget) {
                Outcome::NotLinearizable { longest_prefix, stuck } => Outcome::NotLinearizable {
                    longest_prefix: longest_prefix.into_iter().map(|i| ids[i]).collect(),
                    stuck: ids[stuck],
                },
                other => other,
            };
            (key, outcome)
        })
        .collect()
}

/// An operation on the object named by a key.
pub type KeyedOp<K, I, O> = (K, LinOp<I, O>);

/// One key's sub-history: the original indices of its operations, and the operations.
pub type SubHistory<I, O> = (Vec<usize>, Vec<LinOp<I, O>>);

/// Splits a keyed history by key: for each key, the original indices of its operations
/// and the operations themselves, in order.
pub fn partition<K: Ord + Clone, I: Clone, O: Clone>(
    ops: &[KeyedOp<K, I, O>],
) -> BTreeMap<K, SubHistory<I, O>> {
    let mut by_key: BTreeMap<K, SubHistory<I, O>> = BTreeMap::new();
    for (i, (key, op)) in ops.iter().enumerate() {
        let (ids, sub) = by_key.entry(key.clone()).or_default();
        ids.push(i);
        sub.push(op.clone());
    }
    by_key
}

#[cfg(test)]
mod tests;
