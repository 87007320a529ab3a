//! *fail-safe*: no card is charged while the balance store is unsafe for the account:
//! unreadable, refusing writes, or missing the account's balance.
//!
//! Probes are operations: the probe *before* a capture is the last one completed before
//! it, the probe *after* it the first one invoked after it, and a condition begins at the
//! completion of the first probe that saw it. A probe in flight at the capture is
//! neither, so a slow probe only widens the window of doubt.
//!
//! Only a probe completed `ok` with what it saw is an observation. One completed
//! without (`info`, `fail`) ends every condition: the store may have been anything
//! while it ran, so a condition seen after it begins again at the next observation,
//! and the probes before and after a capture never share a condition across it.
//!
//! A capture is not judged when the condition may have lifted between the two probes:
//! a nemesis `heal` completed between the completion of the probe before and the
//! invocation of the probe after, or (with the header's `monitor` timing) those two
//! instants lie more than [`MonitorTiming::max_gap`] apart.

use crate::checker::{Checker, Event, Interest};
use crate::fast::FastMap;
use crate::history::{AccountId, Charge, F, Op, OpType, Probe, Process, StoreStatus, Value};
use crate::verdict::{Anomaly, AnomalyKind, Findings, Subject, Verdict};
use serde::Deserialize;

/// The monitor's timing, from the history header's `"monitor"` key:
/// `{"interval": ns, "timeout": ns}`, the pause between probes and a probe's timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorTiming {
    /// Nanoseconds between the end of one probe and the start of the next.
    pub interval: u64,
    /// Nanoseconds a probe may take before it gives up.
    pub timeout: u64,
}

/// What a `monitor` header key must look like, for error messages.
pub const MONITOR_SHAPE: &str =
    "an object like {\"interval\":100000000,\"timeout\":1000000000} (nanoseconds)";

impl MonitorTiming {
    /// Reads a header's `monitor` value; the error says what is wrong with it.
    pub fn parse(value: &serde_json::Value) -> Result<MonitorTiming, String> {
        serde_json::from_value(value.clone()).map_err(|e| e.to_string())
    }

    /// The widest gap, in nanoseconds, between one probe's completion and the next
    /// probe's invocation that still counts as consecutive: 2 × (interval + timeout).
    /// Wider, the monitor missed a look (a stall, a slow write), and a condition seen
    /// at both ends need not have held in between.
    pub fn max_gap(&self) -> u64 {
        self.interval.saturating_add(self.timeout).saturating_mul(2)
    }
}

/// Checks that no capture falls inside a window the monitor saw as unsafe, for a
/// request the system under test received inside that window.
#[derive(Default)]
pub struct FailSafe {
    /// The completion of the probe that began the current run of unhealthy probes.
    store_unsafe_since: Option<u64>,
    store: Option<StoreStatus>,
    /// The last probe completed.
    last_probe: Option<u64>,
    /// Accounts whose balance the monitor last saw missing, with the probe that saw it go.
    missing_since: FastMap<AccountId, u64>,
    /// A probe completed without an observation since the last one that observed: the
    /// next observation re-begins every missing balance.
    missing_rebegins: bool,
    /// Per account, its last capture, or its opening: a charge decided by nothing in
    /// flight was decided after it.
    decided_since: FastMap<AccountId, u64>,
    /// Per account, the earliest invocation of a client operation completed `info`: it
    /// may still be running inside the system, so it is in flight for ever.
    info_since: FastMap<AccountId, u64>,
    /// Captures inside an unsafe window, waiting for the probe after them.
    candidates: Vec<Candidate>,
    /// The time the last probe completed.
    last_probe_time: u64,
    /// The last nemesis `heal` completion.
    last_heal: Option<u64>,
    /// The widest gap between two probes that still counts as consecutive.
    max_gap: Option<u64>,
    findings: Findings,
}

struct Candidate {
    index: u64,
    charge: Charge,
    before: u64,
    store: Option<(u64, StoreStatus)>,
    missing_since: Option<u64>,
    /// The earliest the system may have decided the charge.
    decided: u64,
    /// A probe was invoked after it: its completion judges the capture.
    bound: bool,
    /// Whether the condition may have lifted between the probes (a heal completed
    /// between them, or they lie too far apart): the capture is not judged.
    doubt: bool,
    /// The time the probe before completed.
    before_time: u64,
}

impl FailSafe {
    /// A fail-safe checker knowing the monitor's timing, if the header gave it.
    pub fn new(monitor: Option<MonitorTiming>) -> FailSafe {
        FailSafe { max_gap: monitor.map(|m| m.max_gap()), ..FailSafe::default() }
    }
}

