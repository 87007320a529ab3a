//! Client workers: each invokes an operation, which applies at a later step and
//! completes at a later one still, or times out into `info`.

use super::bank::{Kind, Request};
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
    /// Its completion witnesses an injected bug: it must complete `ok`.
    witness: bool,
}

impl Sim {
    pub(super) fn run_step(&mut self) {
        self.steps += 1;
        if self.steps.is_multiple_of(u64::from(self.cfg.probe_every)) {
            self.probe_tick();
        }
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
        if self.steps.is_multiple_of(u64::from(self.cfg.probe_every)) {
            self.probe_tick();
        }
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
            Kind::Payment => (self.rng.between(50, 500), false),
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
        let mut witnesses = Vec::new();
        for event in applied.charges {
            let value = Value::Charge(event.charge);
            witnesses.push(self.emit(
                Process::Gateway,
                event.kind,
                (F::Charge, value),
                event.error,
            ));
        }
        let p = self.workers[w].op.as_mut().expect("a pending operation");
        p.outcome = Some(applied.outcome);
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

    /// Whether every client operation in flight on the account was invoked after the
    /// current fault window's first probe, and the monitor will probe the window again.
    fn inside_window(&self, account: u32, invoked: u64) -> bool {
        let Some(first) = self.faults.window_first_probe() else { return false };
        invoked > first
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
                let value = call(p.kind, p.account, p.amount, Some(balance));
                let index = self.emit(process, OpType::Ok, value, None);
                self.witness_floor(p.account, balance, index);
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
