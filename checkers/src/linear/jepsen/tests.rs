use super::*;
use crate::linear::{Budget, CasRegister, Outcome, check};

fn op(
    client: u64,
    call: u64,
    ret: Option<u64>,
    input: RegInput,
    output: Option<RegOutput>,
) -> RegOp {
    LinOp { client, call, ret, input, output }
}

fn err(text: &str) -> ReadError {
    read_log(text).expect_err("the log is malformed")
}

fn verdict(log: &str) -> Outcome {
    check(&CasRegister::default(), &read_log(log).expect("a well-formed log"), Budget::UNLIMITED)
}

const TABS: &str = "\
INFO  jepsen.util - 0\t:invoke\t:read\tnil
INFO  jepsen.util - 1\t:invoke\t:write\t4
INFO  jepsen.util - 2\t:invoke\t:cas\t[4 1]
INFO  jepsen.util - 0\t:ok\t:read\tnil
INFO  jepsen.util - 1\t:ok\t:write\t4
INFO  jepsen.util - 2\t:fail\t:cas\t[4 1]
INFO  jepsen.util - 3\t:invoke\t:cas\t[4 2]
INFO  jepsen.util - 3\t:ok\t:cas\t[4 2]
INFO  jepsen.util - 0\t:invoke\t:read\tnil
INFO  jepsen.util - 0\t:ok\t:read\t2
";

#[test]
fn reads_a_tab_separated_log() {
    use RegInput::{Cas, Read, Write};
    use RegOutput::{Failed, Ok, Value};
    #[rustfmt::skip]
    let expected = vec![
        op(0, 1, Some(4),  Read,                       Some(Value(None))),
        op(1, 2, Some(5),  Write(4),                   Some(Ok)),
        op(2, 3, Some(6),  Cas { expect: 4, new: 1 },  Some(Failed)),
        op(3, 7, Some(8),  Cas { expect: 4, new: 2 },  Some(Ok)),
        op(0, 9, Some(10), Read,                       Some(Value(Some(2)))),
    ];
    assert_eq!(read_log(TABS), Result::Ok(expected));
}

#[test]
fn spaces_and_mixed_separators_read_the_same() {
    let spaces = TABS.replace('\t', " ");
    let padded = TABS.replace('\t', "   ");
    let mixed: String = TABS
        .lines()
        .enumerate()
        .map(|(i, l)| if i % 2 == 0 { l.replace('\t', "  ") } else { l.to_string() } + "\n")
        .collect();
    let expected = read_log(TABS).expect("a well-formed log");
    assert_eq!(expected.len(), 5);
    for log in [spaces, padded, mixed, TABS.replace('\n', "\r\n")] {
        assert_eq!(read_log(&log).as_ref(), Result::Ok(&expected), "{log}");
    }
}

#[test]
fn unknown_outcomes_and_failures() {
    let log = "\
INFO  jepsen.util - 0 :invoke :write 1
INFO  jepsen.util - 1 :invoke :read nil
INFO  jepsen.util - 2 :invoke :cas [1 2]
INFO  jepsen.util - 0 :info :write :timed-out
INFO  jepsen.util - 1 :fail :read :timed-out
INFO  jepsen.util - 2 :info :cas :timed-out
INFO  jepsen.util - 1 :invoke :write 3
INFO  jepsen.util - 4 :invoke :read nil
";
    // The failed read is dropped; info operations and the one still open at the end have
    // neither a return nor an output.
    let expected = vec![
        op(0, 1, None, RegInput::Write(1), None),
        op(2, 3, None, RegInput::Cas { expect: 1, new: 2 }, None),
        op(1, 7, None, RegInput::Write(3), None),
        op(4, 8, None, RegInput::Read, None),
    ];
    assert_eq!(read_log(log), Ok(expected));
}

#[test]
fn lines_that_are_not_operations_are_skipped() {
    let log = "
INFO  jepsen.core - Running test etcd
INFO  jepsen.util - :nemesis\t:info\t:start\tnil

INFO  jepsen.util - 0\t:invoke\t:read\tnil
WARN  jepsen.db - something else
INFO  jepsen.util - 0\t:ok\t:read\t7
";
    assert_eq!(
        read_log(log),
        Ok(vec![op(0, 5, Some(7), RegInput::Read, Some(RegOutput::Value(Some(7))))])
    );
    assert_eq!(read_log(""), Ok(vec![]));
}

