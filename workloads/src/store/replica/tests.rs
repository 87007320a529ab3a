use super::*;
use crate::endpoints::Endpoints;
use crate::store::sentinel::SWITCH_MASTER;
use crate::testkit::fake_redis::{FakeRedis, announced, cluster};
use tokio::sync::watch;

const TIMEOUT: Duration = Duration::from_millis(250);

async fn redis_nodes(count: usize) -> Vec<FakeRedis> {
    let mut nodes = Vec::new();
    for i in 0..count {
        nodes.push(FakeRedis::start(&format!("redis-{i}"), None).await);
    }
    nodes
}

fn addrs(nodes: &[FakeRedis]) -> Vec<SocketAddr> {
    nodes.iter().map(FakeRedis::addr).collect()
}

/// The node the replica client reaches (a fake answers `GET` with its name).
async fn who(replica: &RedisReplica) -> Result<String, StoreError> {
    replica.query(redis::cmd("GET").arg("who")).await
}

#[tokio::test]
async fn without_sentinel_it_reads_from_the_first_replica_and_moves_on_when_that_fails() {
    let mut nodes = redis_nodes(3).await;
    let endpoints = Endpoints { sentinel: None, ..cluster(&[], &addrs(&nodes)) };
    let (harness, topology) = watch::channel(endpoints);
    let replica = RedisReplica::new(topology, TIMEOUT);
    assert_eq!(replica.addr(), None, "nothing chosen before a request");
    assert_eq!(who(&replica).await.unwrap(), "redis-1", "redis-0 is the master");
    assert_eq!(replica.addr(), Some(nodes[1].addr()));
    assert_eq!(who(&replica).await.unwrap(), "redis-1", "it stays on its replica");
    // Killed: the failed request is the caller's, the next one goes to the next replica.
    let gone = nodes.remove(1);
    drop(gone);
    assert!(who(&replica).await.is_err());
    assert_eq!(who(&replica).await.unwrap(), "redis-2");
    // A failover promotes redis-2: the next replica after the one that failed, wrapping.
    harness.send_modify(|e| e.redis_master = nodes[1].addr());
    assert_eq!(who(&replica).await.unwrap(), "redis-0");
    assert!(replica.follower().known().is_none(), "no sentinel was asked");
}

#[tokio::test]
async fn a_master_alone_has_no_replica_to_read_from() {
    let nodes = redis_nodes(1).await;
    let endpoints = Endpoints { sentinel: None, ..cluster(&[], &addrs(&nodes)) };
    let replica = RedisReplica::new(watch::channel(endpoints).1, TIMEOUT);
    let e = who(&replica).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unreachable, "{e}");
}

#[tokio::test]
async fn with_sentinel_it_reads_from_a_replica_sentinel_lists_up_and_follows_switches() {
    let nodes = redis_nodes(3).await;
    // The harness's topology says redis-0; Sentinel names redis-1 the master.
    let sentinel = FakeRedis::start("sentinel-0", Some((&announced(1).0, 6379))).await;
    sentinel.list_replicas(&[(announced(0), "s_down,slave"), (announced(2), "slave")]);
    let sentinels = [("sentinel-0", sentinel.addr())];
    let (_harness, topology) = watch::channel(cluster(&sentinels, &addrs(&nodes)));
    let replica = RedisReplica::new(topology, TIMEOUT);
    assert_eq!(who(&replica).await.unwrap(), "redis-2", "redis-0 is down, redis-1 the master");
    // Sentinel promotes redis-2: the client asks for the replicas again.
    sentinel.subscribed(1).await;
    sentinel.list_replicas(&[(announced(0), "slave"), (announced(1), "slave")]);
    sentinel.publish(SWITCH_MASTER, "faultline 172.18.0.11 6379 172.18.0.12 6379");
    let mut master = replica.follower().watch();
    let named = master.wait_for(|m| m.as_deref() == Some("redis-2"));
    assert!(tokio::time::timeout(Duration::from_secs(10), named).await.is_ok());
    assert_eq!(who(&replica).await.unwrap(), "redis-0");
}
