//! One account's running bounds: L, L_r and U, and the windows W and R are read over.
//!
//! See the [module docs](super) for the definitions. Every sum is checked: an amount
//! that would take a bound beyond `i64` makes [`Sums`] return [`Overflow`], and the
//! account is no longer judged.

/// An account's policy and running bounds, in cents.
#[derive(Clone, Debug)]
pub(crate) struct Sums {
    low: i64,
    high: i64,
    captured: i64,
    /// Captured cents not (yet) in L_r: L_r = L − unconfirmed.
    unconfirmed: i64,
    threshold: i64,
    floor: Option<i64>,
    /// The `open` operation's index.
    pub opened_at: u64,
    /// The index of the last charge the gateway captured.
    pub last_capture: Option<u64>,
    /// The least L since the last capture (or the opening).
    since_capture: i64,
    /// The client operations on the account in flight.
    flights: Vec<Flight>,
    /// W's window for the client operations on the account completed `info`, which may
    /// still be running: in flight for ever.
    forever: Option<Window>,
    /// W's window for the harness's `settle`, while it may be running.
    settle: Option<Window>,
    /// Captures waiting for the client operations in flight at them to complete `ok`.
    waiting: Vec<Waiting>,
    /// The debits and payments on the account completed `ok`: the latest of each, and
    /// the sum of each's amounts.
    acknowledged: Acknowledged,
    /// The index of the latest completion that confirmed a served capture for reads
    /// (it counts in L_r from there on).
    pub last_confirmed: Option<u64>,
}

/// The debits and payments on an account that completed `ok`: the latest of each, by
/// its completion's index, and the sum of each kind's amounts (saturating: only ever
/// compared with a missing amount).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Acknowledged {
    pub debit: Option<u64>,
    pub payment: Option<u64>,
    /// Cents debited by the debits completed `ok`.
    pub debits: i64,
    /// Cents paid by the payments completed `ok`.
    pub payments: i64,
}

/// R for a client operation, and the writes on its account acknowledged before it was
/// invoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Range {
    /// The least L_r since its invocation.
    pub low: i64,
    /// The greatest U since its invocation.
    pub high: i64,
    /// The debits and payments on the account completed `ok` before its invocation.
    pub before: Acknowledged,
    /// The latest completion, before the operation's own, that confirmed a served
    /// capture on the account for reads.
    pub confirmed: Option<u64>,
}

/// A client operation in flight, with the bounds over its interval so far.
#[derive(Clone, Debug)]
struct Flight {
    process: u32,
    /// Its invocation's index (its `OpId`).
    index: u64,
    /// W's window: the least L since the later of its invocation and the last capture.
    window: Window,
    /// The least L_r since its invocation.
    low_r: i64,
    /// The greatest U since its invocation.
    high: i64,
    /// The writes on the account acknowledged before its invocation.
    before: Acknowledged,
}

#[derive(Clone, Debug)]
struct Waiting {
    amount: i64,
    processes: Vec<u32>,
}

/// The least L over a window of the history, and the operation that began it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Window {
    pub low: i64,
    pub since: u64,
}

impl Window {
    fn lower(&mut self, low: i64) {
        self.low = self.low.min(low);
    }

    fn merge(self, other: Window) -> Window {
        Window { low: self.low.min(other.low), since: self.since.min(other.since) }
    }
}

/// A sum beyond what an `i64` of cents holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Overflow;

fn add(a: i64, b: i64) -> Result<i64, Overflow> {
    a.checked_add(b).ok_or(Overflow)
}

fn sub(a: i64, b: i64) -> Result<i64, Overflow> {
    a.checked_sub(b).ok_or(Overflow)
}

impl Sums {
    pub fn open(spec: &crate::history::AccountSpec, index: u64) -> Sums {
        Sums {
            low: spec.balance,
            high: spec.balance,
            captured: 0,
            unconfirmed: 0,
            threshold: spec.threshold,
            floor: spec.floor,
            opened_at: index,
            last_capture: None,
            since_capture: spec.balance,
            flights: Vec::new(),
            forever: None,
            settle: None,
            waiting: Vec::new(),
            acknowledged: Acknowledged::default(),
            last_confirmed: None,
        }
    }

    /// W: the least L since the earliest invocation among the client operations on the
    /// account in flight (`info` ones for ever) and the harness's `settle` if it may be
    /// running, bounded below by the last capture; with none of them, since the last
    /// capture (or the opening).
    pub fn window(&self) -> Window {
        let windows = self.flights.iter().map(|f| f.window);
        let windows = windows.chain(self.forever).chain(self.settle);
        windows.reduce(Window::merge).unwrap_or_else(|| self.since_last_capture())
    }

    /// The window since the last capture (or the opening).
    fn since_last_capture(&self) -> Window {
        Window { low: self.since_capture, since: self.last_capture.unwrap_or(self.opened_at) }
    }

    /// Whether a charge attributed to `op` was asked for by a client operation on the
    /// account still in flight (not completed): else it is a background charge.
    fn serves(&self, op: Option<u64>) -> bool {
        op.is_some_and(|o| self.flights.iter().any(|f| f.index == o))
    }

    /// W for a charge attempt attributed to `op`: [`Sums::window`] when `op` is a client
    /// operation on the account in flight; for a background charge (no operation, or
    /// one on another account or not in flight) the wider of that and the window since
    /// the last capture, which `settle` in flight never narrows.
    pub fn decision_window(&self, op: Option<u64>) -> Window {
        match self.serves(op) {
            true => self.window(),
            false => self.window().merge(self.since_last_capture()),
        }
    }

