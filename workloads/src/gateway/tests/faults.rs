//! Gateway faults and Stripe's replay rules, on the in-process gateway. Latency and
//! lost answers run on tokio's paused clock: waiting takes no real time, and the
//! elapsed time is exact.

use super::*;
use std::pin::pin;
use std::task::Poll;
use tokio::time::Instant as TokioInstant;

fn gateway() -> (Gateway, crate::recorder::Recorder, testkit::Memory) {
    let (recorder, memory) = testkit::recorder();
    (Gateway::new(super::config(10), 7, recorder.clone()), recorder, memory)
}

/// Each recorded op as (f, type, error, answer).
fn records(ops: &[checkers::history::Op]) -> Vec<(OpType, Option<String>, Option<ChargeAnswer>)> {
    ops.iter()
        .map(|op| match &op.value {
            Value::Charge(c) => (op.kind, op.error.clone(), c.answer),
            other => panic!("not a charge: {other:?}"),
        })
        .collect()
}

fn unknown(r: &Result<ChargeOutcome, GatewayError>) -> bool {
    matches!(r, Err(GatewayError::Unknown(_)))
}

#[tokio::test(start_paused = true)]
async fn each_fault_decides_and_records_a_charge_as_documented_and_counts_it() {
    let (gateway, recorder, memory) = gateway();
    let mut effects = Vec::new();
    let mut results = Vec::new();
    let mut took = Vec::new();
    let faults = [
        GatewayFault::Latency(Duration::from_millis(500)),
        GatewayFault::Declines,
        GatewayFault::ErrorsBefore,
        GatewayFault::ErrorsAfter,
        GatewayFault::LostResponse,
        GatewayFault::Outage,
    ];
    for (i, fault) in faults.into_iter().enumerate() {
        let token = gateway.set_fault(fault);
        let started = TokioInstant::now();
        let key = format!("k{i}");
        results.push(gateway.charge(5, 1000, Some(&key)).await);
        took.push(started.elapsed());
        effects.push(gateway.clear_fault(token).expect("in force"));
    }
    assert_eq!(results[0], Ok(ChargeOutcome::Captured(1)));
    assert_eq!(results[1], Ok(ChargeOutcome::Declined(2, Decline::CardDeclined)));
    assert!(unknown(&results[2]) && unknown(&results[3]) && unknown(&results[4]), "{results:?}");
    assert!(matches!(results[5], Err(GatewayError::Unavailable(_))), "{results:?}");
    let ms = Duration::from_millis;
    assert_eq!(took, [ms(500), ms(0), ms(0), ms(0), LOST_HOLD, ms(0)]);
    assert!(effects.iter().all(|e| e.affected == 1), "{effects:?}");
    let lookups: Vec<Option<ChargeOutcome>> =
        (0..6).map(|i| gateway.lookup(&format!("k{i}"))).collect();
    assert_eq!(
        lookups,
        [
            Some(ChargeOutcome::Captured(1)),
            Some(ChargeOutcome::Declined(2, Decline::CardDeclined)),
            None,
            Some(ChargeOutcome::Captured(4)),
            Some(ChargeOutcome::Captured(5)),
            None,
        ]
    );
    assert_eq!(gateway.captures(), 3);
    let s = |e: &str| Some(e.to_string());
    assert_eq!(
        records(&testkit::recorded(&recorder, &memory)),
        [
            (OpType::Ok, None, Some(ChargeAnswer::Captured)),
            (OpType::Fail, s("card-declined"), Some(ChargeAnswer::Declined)),
            (OpType::Fail, s("gateway-error"), Some(ChargeAnswer::Error)),
            (OpType::Ok, None, Some(ChargeAnswer::Error)),
            (OpType::Ok, None, Some(ChargeAnswer::Lost)),
            (OpType::Fail, s("gateway-unavailable"), Some(ChargeAnswer::Unavailable)),
        ]
    );
}

