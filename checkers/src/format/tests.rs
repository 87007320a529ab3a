//! The file format: round trips, torn tails, malformed lines, and the fast path.
use super::*;
use crate::history::{
    AccountOp, Charge, FaultEvent, FinalState, LayoutShape, Observed, Phase, PhaseName, Probe,
    RegisterOp, SentinelEvent, StoreStatus,
};

fn header_line() -> String {
    format!("{{\"schema\":\"{SCHEMA}\",\"seed\":7}}\n")
}

fn debit(index: u64, kind: OpType, balance: Option<Observed>) -> Op {
    Op {
        index,
        time: index * 10,
        process: Process::Client(3),
        kind,
        f: F::Debit,
        value: Value::Account(AccountOp { account: 7, amount: Some(3), balance }),
        error: None,
    }
}

fn lines(ops: &[Op]) -> Vec<u8> {
    let mut out = header_line().into_bytes();
    for op in ops {
        write_op(op, &mut out);
    }
    out
}

#[test]
fn operations_round_trip_through_json_lines() {
    let fin = Op {
        index: 2,
        time: 30,
        process: Process::Harness,
        kind: OpType::Ok,
        f: F::Final,
        value: Value::Final(FinalState {
            account: 7,
            in_flight: Some(Observed::Error("READONLY You can't write".into())),
            ledger: Observed::Balance(12),
            suspended: Some(false),
            credited: vec![4, 9],
            entries: None,
        }),
        error: None,
    };
    let ops =
        vec![debit(0, OpType::Invoke, None), debit(1, OpType::Ok, Some(Observed::Missing)), fin];
    let bytes = lines(&ops);
    let reader = HistoryReader::new(&bytes[..]).unwrap();
    assert_eq!(reader.header().meta["seed"], 7);
    let read: Vec<Op> = reader.map(Result::unwrap).collect();
    assert_eq!(read, ops);
}

#[test]
fn a_torn_last_line_is_reported_and_tolerated() {
    let mut bytes = lines(&[debit(0, OpType::Invoke, None)]);
    bytes.extend_from_slice(b"{\"index\":1,\"time\":10,\"proc");
    let mut reader = HistoryReader::new(&bytes[..]).unwrap();
    assert!(reader.next().unwrap().is_ok());
    assert!(reader.next().is_none());
    assert_eq!(reader.torn_tail(), Some(&TornLine { line: 3, bytes: 26 }));
}

#[test]
fn lines_split_across_the_input_buffer_are_read_whole() {
    let ops: Vec<Op> = (0..20).map(|i| debit(i, OpType::Invoke, None)).collect();
    let mut bytes = lines(&ops);
    bytes.extend_from_slice(b"\n{\"index\":20,\"ti");
    for capacity in [1, 7, 64, 4096] {
        let mut reader =
            HistoryReader::new(std::io::BufReader::with_capacity(capacity, &bytes[..])).unwrap();
        let read: Vec<Op> = reader.by_ref().map(Result::unwrap).collect();
        assert_eq!(read, ops, "capacity {capacity}");
        assert_eq!(
            reader.torn_tail(),
            Some(&TornLine { line: 23, bytes: 15 }),
            "capacity {capacity}"
        );
    }
}

#[test]
fn a_malformed_line_in_the_middle_names_its_line() {
    let mut bytes = lines(&[debit(0, OpType::Invoke, None)]);
    bytes.extend_from_slice(b"{\"index\":1,\"time\":\"soon\"}\n");
    write_op(&debit(2, OpType::Ok, None), &mut bytes);
    let err = HistoryReader::new(&bytes[..]).unwrap().nth(1).unwrap().unwrap_err();
    let ReadError::Malformed { line, .. } = &err else { panic!("{err}") };
    assert_eq!(*line, 3);
    assert!(err.to_string().starts_with("line 3: expected an operation"), "{err}");
}

