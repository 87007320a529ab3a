//! The bounds on an account's true balance as a fold: L, L_r and U per account, and
//! the windows W and R are read over (see the [module docs](super)).
//!
//! One [`Bounds`] keeps a [`Sums`] per account, as running sums, so every bound is known
//! at every point of the history in constant time per operation on the account:
//!
//! | operation                   | L                  | U                  |
//! |-----------------------------|--------------------|--------------------|
//! | debit invoked               | − amount           |                    |
//! | debit `ok`                  |                    | − amount           |
//! | debit `fail`                | + amount (back)    |                    |
//! | payment invoked             |                    | + amount           |
//! | payment `ok`                | + amount           |                    |
//! | payment `fail`              |                    | − amount (back)    |
//! | charge `ok`                 | + amount           | + amount           |
//! | charge `info`               |                    | + amount           |
//!
//! L_r is L less the captures not yet confirmed for reads. Each account also keeps its
//! client operations in flight (debits, payments, reads), each with the least L since
//! the later of its invocation and the last capture (for W), and the least L_r and the
//! greatest U since its invocation (for R), and a copy, taken at its invocation, of the
//! latest debit and payment on the account acknowledged (`ok`) and of the sums of the
//! acknowledged debits' and payments' amounts (to tell a lost write). The account also
//! keeps the latest completion that confirmed a capture for reads. Memory grows with
//! accounts and concurrency.
//!
//! Every sum is checked: an overflow records why in [`Bounds::overflows`] (so the
//! checkers reading the bounds report `Unknown` with the operation's index), and the
//! account is judged no more ([`Bounds::get`] no longer returns it). So is an account
//! with a debit or payment of zero or fewer cents or a negative charge, which would
//! invert the bounds: [`Bounds::problems`] names the operation.

pub(crate) use super::sums::Sums;
use crate::checker::{Event, Interest};
use crate::fast::AccountMap;
use crate::history::{AccountId, F, OpType, Process, Value};
use crate::verdict::{Findings, Verdict};

/// The operations that move L and U.
pub(crate) const INTEREST: Interest = Interest::CLIENT_INVOKE
    .or(Interest::CLIENT_COMPLETION)
    .or(Interest::GATEWAY)
    .or(Interest::HARNESS);

/// L and U for every account, updated operation by operation.
#[derive(Default)]
pub(crate) struct Bounds {
    accounts: AccountMap<Sums>,
    /// Accounts whose bounds overflowed or met an amount they cannot take in, no longer
    /// judged, with the operation that did it.
    overflowed: AccountMap<u64>,
    /// Operations the bounds could not account for (no amount, unopened account).
    pub problems: Findings,
    /// Sums that would overflow `i64`: every checker reading the bounds reports them.
    pub overflows: Findings,
}

impl Bounds {
    /// Takes in one operation.
    pub fn observe(&mut self, ev: &Event<'_>) {
        match (ev.op.process, &ev.op.f) {
            (Process::Harness, F::Open) => self.open(ev),
            (Process::Harness, F::Settle) => self.settle(ev),
            (Process::Client(_), F::Debit | F::Payment | F::Read) => self.client(ev),
            (Process::Gateway, F::Charge) => self.charge(ev),
            _ => {}
        }
    }

    /// An account's sums, if it was opened and its bounds did not overflow.
    pub fn get(&self, account: AccountId) -> Option<&Sums> {
        self.accounts.get(account).filter(|_| !self.overflowed(account))
    }

    /// Whether an account's bounds overflowed, so that it is no longer judged.
    pub fn overflowed(&self, account: AccountId) -> bool {
        self.overflowed.get(account).is_some()
    }

    /// Every opened account still judged, in no particular order.
    pub fn accounts(&self) -> impl Iterator<Item = (AccountId, &Sums)> {
        self.accounts.iter().filter(|(a, _)| !self.overflowed(*a))
    }

    /// What the bounds could not account for, overflows included.
    pub fn verdict(&mut self) -> Verdict {
        self.problems.verdict().merge(self.overflows.clone().verdict())
    }

