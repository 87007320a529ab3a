use super::*;
use crate::history::{History, MISMATCH, Op};
use crate::testkit::*;

fn reg(f: F, key: u64, value: Option<i64>, cas: Option<[i64; 2]>) -> Call {
    (f, Value::Register(RegisterOp { key, value, cas }))
}

fn read(key: u64) -> Call {
    reg(F::Read, key, None, None)
}

fn read_as(key: u64, value: Option<i64>) -> Call {
    reg(F::Read, key, value, None)
}

fn write(key: u64, value: i64) -> Call {
    reg(F::Write, key, Some(value), None)
}

fn cas(key: u64, expect: i64, new: i64) -> Call {
    reg(F::Cas, key, None, Some([expect, new]))
}

fn mismatch(p: u32, call: Call) -> Op {
    Op { error: Some(MISMATCH.into()), ..fail(p, call) }
}

fn anomalies(h: &History) -> Vec<Anomaly> {
    let v = verdict(Linearizable::default(), h);
    v.anomalies().iter().map(|g| g.first.clone()).collect()
}

#[test]
fn concurrent_writes_and_reads_that_some_order_explains_are_valid() {
    let h = history(vec![
        invoke(1, write(7, 1)),
        invoke(2, write(7, 2)),
        invoke(3, read(7)),
        ok(3, read_as(7, Some(2))),
        ok(1, write(7, 1)),
        ok(2, write(7, 2)),
        invoke(3, read(7)),
        ok(3, read_as(7, Some(2))),
    ]);
    assert_eq!(verdict(Linearizable::default(), &h), Verdict::Valid);
}

#[test]
fn a_stale_read_is_not_linearizable_and_explained_by_the_last_write() {
    let h = history(vec![
        invoke(1, write(7, 1)),
        ok(1, write(7, 1)),
        invoke(1, write(7, 2)),
        ok(1, write(7, 2)),
        invoke(2, read(7)),
        ok(2, read_as(7, Some(1))),
    ]);
    let anomaly = Anomaly {
        kind: AnomalyKind::NotLinearizable,
        subject: Subject::Register(7),
        explanation: "op 5 read key 7 as 1, but after the 2 operations before it that can be \
                      ordered, key 7 holds 2 (last written by op 2, acknowledged at op 3): no \
                      order consistent with real time explains it"
            .into(),
        ops: vec![1, 3, 4, 5],
        magnitude: 1,
    };
    assert_eq!(verdict(Linearizable::default(), &h), invalid(vec![anomaly]));
}

#[test]
fn keys_are_independent_and_each_bad_key_is_one_anomaly() {
    let h = history(vec![
        invoke(1, write(1, 4)),
        ok(1, write(1, 4)),
        invoke(2, read(2)),
        ok(2, read_as(2, Some(4))),
        invoke(3, read(3)),
        ok(3, read_as(3, None)),
        invoke(4, read(4)),
        ok(4, read_as(4, Some(1))),
    ]);
    let v = verdict(Linearizable::default(), &h);
    let group = &v.anomalies()[0];
    assert_eq!(group.count, 2, "{v:?}");
    assert_eq!(group.first.subject, Subject::Register(2));
    assert_eq!(group.last.subject, Subject::Register(4));
    assert!(group.first.explanation.contains("key 2 holds nil (never written)"), "{v:?}");
}

#[test]
fn a_cas_that_found_another_value_reads_the_register() {
    // The cas says key 5 was not 1 after the write of 1 was acknowledged.
    let h = history(vec![
        invoke(1, write(5, 1)),
        ok(1, write(5, 1)),
        invoke(2, cas(5, 1, 2)),
        mismatch(2, cas(5, 1, 2)),
    ]);
    let found = anomalies(&h);
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0].explanation,
        "op 3 found key 5 not 1 (cas 1 to 2 failed), but after the 1 operations before it that \
         can be ordered, key 5 holds 1 (last written by op 0, acknowledged at op 1): no order \
         consistent with real time explains it"
    );
}