#[test]
fn the_fast_path_reads_what_the_general_parser_reads() {
    #[rustfmt::skip]
    let lines: &[(&str, bool)] = &[
        (r#"{"index":0,"time":1,"process":3,"type":"invoke","f":"debit","value":{"account":7,"amount":3}}"#, true),
        (r#"{"index":1,"time":2,"process":3,"type":"ok","f":"debit","value":{"account":7,"amount":-3,"balance":null}}"#, true),
        (r#"{"index":2,"time":3,"process":3,"type":"info","f":"read","value":{"account":7},"error":"timeout"}"#, true),
        (r#"{"index":3,"time":4,"process":"gateway","type":"ok","f":"charge","value":{"charge":9,"account":7,"amount":500,"key":"k-1"}}"#, true),
        (r#"{"index":4,"time":5,"process":"gateway","type":"info","f":"charge","value":{"charge":9,"account":7,"amount":500}}"#, true),
        (r#"{"index":5,"time":6,"process":0,"type":"ok","f":"add","value":-12,"error":"x"}"#, true),
        (r#"{"index":5,"time":6,"process":"monitor","type":"ok","f":"probe","value":{"store":"read-only","missing":[1,2],"restored":[3]}}"#, true),
        (r#"{"index":5,"time":6,"process":"monitor","type":"ok","f":"probe","value":{"store":"healthy"}}"#, true),
        (r#" {"index":5,"time":6,"process":0,"type":"ok","f":"add","value":-12}"#, false),
        (r#"{"index":5,"time":6,"process":0,"type":"ok","f":"add","value":-12,"error":null}"#, false),
        (r#"{"index":4,"time":5,"process":"gateway","type":"info","f":"charge","value":{"charge":9,"account":7,"amount":500,"key":null}}"#, false),
        (r#"{"index":6,"time":7,"process":0,"type":"invoke","f":"read","value":null}"#, true),
        (r#"{"index":7,"time":8,"process":0,"type":"invoke","f":"read"}"#, true),
        (r#"{"index":8,"time":9,"process":"nemesis","type":"invoke","f":"start","value":{"id":1,"fault":"kill"}}"#, false),
        (r#"{"index":9,"time":9,"process":3,"type":"invoke","value":{"account":7,"amount":3},"f":"debit"}"#, false),
        (r#"{"index":10,"time":9,"process":3,"type":"fail","f":"debit","value":{"account":7,"amount":3},"error":"say \"no\""}"#, false),
        (r#"{"index":11,"time":9,"process":3,"type":"ok","f":"debit","value":{"account":7,"amount":3,"balance":{"error":"READONLY"}}}"#, false),
        (r#"{"index":12,"time":9,"process":3,"type":"ok","f":"debit","value":{"account":7,"amount":3,"note":1}}"#, false),
        (r#"{"index":13,"time":9,"process":3,"type":"ok","f":"read","value":[1,2]}"#, false),
        (r#"{"index":14,"time":9.5,"process":3,"type":"ok","f":"read"}"#, false),
        (r#"{"index":15,"index":16,"time":9,"process":3,"type":"ok","f":"read"}"#, false),
        (r#"{"index":17,"time":9,"process":99999999999,"type":"ok","f":"read"}"#, false),
        (r#"{"index":18,"time":9,"process":"gateway","type":"ok","f":"charge","value":{"charge":9,"account":7,"amount":500,"key":"k-1","op":12}}"#, true),
        (r#"{"index":19,"time":9,"process":"gateway","type":"fail","f":"charge","value":{"charge":9,"account":7,"amount":500,"op":0},"error":"card-declined"}"#, true),
        (r#"{"index":20,"time":9,"process":"gateway","type":"ok","f":"charge","value":{"charge":9,"account":7,"amount":500,"op":null}}"#, false),
        (r#"{"index":21,"time":9,"process":"gateway","type":"ok","f":"charge","value":{"charge":9,"account":7,"amount":500,"op":-1}}"#, false),
        (r#"{"index":22,"time":9,"process":"gateway","type":"ok","f":"charge","value":{"charge":9,"account":7,"op":3,"amount":500}}"#, false),
        (r#"{"index":23,"time":9,"process":"monitor","type":"invoke","f":"probe"}"#, true),
        (r#"{"index":24,"time":9,"process":"monitor","type":"invoke","f":"probe","value":null}"#, true),
        (r#"{"index":25,"time":9,"process":"harness","type":"invoke","f":"settle"}"#, true),
        (r#"{"index":26,"time":9,"process":"harness","type":"ok","f":"settle"}"#, true),
        (r#"{"index":27,"time":9,"process":"harness","type":"info","f":"settle","error":"timed out after 30s"}"#, true),
        (r#"{"index":28,"time":9,"process":"harness","type":"ok","f":"phase","value":{"phase":"recovery"}}"#, false),
        (r#"{"index":29,"time":9,"process":"harness","type":"ok","f":"final","value":{"account":7,"in_flight":5,"ledger":5,"suspended":false,"credited":[1,1],"entries":null}}"#, false),
        (r#"{"index":31,"time":9,"process":"monitor","type":"info","f":"probe","error":"cannot tell"}"#, true),
        (r#"{"index":30,"time":9,"process":"nemesis","type":"invoke","f":"start","value":{"id":1,"fault":"kill","targets":["redis-0"],"step":0}}"#, false),
    ];
    for (line, fast_shape) in lines {
        let mut op = blank();
        let fast = fast::parse_into(line.as_bytes(), &mut op).then_some(op);
        assert_eq!(fast.is_some(), *fast_shape, "{line}");
        let general = parse_general(line.as_bytes()).ok();
        if let Some(op) = fast {
            assert_eq!(Some(op), general, "{line}");
        }
        assert_eq!(parse_op(line.as_bytes()).ok(), general, "{line}");
    }
}

/// One operation of each shape the recovery phase, settle, probes as operations,
/// attributed charges, ledger entry sums, scheduled steps, Sentinel's events and
/// layouts without an in-flight store brought.
fn new_shapes() -> Vec<Op> {
    let at = |index: u64, process, kind, f, value| Op {
        index,
        time: index * 10,
        process,
        kind,
        f,
        value,
        error: None,
    };
    let charge = |op| {
        Value::Charge(Charge { charge: 9, account: 7, amount: 500, key: None, op, answer: None })
    };
    let fault = FaultEvent {
        id: 1,
        fault: "restart-2013".into(),
        targets: vec!["redis-0".into()],
        effect: None,
        observed: None,
        step: Some(0),
    };
    let fin = FinalState {
        account: 7,
        in_flight: Some(Observed::Balance(5)),
        ledger: Observed::Balance(5),
        suspended: Some(false),
        credited: vec![9, 9],
        entries: Some(Observed::Balance(4)),
    };
    let ledger_only = FinalState { account: 8, in_flight: None, entries: None, ..fin.clone() };
    let layout = Value::Layout(LayoutShape { in_flight: false });
    let probe = Probe { store: StoreStatus::Loading, missing: vec![7], restored: vec![] };
    let recovery = Value::Phase(Phase { phase: PhaseName::Recovery });
    vec![
        at(0, Process::Nemesis, OpType::Invoke, F::Start, Value::Fault(fault)),
        at(1, Process::Gateway, OpType::Ok, F::Charge, charge(Some(0))),
        at(2, Process::Gateway, OpType::Info, F::Charge, charge(None)),
        at(3, Process::Monitor, OpType::Invoke, F::Probe, Value::Nil),
        at(4, Process::Monitor, OpType::Ok, F::Probe, Value::Probe(probe)),
        at(5, Process::Harness, OpType::Ok, F::Phase, recovery),
        at(6, Process::Harness, OpType::Invoke, F::Settle, Value::Nil),
        Op {
            error: Some("settle timed out".into()),
            ..at(7, Process::Harness, OpType::Fail, F::Settle, Value::Nil)
        },
        at(8, Process::Harness, OpType::Ok, F::Final, Value::Final(fin)),
        at(9, Process::Sentinel, OpType::Ok, F::Event, sentinel("+switch-master", Some("redis-1"))),
        at(10, Process::Sentinel, OpType::Ok, F::Event, sentinel("+sdown", None)),
        at(11, Process::Harness, OpType::Ok, F::Layout, layout),
        at(12, Process::Harness, OpType::Ok, F::Final, Value::Final(ledger_only)),
    ]
}

fn sentinel(event: &str, master: Option<&str>) -> Value {
    let detail = match master {
        Some(_) => "faultline 172.18.0.2 6379 172.18.0.3 6379",
        None => "master faultline 172.18.0.2 6379",
    };
    Value::Sentinel(SentinelEvent {
        sentinel: "sentinel-1".into(),
        event: event.into(),
        detail: detail.into(),
        master: master.map(Into::into),
    })
}

#[test]
fn every_new_record_shape_is_written_as_the_brief_says_and_reads_back_unchanged() {
    #[rustfmt::skip]
    let expected = [
        r#"{"index":0,"time":0,"process":"nemesis","type":"invoke","f":"start","value":{"id":1,"fault":"restart-2013","targets":["redis-0"],"step":0}}"#,
        r#"{"index":1,"time":10,"process":"gateway","type":"ok","f":"charge","value":{"charge":9,"account":7,"amount":500,"op":0}}"#,
        r#"{"index":2,"time":20,"process":"gateway","type":"info","f":"charge","value":{"charge":9,"account":7,"amount":500}}"#,
        r#"{"index":3,"time":30,"process":"monitor","type":"invoke","f":"probe"}"#,
        r#"{"index":4,"time":40,"process":"monitor","type":"ok","f":"probe","value":{"store":"loading","missing":[7]}}"#,
        r#"{"index":5,"time":50,"process":"harness","type":"ok","f":"phase","value":{"phase":"recovery"}}"#,
        r#"{"index":6,"time":60,"process":"harness","type":"invoke","f":"settle"}"#,
        r#"{"index":7,"time":70,"process":"harness","type":"fail","f":"settle","error":"settle timed out"}"#,
        r#"{"index":8,"time":80,"process":"harness","type":"ok","f":"final","value":{"account":7,"in_flight":5,"ledger":5,"suspended":false,"credited":[9,9],"entries":4}}"#,
        r#"{"index":9,"time":90,"process":"sentinel","type":"ok","f":"event","value":{"sentinel":"sentinel-1","event":"+switch-master","detail":"faultline 172.18.0.2 6379 172.18.0.3 6379","master":"redis-1"}}"#,
        r#"{"index":10,"time":100,"process":"sentinel","type":"ok","f":"event","value":{"sentinel":"sentinel-1","event":"+sdown","detail":"master faultline 172.18.0.2 6379"}}"#,
        r#"{"index":11,"time":110,"process":"harness","type":"ok","f":"layout","value":{"in_flight":false}}"#,
        r#"{"index":12,"time":120,"process":"harness","type":"ok","f":"final","value":{"account":8,"ledger":5,"suspended":false,"credited":[9,9]}}"#,
    ];
    let ops = new_shapes();
    let bytes = lines(&ops);
    let written: Vec<&str> = std::str::from_utf8(&bytes).unwrap().lines().skip(1).collect();
    assert_eq!(written, expected);
    let read: Vec<Op> = HistoryReader::new(&bytes[..]).unwrap().map(Result::unwrap).collect();
    assert_eq!(read, ops);
    for (line, op) in expected.iter().zip(&ops) {
        let mut fast = blank();
        if fast::parse_into(line.as_bytes(), &mut fast) {
            assert_eq!(&fast, op, "{line}");
        }
    }
}

#[test]
fn a_sentinel_event_reads_back_and_names_what_it_is_about() {
    let shapes = new_shapes();
    let (switch, sdown) = (&shapes[9], &shapes[10]);
    let mut line = Vec::new();
    write_op(switch, &mut line);
    let read = parse_op(trim_line(&line)).expect("a line we wrote");
    let event = SentinelEvent::of(&read).expect("a sentinel event");
    assert_eq!((event.sentinel.as_str(), event.master.as_deref()), ("sentinel-1", Some("redis-1")));
    assert!(event.is_switch() && event.about_master());
    let sdown = SentinelEvent::of(sdown).expect("a sentinel event");
    assert!(!sdown.is_switch() && sdown.about_master());
    assert_eq!(SentinelEvent::of(&shapes[5]), None);
}

#[test]
fn only_an_ok_record_of_the_sentinel_watch_is_a_sentinel_event() {
    let shapes = new_shapes();
    for kind in [OpType::Invoke, OpType::Fail, OpType::Info] {
        let op = Op { kind, ..shapes[9].clone() };
        assert_eq!(SentinelEvent::of(&op), None, "{kind:?}");
    }
    let client = Op { process: Process::Client(3), ..shapes[9].clone() };
    assert_eq!(SentinelEvent::of(&client), None);
}

#[test]
fn a_client_event_keeps_its_own_json_value() {
    // Another driver's client operation named `event`, with a value of its own: it reads
    // as before, its value JSON, never forced into a sentinel event.
    let invoke = r#"{"index":3,"time":30,"process":2,"type":"invoke","f":"event","value":{"kind":"signup","user":9}}"#;
    let op = parse_op(invoke.as_bytes()).expect("a readable line");
    assert_eq!((op.process, &op.f), (Process::Client(2), &F::Event));
    assert_eq!(op.value, Value::Json(serde_json::json!({"kind": "signup", "user": 9})));
    assert_eq!(SentinelEvent::of(&op), None);
    // Even one shaped like a sentinel event stays JSON: only the watch records those.
    let shaped = r#"{"index":4,"time":40,"process":2,"type":"ok","f":"event","value":{"sentinel":"s","event":"+sdown","detail":"d"}}"#;
    let op = parse_op(shaped.as_bytes()).expect("a readable line");
    assert!(matches!(op.value, Value::Json(_)), "{op:?}");
    let mut line = Vec::new();
    write_op(&op, &mut line);
    assert_eq!(parse_op(trim_line(&line)).expect("a line we wrote"), op);
}

#[test]
fn a_record_of_the_sentinel_watch_that_is_no_sentinel_event_still_reads() {
    let line = r#"{"index":5,"time":50,"process":"sentinel","type":"ok","f":"event","value":{"sentinel":"sentinel-0"}}"#;
    let op = parse_op(line.as_bytes()).expect("a readable line");
    assert_eq!(op.value, Value::Json(serde_json::json!({"sentinel": "sentinel-0"})));
    assert_eq!(SentinelEvent::of(&op), None);
}

#[test]
fn every_operation_a_simulation_writes_reads_back_unchanged() {
    let config =
        crate::sim::SimConfig { accounts: 5, processes: 6, ops: 3000, ..Default::default() };
    for op in crate::sim::Sim::new(config) {
        let mut line = Vec::new();
        write_op(&op, &mut line);
        assert_eq!(parse_op(trim_line(&line)).expect("a line we wrote"), op);
    }
}

#[test]
fn a_file_that_is_not_a_history_is_refused_at_line_one() {
    let err = HistoryReader::new(&b"hello\n"[..]).err().unwrap();
    assert!(matches!(err, ReadError::BadHeader { .. }), "{err}");
    assert!(matches!(HistoryReader::new(&b""[..]).err().unwrap(), ReadError::Empty));
}

#[test]
fn a_charge_with_what_its_caller_was_told_reads_back_and_older_charges_have_none() {
    use crate::history::ChargeAnswer;
    let line = r#"{"index":1,"time":10,"process":"gateway","type":"ok","f":"charge","value":{"charge":9,"account":7,"amount":500,"key":"k","op":0,"answer":"lost"}}"#;
    let charge = Charge {
        charge: 9,
        account: 7,
        amount: 500,
        key: Some("k".into()),
        op: Some(0),
        answer: Some(ChargeAnswer::Lost),
    };
    let op = Op {
        index: 1,
        time: 10,
        process: Process::Gateway,
        kind: OpType::Ok,
        f: F::Charge,
        value: Value::Charge(charge),
        error: None,
    };
    let mut written = Vec::new();
    write_op(&op, &mut written);
    assert_eq!(std::str::from_utf8(trim_line(&written)).unwrap(), line);
    assert_eq!(parse_op(line.as_bytes()).unwrap(), op);
    let mut fast = blank();
    assert!(fast::parse_into(line.as_bytes(), &mut fast), "the fast path reads it");
    assert_eq!(fast, op);
    let older = line.replace(r#","answer":"lost""#, "");
    let read = parse_op(older.as_bytes()).unwrap();
    let Value::Charge(c) = read.value else { panic!("a charge") };
    assert_eq!(c.answer, None);
}

#[test]
fn register_operations_round_trip_and_reads_tell_registers_from_accounts() {
    let reg = |index, kind, f, value, cas| Op {
        index,
        time: index * 10,
        process: Process::Client(1),
        kind,
        f,
        value: Value::Register(RegisterOp { key: 4, value, cas }),
        error: None,
    };
    let ops = vec![
        reg(0, OpType::Invoke, F::Read, None, None),
        reg(1, OpType::Ok, F::Read, Some(3), None),
        reg(2, OpType::Invoke, F::Write, Some(5), None),
        reg(3, OpType::Ok, F::Write, Some(5), None),
        reg(4, OpType::Invoke, F::Cas, None, Some([5, 6])),
        Op { error: Some("mismatch".into()), ..reg(5, OpType::Fail, F::Cas, None, Some([5, 6])) },
        debit(6, OpType::Invoke, None),
    ];
    let bytes = lines(&ops);
    let read: Vec<Op> = HistoryReader::new(&bytes[..]).unwrap().map(Result::unwrap).collect();
    assert_eq!(read, ops);
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.contains(r#""f":"cas","value":{"key":4,"value":null,"cas":[5,6]}"#), "{text}");
    let account_read = parse_op(
        br#"{"index":0,"time":0,"process":1,"type":"ok","f":"read","value":{"account":2,"balance":7}}"#,
    )
    .unwrap();
    assert!(matches!(account_read.value, Value::Account(_)));
}
