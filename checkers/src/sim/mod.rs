//! A simulated billing system that writes valid histories, for property tests and the
//! benchmark.
//!
//! - [`Sim`]: an iterator of operations, from `open`s to `final`s, in bounded memory.
//! - `bank` (private): the sequential model of the system under test.
//! - `clients` (private): workers invoking, linearizing and completing operations.
//! - `store` (private): the nemesis's store faults, `settle`, and the final states.
//! - `monitor` (private): the monitor's probes, invoked and completed a while later.
//!
//! The model is a single-threaded billing system applied at random linearization
//! points: each client operation is invoked, applied atomically at a later step, and
//! completed later still, with many processes interleaved, on few or many accounts (so
//! payments race debits on one account). Completions time out into `info` at random,
//! before or after the operation applied; an operation that timed out before applying
//! may still apply later, or never. A recharge happens inside the debit that needed it,
//! or is deferred to the account's next operation (a read, a payment, a debit) or to
//! `settle`. Store faults (read-only, lost balances, both) come and go between
//! observations of the monitor, whose probes take a while, so a probe may complete
//! after the heal it straddled. The fail-safe model refuses to debit, pay or charge
//! while the store is unsafe for an account. So every history it writes is valid, and
//! [`SimConfig::bug`] injects exactly one anomaly whose witness the simulation reports
//! ([`Sim::injected`]).
//!
//! The simulation is a pure function of its [`SimConfig`], seed included.

mod bank;
mod clients;
mod monitor;
mod rng;
mod store;

use crate::format::Header;
use crate::history::{History, Op};
use crate::verdict::AnomalyKind;
use bank::Bank;
use clients::Worker;
use rng::Rng;
use std::collections::VecDeque;
use store::Faults;

/// How to simulate. Defaults: 1,000 accounts, 64 processes, 10,000 operations, 1% info,
/// a probe every 64 steps taking up to 64 more, a fault starting at 2% of healthy
/// probes, 1% declined and 1% unknown charges, 30% of recharges deferred, no bug.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Seeds every random choice.
    pub seed: u64,
    /// How many accounts.
    pub accounts: u32,
    /// How many client workers run at once.
    pub processes: u32,
    /// Stop invoking once the history holds this many operations (it then drains, heals
    /// and writes final states, a few more).
    pub ops: u64,
    /// The fraction of client completions that are `info`.
    pub info_rate: f64,
    /// The chance that the nemesis breaks the balance store at a probe, once two
    /// healthy probes followed the last fault (0: never).
    pub fault_rate: f64,
    /// Steps between two monitor probes.
    pub probe_every: u32,
    /// The most steps a probe takes from invocation to completion.
    pub probe_delay: u32,
    /// The fraction of recharges deferred from the debit that needed them to the
    /// account's next operation, or to `settle`.
    pub defer_rate: f64,
    /// The fraction of recharges the gateway declines.
    pub decline_rate: f64,
    /// The fraction of recharges whose outcome the gateway does not know.
    pub unsure_rate: f64,
    /// An anomaly to inject once.
    pub bug: Option<Bug>,
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            seed: 0,
            accounts: 1000,
            processes: 64,
            ops: 10_000,
            info_rate: 0.01,
            fault_rate: 0.02,
            probe_every: 64,
            probe_delay: 64,
            defer_rate: 0.3,
            decline_rate: 0.01,
            unsure_rate: 0.01,
            bug: None,
        }
    }
}

/// A misbehaviour of the system under test, injected once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bug {
    /// A captured recharge is credited nowhere.
    UncreditedCharge,
    /// A declined recharge is credited anyway.
    PhantomCredit,
    /// A recharge is captured twice with one idempotency key.
    DuplicateKey,
    /// A debit that left the balance above the threshold recharges anyway.
    RepeatedRecharge,
    /// An account ends suspended with no decline.
    WrongfulSuspension,
    /// An account's in-flight balance ends one cent off its ledger balance.
    StoresDisagree,
    /// An account's in-flight balance is missing at the end.
    LostBalance,
    /// A debit takes a balance below its floor.
    BelowFloor,
    /// A debit on an unsafe store charges the card (and cannot credit it).
    ChargeWhileUnsafe,
    /// A read reports the balance from before the last acknowledged debit.
    StaleRead,
    /// A read after an acknowledged payment does not see it (it comes back later).
    VanishedPayment,
    /// The ledger lists a credited charge twice.
    DoubleCredit,
    /// The ledger's entries do not sum to its balance.
    UnbalancedLedger,
    /// One client operation's recharge is captured twice, under two keys.
    DuplicateOp,
}

impl Bug {
    /// Every bug.
    pub const ALL: [Bug; 14] = [
        Bug::UncreditedCharge,
        Bug::PhantomCredit,
        Bug::DuplicateKey,
        Bug::RepeatedRecharge,
        Bug::WrongfulSuspension,
        Bug::StoresDisagree,
        Bug::LostBalance,
        Bug::BelowFloor,
        Bug::ChargeWhileUnsafe,
        Bug::StaleRead,
        Bug::VanishedPayment,
        Bug::DoubleCredit,
        Bug::UnbalancedLedger,
        Bug::DuplicateOp,
    ];

