//! Client workers: each invokes an operation, which applies at a later step and
//! completes at a later one still, or times out into `info`.

use super::bank::{GatewayEvent, Kind, Request};
use super::{Bug, Injected, Phase, Sim};
use crate::history::{AccountOp, F, Observed, Op, OpType, Process, Value};

/// A client worker and the operation it has in flight.
pub(super) struct Worker {
    pub process: u32,
    pub op: Option<Pending>,
}

/// An operation in flight.
pub(super) struct Pending {
    kind: Kind,
    account: u32,
    amount: i64,
    invoked: u64,
    /// How many operations its account had seen invoked, itself included.
    nth: u64,
    /// No other operation on its account was in flight when it was invoked.
    first_in_flight: bool,
    /// Its outcome once applied: `Ok(balance)` or `Err(error)`.
    outcome: Option<Result<i64, &'static str>>,
    /// It charged the card when applied.
    charged: bool,
    /// Its completion witnesses an injected bug: it must complete `ok`.
    witness: bool,
}

impl Sim {
    pub(super) fn run_step(&mut self) {
        self.steps += 1;
        self.monitor_step();
        if self.index >= self.cfg.ops {
            self.phase = Phase::Draining;
            return;
        }
        let w = self.rng.below(self.workers.len() as u64) as usize;
        self.advance(w, true);
        if !self.zombies.is_empty() && self.rng.chance(1.0 / 32.0) {
            self.haunt();
        }
    }

    pub(super) fn drain_step(&mut self) {
        self.steps += 1;
        self.monitor_step();
        match self.workers.iter().position(|w| w.op.is_some()) {
            Some(w) => self.advance(w, false),
            None => self.finish(),
        }
    }

    fn advance(&mut self, w: usize, may_invoke: bool) {
        match &self.workers[w].op {
            None if may_invoke => self.invoke(w),
            None => {}
            Some(p) if p.outcome.is_none() => {
                if !p.witness && self.timeout() {
                    self.give_up(w);
                } else {
                    self.apply(w);
                }
            }
            Some(_) => self.complete(w),
        }
    }

    fn timeout(&mut self) -> bool {
        self.warm.iter().all(|&w| w) && self.rng.chance(self.cfg.info_rate / 2.0)
    }

    fn invoke(&mut self, w: usize) {
        let kind = match self.rng.below(10) {
            0 => Kind::Payment,
            1 | 2 => Kind::Read,
            _ => Kind::Debit,
        };
        let account = self.rng.below(u64::from(self.cfg.accounts)) as u32;
        let (mut amount, mut witness) = match kind {
            Kind::Debit => (self.rng.between(1, 50), false),
            Kind::Payment => (self.rng.between(10, 150), false),
            Kind::Read => (0, false),
        };
        if kind == Kind::Debit && self.bank.bug == Some(Bug::BelowFloor) {
            let a = &self.bank.accounts[account as usize];
            if let Some(floor) = a.spec.floor.filter(|_| !a.suspended) {
                amount = a.balance - floor + self.rng.between(1, 20);
                witness = true;
            }
        }
        let process = self.workers[w].process;
        let invoked = self.emit(
            Process::Client(process),
            OpType::Invoke,
            call(kind, account, amount, None),
            None,
        );
        let first_in_flight = self.pending_on[account as usize] == 0;
        self.pending_on[account as usize] += 1;
        self.invocations[account as usize] += 1;
        let nth = self.invocations[account as usize];
        let pending = Pending {
            kind,
            account,
            amount,
            invoked,
            nth,
            first_in_flight,
            outcome: None,
            charged: false,
            witness,
        };
        self.workers[w].op = Some(pending);
    }

    fn apply(&mut self, w: usize) {
        let p = self.workers[w].op.as_ref().expect("a pending operation");
        let (account, invoked) = (p.account, p.invoked);
        let req = Request {
            kind: p.kind,
            account,
            amount: p.amount,
            zombie: false,
            alone: p.first_in_flight && self.invocations[account as usize] == p.nth,
            inside_window: self.inside_window(account, invoked),
        };
        let applied = self.bank.apply(&req, &mut self.rng);
        let charged = !applied.charges.is_empty();
        if charged && self.pending_on[account as usize] > 1 {
            self.unconfirmed[account as usize] = true;
        }
        let witnesses = self.emit_charges(applied.charges, Some(invoked));
        let p = self.workers[w].op.as_mut().expect("a pending operation");
        p.outcome = Some(applied.outcome);
        p.charged = charged;
        match applied.fired {
            Some(Some(i)) => {
                self.injected.push(Injected { bug: self.cfg.bug.expect("a bug"), op: witnesses[i] })
            }
            Some(None) => {
                p.witness = true;
                self.floor_broken = true;
            }
            None => p.witness = false,
        }
    }

    /// The gateway's records of these charge attempts, attributed to the client
    /// operation invoked at `op`; returns their indices.
    pub(super) fn emit_charges(&mut self, charges: Vec<GatewayEvent>, op: Option<u64>) -> Vec<u64> {
        let mut indices = Vec::with_capacity(charges.len());
        for mut event in charges {
            event.charge.op = op;
            let value = (F::Charge, Value::Charge(event.charge));
            indices.push(self.emit(Process::Gateway, event.kind, value, event.error));
        }
        indices
    }