#[tokio::test]
async fn first_answers_are_replayed_errors_too_and_charge_nothing() {
    let (gateway, recorder, memory) = gateway();
    let token = gateway.set_fault(GatewayFault::ErrorsBefore);
    assert!(unknown(&gateway.charge(5, 1000, Some("before")).await));
    gateway.clear_fault(token);
    let token = gateway.set_fault(GatewayFault::ErrorsAfter);
    assert!(unknown(&gateway.charge(5, 1000, Some("after")).await));
    gateway.clear_fault(token);
    assert!(unknown(&gateway.charge(5, 1000, Some("before")).await), "the 500 is replayed");
    assert!(unknown(&gateway.charge(5, 1000, Some("after")).await), "the 500 is replayed");
    assert_eq!(gateway.lookup("before"), None, "nothing was charged with it");
    assert_eq!(gateway.lookup("after"), Some(ChargeOutcome::Captured(2)));
    let reused = gateway.charge(5, 2000, Some("after")).await;
    assert!(
        matches!(reused, Err(GatewayError::Idempotency(ref e)) if e.contains("400")),
        "{reused:?}"
    );
    assert_eq!(gateway.captures(), 1);
    assert_eq!(
        testkit::recorded(&recorder, &memory).len(),
        2,
        "replays and refusals move no money"
    );
}

#[tokio::test]
async fn an_outage_saves_nothing_so_the_key_charges_once_the_gateway_is_back() {
    let (gateway, _recorder, _memory) = gateway();
    let token = gateway.set_fault(GatewayFault::Outage);
    let refused = gateway.charge(5, 1000, Some("k")).await;
    assert!(matches!(refused, Err(GatewayError::Unavailable(_))), "{refused:?}");
    let replay = gateway.charge(5, 1000, Some("k")).await;
    assert!(matches!(replay, Err(GatewayError::Unavailable(_))), "still down: {replay:?}");
    assert_eq!(gateway.clear_fault(token).map(|e| e.affected), Some(2));
    assert_eq!(gateway.charge(5, 1000, Some("k")).await, Ok(ChargeOutcome::Captured(3)));
}

#[tokio::test(start_paused = true)]
async fn a_key_whose_first_answer_is_still_coming_is_refused_with_409_then_replayed() {
    let (gateway, _recorder, _memory) = gateway();
    let token = gateway.set_fault(GatewayFault::Latency(Duration::from_secs(1)));
    let mut first = pin!(gateway.charge(5, 1000, Some("k")));
    let cx = &mut std::task::Context::from_waker(std::task::Waker::noop());
    assert_eq!(first.as_mut().poll(cx), Poll::Pending, "decided, answer delayed");
    assert_eq!(
        gateway.lookup("k"),
        Some(ChargeOutcome::Captured(1)),
        "lookups tell the truth at once"
    );
    let second = gateway.charge(5, 1000, Some("k")).await;
    assert!(
        matches!(second, Err(GatewayError::Idempotency(ref e)) if e.contains("409")),
        "{second:?}"
    );
    assert_eq!(first.await, Ok(ChargeOutcome::Captured(1)));
    gateway.clear_fault(token);
    assert_eq!(
        gateway.charge(5, 1000, Some("k")).await,
        Ok(ChargeOutcome::Captured(1)),
        "replayed"
    );
    assert_eq!(gateway.captures(), 1);
}

#[tokio::test]
async fn a_lost_answer_holds_its_key_until_the_caller_gives_up_then_replays_the_capture() {
    let (gateway, _recorder, _memory) = gateway();
    let token = gateway.set_fault(GatewayFault::LostResponse);
    let gave_up =
        tokio::time::timeout(Duration::from_millis(20), gateway.charge(5, 1000, Some("k")));
    assert!(gave_up.await.is_err(), "no answer");
    gateway.clear_fault(token);
    assert_eq!(gateway.charge(5, 1000, Some("k")).await, Ok(ChargeOutcome::Captured(1)));
    let token = gateway.set_fault(GatewayFault::LostResponse);
    let mut held = pin!(gateway.charge(5, 1000, Some("k2")));
    let cx = &mut std::task::Context::from_waker(std::task::Waker::noop());
    assert_eq!(held.as_mut().poll(cx), Poll::Pending);
    let busy = gateway.charge(5, 1000, Some("k2")).await;
    assert!(matches!(busy, Err(GatewayError::Idempotency(_))), "{busy:?}");
    assert_eq!(gateway.fault_affected(token), Some(1), "a refused key is no attempt");
}

