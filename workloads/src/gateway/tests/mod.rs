//! The gateway's unit tests: cards and attribution here; `faults`: the faults and
//! Stripe's replay rules; `http`: the HTTP face, served on 127.0.0.1.

mod faults;
mod http;

use super::card::Card;
use super::*;
use crate::testkit;
use checkers::history::{AccountOp, Charge, ChargeAnswer, F, OpType, Process, Value};

/// A charge, in a test that needs no latency: the gateway answers at once.
fn now(gateway: &Gateway, account: AccountId, amount: i64, key: Option<&str>) -> ChargeOutcome {
    let charged = gateway.charge(account, amount, key);
    let polled = futures::FutureExt::now_or_never(charged).expect("an answer at once");
    polled.expect("a charge outcome")
}

fn config(k: u32) -> GatewayConfig {
    GatewayConfig { deactivate_after: k, window: Duration::from_secs(60), declining_cards: 0.0 }
}

fn summary(ops: &[checkers::history::Op]) -> Vec<(String, OpType, Option<String>)> {
    ops.iter().map(|op| (op.f.to_string(), op.kind, op.error.clone())).collect()
}

#[test]
fn the_kth_capture_in_the_window_deactivates_the_card_and_later_charges_are_declined() {
    let (recorder, memory) = testkit::recorder();
    let gateway = Gateway::new(config(3), 7, recorder.clone());
    let outcomes: Vec<ChargeOutcome> = (0..4).map(|_| now(&gateway, 5, 1000, None)).collect();
    assert_eq!(
        outcomes,
        [
            ChargeOutcome::Captured(1),
            ChargeOutcome::Captured(2),
            ChargeOutcome::Captured(3),
            ChargeOutcome::Declined(4, Decline::CardDeactivated),
        ]
    );
    assert_eq!(now(&gateway, 6, 1000, None), ChargeOutcome::Captured(5), "other cards are fine");
    let ops = testkit::recorded(&recorder, &memory);
    let ok = |f: &str| (f.to_string(), OpType::Ok, None);
    assert_eq!(
        summary(&ops),
        [
            ok("charge"),
            ok("charge"),
            ok("charge"),
            ok("card-deactivated"),
            ("charge".into(), OpType::Fail, Some("card-deactivated".into())),
            ok("charge"),
        ]
    );
    assert!(ops.iter().all(|op| op.process == Process::Gateway));
    assert_eq!(ops[3].value, Value::Account(AccountOp { account: 5, amount: None, balance: None }));
}

#[rustfmt::skip]
#[test]
fn captures_older_than_the_window_do_not_count_towards_deactivation() {
    let config = config(3);
    let mut card = Card::default();
    let at = Duration::from_secs;
    assert_eq!(card.charge(at(0),   false, &config), Ok(false));
    assert_eq!(card.charge(at(30),  false, &config), Ok(false));
    assert_eq!(card.charge(at(60),  false, &config), Ok(false), "the first capture left the window");
    assert_eq!(card.charge(at(89),  false, &config), Ok(true),  "three within 60 s");
    assert_eq!(card.charge(at(500), false, &config), Err(Decline::CardDeactivated));
}

#[test]
fn a_repeated_idempotency_key_returns_the_first_outcome_without_charging_again() {
    let (recorder, memory) = testkit::recorder();
    let gateway = Gateway::new(config(10), 7, recorder.clone());
    assert_eq!(gateway.lookup("recharge-5-1"), None);
    let first = now(&gateway, 5, 1000, Some("recharge-5-1"));
    assert_eq!(now(&gateway, 5, 1000, Some("recharge-5-1")), first);
    assert_eq!(gateway.lookup("recharge-5-1"), Some(first));
    assert_eq!(now(&gateway, 5, 1000, Some("recharge-5-2")), ChargeOutcome::Captured(2));
    assert_eq!(gateway.captures(), 2);
    let ops = testkit::recorded(&recorder, &memory);
    let keys: Vec<Option<String>> = ops
        .iter()
        .map(|op| match &op.value {
            Value::Charge(c) => c.key.clone(),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(keys, [Some("recharge-5-1".into()), Some("recharge-5-2".into())]);
}

#[test]
fn declining_cards_are_a_seeded_fraction() {
    let declining = |seed| (0..10_000).filter(|&a| declines_always(seed, a, 0.02)).count();
    let (a, b) = (declining(1), declining(2));
    assert!((150..250).contains(&a), "{a} of 10,000 cards decline");
    assert_eq!(a, declining(1), "the same seed picks the same cards");
    assert_ne!(
        (0..10_000).filter(|&a| declines_always(1, a, 0.02)).collect::<Vec<_>>(),
        (0..10_000).filter(|&a| declines_always(2, a, 0.02)).collect::<Vec<_>>(),
        "another seed picks other cards ({b} of them)"
    );
    assert!(!(0..1000).any(|a| declines_always(1, a, 0.0)));
}

#[test]
fn a_declining_card_is_declined_and_recorded_as_such() {
    let (recorder, memory) = testkit::recorder();
    let all = GatewayConfig { declining_cards: 1.0, ..config(3) };
    let gateway = Gateway::new(all, 7, recorder.clone());
    assert_eq!(now(&gateway, 5, 1000, None), ChargeOutcome::Declined(1, Decline::CardDeclined));
    let ops = testkit::recorded(&recorder, &memory);
    assert_eq!(summary(&ops), [("charge".into(), OpType::Fail, Some("card-declined".into()))]);
    let answer = Some(ChargeAnswer::Declined);
    let charge = Charge { charge: 1, account: 5, amount: 1000, key: None, op: None, answer };
    assert_eq!(ops[0].value, Value::Charge(charge));
}

/// A client whose one operation charges the card itself and from a task it spawns.
struct Charging {
    gateway: Gateway,
}

impl crate::client::Client for Charging {
    async fn step(&mut self, process: u32, ctx: &crate::client::Ctx) -> OpType {
        let args = Value::Account(AccountOp { account: 5, amount: Some(1), balance: None });
        let gateway = self.gateway.clone();
        ctx.perform(process, F::Debit, args.clone(), |_| async move {
            gateway.charge(5, 1000, None).await.expect("no fault");
            let spawned = gateway.clone();
            tokio::spawn(async move { spawned.charge(5, 1000, None).await })
                .await
                .unwrap()
                .unwrap();
            Ok(args)
        })
        .await
    }
}

#[tokio::test]
async fn a_charge_records_the_client_operation_whose_call_reached_the_gateway() {
    let (recorder, memory) = testkit::recorder();
    let gateway = Gateway::new(config(10), 7, recorder.clone());
    let processes = crate::client::Processes::new(0);
    let client = Charging { gateway: gateway.clone() };
    let timeout = Duration::from_secs(5);
    crate::client::run_until_ok(client, 1, timeout, &recorder, &processes).await;
    gateway.charge(5, 1000, None).await.expect("no fault");
    let ops = testkit::recorded(&recorder, &memory);
    let charged: Vec<(u64, Option<u64>)> = ops
        .iter()
        .filter_map(|op| match &op.value {
            Value::Charge(c) => Some((op.index, c.op)),
            _ => None,
        })
        .collect();
    assert_eq!(ops[0].kind, OpType::Invoke);
    assert_eq!(
        charged,
        [(1, Some(0)), (2, None), (4, None)],
        "the operation's own charge, one from a task it spawned, one outside any operation"
    );
}