#[test]
fn malformed_operation_lines_are_errors_with_their_line() {
    let invoke = "INFO  jepsen.util - 0 :invoke :write 1\n";
    #[rustfmt::skip]
    let cases = [
        ("INFO  jepsen.util - 0 :invoke :delete 1", 1, "unknown function"),
        ("INFO  jepsen.util - 0 :invoke :write x", 1, "bad number"),
        ("INFO  jepsen.util - 0 :invoke :write", 1, "bad number"),
        ("INFO  jepsen.util - 0 :invoke :read 3", 1, "expected nil"),
        ("INFO  jepsen.util - 0 :invoke :cas [1]", 1, "expected [expected new]"),
        ("INFO  jepsen.util - 0 :invoke :cas 1 2", 1, "expected [expected new]"),
        ("INFO  jepsen.util - 0 :begin :read nil", 1, "unknown type"),
        ("INFO  jepsen.util - 0 :ok :read nil", 1, "no open invocation"),
        (&format!("{invoke}INFO  jepsen.util - 0 :invoke :read nil"), 2, "invoked again"),
        (&format!("{invoke}INFO  jepsen.util - 0 :ok :read 1"), 2, "completes"),
        (&format!("{invoke}INFO  jepsen.util - 0 :ok :write 2"), 2, "differs"),
        (&format!("{invoke}INFO  jepsen.util - 1 :ok :write 1"), 2, "no open invocation"),
    ];
    for (log, line, says) in cases {
        let e = err(log);
        assert_eq!(e.line, line, "{log}: {e}");
        assert!(e.message.contains(says), "{log}: {e}");
    }
    let e = err("INFO  jepsen.util - 0 :invoke :cas [1 2]\nINFO  jepsen.util - 0 :fail :cas [1 3]");
    assert_eq!((e.line, e.message.contains("differs")), (2, true), "{e}");
}

#[test]
fn etcd_shaped_histories_are_decided() {
    // A read sees a write that had completed: fine. A later read sees the old value: not.
    let fresh = "\
INFO  jepsen.util - 0 :invoke :write 1
INFO  jepsen.util - 0 :ok :write 1
INFO  jepsen.util - 1 :invoke :read nil
INFO  jepsen.util - 1 :ok :read 1
";
    assert_eq!(verdict(fresh), Outcome::Linearizable);
    let stale = format!(
        "{fresh}INFO  jepsen.util - 1 :invoke :read nil\nINFO  jepsen.util - 1 :ok :read nil\n"
    );
    assert_eq!(verdict(&stale), Outcome::NotLinearizable { longest_prefix: vec![0, 1], stuck: 2 });
    // A failed cas reads the register: it held 1, so failing on 1 is impossible.
    let failed = format!(
        "{fresh}INFO  jepsen.util - 2 :invoke :cas [1 5]\nINFO  jepsen.util - 2 :fail :cas [1 5]\n"
    );
    assert!(matches!(verdict(&failed), Outcome::NotLinearizable { stuck: 2, .. }));
    // A timed-out write may be seen later, or never; a failed read constrains nothing.
    let timed_out = "\
INFO  jepsen.util - 0 :invoke :write 1
INFO  jepsen.util - 1 :invoke :read nil
INFO  jepsen.util - 0 :info :write :timed-out
INFO  jepsen.util - 1 :fail :read :timed-out
INFO  jepsen.util - 2 :invoke :read nil
INFO  jepsen.util - 2 :ok :read nil
INFO  jepsen.util - 2 :invoke :read nil
INFO  jepsen.util - 2 :ok :read 1
";
    assert_eq!(verdict(timed_out), Outcome::Linearizable);
    // Once seen, it cannot be unseen; and a concurrent cas that succeeded on it wins.
    let seen = format!(
        "{timed_out}INFO  jepsen.util - 2 :invoke :read nil\nINFO  jepsen.util - 2 :ok :read nil\n"
    );
    assert!(matches!(verdict(&seen), Outcome::NotLinearizable { .. }));
    let cas = format!(
        "{timed_out}INFO  jepsen.util - 3 :invoke :cas [1 2]\nINFO  jepsen.util - 3 :ok :cas [1 2]\nINFO  jepsen.util - 2 :invoke :read nil\nINFO  jepsen.util - 2 :ok :read 2\n"
    );
    assert_eq!(verdict(&cas), Outcome::Linearizable);
}
