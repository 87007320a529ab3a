//! *reach*: whether a billing workload reached what it is there to test.
//!
//! Bugs in auto-recharge need charges, charges decided by two operations at once, and
//! charges made while a fault was active. The checker counts, over every gateway
//! `charge` record (captured, declined or unknown alike):
//!
//! - **charge attempts**;
//! - **contended charge attempts**: at the charge, two or more client operations on that
//!   account were in flight (invoked and not completed, as the history records them);
//! - **charge attempts during faults**: some fault was active, from its nemesis `start`
//!   invocation to the completion of the `heal` with the same id, or to the end of the
//!   history. A start that completed with an error did not start the fault, and closes
//!   its window.
//!
//! With Redis Sentinel it also counts **failovers**, a lower bound on how many times
//! Sentinel moved the master. Each `+switch-master` names the new master by the address
//! in its `detail` (`<name> <old-ip> <old-port> <new-ip> <new-port>`, five words; a
//! detail of any other shape is ignored), never by the node name the harness mapped
//! (`master`), which one event may have and another lack. Changes are counted per
//! sentinel: an announcement counts when its new address differs from the one the same
//! sentinel announced before (its first counts). The figure is the greatest count over
//! the sentinels. Every sentinel announces the same switch, each on its own time, so
//! counting events, or comparing each with the previous one from any sentinel, would
//! overcount when announcements interleave; a sentinel that missed a switch (cut off,
//! restarted) counts fewer, so the greatest count never exceeds the real failovers and
//! is safe to hold to a minimum.
//!
//! A run in which no client operation completed `ok` tested nothing, minimums or not:
//! unknown. It always reports the first three figures, and failovers when the history
//! holds Sentinel's events or the run asks for a minimum of them. With the header's
//! `"reach"` minimums (`{"charges": N, "contended": N, "charges_in_faults": N,
//! "failovers": N}`, each optional), a figure below its minimum makes the verdict
//! unknown, like a fault that never took effect: the run did not test what it meant to,
//! whatever the other checkers say.

use crate::checker::{Checker, Event, Figure, Interest};
use crate::history::{F, OpType, Process, SentinelEvent, Value};
use crate::verdict::Verdict;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The header's `reach`: what a run must reach to count as a test; absent keys ask
/// nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReachMinimums {
    /// Charge attempts.
    #[serde(default)]
    pub charges: Option<u64>,
    /// Charge attempts while two or more client operations on the account were in flight.
    #[serde(default)]
    pub contended: Option<u64>,
    /// Charge attempts while a fault was active.
    #[serde(default)]
    pub charges_in_faults: Option<u64>,
    /// Failovers: the most changes of master any one sentinel's `+switch-master`
    /// events announce.
    #[serde(default)]
    pub failovers: Option<u64>,
}

/// What a `reach` must look like, for error messages.
pub const REACH_SHAPE: &str = "an object like {\"charges\":10,\"contended\":2,\
     \"charges_in_faults\":1,\"failovers\":1} (each key optional, each a count)";

impl ReachMinimums {
    /// Reads a header's `reach` value; the error says what is wrong with it.
    pub fn parse(value: &serde_json::Value) -> Result<ReachMinimums, String> {
        serde_json::from_value(value.clone()).map_err(|e| e.to_string())
    }
}

/// Counts charge attempts, contended ones and those made during faults, and failovers.
#[derive(Default)]
pub struct Reach {
    minimums: ReachMinimums,
    /// The faults active now, by id.
    active: Vec<u32>,
    charges: u64,
    contended: u64,
    in_faults: u64,
    /// Per sentinel: the new master's address its last `+switch-master` named, and how
    /// many times that address changed (its first counts).
    announced: BTreeMap<String, (String, u64)>,
    /// Whether the history holds any of Sentinel's events.
    sentinels: bool,
    /// Whether any client operation completed `ok`.
    succeeded: bool,
}

impl Reach {
    /// A reach checker holding the run to these minimums.
    pub fn new(minimums: ReachMinimums) -> Reach {
        Reach { minimums, ..Reach::default() }
    }

    fn fault(&mut self, ev: &Event<'_>, id: u32) {
        match (&ev.op.f, ev.kind()) {
            (F::Start, OpType::Invoke) => self.active.push(id),
            (F::Start, kind) if kind == OpType::Fail || ev.op.error.is_some() => {
                self.active.retain(|&a| a != id)
            }
            (F::Heal, kind) if kind != OpType::Invoke => self.active.retain(|&a| a != id),
            _ => {}
        }
    }

