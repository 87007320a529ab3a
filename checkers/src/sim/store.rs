//! The harness's side of a simulated run: accounts opened, the monitor's probes, the
//! nemesis's store faults, and the final states.
//!
//! A fault starts only right after a probe, after at least two healthy probes since the
//! last heal, and lasts three to six probes; it heals right after its last one. So every
//! condition the monitor sees at two consecutive probes held in between, as the
//! fail-safe checker assumes.

use super::rng::Rng;
use super::{Bug, Injected, Phase, Sim};
use crate::history::{
    AccountSpec, F, FaultEvent, FinalState, Observed, OpType, Probe, Process, StoreStatus, Value,
};

/// What the nemesis has done to the balance store.
#[derive(Default)]
pub(super) struct Faults {
    window: Option<Window>,
    healthy_probes: u32,
    next_id: u32,
    missing: Vec<u32>,
    restored: Vec<u32>,
}

struct Window {
    id: u32,
    fault: &'static str,
    probes_left: u32,
    first_probe: Option<u64>,
}

impl Faults {
    /// The first probe of the current window, while the monitor will probe it again.
    pub(super) fn window_first_probe(&self) -> Option<u64> {
        self.window.as_ref().filter(|w| w.probes_left > 0).and_then(|w| w.first_probe)
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

    pub(super) fn probe_tick(&mut self) {
        let store = if self.bank.read_only { StoreStatus::ReadOnly } else { StoreStatus::Healthy };
        let missing = std::mem::take(&mut self.faults.missing);
        let restored = std::mem::take(&mut self.faults.restored);
        let probe = Value::Probe(Probe { store, missing, restored });
        let index = self.emit(Process::Monitor, OpType::Ok, (F::Probe, probe), None);
        match &mut self.faults.window {
            Some(w) => {
                w.first_probe.get_or_insert(index);
                w.probes_left -= 1;
                if w.probes_left == 0 {
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
        let probes_left = 3 + self.rng.below(4) as u32;
        self.faults.window = Some(Window { id, fault, probes_left, first_probe: None });
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

    /// Lets the last fault run its course and the monitor see it heal, then writes
    /// every account's final state.
    pub(super) fn finish(&mut self) {
        while self.faults.window.is_some() {
            self.probe_tick();
        }
        self.probe_tick();
        let chosen = self.end_bug_account();
        for a in 0..self.bank.accounts.len() {
            let account = &self.bank.accounts[a];
            let mut state = FinalState {
                account: a as u32,
                in_flight: Observed::Balance(account.balance),
                ledger: Observed::Balance(account.balance),
                suspended: Some(account.suspended),
                credited: account.credited.clone(),
                entries: None,
            };
            let bug = self.cfg.bug.filter(|_| chosen == Some(a));
            match bug {
                Some(Bug::WrongfulSuspension) => state.suspended = Some(true),
                Some(Bug::StoresDisagree) => {
                    state.in_flight = Observed::Balance(account.balance + 1)
                }
                Some(Bug::LostBalance) => state.in_flight = Observed::Missing,
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
            Some(Bug::WrongfulSuspension | Bug::StoresDisagree | Bug::LostBalance) => {
                self.bank.accounts.iter().position(|a| !a.suspended)
            }
            _ => None,
        }
    }
}
