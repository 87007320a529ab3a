//! How Redis Sentinel behaves on this machine, printed as figures (not a timed test):
//! `cargo bench --bench sentinel`.
//!
//! 1. **Failover time**: `kill -9` of the master, five times on one cluster of a master,
//!    two replicas and three sentinels (`down-after-milliseconds` 1000), from the kill
//!    to the harness's master moving where Sentinel's `+switch-master` says; the median
//!    and the range.
//! 2. **Writes lost in a minority split**: the master cut off with one sentinel
//!    (`isolate-master`, `down-after-milliseconds` 1000 and 3000), a client writing
//!    `INCR` to it through the host every 20 ms until Sentinel announces a new master:
//!    how many it acknowledged, and how many of those the new master lacks once the old
//!    one is demoted.
//!
//! Needs Docker and faultline's images.

use checkers::format::Header;
use faultline::cluster::{Cluster, SentinelConfig};
use faultline::nemesis::{Fault, Nemesis, Target};
use std::time::{Duration, Instant};
use workloads::recorder::Recorder;
use workloads::sentinel::SentinelWatch;

const KILLS: usize = 5;

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("a Tokio runtime");
    runtime.block_on(async {
        failover_time().await;
        for down_after in [1000, 3000] {
            minority_split(down_after).await;
        }
    });
}

async fn cluster(down_after: u64) -> Cluster {
    let config = SentinelConfig { down_after_milliseconds: Some(down_after), ..Default::default() };
    let builder = Cluster::builder().redis_replicas(2).sentinels(3, config);
    builder.start().await.expect("a cluster (this needs Docker and faultline's images)")
}

/// A history of the bench's faults and Sentinel's events, kept for reading afterwards.
fn recorder(name: &str) -> Recorder {
    let path = std::env::temp_dir().join(format!("faultline-bench-sentinel-{name}.jsonl"));
    println!("{name}: history in {}", path.display());
    let file = std::fs::File::create(&path).expect("a history file");
    Recorder::new(&Header::new(Default::default()), file).expect("a recorder")
}

/// Waits until every sentinel sees the harness's master as a master with no failover
/// in progress (a failover's leader ends it up to `failover-timeout` after the switch).
async fn settled(cluster: &Cluster) {
    let started = Instant::now();
    loop {
        let mut calm = true;
        for sentinel in cluster.sentinel_nodes() {
            let addr = cluster.sentinel_addr(&sentinel).expect("a sentinel address");
            let client = redis::Client::open(format!("redis://{addr}")).expect("a redis url");
            let mut conn = client.get_multiplexed_async_connection().await.expect("a connection");
            let fields: Vec<String> = redis::cmd("SENTINEL")
                .arg("master")
                .arg(faultline::cluster::MASTER_NAME)
                .query_async(&mut conn)
                .await
                .expect("SENTINEL master");
            let field =
                |key: &str| fields.chunks(2).find(|kv| kv[0] == key).map(|kv| kv[1].clone());
            let ip = cluster.announced_ip(&cluster.master()).map(|ip| ip.to_string());
            calm &= field("flags").as_deref() == Some("master") && field("ip") == ip;
        }
        if calm {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "Sentinel never settled");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How long until the harness's master is another node than `old`, from now.
async fn wait_for_new_master(cluster: &Cluster, old: &str) -> Duration {
    let started = Instant::now();
    while cluster.master() == old {
        assert!(started.elapsed() < Duration::from_secs(60), "no failover within 60 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    started.elapsed()
}

async fn failover_time() {
    let cluster = cluster(1000).await;
    let recorder = recorder("failover");
    let watch =
        SentinelWatch::start(cluster.endpoints(), recorder.clone(), cluster.master_follower());
    let mut nemesis = Nemesis::new(&cluster, recorder.clone(), 1).await.expect("a nemesis");
    let mut times = Vec::new();
    for round in 1..=KILLS {
        cluster.wait_replication(Duration::from_secs(60)).await.expect("replicas linked");
        settled(&cluster).await;
        let old = cluster.master();
        let kill = Fault::Kill { target: Target::master() };
        let (id, took) = tokio::join!(nemesis.start(&kill), wait_for_new_master(&cluster, &old));
        let id = id.expect("a kill");
        println!("failover {round}: {old} killed, {} master after {took:?}", cluster.master());
        times.push(took);
        nemesis.heal(id).await.expect("the old master back");
    }
    nemesis.heal_all().await.expect("healed");
    drop(nemesis);
    watch.stop().await;
    recorder.finish().expect("the history written");
    times.sort();
    println!(
        "failover after kill -9 (down-after-milliseconds 1000): median {:?}, range {:?} to {:?}, {KILLS} kills",
        times[KILLS / 2],
        times[0],
        times[KILLS - 1]
    );
    cluster.teardown().await.expect("teardown");
}

async fn minority_split(down_after: u64) {
    let cluster = cluster(down_after).await;
    let recorder = recorder(&format!("split-{down_after}"));
    let watch =
        SentinelWatch::start(cluster.endpoints(), recorder.clone(), cluster.master_follower());
    let mut nemesis = Nemesis::new(&cluster, recorder.clone(), 2).await.expect("a nemesis");
    let old = cluster.master();
    let client =
        redis::Client::open(format!("redis://{}", cluster.endpoints().borrow().redis[&old]))
            .expect("a redis url");
    let mut conn = client.get_multiplexed_async_connection().await.expect("a connection");
    let () = redis::cmd("SET").arg("k").arg(0).query_async(&mut conn).await.expect("SET");
    let _: i64 = redis::cmd("WAIT").arg(2).arg(2000).query_async(&mut conn).await.expect("WAIT");
    let cut = Instant::now();
    let id = nemesis.start(&Fault::IsolateMaster).await.expect("the cut");
    let mut acknowledged = 0;
    while cluster.master() == old {
        if let Ok(value) = redis::cmd("INCR").arg("k").query_async::<i64>(&mut conn).await {
            acknowledged = value;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let switched = cut.elapsed();
    nemesis.heal(id).await.expect("the old master demoted");
    let new = cluster.master();
    let client =
        redis::Client::open(format!("redis://{}", cluster.endpoints().borrow().redis[&new]))
            .expect("a redis url");
    let mut conn = client.get_multiplexed_async_connection().await.expect("a connection");
    let kept: i64 = redis::cmd("GET").arg("k").query_async(&mut conn).await.expect("GET");
    println!(
        "minority split (down-after-milliseconds {down_after}): switch {switched:?} after the cut; \
         the cut-off master acknowledged {acknowledged} INCRs, {} of them lost",
        acknowledged - kept
    );
    nemesis.heal_all().await.expect("healed");
    drop(nemesis);
    watch.stop().await;
    recorder.finish().expect("the history written");
    cluster.teardown().await.expect("teardown");
}
