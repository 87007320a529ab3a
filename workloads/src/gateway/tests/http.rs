//! The HTTP face, served on 127.0.0.1 and called with a real HTTP client: the shapes of
//! `docs/protocol.md` section 4, replays, and attribution by `Faultline-Op`.

use super::*;
use serde_json::{Value as Json, json};
use std::net::SocketAddr;
use tokio_util::sync::CancellationToken;

struct Served {
    gateway: Gateway,
    recorder: crate::recorder::Recorder,
    memory: testkit::Memory,
    url: String,
    client: reqwest::Client,
    _stop: tokio_util::sync::DropGuard,
}

async fn served() -> Served {
    let (recorder, memory) = testkit::recorder();
    let gateway = Gateway::new(super::config(10), 7, recorder.clone());
    let cancel = CancellationToken::new();
    let bind: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let addr =
        crate::gateway::http::serve(gateway.clone(), bind, cancel.clone()).await.expect("bound");
    let url = format!("http://{addr}/v1/charges");
    let client = reqwest::Client::new();
    Served { gateway, recorder, memory, url, client, _stop: cancel.drop_guard() }
}

impl Served {
    async fn charge(&self, key: Option<&str>, op: Option<u64>, amount: i64) -> (u16, bool, Json) {
        let mut req = self.client.post(&self.url).json(&json!({ "account": 5, "amount": amount }));
        if let Some(key) = key {
            req = req.header("Idempotency-Key", key);
        }
        if let Some(op) = op {
            req = req.header("Faultline-Op", op.to_string());
        }
        let res = req.send().await.expect("an answer");
        let replayed = res.headers().get("idempotent-replayed").is_some_and(|v| v == "true");
        (res.status().as_u16(), replayed, res.json().await.expect("a JSON body"))
    }

    async fn lookup(&self, key: &str) -> Json {
        let res = self.client.get(format!("{}?idempotency_key={key}", self.url)).send().await;
        let res = res.expect("an answer");
        assert_eq!(res.status().as_u16(), 200);
        res.json().await.expect("a JSON body")
    }

    fn charge_ops(self) -> Vec<(OpType, Option<u64>, Option<ChargeAnswer>)> {
        testkit::recorded(&self.recorder, &self.memory)
            .iter()
            .filter_map(|op| match &op.value {
                Value::Charge(c) => Some((op.kind, c.op, c.answer)),
                _ => None,
            })
            .collect()
    }
}

fn error_type(body: &Json) -> &str {
    body["error"]["type"].as_str().unwrap_or("none")
}

#[tokio::test]
async fn a_capture_is_answered_replayed_and_looked_up_in_stripes_shapes() {
    let s = served().await;
    let captured = json!({
        "id": "ch_1", "object": "charge", "account": 5, "amount": 1000,
        "status": "succeeded", "captured": true,
    });
    assert_eq!(s.charge(Some("k"), None, 1000).await, (200, false, captured.clone()));
    assert_eq!(s.charge(Some("k"), None, 1000).await, (200, true, captured.clone()));
    assert_eq!(s.lookup("k").await, json!({ "object": "list", "data": [captured] }));
    assert_eq!(s.lookup("never").await, json!({ "object": "list", "data": [] }));
    let (status, replayed, body) = s.charge(Some("k"), None, 2000).await;
    assert_eq!((status, replayed, error_type(&body)), (400, false, "idempotency_error"));
    assert_eq!(s.gateway.captures(), 1);
}

#[tokio::test]
async fn declines_errors_and_outages_have_their_statuses_and_errors_are_replayed() {
    let s = served().await;
    let burst = s.gateway.set_fault(GatewayFault::Declines);
    let (status, _, body) = s.charge(Some("d"), None, 1000).await;
    assert_eq!((status, error_type(&body)), (402, "card_error"));
    assert_eq!(body["error"]["decline_code"], "card-declined");
    assert_eq!(body["error"]["charge"], "ch_1");
    assert_eq!(s.lookup("d").await["data"][0]["status"], "failed");
    s.gateway.clear_fault(burst);
    let before = s.gateway.set_fault(GatewayFault::ErrorsBefore);
    let (status, _, body) = s.charge(Some("e"), None, 1000).await;
    assert_eq!((status, error_type(&body)), (500, "api_error"));
    s.gateway.clear_fault(before);
    let (status, replayed, _) = s.charge(Some("e"), None, 1000).await;
    assert_eq!((status, replayed), (500, true), "a first 500 is replayed");
    assert_eq!(s.lookup("e").await["data"], json!([]), "nothing was charged with it");
    let down = s.gateway.set_fault(GatewayFault::Outage);
    let (status, _, body) = s.charge(Some("o"), None, 1000).await;
    assert_eq!((status, error_type(&body)), (503, "api_connection_error"));
    s.gateway.clear_fault(down);
    let (status, replayed, _) = s.charge(Some("o"), None, 1000).await;
    assert_eq!((status, replayed), (200, false), "an outage saved nothing for the key");
}