    /// Whether every client operation on the account in flight (or completed `info`,
    /// which may still run) was invoked after the completion of the current fault
    /// window's first probe, and the monitor will look at the window again.
    fn inside_window(&self, account: u32, invoked: u64) -> bool {
        let Some(first) = self.faults.window_first_probe() else { return false };
        invoked > first
            && self.info_since[account as usize].is_none_or(|i| i > first)
            && self
                .workers
                .iter()
                .filter_map(|w| w.op.as_ref())
                .all(|p| p.account != account || p.invoked > first)
    }

    fn complete(&mut self, w: usize) {
        let p = self.workers[w].op.take().expect("a pending operation");
        self.pending_on[p.account as usize] -= 1;
        let outcome = p.outcome.expect("an applied operation");
        if !p.witness && self.timeout() {
            return self.retire(w, &p);
        }
        let process = Process::Client(self.workers[w].process);
        match outcome {
            Ok(balance) => {
                self.warm[p.kind as usize] = true;
                let (reported, lie) = self.reported(&p, balance);
                let value = call(p.kind, p.account, p.amount, Some(reported));
                let index = self.emit(process, OpType::Ok, value, None);
                self.witness_floor(p.account, reported, index);
                if let Some(bug) = lie {
                    self.injected.push(Injected { bug, op: index });
                }
            }
            Err(error) => {
                self.emit(
                    process,
                    OpType::Fail,
                    call(p.kind, p.account, p.amount, None),
                    Some(error),
                );
            }
        }
    }

    /// The balance an `ok` completion reports: the true one, or a lie told by the
    /// stale-read or vanished-payment bug to a read alone on a clean account (no
    /// other operation on it ran meanwhile, none was ever indeterminate; for a vanished
    /// payment, every capture on it counts for reads, and none was confirmed since the
    /// payment: the checkers would then call the read impossible, not a lost write).
    fn reported(&mut self, p: &Pending, balance: i64) -> (i64, Option<Bug>) {
        let a = p.account as usize;
        let clean = self.bank.accounts[a].clean;
        if p.charged && self.vanish.is_some_and(|(account, _)| account == p.account) {
            self.vanish = None;
        }
        if p.kind == Kind::Payment
            && clean
            && !p.charged
            && self.bank.bug == Some(Bug::VanishedPayment)
        {
            self.vanish = Some((p.account, p.amount));
        }
        let alone = p.first_in_flight && self.invocations[a] == p.nth && clean && !p.charged;
        if p.kind != Kind::Read || !alone {
            return (balance, None);
        }
        match (self.bank.bug, self.bank.accounts[a].stale, self.vanish) {
            (Some(Bug::StaleRead), Some(stale), _) if stale > balance => {
                self.bank.bug = None;
                (stale, Some(Bug::StaleRead))
            }
            (Some(Bug::VanishedPayment), _, Some((account, amount)))
                if account == p.account && !self.unconfirmed[a] =>
            {
                self.bank.bug = None;
                (balance - amount, Some(Bug::VanishedPayment))
            }
            _ => (balance, None),
        }
    }

    /// Once the floor bug fired, the first completion reporting a balance below a
    /// floor witnesses it.
    fn witness_floor(&mut self, account: u32, balance: i64, index: u64) {
        let floor = self.bank.accounts[account as usize].spec.floor;
        if self.floor_broken && floor.is_some_and(|floor| balance < floor) {
            self.floor_broken = false;
            self.injected.push(Injected { bug: Bug::BelowFloor, op: index });
        }
    }

    /// Times out before the operation applied: it may apply later, or never.
    fn give_up(&mut self, w: usize) {
        let p = self.workers[w].op.take().expect("a pending operation");
        self.pending_on[p.account as usize] -= 1;
        self.retire(w, &p);
        if self.rng.chance(0.5) {
            let req = Request {
                kind: p.kind,
                account: p.account,
                amount: p.amount,
                zombie: true,
                alone: false,
                inside_window: false,
            };
            self.zombies.push_back(req);
            if self.zombies.len() > 32 {
                self.zombies.pop_front();
            }
        }
    }

    fn retire(&mut self, w: usize, p: &Pending) {
        let since = &mut self.info_since[p.account as usize];
        *since = Some(since.map_or(p.invoked, |s| s.min(p.invoked)));
        let process = Process::Client(self.workers[w].process);
        self.emit(process, OpType::Info, call(p.kind, p.account, p.amount, None), Some("timeout"));
        self.bank.accounts[p.account as usize].clean = false;
        self.workers[w].process = self.next_process;
        self.next_process += 1;
    }

    /// Applies the oldest operation whose client gave up.
    fn haunt(&mut self) {
        if let Some(req) = self.zombies.pop_front() {
            self.bank.apply(&req, &mut self.rng);
        }
    }

    /// Appends an operation to the history; returns its index.
    pub(super) fn emit(
        &mut self,
        process: Process,
        kind: OpType,
        (f, value): (F, Value),
        error: Option<&str>,
    ) -> u64 {
        let index = self.index;
        self.time += 1 + self.rng.below(1000);
        let error = error.map(str::to_owned);
        self.out.push_back(Op { index, time: self.time, process, kind, f, value, error });
        self.index += 1;
        index
    }
}

fn call(kind: Kind, account: u32, amount: i64, balance: Option<i64>) -> (F, Value) {
    let (f, amount) = match kind {
        Kind::Debit => (F::Debit, Some(amount)),
        Kind::Payment => (F::Payment, Some(amount)),
        Kind::Read => (F::Read, None),
    };
    (f, Value::Account(AccountOp { account, amount, balance: balance.map(Observed::Balance) }))
}
