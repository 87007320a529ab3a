//! The monitor's probes: invoked every `probe_every` steps, they look at the store at
//! once and complete up to `probe_delay` steps later, so a probe may complete after the
//! fault it saw healed, or see the store healthy and complete after a fault began.
//!
//! Faults begin and heal right after an observation, so every condition the monitor
//! sees at two consecutive observations held between them, as the fail-safe checker
//! assumes.

use super::Sim;
use crate::history::{F, OpType, Probe, Process, StoreStatus, Value};

/// A probe in flight: what it saw, in which fault window, and when it completes.
pub(super) struct InFlightProbe {
    seen: Probe,
    window: Option<u32>,
    due: u64,
}

impl Sim {
    /// Completes the probe in flight when due, and invokes the next one on time.
    pub(super) fn monitor_step(&mut self) {
        if self.faults.probe.as_ref().is_some_and(|p| self.steps >= p.due) {
            self.complete_probe();
        }
        if self.faults.probe.is_none() && self.steps.is_multiple_of(u64::from(self.cfg.probe_every))
        {
            let delay = self.rng.below(u64::from(self.cfg.probe_delay) + 1);
            self.invoke_probe(delay);
        }
    }

    /// Completes the probe in flight, if any, then probes and completes at once.
    pub(super) fn probe_now(&mut self) {
        if self.faults.probe.is_some() {
            self.complete_probe();
        }
        self.invoke_probe(0);
        self.complete_probe();
    }

    fn invoke_probe(&mut self, delay: u64) {
        self.emit(Process::Monitor, OpType::Invoke, (F::Probe, Value::Nil), None);
        let store = if self.bank.read_only { StoreStatus::ReadOnly } else { StoreStatus::Healthy };
        let missing = std::mem::take(&mut self.faults.missing);
        let restored = std::mem::take(&mut self.faults.restored);
        let window = self.faults.window_id();
        let seen = Probe { store, missing, restored };
        self.faults.probe = Some(InFlightProbe { seen, window, due: self.steps + delay });
        self.observed();
    }

    fn complete_probe(&mut self) {
        let Some(p) = self.faults.probe.take() else { return };
        let index = self.emit(Process::Monitor, OpType::Ok, (F::Probe, Value::Probe(p.seen)), None);
        self.faults.probe_completed(p.window, index);
    }
}