#[tokio::test]
async fn a_lost_answer_keeps_the_caller_waiting_and_its_key_busy_until_it_gives_up() {
    let s = served().await;
    let lost = s.gateway.set_fault(GatewayFault::LostResponse);
    let req = s.client.post(&s.url).json(&json!({ "account": 5, "amount": 1000 }));
    let req = req.header("Idempotency-Key", "k").timeout(Duration::from_millis(300));
    let gave_up = req.send().await;
    assert!(gave_up.is_err_and(|e| e.is_timeout()), "no answer came");
    assert_eq!(s.gateway.clear_fault(lost).map(|e| e.affected), Some(1));
    assert_eq!(s.lookup("k").await["data"][0]["status"], "succeeded", "captured all the same");
    let mut answer = s.charge(Some("k"), None, 1000).await;
    for _ in 0..100 {
        if answer.0 != 409 {
            break;
        }
        tokio::task::yield_now().await;
        answer = s.charge(Some("k"), None, 1000).await;
    }
    assert_eq!((answer.0, answer.1), (200, true), "once the caller hung up: {answer:?}");
}

#[tokio::test]
async fn a_key_still_being_answered_gets_409() {
    let s = served().await;
    let slow = s.gateway.set_fault(GatewayFault::Latency(Duration::from_secs(2)));
    let first = tokio::spawn({
        let (client, url) = (s.client.clone(), s.url.clone());
        async move {
            let req = client.post(&url).json(&json!({ "account": 5, "amount": 1000 }));
            req.header("Idempotency-Key", "k").send().await.map(|r| r.status().as_u16())
        }
    });
    while s.gateway.lookup("k").is_none() {
        tokio::task::yield_now().await;
    }
    let (status, _, body) = s.charge(Some("k"), None, 1000).await;
    assert_eq!((status, error_type(&body)), (409, "idempotency_error"));
    assert_eq!(first.await.unwrap().unwrap(), 200);
    s.gateway.clear_fault(slow);
}

#[tokio::test]
async fn faultline_op_is_recorded_only_for_an_operation_in_flight_on_that_account() {
    let s = served().await;
    let serving = s.gateway.serving(crate::client::OpId(12), 5);
    let other = s.gateway.serving(crate::client::OpId(13), 6);
    assert_eq!(s.charge(None, Some(12), 10).await.0, 200);
    assert_eq!(s.charge(None, Some(13), 10).await.0, 200, "op 13 is on account 6");
    assert_eq!(s.charge(None, Some(99), 10).await.0, 200, "never registered");
    drop((serving, other));
    assert_eq!(s.charge(None, Some(12), 10).await.0, 200, "no longer in flight");
    let captured = Some(ChargeAnswer::Captured);
    assert_eq!(
        s.charge_ops(),
        [
            (OpType::Ok, Some(12), captured),
            (OpType::Ok, None, captured),
            (OpType::Ok, None, captured),
            (OpType::Ok, None, captured)
        ]
    );
}

#[tokio::test]
async fn bad_requests_are_refused_with_what_to_send_and_record_nothing() {
    let s = served().await;
    let bad = |body: &str| s.client.post(&s.url).body(body.to_owned()).send();
    for body in [r#"{"account": 5}"#, "not json", r#"{"account": 5, "amount": -3}"#] {
        let res = bad(body).await.expect("an answer");
        assert_eq!(res.status().as_u16(), 400, "{body}");
        let json: Json = res.json().await.unwrap();
        assert_eq!(error_type(&json), "invalid_request_error", "{body}");
    }
    let long = "k".repeat(crate::gateway::http::MAX_KEY_LEN + 1);
    let (status, _, _) = s.charge(Some(&long), None, 10).await;
    assert_eq!(status, 400);
    let (status, _, _) = s.charge(None, None, 10).await;
    assert_eq!(status, 200);
    assert_eq!(s.charge_ops().len(), 1);
    let everywhere: SocketAddr = "0.0.0.0:0".parse().unwrap();
    let refused = crate::gateway::http::serve(
        Gateway::new(super::config(1), 1, testkit::recorder().0),
        everywhere,
        CancellationToken::new(),
    )
    .await;
    assert!(refused.is_err_and(|e| e.to_string().contains("127.0.0.1")));
}