#[test]
fn failed_operations_did_not_happen_and_unknown_ones_may_have() {
    // A refused write (READONLY) never happened: reading nil after it is fine. A timed-out
    // cas may have happened: reading its value, or the one before it, is fine.
    let h = history(vec![
        invoke(1, write(3, 1)),
        fail(1, write(3, 1)),
        invoke(2, read(3)),
        ok(2, read_as(3, None)),
        invoke(2, write(3, 1)),
        ok(2, write(3, 1)),
        invoke(3, cas(3, 1, 2)),
        info(3, cas(3, 1, 2)),
        invoke(4, read(3)),
        ok(4, read_as(3, Some(1))),
        invoke(4, read(3)),
        ok(4, read_as(3, Some(2))),
        invoke(5, read(3)),
        info(5, read(3)),
    ]);
    assert_eq!(verdict(Linearizable::default(), &h), Verdict::Valid);
    // The refused write and the unknown read are dropped.
    let expected = ["keys checked 1", "operations checked 5", "longest sub-history 5"];
    assert_eq!(figures(Linearizable::default(), &h), expected);
}

#[test]
fn a_value_read_after_an_unknown_write_then_lost_is_not_linearizable() {
    // The timed-out write of 2 may have happened, but once read it cannot un-happen.
    let h = history(vec![
        invoke(1, write(3, 2)),
        info(1, write(3, 2)),
        invoke(2, read(3)),
        ok(2, read_as(3, Some(2))),
        invoke(2, read(3)),
        ok(2, read_as(3, None)),
    ]);
    let found = anomalies(&h);
    assert_eq!(found.len(), 1);
    assert!(
        found[0].explanation.starts_with(
            "op 5 read key 3 as nil, but after the 2 operations before it that can be ordered, \
             key 3 holds 2 (last written by op 0, never acknowledged)"
        ),
        "{}",
        found[0].explanation
    );
}

#[test]
fn a_history_out_of_time_order_is_unknown() {
    let mut h = history(vec![invoke(1, write(1, 1)), ok(1, write(1, 1))]).ops;
    h[1].time = 0;
    h[0].time = 5;
    let v = verdict(Linearizable::default(), &History::new(h));
    let reason = "op 1 is recorded earlier than op 0 before it: the history is not in time \
                  order, so real-time order cannot be taken from it";
    assert_eq!(v, Verdict::Unknown(reason.into()));
}

#[test]
fn the_last_writer_is_the_last_operation_that_set_the_value_even_unchanged() {
    let h = history(vec![
        invoke(1, write(2, 4)),
        ok(1, write(2, 4)),
        invoke(1, cas(2, 4, 4)),
        ok(1, cas(2, 4, 4)),
        invoke(2, read(2)),
        ok(2, read_as(2, None)),
    ]);
    let found = anomalies(&h);
    assert!(
        found[0].explanation.contains("key 2 holds 4 (last written by op 2, acknowledged at op 3)"),
        "{}",
        found[0].explanation
    );
    assert_eq!(found[0].ops, vec![1, 3, 4, 5], "the writer, the prefix, then the stuck op");
}

#[test]
fn a_client_operation_that_is_not_a_register_operation_is_unknown_not_skipped() {
    // Skipping the write with no value would make the read of 5 look impossible.
    let h = history(vec![
        invoke(1, reg(F::Write, 7, None, None)),
        ok(1, reg(F::Write, 7, None, None)),
        invoke(2, read(7)),
        ok(2, read_as(7, Some(5))),
    ]);
    let Verdict::Unknown(why) = verdict(Linearizable::default(), &h) else { panic!() };
    assert!(why.starts_with("op 0 is not a register read, write or cas"), "{why}");
}

#[test]
fn a_read_completed_with_no_register_value_is_unknown_not_a_nil_read() {
    let h = history(vec![
        invoke(1, write(7, 1)),
        ok(1, write(7, 1)),
        invoke(2, read(7)),
        ok(2, (F::Read, Value::Int(1))),
    ]);
    let Verdict::Unknown(why) = verdict(Linearizable::default(), &h) else { panic!() };
    assert!(why.starts_with("op 3 completes a read of key 7 with Int(1)"), "{why}");
}

#[test]
fn a_history_where_no_register_operation_completed_tested_nothing() {
    let h = history(vec![
        invoke(1, write(7, 1)),
        fail(1, write(7, 1)),
        invoke(2, read(7)),
        info(2, read(7)),
        invoke(3, write(7, 2)),
        info(3, write(7, 2)),
    ]);
    let v = verdict(Linearizable::default(), &h);
    assert_eq!(v, Verdict::Unknown("no register operation completed: nothing was tested".into()));
}
