//! The bounds on an account's true balance: L (least) and U (greatest), as a fold.
//!
//! See the [module docs](super) for the definitions. One [`Bounds`] per checker keeps L
//! and U per account as running sums, so both are known at every point of the history
//! in constant time:
//!
//! | operation            | L                  | U                  |
//! |----------------------|--------------------|--------------------|
//! | debit invoked        | − amount           |                    |
//! | debit `ok`           |                    | − amount           |
//! | debit `fail`         | + amount (back)    |                    |
//! | payment invoked      |                    | + amount           |
//! | payment `ok`         | + amount           |                    |
//! | payment `fail`       |                    | − amount (back)    |
//! | charge `ok`          | + amount           | + amount           |
//! | charge `info`        |                    | + amount           |
//!
//! Each account also keeps its debits in flight, each with the least L since the later
//! of its invocation and the last capture, which gives W (see the module docs).

use crate::checker::{Event, Interest};
use crate::fast::AccountMap;
use crate::history::{AccountId, AccountSpec, F, OpType, Process, Value};
use crate::verdict::Findings;

/// An account's policy and running bounds, in cents: L and U themselves are kept up
/// to date, since each operation moves them by its amount.
#[derive(Clone, Debug)]
pub(crate) struct Sums {
    low: i64,
    high: i64,
    captured: i64,
    threshold: i64,
    floor: Option<i64>,
    /// The `open` operation's index.
    pub opened_at: u64,
    /// The index of the last charge the gateway captured.
    pub last_capture: Option<u64>,
    /// The debits in flight: (process, least L in its window, where that window began).
    debits: Vec<(u32, i64, u64)>,
}

/// The least L over a window of the history, and the operation that began it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Window {
    pub low: i64,
    pub since: Option<u64>,
}

impl Sums {
    fn open(spec: &AccountSpec, index: u64) -> Sums {
        Sums {
            low: spec.balance,
            high: spec.balance,
            captured: 0,
            threshold: spec.threshold,
            floor: spec.floor,
            opened_at: index,
            last_capture: None,
            debits: Vec::new(),
        }
    }

    /// W: the least L since the later of the invocation of the earliest debit in flight
    /// and the last capture, which is when the system may have decided to recharge or
    /// to suspend; L itself when no debit is in flight.
    pub fn window(&self) -> Window {
        let earliest = self.debits.iter().min_by_key(|d| (d.1, d.2));
        earliest.map_or(Window { low: self.low, since: None }, |d| Window {
            low: d.1,
            since: Some(d.2),
        })
    }

    fn debit_invoked(&mut self, process: u32, index: u64, amount: i64) {
        self.low -= amount;
        let low = self.low;
        self.debits.iter_mut().for_each(|d| d.1 = d.1.min(low));
        self.debits.push((process, low, index));
    }

    fn debit_completed(&mut self, process: u32) {
        self.debits.retain(|d| d.0 != process);
    }

    fn capture(&mut self, index: u64, amount: i64) {
        self.low += amount;
        self.high += amount;
        self.captured += amount;
        self.last_capture = Some(index);
        let low = self.low;
        self.debits.iter_mut().for_each(|d| (d.1, d.2) = (low, index));
    }

    /// L: the least balance the account can truly have had so far.
    pub fn low(&self) -> i64 {
        self.low
    }

    /// U: the greatest balance the account can truly have had so far.
    pub fn high(&self) -> i64 {
        self.high
    }

    /// Cents the gateway captured so far.
    pub fn captured(&self) -> i64 {
        self.captured
    }

    /// The auto-recharge threshold T.
    pub fn threshold(&self) -> i64 {
        self.threshold
    }

    /// The floor, if the account has one.
    pub fn floor(&self) -> Option<i64> {
        self.floor
    }
}

/// The operations that move L and U.
pub(crate) const INTEREST: Interest = Interest::CLIENT_INVOKE
    .or(Interest::CLIENT_COMPLETION)
    .or(Interest::GATEWAY)
    .or(Interest::HARNESS);

/// L and U for every account, updated operation by operation.
#[derive(Default)]
pub(crate) struct Bounds {
    accounts: AccountMap<Sums>,
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
        self.accounts.get(account)
    }

    /// Every opened account, in no particular order.
    pub fn accounts(&self) -> impl Iterator<Item = (AccountId, &Sums)> {
        self.accounts.iter()
    }

    fn open(&mut self, ev: &Event<'_>) {
        if let (Value::Open(spec), OpType::Ok) = (&ev.op.value, ev.kind()) {
            self.accounts.insert(spec.account, Sums::open(spec, ev.index()));
        }
    }

    fn opened(&mut self, account: AccountId, index: u64) -> Option<&mut Sums> {
        match self.accounts.get_mut(account) {
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
        let (Some(process), index) = (ev.client(), ev.index()) else { return };
        let Some(sums) = self.opened(op.account, index) else { return };
        let debit = ev.op.f == F::Debit;
        if debit && ev.kind() != OpType::Invoke {
            sums.debit_completed(process);
        }
        match (debit, ev.kind()) {
            (true, OpType::Invoke) => sums.debit_invoked(process, index, amount),
            (true, OpType::Ok) => sums.high -= amount,
            (true, OpType::Fail) => sums.low += amount,
            (false, OpType::Invoke) => sums.high += amount,
            (false, OpType::Ok) => sums.low += amount,
            (false, OpType::Fail) => sums.high -= amount,
            (_, OpType::Info) => {}
        }
    }

    fn charge(&mut self, ev: &Event<'_>) {
        let Value::Charge(c) = &ev.op.value else { return };
        let Some(sums) = self.opened(c.account, ev.index()) else { return };
        match ev.kind() {
            OpType::Ok => sums.capture(ev.index(), c.amount),
            OpType::Info => sums.high += c.amount,
            OpType::Fail | OpType::Invoke => {}
        }
    }
}