    fn charge(&mut self, ev: &Event<'_>, account: u32) {
        self.charges += 1;
        let on_account = ev
            .in_flight
            .iter()
            .filter(|inv| matches!(inv.process, Process::Client(_)))
            .filter(|inv| inv.account() == Some(account))
            .take(2)
            .count();
        self.contended += u64::from(on_account >= 2);
        self.in_faults += u64::from(!self.active.is_empty());
    }

    fn sentinel(&mut self, event: &SentinelEvent) {
        self.sentinels = true;
        if !event.is_switch() {
            return;
        }
        let Some(address) = new_address(&event.detail) else { return };
        match self.announced.get_mut(&event.sentinel) {
            Some((last, _)) if *last == address => {}
            Some((last, changes)) => (*last, *changes) = (address, *changes + 1),
            None => {
                self.announced.insert(event.sentinel.clone(), (address, 1));
            }
        }
    }

    /// Failovers: the most changes of master one sentinel announced.
    fn failovers(&self) -> u64 {
        self.announced.values().map(|&(_, changes)| changes).max().unwrap_or(0)
    }

    fn shortfalls(&self) -> Vec<String> {
        if !self.succeeded {
            return vec!["no client operation completed ok, so the run tested nothing".into()];
        }
        let made = "the workload made";
        let figures = [
            (self.charges, self.minimums.charges, made, "charge attempts"),
            (
                self.contended,
                self.minimums.contended,
                made,
                "contended charge attempts (two or more client operations on the account in flight)",
            ),
            (
                self.in_faults,
                self.minimums.charges_in_faults,
                made,
                "charge attempts during faults",
            ),
            (
                self.failovers(),
                self.minimums.failovers,
                "the run saw",
                "failovers (the most changes of master one sentinel's +switch-master events \
                 announce)",
            ),
        ];
        let short =
            figures.into_iter().filter_map(|(n, min, who, what)| Some((n, min?, who, what)));
        short
            .filter(|(n, min, ..)| n < min)
            .map(|(n, min, who, what)| {
                format!("{who} {n} {what}, fewer than the {min} the scenario asks for")
            })
            .collect()
    }
}

impl Checker for Reach {
    fn name(&self) -> &'static str {
        "reach"
    }

    fn observe(&mut self, ev: &Event<'_>) {
        if let Some(event) = SentinelEvent::of(ev.op) {
            return self.sentinel(event);
        }
        match (ev.op.process, &ev.op.value) {
            (Process::Nemesis, Value::Fault(fault)) => self.fault(ev, fault.id),
            (Process::Client(_), _) => self.succeeded |= ev.kind() == OpType::Ok,
            (Process::Gateway, Value::Charge(c))
                if ev.op.f == F::Charge && ev.kind() != OpType::Invoke =>
            {
                self.charge(ev, c.account)
            }
            _ => {}
        }
    }

    fn interest(&self) -> Interest {
        Interest::NEMESIS
            .or(Interest::GATEWAY)
            .or(Interest::CLIENT_COMPLETION)
            .or(Interest::SENTINEL)
    }

    fn finish(&mut self) -> Verdict {
        let short = self.shortfalls();
        match short.is_empty() {
            true => Verdict::Valid,
            false => Verdict::Unknown(format!(
                "{}: it did not reach what it was meant to test",
                short.join("; ")
            )),
        }
    }

    fn figures(&self) -> Vec<Figure> {
        let mut figures = vec![
            Figure::count("charge attempts", self.charges),
            Figure::count("contended charge attempts", self.contended),
            Figure::count("charge attempts during faults", self.in_faults),
        ];
        if self.sentinels || self.minimums.failovers.is_some() {
            figures.push(Figure::count("failovers", self.failovers()));
        }
        figures
    }
}