    /// The anomaly a checker must report for it.
    pub fn kind(self) -> AnomalyKind {
        match self {
            Bug::UncreditedCharge => AnomalyKind::ChargeWithoutCredit,
            Bug::PhantomCredit => AnomalyKind::CreditWithoutCharge,
            Bug::DuplicateKey => AnomalyKind::DuplicateRecharge,
            Bug::RepeatedRecharge => AnomalyKind::OverCharge,
            Bug::WrongfulSuspension => AnomalyKind::WrongfulSuspension,
            Bug::StoresDisagree => AnomalyKind::StoresDisagree,
            Bug::LostBalance => AnomalyKind::LostBalance,
            Bug::BelowFloor => AnomalyKind::BelowFloor,
            Bug::ChargeWhileUnsafe => AnomalyKind::UnsafeCharge,
            Bug::StaleRead | Bug::VanishedPayment => AnomalyKind::LostWrite,
            Bug::DoubleCredit => AnomalyKind::DuplicateCredit,
            Bug::UnbalancedLedger => AnomalyKind::LedgerUnbalanced,
            Bug::DuplicateOp => AnomalyKind::DuplicateRecharge,
        }
    }
}

/// An injected anomaly and the operation that witnesses it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Injected {
    /// What was injected.
    pub bug: Bug,
    /// The index of the operation a checker must cite.
    pub op: u64,
}

/// A simulated run: an iterator of the operations of its history.
pub struct Sim {
    cfg: SimConfig,
    rng: Rng,
    bank: Bank,
    workers: Vec<Worker>,
    zombies: VecDeque<bank::Request>,
    /// Client operations in flight per account.
    pending_on: Vec<u32>,
    /// Client operations invoked so far per account.
    invocations: Vec<u64>,
    /// Per account, the earliest invocation of an operation that completed `info`.
    info_since: Vec<Option<u64>>,
    /// An acknowledged payment the vanished-payment bug may hide: account, amount.
    vanish: Option<(u32, i64)>,
    /// Per account, a capture happened while another operation on it was in flight, so
    /// it may never count in the least balance a read may see.
    unconfirmed: Vec<bool>,
    faults: Faults,
    out: VecDeque<Op>,
    index: u64,
    time: u64,
    steps: u64,
    next_process: u32,
    /// Whether a debit, a payment and a read have each completed `ok` yet: until then no
    /// timeouts and no faults, so every kind of operation succeeds at least once.
    warm: [bool; 3],
    /// The floor bug fired and no completion has reported the broken floor yet.
    floor_broken: bool,
    phase: Phase,
    injected: Vec<Injected>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    Draining,
    Done,
}

impl Sim {
    /// A simulation of this configuration; its first operations open the accounts.
    pub fn new(cfg: SimConfig) -> Sim {
        let mut rng = Rng::new(cfg.seed);
        let specs = (0..cfg.accounts).map(|a| store::spec(a, &mut rng)).collect();
        let bank = Bank::new(specs, &cfg);
        let workers = (0..cfg.processes).map(|p| Worker { process: p, op: None }).collect();
        let mut sim = Sim {
            pending_on: vec![0; cfg.accounts as usize],
            invocations: vec![0; cfg.accounts as usize],
            info_since: vec![None; cfg.accounts as usize],
            vanish: None,
            unconfirmed: vec![false; cfg.accounts as usize],
            next_process: cfg.processes,
            cfg,
            rng,
            bank,
            workers,
            zombies: VecDeque::new(),
            faults: Faults::default(),
            out: VecDeque::new(),
            index: 0,
            time: 0,
            steps: 0,
            warm: [false; 3],
            floor_broken: false,
            phase: Phase::Running,
            injected: Vec::new(),
        };
        sim.open_accounts();
        sim
    }

    /// The header of the history it writes.
    pub fn header(&self) -> Header {
        let mut meta = serde_json::Map::new();
        meta.insert("workload".into(), "billing".into());
        meta.insert("sut".into(), "sim".into());
        meta.insert("seed".into(), self.cfg.seed.into());
        Header::new(meta)
    }

    /// The anomalies injected so far, with their witnesses.
    pub fn injected(&self) -> &[Injected] {
        &self.injected
    }

    /// Runs a whole simulation into memory.
    pub fn history(cfg: SimConfig) -> (History, Vec<Injected>) {
        let mut sim = Sim::new(cfg);
        let ops = sim.by_ref().collect();
        (History::new(ops), sim.injected)
    }

    fn step(&mut self) {
        match self.phase {
            Phase::Running => self.run_step(),
            Phase::Draining => self.drain_step(),
            Phase::Done => {}
        }
    }
}

impl Iterator for Sim {
    type Item = Op;

    fn next(&mut self) -> Option<Op> {
        loop {
            if let Some(op) = self.out.pop_front() {
                return Some(op);
            }
            if self.phase == Phase::Done {
                return None;
            }
            self.step();
        }
    }
}

#[cfg(test)]
mod tests;
