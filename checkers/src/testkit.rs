//! Helpers for tiny literal histories in tests: `invoke(1, debit(7, 3))`, `ok(...)`.

use crate::checker::Checker;
use crate::history::{
    AccountOp, AccountSpec, Charge, ChargeAnswer, F, FaultEvent, FinalState, History, LayoutShape,
    Observed, Op, OpType, Probe, Process, SentinelEvent, StoreStatus, Value,
};
use crate::report::CheckResult;
use crate::runner::{Runner, WELL_FORMED};
use crate::verdict::Verdict;

/// What an operation does, with its value.
pub type Call = (F, Value);

/// A history of these operations, indexed from 0, 1 µs apart.
pub fn history(ops: Vec<Op>) -> History {
    let ops = ops.into_iter().enumerate().map(|(i, op)| Op {
        index: i as u64,
        time: i as u64 * 1000,
        ..op
    });
    History::new(ops.collect())
}

fn op(process: Process, kind: OpType, (f, value): Call) -> Op {
    Op { index: 0, time: 0, process, kind, f, value, error: None }
}

/// A client invocation.
pub fn invoke(p: u32, call: Call) -> Op {
    op(Process::Client(p), OpType::Invoke, call)
}

/// A client completion: it took effect.
pub fn ok(p: u32, call: Call) -> Op {
    op(Process::Client(p), OpType::Ok, call)
}

/// A client completion: it did not take effect.
pub fn fail(p: u32, call: Call) -> Op {
    Op { error: Some("rejected".into()), ..op(Process::Client(p), OpType::Fail, call) }
}

/// A client completion: it may or may not have taken effect.
pub fn info(p: u32, call: Call) -> Op {
    Op { error: Some("timeout".into()), ..op(Process::Client(p), OpType::Info, call) }
}

fn account_op(f: F, account: u32, amount: Option<i64>) -> Call {
    (f, Value::Account(AccountOp { account, amount, balance: None }))
}

/// A debit of `amount` cents.
pub fn debit(account: u32, amount: i64) -> Call {
    account_op(F::Debit, account, Some(amount))
}

/// A payment of `amount` cents.
pub fn payment(account: u32, amount: i64) -> Call {
    account_op(F::Payment, account, Some(amount))
}

/// A balance read.
pub fn read(account: u32) -> Call {
    account_op(F::Read, account, None)
}

/// The same call, reporting the balance the system under test gave.
pub fn reporting(call: Call, balance: i64) -> Call {
    match call {
        (f, Value::Account(a)) => {
            (f, Value::Account(AccountOp { balance: Some(Observed::Balance(balance)), ..a }))
        }
        other => other,
    }
}

/// An integer-valued call: a counter `add` or `read`, a set `add`, a `generate`.
pub fn int(f: F, n: i64) -> Call {
    (f, Value::Int(n))
}

/// A call without a value (a read's invocation).
pub fn nil(f: F) -> Call {
    (f, Value::Nil)
}

/// A set read.
pub fn list(elements: &[i64]) -> Call {
    (F::Read, Value::List(elements.to_vec()))
}

/// An account opened with a balance, threshold T and recharge R (no floor).
pub fn open(account: u32, balance: i64, threshold: i64, recharge: i64) -> Op {
    let spec = AccountSpec { account, balance, threshold, recharge, floor: None };
    op(Process::Harness, OpType::Ok, (F::Open, Value::Open(spec)))
}

/// An account opened with a floor.
pub fn open_floor(account: u32, balance: i64, floor: i64) -> Op {
    let spec = AccountSpec { account, balance, threshold: 100, recharge: 1000, floor: Some(floor) };
    op(Process::Harness, OpType::Ok, (F::Open, Value::Open(spec)))
}

fn charge(kind: OpType, charge: u64, account: u32, amount: i64) -> Op {
    let value =
        Value::Charge(Charge { charge, account, amount, key: None, op: None, answer: None });
    op(Process::Gateway, kind, (F::Charge, value))
}

/// A charge the gateway captured.
pub fn captured(id: u64, account: u32, amount: i64) -> Op {
    charge(OpType::Ok, id, account, amount)
}

/// A charge the gateway declined.
pub fn declined(id: u64, account: u32, amount: i64) -> Op {
    Op { error: Some("card-declined".into()), ..charge(OpType::Fail, id, account, amount) }
}

/// A charge the gateway failed to make, nothing captured: `gateway-error` (an error
/// before capture) or `gateway-unavailable` (an outage), with what the caller was told.
pub fn gateway_failed(id: u64, account: u32, amount: i64, error: &str) -> Op {
    let answer = match error {
        "gateway-unavailable" => ChargeAnswer::Unavailable,
        _ => ChargeAnswer::Error,
    };
    answered(Op { error: Some(error.into()), ..charge(OpType::Fail, id, account, amount) }, answer)
}

/// The same charge, with what the caller was told.
pub fn answered(mut op: Op, answer: ChargeAnswer) -> Op {
    if let Value::Charge(c) = &mut op.value {
        c.answer = Some(answer);
    }
    op
}

/// A charge whose outcome the gateway does not know.
pub fn unsure(id: u64, account: u32, amount: i64) -> Op {
    charge(OpType::Info, id, account, amount)
}

/// The same charge, sent with an idempotency key.
pub fn keyed(mut op: Op, key: &str) -> Op {
    if let Value::Charge(c) = &mut op.value {
        c.key = Some(key.into());
    }
    op
}

