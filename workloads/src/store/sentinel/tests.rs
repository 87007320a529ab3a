use super::*;
use crate::endpoints::Endpoints;
use crate::store::RedisMaster;
use crate::testkit::fake_redis::{FakeRedis, announced, cluster, refusing};
use std::time::Instant;

const TIMEOUT: Duration = Duration::from_millis(250);

fn at(i: u8) -> Option<(String, u16)> {
    Some(announced(i))
}

async fn sentinel(name: &str, master: Option<(String, u16)>) -> FakeRedis {
    FakeRedis::start(name, master.as_ref().map(|(ip, port)| (ip.as_str(), *port))).await
}

async fn redis_nodes() -> Vec<FakeRedis> {
    let mut nodes = Vec::new();
    for i in 0..3 {
        nodes.push(FakeRedis::start(&format!("redis-{i}"), None).await);
    }
    nodes
}

fn addrs(nodes: &[FakeRedis]) -> Vec<SocketAddr> {
    nodes.iter().map(FakeRedis::addr).collect()
}

#[tokio::test]
async fn discovery_takes_the_first_sentinel_in_name_order_that_names_a_node() {
    let paused = FakeRedis::silent("sentinel-0").await;
    let unknowing = sentinel("sentinel-2", None).await;
    let (ip, _) = announced(9);
    let elsewhere = sentinel("sentinel-3", Some((ip, 6379))).await;
    let first = sentinel("sentinel-4", at(1)).await;
    let second = sentinel("sentinel-5", at(2)).await;
    let sentinels = [
        ("sentinel-0", paused.addr()),
        ("sentinel-1", refusing()),
        ("sentinel-2", unknowing.addr()),
        ("sentinel-3", elsewhere.addr()),
        ("sentinel-4", first.addr()),
        ("sentinel-5", second.addr()),
    ];
    let nodes = redis_nodes().await;
    let (_harness, topology) = watch::channel(cluster(&sentinels, &addrs(&nodes)));
    let began = Instant::now();
    assert_eq!(discover(&topology, TIMEOUT).await.unwrap(), "redis-1");
    let took = began.elapsed();
    // The paused sentinel costs one timeout; the refusing one nothing.
    assert!(took >= TIMEOUT && took < TIMEOUT * 2 + Duration::from_secs(2), "{took:?}");
}

#[tokio::test]
async fn discovery_fails_definitely_when_no_sentinel_names_the_master() {
    let unknowing = sentinel("sentinel-1", None).await;
    let sentinels = [("sentinel-0", refusing()), ("sentinel-1", unknowing.addr())];
    let nodes = redis_nodes().await;
    let (_harness, topology) = watch::channel(cluster(&sentinels, &addrs(&nodes)));
    let e = discover(&topology, TIMEOUT).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unreachable);
    assert!(
        e.message.contains("sentinel-0") && e.message.contains("sentinel-1 knows no faultline")
    );
}

#[test]
fn switch_master_names_the_new_master_by_its_node() {
    let endpoints = cluster(&[], &[refusing(), refusing()]);
    let sentinel = endpoints.sentinel.as_ref().unwrap();
    let cases = [
        ("faultline 172.18.0.10 6379 172.18.0.11 6379", Some("redis-1")),
        ("faultline 172.18.0.11 6379 172.18.0.99 6379", None),
        ("another 172.18.0.10 6379 172.18.0.11 6379", None),
        ("faultline 172.18.0.10 6379", None),
    ];
    for (message, node) in cases {
        assert_eq!(switched_to(sentinel, message), node, "{message}");
    }
}

/// Waits until the client's follower names `node`.
async fn named(redis: &RedisMaster, node: Option<&str>) {
    let mut master = redis.follower().watch();
    let named = master.wait_for(|m| m.as_deref() == node);
    assert!(tokio::time::timeout(Duration::from_secs(10), named).await.is_ok(), "never {node:?}");
}

async fn who(redis: &RedisMaster) -> Result<String, StoreError> {
    redis.query(redis::cmd("GET").arg("who")).await
}

#[tokio::test]
async fn a_client_reaches_the_node_sentinel_names_at_its_published_port_and_follows_switches() {
    // sentinel-0 keeps naming redis-1, as the old master's side of a minority split does.
    let minority = sentinel("sentinel-0", at(1)).await;
    let majority = sentinel("sentinel-1", at(1)).await;
    let mut nodes = redis_nodes().await;
    let sentinels = [("sentinel-0", minority.addr()), ("sentinel-1", majority.addr())];
    let (_harness, topology) = watch::channel(cluster(&sentinels, &addrs(&nodes)));
    let redis = RedisMaster::new(topology, TIMEOUT);
    assert_eq!(who(&redis).await.unwrap(), "redis-1", "Sentinel's word, not the harness's redis-0");
    assert_eq!(redis.addr(), nodes[1].addr());
    minority.subscribed(1).await;
    majority.subscribed(1).await;
    majority.publish(SWITCH_MASTER, "faultline 172.18.0.11 6379 172.18.0.12 6379");
    named(&redis, Some("redis-2")).await;
    assert_eq!(who(&redis).await.unwrap(), "redis-2", "moved by the announcement, as Jedis is");
    // The new master goes away: the client asks again, and the first sentinel answers.
    let gone = nodes.remove(2);
    drop(gone);
    assert!(who(&redis).await.is_err());
    assert_eq!(who(&redis).await.unwrap(), "redis-1");
}

#[tokio::test]
async fn a_client_without_sentinel_follows_the_topology_and_subscribes_nowhere() {
    let nodes = redis_nodes().await;
    let endpoints = Endpoints { sentinel: None, ..cluster(&[], &addrs(&nodes)) };
    let (harness, topology) = watch::channel(endpoints);
    let redis = RedisMaster::new(topology, TIMEOUT);
    assert_eq!(who(&redis).await.unwrap(), "redis-0");
    harness.send_modify(|e| e.redis_master = nodes[2].addr());
    assert_eq!(who(&redis).await.unwrap(), "redis-2");
    assert!(redis.follower().known().is_none());
}

#[tokio::test]
async fn subscriptions_survive_a_restarted_sentinel_and_end_with_the_last_clone() {
    let first = sentinel("sentinel-0", at(0)).await;
    let nodes = redis_nodes().await;
    let (harness, topology) =
        watch::channel(cluster(&[("sentinel-0", first.addr())], &addrs(&nodes)));
    let redis = RedisMaster::new(topology, TIMEOUT);
    let clone = redis.clone();
    assert_eq!(who(&redis).await.unwrap(), "redis-0");
    first.subscribed(1).await;
    // Restarted on another port: the client finds it through the topology.
    drop(first);
    let restarted = sentinel("sentinel-0", at(0)).await;
    harness.send_modify(|e| {
        let sentinel = e.sentinel.as_mut().unwrap();
        sentinel.nodes.insert("sentinel-0".into(), restarted.addr());
    });
    restarted.subscribed(1).await;
    restarted.publish(SWITCH_MASTER, "faultline 172.18.0.10 6379 172.18.0.12 6379");
    named(&clone, Some("redis-2")).await;
    drop(redis);
    assert_eq!(who(&clone).await.unwrap(), "redis-2", "a clone shares the subscriptions");
    drop(clone);
    restarted.subscribed(0).await;
    restarted.connected(0).await;
}