impl Checker for FailSafe {
    fn name(&self) -> &'static str {
        "fail-safe"
    }

    fn observe(&mut self, ev: &Event<'_>) {
        match (ev.op.process, &ev.op.f, ev.kind()) {
            (Process::Gateway, F::Charge, OpType::Ok) => {
                if let Value::Charge(c) = &ev.op.value {
                    self.capture(ev, c);
                }
            }
            (Process::Monitor, F::Probe, _) => self.probe(ev),
            (Process::Nemesis, F::Heal, kind) if kind != OpType::Invoke => {
                self.last_heal = Some(ev.index());
            }
            (Process::Harness, F::Open, OpType::Ok) => {
                if let Value::Open(spec) = &ev.op.value {
                    self.decided_since.insert(spec.account, ev.index());
                }
            }
            (Process::Client(_), _, OpType::Info) => {
                if let Some(a) = ev.account_op() {
                    let since = self.info_since.entry(a.account).or_insert(ev.invoke_index());
                    *since = (*since).min(ev.invoke_index());
                }
            }
            _ => {}
        }
    }

    fn interest(&self) -> Interest {
        Interest::GATEWAY
            .or(Interest::MONITOR)
            .or(Interest::NEMESIS)
            .or(Interest::HARNESS)
            .or(Interest::CLIENT_COMPLETION)
    }

    fn finish(&mut self) -> Verdict {
        self.findings.verdict()
    }
}

impl FailSafe {
    fn capture(&mut self, ev: &Event<'_>, c: &Charge) {
        let (index, account) = (ev.index(), c.account);
        let decided_since = self.decided_since.insert(account, index).unwrap_or(0);
        let Some(before) = self.last_probe else { return };
        let store = self.store_unsafe_since.zip(self.store);
        let missing_since = self.missing_since.get(&account).copied();
        if store.is_none() && missing_since.is_none() {
            return;
        }
        let decides = |op: &&Op| match (op.process, &op.value) {
            (Process::Client(_), Value::Account(a)) => a.account == account,
            (Process::Harness, _) => op.f == F::Settle,
            _ => false,
        };
        let serves = |op: &&Op| matches!(op.process, Process::Client(_)) && Some(op.index) == c.op;
        let served = ev.in_flight.iter().filter(decides).any(|op| serves(&op));
        let in_flight = ev.in_flight.iter().filter(decides).map(|op| op.index);
        let earliest = in_flight.chain(self.info_since.get(&account).copied()).min();
        let charge = c.clone();
        // A background charge (for no client operation on the account in flight) may
        // have been decided at any point since the last capture.
        let decided = match (earliest, served) {
            (Some(e), true) => e,
            (e, _) => e.map_or(decided_since, |e| e.min(decided_since)),
        };
        self.candidates.push(Candidate {
            index,
            charge,
            before,
            store,
            missing_since,
            decided,
            bound: false,
            doubt: false,
            before_time: self.last_probe_time,
        });
    }

    fn probe(&mut self, ev: &Event<'_>) {
        if ev.kind() == OpType::Invoke || ev.invocation.is_none() {
            let (now, heal, max_gap) = (ev.op.time, self.last_heal, self.max_gap);
            for c in self.candidates.iter_mut().filter(|c| !c.bound) {
                let healed = heal.is_some_and(|h| h > c.before);
                let apart = max_gap.is_some_and(|g| now.saturating_sub(c.before_time) > g);
                (c.bound, c.doubt) = (true, healed || apart);
            }
        }
        let probe = match (ev.kind(), &ev.op.value) {
            (OpType::Invoke, _) => return,
            (OpType::Ok, Value::Probe(probe)) => probe,
            _ => return self.unobserved(),
        };
        let index = ev.index();
        self.observe_probe(index, probe);
        self.last_probe_time = ev.op.time;
        let (bound, unbound) =
            std::mem::take(&mut self.candidates).into_iter().partition(|c| c.bound);
        self.candidates = unbound;
        for c in bound.into_iter().filter(|c| !c.doubt) {
            self.resolve(c, index);
        }
    }

    /// A probe completed without an observation (`info`, `fail`, or `ok` without a
    /// probe): the store may have been anything while it ran, so every condition ends
    /// here. One still reported after it begins again at the next probe completed `ok`;
    /// for a missing balance, which the monitor reports once, that probe re-begins it.
    fn unobserved(&mut self) {
        self.store_unsafe_since = None;
        self.missing_rebegins = true;
    }

    fn observe_probe(&mut self, index: u64, probe: &Probe) {
        if std::mem::take(&mut self.missing_rebegins) {
            self.missing_since.values_mut().for_each(|since| *since = index);
        }
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
    }

    /// A capture is unsafe when a condition seen by the probe before it still holds at
    /// the probe after it, and the system may have decided the charge only after the
    /// condition began.
    fn resolve(&mut self, c: Candidate, after: u64) {
        let store = c.store.filter(|s| self.store_unsafe_since == Some(s.0));
        let missing =
            c.missing_since.filter(|&m| self.missing_since.get(&c.charge.account) == Some(&m));
        let Some(start) = store.map(|s| s.0).into_iter().chain(missing).min() else { return };
        if c.decided <= start {
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