/// The same charge, attributed to the client operation invoked at index `op`.
pub fn serving(mut charge: Op, op: u64) -> Op {
    if let Value::Charge(c) = &mut charge.value {
        c.op = Some(op);
    }
    charge
}

/// The same call, reporting that the system found no balance.
pub fn reporting_none(call: Call) -> Call {
    match call {
        (f, Value::Account(a)) => {
            (f, Value::Account(AccountOp { balance: Some(Observed::Missing), ..a }))
        }
        other => other,
    }
}

/// The same final state, with the sum of its ledger entries.
pub fn with_entries(mut state: Op, entries: Observed) -> Op {
    if let Value::Final(s) = &mut state.value {
        s.entries = Some(entries);
    }
    state
}

/// The monitor's look at the balance store.
pub fn probe(store: StoreStatus, missing: &[u32], restored: &[u32]) -> Op {
    let value =
        Value::Probe(Probe { store, missing: missing.to_vec(), restored: restored.to_vec() });
    op(Process::Monitor, OpType::Ok, (F::Probe, value))
}

/// The monitor invoking a probe.
pub fn probe_invoked() -> Op {
    op(Process::Monitor, OpType::Invoke, (F::Probe, Value::Nil))
}

/// The monitor completing a probe without an observation: it could not tell.
pub fn probe_info() -> Op {
    Op {
        error: Some("cannot tell".into()),
        ..op(Process::Monitor, OpType::Info, (F::Probe, Value::Nil))
    }
}

/// The harness invoking the system's `settle`.
pub fn settle_invoked() -> Op {
    op(Process::Harness, OpType::Invoke, (F::Settle, Value::Nil))
}

/// The system's `settle` completing `ok`.
pub fn settle_ok() -> Op {
    op(Process::Harness, OpType::Ok, (F::Settle, Value::Nil))
}

/// An account's final state.
pub fn fin(
    account: u32,
    in_flight: Observed,
    ledger: Observed,
    suspended: Option<bool>,
    credited: &[u64],
) -> Op {
    let state = FinalState {
        account,
        in_flight: Some(in_flight),
        ledger,
        suspended,
        credited: credited.to_vec(),
        entries: None,
    };
    op(Process::Harness, OpType::Ok, (F::Final, Value::Final(state)))
}

/// The harness recording the layout's shape: whether the system keeps an in-flight
/// balance apart from the ledger.
pub fn layout(in_flight: bool) -> Op {
    op(Process::Harness, OpType::Ok, (F::Layout, Value::Layout(LayoutShape { in_flight })))
}

/// The same final state, without an in-flight balance (none was read).
pub fn without_in_flight(mut state: Op) -> Op {
    if let Value::Final(s) = &mut state.value {
        s.in_flight = None;
    }
    state
}

/// A final state where both stores hold `balance`, not suspended.
pub fn settled(account: u32, balance: i64, credited: &[u64]) -> Op {
    fin(account, Observed::Balance(balance), Observed::Balance(balance), Some(false), credited)
}

/// A nemesis operation on fault `id`: `start` or `heal`, invoked or completed.
pub fn nemesis(kind: OpType, f: F, id: u32) -> Op {
    let fault = FaultEvent {
        id,
        fault: "kill".into(),
        targets: vec![],
        effect: None,
        observed: None,
        step: None,
    };
    op(Process::Nemesis, kind, (f, Value::Fault(fault)))
}

/// An event `sentinel` published on `event`'s channel; a `+switch-master` names its new
/// master (`master`).
pub fn sentinel(sentinel: &str, event: &str, master: Option<&str>) -> Op {
    let detail = match event {
        "+switch-master" => "faultline 172.18.0.2 6379 172.18.0.3 6379",
        _ => "master faultline 172.18.0.2 6379",
    };
    let event = SentinelEvent {
        sentinel: sentinel.into(),
        event: event.into(),
        detail: detail.into(),
        master: master.map(Into::into),
    };
    op(Process::Sentinel, OpType::Ok, (F::Event, Value::Sentinel(event)))
}

/// The result of one checker over a history, which must be well formed.
pub fn result(checker: impl Checker + 'static, h: &History) -> CheckResult {
    let mut runner = Runner::new(vec![Box::new(checker)]);
    h.iter().for_each(|op| runner.observe(op, None));
    let mut report = runner.finish();
    assert_eq!(report.results[0].checker, WELL_FORMED);
    assert_eq!(report.results[0].verdict, Verdict::Valid, "the test history is malformed");
    report.results.remove(1)
}

/// The verdict of one checker over a history, which must be well formed.
pub fn verdict(checker: impl Checker + 'static, h: &History) -> Verdict {
    result(checker, h).verdict
}

/// The figures of one checker over a history, as text.
pub fn figures(checker: impl Checker + 'static, h: &History) -> Vec<String> {
    result(checker, h).figures.iter().map(ToString::to_string).collect()
}

/// The verdict these anomalies make, recorded in this order.
pub fn invalid(anomalies: Vec<crate::verdict::Anomaly>) -> Verdict {
    let mut log = crate::verdict::AnomalyLog::default();
    anomalies.into_iter().for_each(|a| log.record(a));
    Verdict::Invalid(log.into_groups())
}

/// An anomaly about an account.
pub fn about(
    kind: crate::verdict::AnomalyKind,
    account: u32,
    explanation: &str,
    ops: &[u64],
    magnitude: i64,
) -> crate::verdict::Anomaly {
    crate::verdict::Anomaly {
        kind,
        subject: crate::verdict::Subject::Account(account),
        explanation: explanation.into(),
        ops: ops.to_vec(),
        magnitude,
    }
}
