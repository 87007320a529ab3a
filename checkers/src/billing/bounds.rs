//! The bounds on an account's true balance: L (least) and U (greatest), as a fold.
//!
//! See the [module docs](super) for the definitions. One [`Bounds`] per checker keeps
//! seven running sums per account, so L and U are known at every point of the history
//! in constant time.

use crate::checker::Event;
use crate::fast::FastMap;
use crate::history::{AccountId, AccountSpec, F, OpType, Process, Value};
use crate::verdict::Findings;

/// An account's auto-recharge policy and running sums, in cents.
#[derive(Clone, Debug, Default)]
pub(crate) struct Sums {
    /// The policy it was opened with.
    pub spec: Option<AccountSpec>,
    /// The `open` operation's index.
    pub opened_at: u64,
    paid_ok: i64,
    paid_maybe: i64,
    captured: i64,
    charged_maybe: i64,
    debited_maybe: i64,
    debited_ok: i64,
    /// The index of the last charge the gateway captured.
    pub last_capture: Option<u64>,
}

impl Sums {
    fn opening(&self) -> i64 {
        self.spec.as_ref().map_or(0, |s| s.balance)
    }

    /// L: the least balance the account can truly have had so far.
    pub fn low(&self) -> i64 {
        self.opening() + self.paid_ok + self.captured - self.debited_maybe
    }

    /// U: the greatest balance the account can truly have had so far.
    pub fn high(&self) -> i64 {
        self.opening() + self.paid_maybe + self.charged_maybe - self.debited_ok
    }

    /// Cents the gateway captured so far.
    pub fn captured(&self) -> i64 {
        self.captured
    }

    /// The auto-recharge threshold T.
    pub fn threshold(&self) -> i64 {
        self.spec.as_ref().map_or(0, |s| s.threshold)
    }

    /// The floor, if the account has one.
    pub fn floor(&self) -> Option<i64> {
        self.spec.as_ref().and_then(|s| s.floor)
    }
}

/// L and U for every account, updated operation by operation.
#[derive(Default)]
pub(crate) struct Bounds {
    accounts: FastMap<AccountId, Sums>,
    /// Operations the bounds could not account for (no amount, unopened account).
    pub problems: Findings,
}

impl Bounds {
    /// Takes in one operation.
    pub fn observe(&mut self, ev: &Event<'_>) {
        match (ev.op.process, &ev.op.f) {
            (Process::Harness, F::Open) => self.open(ev),
            (Process::Client(_), F::Debit | F::Payment) => self.client(ev),
            (Process::Gateway, F::Charge) => self.charge(ev),
            _ => {}
        }
    }

    /// An account's sums, if it was opened.
    pub fn get(&self, account: AccountId) -> Option<&Sums> {
        self.accounts.get(&account).filter(|s| s.spec.is_some())
    }

    /// Every opened account, in no particular order.
    pub fn accounts(&self) -> impl Iterator<Item = (AccountId, &Sums)> {
        self.accounts.iter().filter(|(_, s)| s.spec.is_some()).map(|(a, s)| (*a, s))
    }

    fn open(&mut self, ev: &Event<'_>) {
        if let (Value::Open(spec), OpType::Ok) = (&ev.op.value, ev.kind()) {
            let sums = self.accounts.entry(spec.account).or_default();
            sums.spec = Some(spec.clone());
            sums.opened_at = ev.index();
        }
    }

    fn opened(&mut self, account: AccountId, index: u64) -> Option<&mut Sums> {
        match self.accounts.get_mut(&account).filter(|s| s.spec.is_some()) {
            Some(sums) => Some(sums),
            None => {
                self.problems.unknown(|| {
                    format!(
                        "op {index} concerns account {account}, which no `open` operation created"
                    )
                });
                None
            }
        }
    }

    fn client(&mut self, ev: &Event<'_>) {
        let Some(op) = ev.account_op() else { return };
        let Some(amount) = op.amount else {
            let (i, f) = (ev.index(), &ev.op.f);
            self.problems.unknown(|| format!("op {i}: a {f} without an amount"));
            return;
        };
        let Some(sums) = self.opened(op.account, ev.index()) else { return };
        let debit = ev.op.f == F::Debit;
        match (debit, ev.kind()) {
            (true, OpType::Invoke) => sums.debited_maybe += amount,
            (true, OpType::Ok) => sums.debited_ok += amount,
            (true, OpType::Fail) => sums.debited_maybe -= amount,
            (false, OpType::Invoke) => sums.paid_maybe += amount,
            (false, OpType::Ok) => sums.paid_ok += amount,
            (false, OpType::Fail) => sums.paid_maybe -= amount,
            (_, OpType::Info) => {}
        }
    }

    fn charge(&mut self, ev: &Event<'_>) {
        let Value::Charge(c) = &ev.op.value else { return };
        let Some(sums) = self.opened(c.account, ev.index()) else { return };
        match ev.kind() {
            OpType::Ok => {
                sums.captured += c.amount;
                sums.charged_maybe += c.amount;
                sums.last_capture = Some(ev.index());
            }
            OpType::Info => sums.charged_maybe += c.amount,
            OpType::Fail | OpType::Invoke => {}
        }
    }
}