#[tokio::test(start_paused = true)]
async fn overlapping_faults_the_strictest_decides_and_only_faults_that_changed_a_charge_count() {
    let (gateway, _recorder, _memory) = gateway();
    let after = gateway.set_fault(GatewayFault::ErrorsAfter);
    let slow = gateway.set_fault(GatewayFault::Latency(Duration::from_millis(200)));
    let down = gateway.set_fault(GatewayFault::Outage);
    let started = TokioInstant::now();
    let refused = gateway.charge(5, 1000, None).await;
    assert!(matches!(refused, Err(GatewayError::Unavailable(_))), "{refused:?}");
    assert_eq!(started.elapsed(), Duration::from_millis(200), "the outage's answer is slow too");
    assert_eq!(gateway.clear_fault(down).map(|e| e.affected), Some(1));
    assert!(unknown(&gateway.charge(5, 1000, None).await));
    assert_eq!(gateway.clear_fault(after).map(|e| e.affected), Some(1), "overshadowed once");
    assert_eq!(gateway.clear_fault(slow).map(|e| e.affected), Some(2));
    assert_eq!(gateway.clear_fault(slow), None, "cleared already");
    let idle = gateway.set_fault(GatewayFault::Declines);
    assert_eq!(gateway.clear_fault(idle).map(|e| e.affected), Some(0), "no charge, no effect");
}

#[tokio::test]
async fn over_http_a_claimed_operation_counts_only_while_registered_on_that_account() {
    let (gateway, recorder, memory) = gateway();
    let claim = |op| Request { account: 5, amount: 1000, key: None, claim: Claim::Claimed(op) };
    let serving = gateway.serving(crate::client::OpId(41), 5);
    let elsewhere = gateway.serving(crate::client::OpId(42), 6);
    for op in [Some(41), Some(42), Some(43), None] {
        assert_eq!(
            gateway.request(&claim(op)).reply(),
            Reply::Charged(ChargeOutcome::Captured(gateway.captures()))
        );
    }
    drop((serving, elsewhere));
    gateway.request(&claim(Some(41)));
    let attributed: Vec<Option<u64>> = testkit::recorded(&recorder, &memory)
        .iter()
        .filter_map(|op| match &op.value {
            Value::Charge(c) => Some(c.op),
            _ => None,
        })
        .collect();
    assert_eq!(attributed, [Some(41), None, None, None, None]);
}

#[tokio::test]
async fn a_held_capture_is_recorded_at_once_and_answered_only_when_released() {
    let (gateway, recorder, memory) = gateway();
    let mut hold = gateway.hold_next_capture();
    let charging = gateway.clone();
    let mut charge = tokio::spawn(async move { charging.charge(7, 1000, Some("k")).await });
    let held = hold.captured().await.expect("the next capture is held");
    assert_eq!(gateway.lookup("k"), Some(ChargeOutcome::Captured(held)), "decided at once");
    let pending = tokio::time::timeout(Duration::from_millis(50), &mut charge).await;
    assert!(pending.is_err(), "no answer while held");
    drop(hold);
    let answered = charge.await.expect("the charge task");
    assert_eq!(answered, Ok(ChargeOutcome::Captured(held)));
    // A hold is used once: the next capture is answered at once.
    assert!(gateway.charge(7, 1000, Some("k2")).await.is_ok());
    assert_eq!(records(&testkit::recorded(&recorder, &memory)).len(), 2, "both recorded");
}

#[tokio::test]
async fn a_hold_dropped_before_any_capture_is_disarmed() {
    let (gateway, _recorder, _memory) = gateway();
    drop(gateway.hold_next_capture());
    let answered =
        tokio::time::timeout(Duration::from_secs(5), gateway.charge(7, 1000, None)).await;
    assert!(matches!(answered, Ok(Ok(ChargeOutcome::Captured(_)))), "{answered:?}");
}
