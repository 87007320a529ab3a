//! The harness's side of a simulated run: accounts opened, the nemesis's store faults,
//! `settle`, and the final states.
//!
//! A fault starts only right after a probe's observation, after at least two healthy
//! observations since the last heal, and lasts three to six observations; it heals
//! right after its last one (while that probe may still be in flight).

use super::monitor::InFlightProbe;
use super::rng::Rng;
use super::{Bug, Injected, Phase, Sim};
use crate::history::{AccountSpec, F, FaultEvent, FinalState, Observed, OpType, Process, Value};

/// What the nemesis has done to the balance store.
#[derive(Default)]
pub(super) struct Faults {
    window: Option<Window>,
    healthy_probes: u32,
    next_id: u32,
    pub(super) missing: Vec<u32>,
    pub(super) restored: Vec<u32>,
    pub(super) probe: Option<InFlightProbe>,
}

struct Window {
    id: u32,
    fault: &'static str,
    observations_left: u32,
    /// The completion of the first probe that saw the fault.
    first_probe: Option<u64>,
}

impl Faults {
    /// The completion of the current window's first probe, while the monitor will
    /// look at the window again.
    pub(super) fn window_first_probe(&self) -> Option<u64> {
        self.window.as_ref().filter(|w| w.observations_left > 0).and_then(|w| w.first_probe)
    }

    pub(super) fn window_id(&self) -> Option<u32> {
        self.window.as_ref().map(|w| w.id)
    }

    /// A probe that looked at window `seen` completed at `index`.
    pub(super) fn probe_completed(&mut self, seen: Option<u32>, index: u64) {
        if let Some(w) = self.window.as_mut().filter(|w| Some(w.id) == seen) {
            w.first_probe.get_or_insert(index);
        }
    }
}

/// A random account: opening balance, threshold, recharge; even accounts have a floor.
pub(super) fn spec(account: u32, rng: &mut Rng) -> AccountSpec {
    let threshold = rng.between(100, 300);
    AccountSpec {
        account,
        balance: threshold + rng.between(0, 300),
        threshold,
        recharge: rng.between(500, 2000),
        floor: account.is_multiple_of(2).then_some(0),
    }
}

impl Sim {
    pub(super) fn open_accounts(&mut self) {
        for a in 0..self.bank.accounts.len() {
            let spec = self.bank.accounts[a].spec.clone();
            self.emit(Process::Harness, OpType::Ok, (F::Open, Value::Open(spec)), None);
        }
    }

    /// The monitor looked at the store: a window counts down, or a fault may begin.
    pub(super) fn observed(&mut self) {
        match &mut self.faults.window {
            Some(w) => {
                w.observations_left -= 1;
                if w.observations_left == 0 {
                    self.heal();
                }
            }
            None => {
                self.faults.healthy_probes += 1;
                if self.may_start() {
                    self.start();
                }
            }
        }
    }

    fn may_start(&mut self) -> bool {
        self.phase == Phase::Running
            && self.warm.iter().all(|&w| w)
            && self.faults.healthy_probes >= 2
            && self.rng.chance(self.cfg.fault_rate)
    }

    fn start(&mut self) {
        let fault =
            ["read-only", "lose-balances", "restart-empty-read-only"][self.rng.below(3) as usize];
        let id = self.faults.next_id;
        self.faults.next_id += 1;
        self.nemesis(OpType::Invoke, F::Start, id, fault);
        if fault != "lose-balances" {
            self.bank.read_only = true;
        }
        if fault != "read-only" {
            let every = if fault == "lose-balances" { 2 } else { 1 };
            for a in (0..self.bank.accounts.len()).step_by(every) {
                self.bank.accounts[a].missing = true;
                self.faults.missing.push(a as u32);
            }
        }
        self.nemesis(OpType::Info, F::Start, id, fault);
        let observations_left = 3 + self.rng.below(4) as u32;
        self.faults.window = Some(Window { id, fault, observations_left, first_probe: None });
    }

    fn heal(&mut self) {
        let Some(w) = self.faults.window.take() else { return };
        self.nemesis(OpType::Invoke, F::Heal, w.id, w.fault);
        self.bank.read_only = false;
        for (a, account) in self.bank.accounts.iter_mut().enumerate().filter(|(_, acc)| acc.missing)
        {
            account.missing = false;
            self.faults.restored.push(a as u32);
        }
        self.nemesis(OpType::Info, F::Heal, w.id, w.fault);
        self.faults.healthy_probes = 0;
    }

    fn nemesis(&mut self, kind: OpType, f: F, id: u32, fault: &str) {
        let observed = (kind == OpType::Info).then_some(true);
        let event = FaultEvent {
            id,
            fault: fault.into(),
            targets: vec!["redis-0".into()],
            effect: None,
            observed,
            step: None,
        };
        self.emit(Process::Nemesis, kind, (f, Value::Fault(event)), None);
    }

    /// Lets the last fault run its course and the monitor see it heal, settles, then
    /// writes every account's final state.
    pub(super) fn finish(&mut self) {
        while self.faults.window.is_some() {
            self.probe_now();
        }
        self.probe_now();
        self.settle();
        let chosen = self.end_bug_account();
        for a in 0..self.bank.accounts.len() {
            let account = &self.bank.accounts[a];
            let mut state = FinalState {
                account: a as u32,
                in_flight: Some(Observed::Balance(account.balance)),
                ledger: Observed::Balance(account.balance),
                suspended: Some(account.suspended),
                credited: account.credited.clone(),
                entries: Some(Observed::Balance(account.balance)),
            };
            let bug = self.cfg.bug.filter(|_| chosen == Some(a));
            match bug {
                Some(Bug::WrongfulSuspension) => state.suspended = Some(true),
                Some(Bug::StoresDisagree) => {
                    state.in_flight = Some(Observed::Balance(account.balance + 1))
                }
                Some(Bug::LostBalance) => state.in_flight = Some(Observed::Missing),
                Some(Bug::UnbalancedLedger) => {
                    state.entries = Some(Observed::Balance(account.balance + 1))
                }
                Some(Bug::DoubleCredit) => state.credited.push(account.credited[0]),
                _ => {}
            }
            let index =
                self.emit(Process::Harness, OpType::Ok, (F::Final, Value::Final(state)), None);
            if let Some(bug) = bug {
                self.injected.push(Injected { bug, op: index });
            }
        }
        self.phase = Phase::Done;
    }

    /// The account whose final state an end-of-run bug corrupts: the first one not
    /// suspended.
    fn end_bug_account(&self) -> Option<usize> {
        match self.cfg.bug {
            Some(
                Bug::WrongfulSuspension
                | Bug::StoresDisagree
                | Bug::LostBalance
                | Bug::UnbalancedLedger,
            ) => self.bank.accounts.iter().position(|a| !a.suspended),
            Some(Bug::DoubleCredit) => {
                self.bank.accounts.iter().position(|a| !a.credited.is_empty())
            }
            _ => None,
        }
    }

    /// The system's `settle`: deferred recharges still needed happen now, attributed
    /// to no client operation. Bugs stay out of it.
    fn settle(&mut self) {
        self.emit(Process::Harness, OpType::Invoke, (F::Settle, Value::Nil), None);
        let bug = self.bank.bug.take();
        for a in 0..self.bank.accounts.len() as u32 {
            let applied = self.bank.settle(a, &mut self.rng);
            self.emit_charges(applied.charges, None);
        }
        self.bank.bug = bug;
        self.emit(Process::Harness, OpType::Ok, (F::Settle, Value::Nil), None);
    }
}
