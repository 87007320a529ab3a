use super::*;
use crate::endpoints::Endpoints;
use crate::testkit::{self, fake_redis::FakeRedis, fake_redis::cluster, fake_redis::refusing};
use checkers::history::Op;
use tokio::sync::watch;

/// Waits for the next `on_switch` call.
async fn switched(calls: &mut mpsc::UnboundedReceiver<String>) -> String {
    let next = tokio::time::timeout(Duration::from_secs(10), calls.recv()).await;
    next.expect("on_switch called in time").expect("the watch is running")
}

#[tokio::test]
async fn the_watch_records_every_event_of_every_sentinel_and_follows_the_majority() {
    let (recorder, memory) = testkit::recorder();
    let (ten, eleven) = (Some(("172.18.0.10", 6379)), Some(("172.18.0.11", 6379)));
    let zero = FakeRedis::start("sentinel-0", ten).await;
    let one = FakeRedis::start("sentinel-1", ten).await;
    let sentinels = [("sentinel-0", zero.addr()), ("sentinel-1", one.addr())];
    let (harness, topology) = watch::channel(cluster(&sentinels, &[refusing(), refusing()]));
    let (calls, mut called) = mpsc::unbounded_channel();
    let on_switch = move |node: &str| calls.send(node.to_string()).unwrap();
    let watch = SentinelWatch::start(topology, recorder.clone(), on_switch);
    zero.subscribed(1).await;
    one.subscribed(1).await;
    zero.publish("__sentinel__:hello", "not an event");
    zero.publish("+sdown", "master faultline 172.18.0.10 6379");
    // An announcement the sentinels do not stand by (a late leader's) moves nothing.
    zero.publish("+switch-master", "faultline 172.18.0.10 6379 172.18.0.11 6379");
    assert_eq!(switched(&mut called).await, "redis-0", "the majority still names redis-0");
    zero.name_master(eleven);
    one.name_master(eleven);
    one.publish("+switch-master", "faultline 172.18.0.10 6379 172.18.0.11 6379");
    assert_eq!(switched(&mut called).await, "redis-1", "the majority names redis-1");
    // sentinel-0 restarts on another port; the watch finds it there.
    drop(zero);
    let restarted = FakeRedis::start("sentinel-0", Some(("172.18.0.99", 6379))).await;
    harness.send_modify(|e| {
        e.sentinel.as_mut().unwrap().nodes.insert("sentinel-0".into(), restarted.addr());
    });
    restarted.subscribed(1).await;
    restarted.publish("+switch-master", "faultline 172.18.0.11 6379 172.18.0.99 6379");
    restarted.publish("-odown", "master faultline 172.18.0.11 6379");
    restarted.name_master(ten);
    one.name_master(ten);
    restarted.publish("+switch-master", "faultline 172.18.0.99 6379 172.18.0.10 6379");
    assert_eq!(switched(&mut called).await, "redis-0", "an unknown address has no majority");
    watch.stop().await;
    restarted.connected(0).await;
    one.connected(0).await;
    let ops: Vec<Op> = testkit::recorded(&recorder, &memory);
    assert!(
        ops.iter().all(|op| op.process == PROCESS && op.kind == OpType::Ok && op.f == F::Event)
    );
    let values: Vec<SentinelEvent> = ops
        .iter()
        .map(|op| SentinelEvent::of(op).unwrap_or_else(|| panic!("{op:?}")).clone())
        .collect();
    let event = |sentinel: &str, event: &str, detail: &str, master: Option<&str>| SentinelEvent {
        sentinel: sentinel.into(),
        event: event.into(),
        detail: detail.into(),
        master: master.map(Into::into),
    };
    let switch = |sentinel: &str, detail: &str, master: Option<&str>| {
        event(sentinel, "+switch-master", detail, master)
    };
    let expected = [
        event("sentinel-0", "+sdown", "master faultline 172.18.0.10 6379", None),
        switch("sentinel-0", "faultline 172.18.0.10 6379 172.18.0.11 6379", Some("redis-1")),
        switch("sentinel-1", "faultline 172.18.0.10 6379 172.18.0.11 6379", Some("redis-1")),
        switch("sentinel-0", "faultline 172.18.0.11 6379 172.18.0.99 6379", None),
        event("sentinel-0", "-odown", "master faultline 172.18.0.11 6379", None),
        switch("sentinel-0", "faultline 172.18.0.99 6379 172.18.0.10 6379", Some("redis-0")),
    ];
    assert_eq!(values, expected);
}

#[tokio::test]
async fn a_watch_of_a_cluster_without_sentinel_records_nothing_and_stops() {
    let (recorder, memory) = testkit::recorder();
    let endpoints = Endpoints { sentinel: None, ..cluster(&[], &[refusing()]) };
    let (_harness, topology) = watch::channel(endpoints);
    let watch =
        SentinelWatch::start(topology, recorder.clone(), |node| panic!("switched to {node}"));
    watch.stop().await;
    assert!(testkit::recorded(&recorder, &memory).is_empty());
}
