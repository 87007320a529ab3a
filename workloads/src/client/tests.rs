use super::*;
use crate::testkit;
use std::collections::VecDeque;

/// What the scripted operation does.
enum Step {
    Answer(Result<i64, OpError>),
    Hang,
}

/// A client that plays a script, then cancels the run.
struct Scripted {
    script: VecDeque<Step>,
    cancel: CancellationToken,
}

impl Client for Scripted {
    async fn step(&mut self, process: u32, ctx: &Ctx) -> OpType {
        let Some(step) = self.script.pop_front() else {
            self.cancel.cancel();
            return OpType::Ok;
        };
        ctx.perform(process, F::Add, Value::Int(1), |_| async move {
            match step {
                Step::Answer(answer) => answer.map(Value::Int),
                Step::Hang => std::future::pending().await,
            }
        })
        .await
    }
}

#[tokio::test]
async fn completions_are_ok_fail_or_info_and_info_retires_the_process() {
    let (recorder, memory) = testkit::recorder();
    let cancel = CancellationToken::new();
    let script = VecDeque::from([
        Step::Answer(Ok(7)),
        Step::Answer(Err(OpError::Refused("READONLY".into()))),
        Step::Answer(Err(OpError::Indeterminate("connection reset".into()))),
        Step::Hang,
        Step::Answer(Ok(8)),
    ]);
    let client = Scripted { script, cancel: cancel.clone() };
    let config = ClientConfig {
        workers: 1,
        op_timeout: Duration::from_millis(50),
        time_limit: Duration::from_secs(30),
        ..ClientConfig::default()
    };
    let summary = run(vec![client], &config, &recorder, &Processes::new(0), &cancel).await;
    assert_eq!((summary.ok, summary.fail, summary.info), (2, 1, 2));

    let ops = testkit::recorded(&recorder, &memory);
    let seen: Vec<(Process, OpType, Value, Option<String>)> =
        ops.into_iter().map(|op| (op.process, op.kind, op.value, op.error)).collect();
    let (c, one) = (Process::Client, Value::Int(1));
    let e = |s: &str| Some(s.to_string());
    assert_eq!(
        seen,
        [
            (c(0), OpType::Invoke, one.clone(), None),
            (c(0), OpType::Ok, Value::Int(7), None),
            (c(0), OpType::Invoke, one.clone(), None),
            (c(0), OpType::Fail, one.clone(), e("READONLY")),
            (c(0), OpType::Invoke, one.clone(), None),
            (c(0), OpType::Info, one.clone(), e("connection reset")),
            (c(1), OpType::Invoke, one.clone(), None),
            (c(1), OpType::Info, one.clone(), e("timed out after 50ms")),
            (c(2), OpType::Invoke, one.clone(), None),
            (c(2), OpType::Ok, Value::Int(8), None),
        ]
    );
}

#[test]
fn store_errors_become_refusals_only_when_definite() {
    use crate::store::{ErrorKind, StoreError};
    let refused = OpError::from(StoreError::new(ErrorKind::ReadOnly, "READONLY"));
    assert_eq!(refused, OpError::Refused("READONLY".into()));
    let unknown = OpError::from(StoreError::new(ErrorKind::Timeout, "no answer"));
    assert_eq!(unknown, OpError::Indeterminate("no answer".into()));
}

#[tokio::test]
async fn a_rate_limit_spaces_operations() {
    let (recorder, _memory) = testkit::recorder();
    let cancel = CancellationToken::new();
    let script = (0..1000).map(|i| Step::Answer(Ok(i))).collect();
    let client = Scripted { script, cancel: cancel.clone() };
    let config = ClientConfig {
        workers: 1,
        rate: Some(100.0),
        time_limit: Duration::from_millis(300),
        ..ClientConfig::default()
    };
    let summary = run(vec![client], &config, &recorder, &Processes::new(0), &cancel).await;
    assert!((25..=31).contains(&summary.ok), "{} operations in 300 ms at 100/s", summary.ok);
}