/// The new master's address in a `+switch-master`'s detail
/// (`<master-name> <old-ip> <old-port> <new-ip> <new-port>`), as `<new-ip> <new-port>`;
/// `None` unless the detail is exactly those five words.
fn new_address(detail: &str) -> Option<String> {
    let words: Vec<&str> = detail.split_whitespace().collect();
    match words[..] {
        [_, _, _, ip, port] => Some(format!("{ip} {port}")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Op;
    use crate::history::OpType::{Info, Invoke};
    use crate::testkit::*;

    /// Two debits on account 7 in flight at a capture, one on account 8 at a decline
    /// inside a fault window, one unknown charge on account 8 after the heal.
    fn h() -> crate::history::History {
        history(vec![
            open(7, 500, 100, 1000),
            invoke(1, debit(7, 450)),
            invoke(2, debit(7, 10)),
            invoke(3, debit(8, 10)),
            captured(1, 7, 1000),
            ok(1, debit(7, 450)),
            ok(2, debit(7, 10)),
            nemesis(Invoke, F::Start, 1),
            nemesis(Info, F::Start, 1),
            declined(2, 8, 1000),
            nemesis(Invoke, F::Heal, 1),
            nemesis(Info, F::Heal, 1),
            unsure(3, 8, 1000),
            ok(3, debit(8, 10)),
        ])
    }

    #[test]
    fn charge_attempts_contended_ones_and_those_during_faults_are_counted() {
        assert_eq!(
            figures(Reach::default(), &h()),
            ["charge attempts 3", "contended charge attempts 1", "charge attempts during faults 1"]
        );
        assert_eq!(verdict(Reach::default(), &h()), Verdict::Valid);
    }

    #[test]
    fn a_run_that_reached_too_little_is_unknown_naming_each_shortfall() {
        let minimums = ReachMinimums {
            charges: Some(10),
            contended: Some(1),
            charges_in_faults: Some(2),
            failovers: None,
        };
        let reason = "the workload made 3 charge attempts, fewer than the 10 the scenario asks \
                      for; the workload made 1 charge attempts during faults, fewer than the 2 \
                      the scenario asks for: it did not reach what it was meant to test";
        assert_eq!(verdict(Reach::new(minimums), &h()), Verdict::Unknown(reason.into()));
        let met =
            ReachMinimums { charges: Some(3), contended: Some(1), ..ReachMinimums::default() };
        assert_eq!(verdict(Reach::new(met), &h()), Verdict::Valid);
    }

    #[test]
    fn a_fault_whose_start_failed_was_never_active() {
        let failed = Op { error: Some("no such node".into()), ..nemesis(Info, F::Start, 1) };
        let h = history(vec![nemesis(Invoke, F::Start, 1), failed, captured(1, 7, 1000)]);
        assert_eq!(figures(Reach::default(), &h)[2], "charge attempts during faults 0");
    }

    #[test]
    fn a_run_in_which_no_client_operation_succeeded_tested_nothing() {
        let h = history(vec![
            open(7, 500, 100, 1000),
            invoke(1, debit(7, 10)),
            fail(1, debit(7, 10)),
            invoke(2, read(7)),
            info(2, read(7)),
        ]);
        let reason = "no client operation completed ok, so the run tested nothing: it did not \
                      reach what it was meant to test";
        assert_eq!(verdict(Reach::default(), &h), Verdict::Unknown(reason.into()));
    }

    /// `sentinel`'s `+switch-master` with this detail, naming no node.
    fn to(sentinel_name: &str, detail: &str) -> Op {
        let mut op = sentinel(sentinel_name, "+switch-master", None);
        if let Value::Sentinel(e) = &mut op.value {
            e.detail = detail.into();
        }
        op
    }

    const REDIS_0: &str = "172.18.0.2 6379";
    const REDIS_1: &str = "172.18.0.3 6379";

    /// `sentinel`'s `+switch-master` from `old` to `new` (addresses), naming `master`.
    fn switch(sentinel_name: &str, old: &str, new: &str, master: Option<&str>) -> Op {
        let mut op = to(sentinel_name, &format!("faultline {old} {new}"));
        if let Value::Sentinel(e) = &mut op.value {
            e.master = master.map(Into::into);
        }
        op
    }

    /// Two failovers, each announced by all three sentinels, and the `+sdown`s and
    /// `+odown` before the first.
    fn failed_over() -> crate::history::History {
        let switch = |s: &str, master| match master {
            "redis-1" => switch(s, REDIS_0, REDIS_1, Some(master)),
            _ => switch(s, REDIS_1, REDIS_0, Some(master)),
        };
        let mut ops = h().ops;
        ops.extend([
            sentinel("sentinel-0", "+sdown", None),
            sentinel("sentinel-1", "+sdown", None),
            sentinel("sentinel-1", "+odown", None),
            switch("sentinel-0", "redis-1"),
            switch("sentinel-2", "redis-1"),
            switch("sentinel-1", "redis-1"),
            switch("sentinel-2", "redis-0"),
            switch("sentinel-0", "redis-0"),
            switch("sentinel-1", "redis-0"),
        ]);
        history(ops)
    }

    #[test]
    fn failovers_count_changes_of_master_not_the_sentinels_announcing_them() {
        assert_eq!(figures(Reach::default(), &failed_over())[3], "failovers 2");
        assert_eq!(verdict(Reach::default(), &failed_over()), Verdict::Valid);
        assert_eq!(figures(Reach::default(), &h()).len(), 3, "no sentinel, no failover figure");
    }

    #[test]
    fn a_switch_whose_master_the_harness_could_not_name_is_told_by_its_new_address() {
        let h = history(vec![
            to("sentinel-0", "faultline 172.18.0.2 6379 172.18.0.3 6379"),
            to("sentinel-1", "faultline 172.18.0.2 6379 172.18.0.3 6379"),
            to("sentinel-0", "faultline 172.18.0.3 6379 172.18.0.2 6379"),
        ]);
        assert_eq!(figures(Reach::default(), &h)[3], "failovers 2");
    }

    #[test]
    fn interleaved_and_late_announcements_from_different_sentinels_count_once() {
        // Two failovers (to redis-1, back to redis-0); sentinel-1 announces the first
        // only after sentinel-0 announced the second.
        let h = history(vec![
            switch("sentinel-0", REDIS_0, REDIS_1, Some("redis-1")),
            switch("sentinel-0", REDIS_1, REDIS_0, Some("redis-0")),
            switch("sentinel-1", REDIS_0, REDIS_1, Some("redis-1")),
            switch("sentinel-2", REDIS_0, REDIS_1, Some("redis-1")),
            switch("sentinel-1", REDIS_1, REDIS_0, Some("redis-0")),
            switch("sentinel-2", REDIS_1, REDIS_0, Some("redis-0")),
        ]);
        assert_eq!(figures(Reach::default(), &h)[3], "failovers 2");
        // One failover, announced by two sentinels in turn: one, not two.
        let once = history(vec![
            switch("sentinel-0", REDIS_0, REDIS_1, None),
            switch("sentinel-1", REDIS_0, REDIS_1, None),
            switch("sentinel-0", REDIS_0, REDIS_1, None),
        ]);
        assert_eq!(figures(Reach::default(), &once)[3], "failovers 1");
    }

    #[test]
    fn one_switch_named_by_node_in_one_event_and_by_address_in_another_counts_once() {
        let h = history(vec![
            switch("sentinel-0", REDIS_0, REDIS_1, Some("redis-1")),
            switch("sentinel-0", REDIS_0, REDIS_1, None),
            switch("sentinel-1", REDIS_0, REDIS_1, None),
            switch("sentinel-1", REDIS_0, REDIS_1, Some("redis-1")),
        ]);
        assert_eq!(figures(Reach::default(), &h)[3], "failovers 1");
    }

    #[test]
    fn a_switch_whose_detail_is_not_five_words_is_ignored() {
        let h = history(vec![
            to("sentinel-0", "faultline 172.18.0.2 6379 172.18.0.3 6379"),
            to("sentinel-0", "172.18.0.2 6379"),
            to("sentinel-0", "faultline 172.18.0.3 6379 172.18.0.2 6379 extra"),
            to("sentinel-0", ""),
            to("sentinel-1", "faultline  172.18.0.2\t6379 172.18.0.3 6379 "),
        ]);
        assert_eq!(figures(Reach::default(), &h)[3], "failovers 1");
        let only_malformed = history(vec![to("sentinel-0", "faultline 172.18.0.3")]);
        assert_eq!(figures(Reach::default(), &only_malformed)[3], "failovers 0");
    }

    #[test]
    fn a_run_with_fewer_failovers_than_asked_is_unknown() {
        let minimums = ReachMinimums { failovers: Some(3), ..ReachMinimums::default() };
        let reason = "the run saw 2 failovers (the most changes of master one sentinel's \
                      +switch-master events announce), fewer than the 3 the scenario asks for: \
                      it did not reach what it was meant to test";
        assert_eq!(verdict(Reach::new(minimums), &failed_over()), Verdict::Unknown(reason.into()));
        let met = ReachMinimums { failovers: Some(2), ..ReachMinimums::default() };
        assert_eq!(verdict(Reach::new(met), &failed_over()), Verdict::Valid);
        assert_eq!(figures(Reach::new(minimums), &h())[3], "failovers 0");
    }

    #[test]
    fn malformed_minimums_say_what_is_wrong() {
        let typo = serde_json::json!({"charge": 3});
        let error = ReachMinimums::parse(&typo).unwrap_err();
        assert!(error.starts_with("unknown field `charge`"), "{error}");
        let parsed = ReachMinimums::parse(&serde_json::json!({"contended": 2})).unwrap();
        assert_eq!(parsed, ReachMinimums { contended: Some(2), ..ReachMinimums::default() });
    }
}
