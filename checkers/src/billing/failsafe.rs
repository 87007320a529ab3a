//! *fail-safe*: no card is charged while the balance store is unsafe for the account:
//! unreadable, refusing writes, or missing the account's balance.

use crate::checker::{Checker, Event, Interest};
use crate::fast::FastMap;
use crate::history::{AccountId, Charge, F, Op, OpType, Probe, Process, StoreStatus, Value};
use crate::verdict::{Anomaly, AnomalyKind, Findings, Subject, Verdict};

/// Checks that no capture falls inside a window the monitor saw as unsafe, for a
/// request the system under test received inside that window.
#[derive(Default)]
pub struct FailSafe {
    /// The probe that began the current run of unhealthy probes, if the last was unhealthy.
    store_unsafe_since: Option<u64>,
    store: Option<StoreStatus>,
    last_probe: Option<u64>,
    /// Accounts whose balance the monitor last saw missing, with the probe that saw it go.
    missing_since: FastMap<AccountId, u64>,
    /// Captures inside an unsafe window, waiting for the next probe.
    candidates: Vec<Candidate>,
    findings: Findings,
}

struct Candidate {
    index: u64,
    charge: Charge,
    before: u64,
    store: Option<(u64, StoreStatus)>,
    missing_since: Option<u64>,
    earliest_in_flight: Option<u64>,
}

impl Checker for FailSafe {
    fn name(&self) -> &'static str {
        "fail-safe"
    }

    fn observe(&mut self, ev: &Event<'_>) {
        match (ev.op.process, &ev.op.value) {
            (Process::Gateway, Value::Charge(c))
                if ev.op.f == F::Charge && ev.kind() == OpType::Ok =>
            {
                self.capture(ev, c);
            }
            (Process::Monitor, Value::Probe(probe)) if ev.op.f == F::Probe => {
                self.probe(ev.index(), probe)
            }
            _ => {}
        }
    }

    fn interest(&self) -> Interest {
        Interest::GATEWAY.or(Interest::MONITOR)
    }

    fn finish(&mut self) -> Verdict {
        self.findings.verdict()
    }
}

impl FailSafe {
    fn capture(&mut self, ev: &Event<'_>, c: &Charge) {
        let Some(before) = self.last_probe else { return };
        let store = self.store_unsafe_since.zip(self.store);
        let missing_since = self.missing_since.get(&c.account).copied();
        if store.is_none() && missing_since.is_none() {
            return;
        }
        let on_account = |op: &&Op| matches!((op.process, &op.value), (Process::Client(_), Value::Account(a)) if a.account == c.account);
        let earliest_in_flight = ev.in_flight.iter().filter(on_account).map(|op| op.index).min();
        let (index, charge) = (ev.index(), c.clone());
        self.candidates.push(Candidate {
            index,
            charge,
            before,
            store,
            missing_since,
            earliest_in_flight,
        });
    }

    fn probe(&mut self, index: u64, probe: &Probe) {
        if probe.store == StoreStatus::Healthy {
            self.store_unsafe_since = None;
        } else {
            self.store_unsafe_since.get_or_insert(index);
        }
        self.store = Some(probe.store);
        for &a in &probe.missing {
            self.missing_since.entry(a).or_insert(index);
        }
        for a in &probe.restored {
            self.missing_since.remove(a);
        }
        self.last_probe = Some(index);
        for c in std::mem::take(&mut self.candidates) {
            self.resolve(c, index);
        }
    }

    /// A capture is unsafe when a condition seen by the probe before it still holds at
    /// the probe after it, and every client operation on the account in flight at the
    /// capture was invoked after the condition began.
    fn resolve(&mut self, c: Candidate, after: u64) {
        let store = c.store.filter(|_| self.store_unsafe_since.is_some());
        let missing =
            c.missing_since.filter(|_| self.missing_since.contains_key(&c.charge.account));
        let Some(start) = store.map(|s| s.0).into_iter().chain(missing).min() else { return };
        if c.earliest_in_flight.is_some_and(|invoked| invoked <= start) {
            return;
        }
        let condition = match (store, missing) {
            (Some((_, status)), Some(_)) => {
                format!("the balance store was {} and had lost its balance", name(status))
            }
            (Some((_, status)), None) => format!("the balance store was {}", name(status)),
            _ => "the balance store had lost its balance".to_owned(),
        };
        let Charge { charge, account, amount, .. } = c.charge;
        self.findings.anomaly(Anomaly {
            kind: AnomalyKind::UnsafeCharge,
            subject: Subject::Account(account),
            explanation: format!(
                "op {}: the gateway captured {amount} cents from account {account}'s card (charge \
                 {charge}) while {condition} (probes at ops {} and {after}; unsafe since op {start}), for \
                 a request made after that: auto-recharge is not fail-safe",
                c.index, c.before
            ),
            ops: vec![c.index, c.before, after],
            magnitude: amount,
        });
    }
}

fn name(status: StoreStatus) -> &'static str {
    match status {
        StoreStatus::Healthy => "healthy",
        StoreStatus::ReadOnly => "read-only",
        StoreStatus::Loading => "loading",
        StoreStatus::Unreachable => "unreachable",
        StoreStatus::Error => "failing",
    }
}
