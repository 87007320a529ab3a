//! Throughput of the workloads, and the cost of recording, printed as figures (not a
//! timed test): `cargo bench --bench workloads`.
//!
//! 1. The cost of recording one operation in the history (target < 2 µs).
//! 2. Operations per second of the billing workload, `naive` and `failsafe`, at 1, 8
//!    and 32 workers.
//! 3. Operations per second of the counter workload next to `redis-benchmark -t incr`,
//!    unpipelined, at the same concurrency against the same master through its
//!    published port on 127.0.0.1, and their ratio (target ≥ 0.7).
//!
//! Needs Docker and faultline's images; installs `redis-tools` with apt-get when
//! `redis-benchmark` is missing (the harness runs as root).

use checkers::format::Header;
use checkers::history::{AccountOp, F, Observed, OpType, Process, Value};
use faultline::cluster::Cluster;
use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use workloads::billing::{BillingConfig, BillingRun};
use workloads::client::ClientConfig;
use workloads::counter::{CounterConfig, CounterRun};
use workloads::recorder::Recorder;

const CONCURRENCY: [u32; 3] = [1, 8, 32];
const STRETCH: Duration = Duration::from_secs(5);

fn main() {
    record_cost();
    let runtime = tokio::runtime::Runtime::new().expect("a Tokio runtime");
    runtime.block_on(against_a_cluster());
}

/// Nanoseconds per `record` call on one thread and on four, and per operation until
/// every one is serialised.
fn record_cost() {
    const N: u64 = 1_000_000;
    let value = Value::Account(AccountOp {
        account: 42,
        amount: Some(7),
        balance: Some(Observed::Balance(993)),
    });
    for threads in [1u64, 4] {
        let recorder = Recorder::new(&Header::default(), std::io::sink()).expect("a recorder");
        let started = Instant::now();
        std::thread::scope(|s| {
            for p in 0..threads {
                let (recorder, value) = (recorder.clone(), value.clone());
                s.spawn(move || {
                    for _ in 0..N / threads {
                        let v = value.clone();
                        recorder.record(Process::Client(p as u32), OpType::Ok, F::Debit, v, None);
                    }
                });
            }
        });
        let recorded = started.elapsed();
        recorder.finish().expect("the history is written");
        let written = started.elapsed();
        println!(
            "record, {threads} thread(s): {:.0} ns per record() call, {:.0} ns per operation until serialised",
            recorded.as_nanos() as f64 / N as f64,
            written.as_nanos() as f64 / N as f64,
        );
    }
}

async fn against_a_cluster() {
    let cluster =
        Cluster::builder().redis_replicas(2).postgres().start().await.unwrap_or_else(|e| {
            panic!("this benchmark needs Docker and faultline's images: {e}");
        });
    for system in ["naive", "failsafe"] {
        for workers in CONCURRENCY {
            let ops = billing(&cluster, system, workers).await;
            println!("billing {system:<8} {workers:>2} workers: {ops:>8.0} ops/s");
        }
    }
    let benchmark = redis_benchmark();
    let master = cluster.endpoints().borrow().redis_master;
    for workers in CONCURRENCY {
        let ours = counter(&cluster, workers).await;
        let theirs = incr_benchmark(&benchmark, master, workers);
        println!(
            "counter {workers:>2} workers: {ours:>8.0} ops/s; redis-benchmark -t incr -c {workers}: \
             {theirs:>8.0} requests/s; ratio {:.2}",
            ours / theirs
        );
    }
    cluster.teardown().await.expect("teardown");
}

fn discard() -> Recorder {
    Recorder::new(&Header::default(), std::io::sink()).expect("a recorder")
}

fn clients(workers: u32) -> ClientConfig {
    ClientConfig { workers, time_limit: STRETCH, ..ClientConfig::default() }
}

async fn billing(cluster: &Cluster, system: &str, workers: u32) -> f64 {
    let config = BillingConfig { clients: clients(workers), ..BillingConfig::default() };
    let constructor = designs::builtin().get(system).expect("a built-in system");
    let run = BillingRun::setup(config, &constructor, cluster.endpoints(), discard())
        .await
        .expect("billing setup");
    let summary = run.run(&CancellationToken::new()).await;
    run.finish(Duration::ZERO).await;
    summary.ops_per_sec()
}

async fn counter(cluster: &Cluster, workers: u32) -> f64 {
    let config = CounterConfig { clients: clients(workers), ..CounterConfig::default() };
    let run =
        CounterRun::setup(config, cluster.endpoints(), discard()).await.expect("counter setup");
    run.run(&CancellationToken::new()).await.ops_per_sec()
}

/// The `redis-benchmark` binary, installed with apt-get if missing.
fn redis_benchmark() -> String {
    let found = Command::new("sh").args(["-c", "command -v redis-benchmark"]).output();
    if let Ok(out) = found
        && out.status.success()
    {
        return String::from_utf8_lossy(&out.stdout).trim().to_string();
    }
    println!("redis-benchmark is missing: installing redis-tools with apt-get (we run as root)");
    let install = "apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
                   apt-get install -y -qq redis-tools >/dev/null";
    let status = Command::new("sh").args(["-c", install]).status().expect("apt-get runs");
    assert!(status.success(), "installing redis-tools failed");
    "redis-benchmark".to_string()
}

/// Requests per second of `redis-benchmark -t incr`, unpipelined, `clients` connections.
fn incr_benchmark(binary: &str, master: SocketAddr, clients: u32) -> f64 {
    let requests = if clients == 1 { 50_000 } else { 200_000 };
    let out = Command::new(binary)
        .args(["-h", &master.ip().to_string(), "-p", &master.port().to_string()])
        .args([
            "-t",
            "incr",
            "-P",
            "1",
            "-q",
            "-c",
            &clients.to_string(),
            "-n",
            &requests.to_string(),
        ])
        .output()
        .expect("redis-benchmark runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let figure = text
        .rsplit('\r')
        .find_map(|part| part.split_once("INCR: ")?.1.split_whitespace().next()?.parse().ok());
    figure.unwrap_or_else(|| panic!("unexpected redis-benchmark output: {text:?}"))
}