    /// R for the client operation of `process` in flight: the least L_r and the
    /// greatest U since its invocation, with the writes acknowledged before it and the
    /// latest confirmation of a capture so far.
    pub fn range(&self, process: u32) -> Option<Range> {
        let flight = self.flights.iter().find(|f| f.process == process)?;
        let (low, high, before) = (flight.low_r, flight.high, flight.before);
        Some(Range { low, high, before, confirmed: self.last_confirmed })
    }

    /// L_r: L without the captures not yet confirmed for reads.
    fn low_r(&self) -> Result<i64, Overflow> {
        sub(self.low, self.unconfirmed)
    }

    fn set_low(&mut self, low: i64) -> Result<(), Overflow> {
        self.low = low;
        let low_r = self.low_r()?;
        for f in &mut self.flights {
            f.window.lower(low);
            f.low_r = f.low_r.min(low_r);
        }
        self.forever.iter_mut().chain(self.settle.iter_mut()).for_each(|w| w.lower(low));
        self.since_capture = self.since_capture.min(low);
        Ok(())
    }

    fn set_high(&mut self, high: i64) {
        self.high = high;
        self.flights.iter_mut().for_each(|f| f.high = f.high.max(high));
    }

    /// A client operation on the account invoked: a debit or payment with its amount,
    /// or a read (amount 0).
    pub fn invoked(
        &mut self,
        process: u32,
        index: u64,
        debit: bool,
        amount: i64,
    ) -> Result<(), Overflow> {
        match debit {
            true => self.set_low(sub(self.low, amount)?)?,
            false => self.set_high(add(self.high, amount)?),
        }
        let since = self.last_capture.map_or(index, |c| c.max(index));
        let window = Window { low: self.low, since };
        let low_r = self.low_r()?;
        let (high, before) = (self.high, self.acknowledged);
        self.flights.push(Flight { process, index, window, low_r, high, before });
        Ok(())
    }

    /// A debit (or payment) of `amount` cents on the account completed `ok` at `index`.
    pub fn acknowledged(&mut self, index: u64, debit: bool, amount: i64) {
        let a = &mut self.acknowledged;
        match debit {
            true => (a.debit, a.debits) = (Some(index), a.debits.saturating_add(amount)),
            false => (a.payment, a.payments) = (Some(index), a.payments.saturating_add(amount)),
        }
    }

    /// A client operation on the account completed at `index`: `ok` with `debit`'s
    /// amount (0 for a read), `fail` gives it back; an `info` one stays in W's windows
    /// for ever.
    pub fn completed(
        &mut self,
        index: u64,
        process: u32,
        kind: crate::history::OpType,
        debit: bool,
        amount: i64,
    ) -> Result<(), Overflow> {
        use crate::history::OpType::{Fail, Info, Invoke, Ok as Done};
        if let Some(at) = self.flights.iter().position(|f| f.process == process) {
            let flight = self.flights.swap_remove(at);
            if kind == Info {
                self.forever = Some(self.forever.map_or(flight.window, |w| w.merge(flight.window)));
            }
        }
        if self.confirm(process, kind == Done)? {
            self.last_confirmed = Some(index);
        }
        match (debit, kind) {
            (true, Done) | (false, Fail) => self.set_high(sub(self.high, amount)?),
            (true, Fail) | (false, Done) => self.low = add(self.low, amount)?,
            (_, Info | Invoke) => {}
        }
        Ok(())
    }

    /// A capture waits for every client operation in flight at it to complete `ok`;
    /// one that did not lets it count in L_r never. Whether a capture was confirmed.
    fn confirm(&mut self, process: u32, ok: bool) -> Result<bool, Overflow> {
        let mut confirmed = Ok(0);
        let mut any = false;
        self.waiting.retain_mut(|w| {
            let Some(at) = w.processes.iter().position(|&p| p == process) else { return true };
            w.processes.swap_remove(at);
            if ok && w.processes.is_empty() {
                confirmed = confirmed.and_then(|c| add(c, w.amount));
                any = true;
            }
            ok && !w.processes.is_empty()
        });
        self.unconfirmed = sub(self.unconfirmed, confirmed?)?;
        Ok(any)
    }

    /// The gateway captured `amount` for `op`: it counts in L and U at once; in L_r
    /// once `op` and every client operation on the account in flight at it completed
    /// `ok`, never when `op` is not one of them (a background charge, credited when
    /// the system likes); and every window restarts.
    pub fn captured(&mut self, index: u64, amount: i64, op: Option<u64>) -> Result<(), Overflow> {
        let (low, high) = (add(self.low, amount)?, add(self.high, amount)?);
        self.captured = add(self.captured, amount)?;
        self.unconfirmed = add(self.unconfirmed, amount)?;
        if self.serves(op) && self.forever.is_none() {
            let processes = self.flights.iter().map(|f| f.process).collect();
            self.waiting.push(Waiting { amount, processes });
        }
        let restart = Window { low, since: index };
        self.flights.iter_mut().for_each(|f| f.window = restart);
        self.forever.iter_mut().chain(self.settle.iter_mut()).for_each(|w| *w = restart);
        (self.low, self.since_capture, self.last_capture) = (low, low, Some(index));
        self.set_high(high);
        Ok(())
    }

    /// The gateway does not know whether it captured `amount`: it counts in U only.
    pub fn unsure(&mut self, amount: i64) -> Result<(), Overflow> {
        self.set_high(add(self.high, amount)?);
        Ok(())
    }

    /// The harness's `settle` invoked (`Some`), or completed `ok` (`None`).
    pub fn settling(&mut self, invoked: Option<u64>) {
        self.settle = invoked.map(|index| Window {
            low: self.low,
            since: self.last_capture.map_or(index, |c| c.max(index)),
        });
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
    pub fn captured_cents(&self) -> i64 {
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