    fn open(&mut self, ev: &Event<'_>) {
        if let (Value::Open(spec), OpType::Ok) = (&ev.op.value, ev.kind()) {
            self.accounts.insert(spec.account, Sums::open(spec, ev.index()));
        }
    }

    /// `settle` may decide for every account while it runs.
    fn settle(&mut self, ev: &Event<'_>) {
        let invoked = match ev.kind() {
            OpType::Invoke => Some(ev.index()),
            OpType::Ok => None,
            OpType::Fail | OpType::Info => return,
        };
        let accounts: Vec<AccountId> = self.accounts.iter().map(|(a, _)| a).collect();
        for a in accounts {
            self.accounts.get_mut(a).into_iter().for_each(|sums| sums.settling(invoked));
        }
    }

    fn opened(&mut self, account: AccountId, index: u64) -> Option<&mut Sums> {
        if self.overflowed(account) {
            return None;
        }
        let sums = self.accounts.get_mut(account);
        if sums.is_none() {
            self.problems.unknown(|| {
                format!("op {index} concerns account {account}, which no `open` operation created")
            });
        }
        sums
    }

    fn client(&mut self, ev: &Event<'_>) {
        let Some(op) = ev.account_op() else { return };
        let read = ev.op.f == F::Read;
        let amount = match (read, op.amount) {
            (true, _) => 0,
            (false, Some(amount)) => amount,
            (false, None) => {
                let (i, f) = (ev.index(), &ev.op.f);
                self.problems.unknown(|| format!("op {i}: a {f} without an amount"));
                return;
            }
        };
        let (Some(process), index, debit) = (ev.client(), ev.index(), ev.op.f == F::Debit) else {
            return;
        };
        if self.opened(op.account, index).is_none() {
            return;
        }
        if !read && amount <= 0 {
            let f = &ev.op.f;
            return self.unjudged(op.account, index, format!("a {f} of {amount} cents"));
        }
        let Some(sums) = self.opened(op.account, index) else { return };
        let moved = match ev.kind() {
            OpType::Invoke => sums.invoked(process, index, debit, amount),
            kind => sums.completed(index, process, kind, debit, amount),
        };
        if ev.kind() == OpType::Ok && !read {
            sums.acknowledged(index, debit, amount);
        }
        self.overflow(moved, op.account, index);
    }

    fn charge(&mut self, ev: &Event<'_>) {
        let Value::Charge(c) = &ev.op.value else { return };
        let index = ev.index();
        if self.opened(c.account, index).is_none() {
            return;
        }
        if c.amount < 0 {
            let what = format!("a charge of {} cents", c.amount);
            return self.unjudged(c.account, index, what);
        }
        let Some(sums) = self.opened(c.account, index) else { return };
        let moved = match ev.kind() {
            OpType::Ok => sums.captured(index, c.amount, c.op),
            OpType::Info => sums.unsure(c.amount),
            OpType::Fail | OpType::Invoke => Ok(()),
        };
        self.overflow(moved, c.account, index);
    }

    /// An amount the bounds cannot take in (it would invert them): the account is
    /// judged no more, and `balance-bounds` says why.
    fn unjudged(&mut self, account: AccountId, index: u64, what: String) {
        self.overflowed.insert(account, index);
        self.problems.unknown(|| {
            format!(
                "op {index}: {what} on account {account}; debits and payments must move a positive \
                 amount and charges a non-negative one, so the account is not judged from there on"
            )
        });
    }

    fn overflow(
        &mut self,
        moved: Result<(), super::sums::Overflow>,
        account: AccountId,
        index: u64,
    ) {
        if moved.is_ok() {
            return;
        }
        self.overflowed.insert(account, index);
        self.overflows.unknown(|| {
            format!(
                "op {index} takes account {account}'s balance bounds beyond what 64 bits of cents \
                 hold, so the account is not judged from there on"
            )
        });
    }
}
