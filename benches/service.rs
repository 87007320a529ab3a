//! The cost of testing a service over `faultline-http/1`, printed as figures (not a
//! timed test): `cargo bench --bench service`.
//!
//! 1. The per-operation overhead of the HTTP path against the in-process one: the same
//!    trivial system (a read answering a constant) called in process through the
//!    `BillingSystem` trait, and behind a protocol server on 127.0.0.1 through
//!    `HttpSystem`; µs per operation, one worker and eight.
//! 2. The Python reference service's throughput (`examples/python/failsafe.py`, started
//!    by faultline as a process) next to the Rust `failsafe` in process, on the same
//!    cluster with no fault: operations per second at 1 and 8 workers.
//!
//! Needs Docker and faultline's images for part 2, and the Python environment
//! (`examples/python/setup.sh`, run here if missing).

use axum::Json;
use axum::routing::{get, post};
use checkers::format::Header;
use checkers::history::{AccountId, Observed};
use faultline::cluster::Cluster;
use faultline::service::{Launch, Launched, ServiceSpec};
use faultline::store::Store;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use workloads::billing::{BillingConfig, BillingRun};
use workloads::client::{ClientConfig, OpId};
use workloads::gateway::Gateway;
use workloads::recorder::Recorder;
use workloads::sut::http::HttpService;
use workloads::sut::{Answer, BillingSystem, Sut};

const CALLS: u64 = 20_000;
const STRETCH: Duration = Duration::from_secs(5);

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("a Tokio runtime");
    runtime.block_on(async {
        overhead().await;
        throughput().await;
    });
}

/// A system that answers every read with the same balance, in process.
struct Constant;

impl BillingSystem for Constant {
    async fn debit(&self, _: OpId, _: AccountId, _: i64) -> Answer {
        Ok(Some(Observed::Balance(1000)))
    }
    async fn payment(&self, _: OpId, _: AccountId, _: i64) -> Answer {
        Ok(Some(Observed::Balance(1000)))
    }
    async fn balance(&self, _: OpId, _: AccountId) -> Answer {
        Ok(Some(Observed::Balance(1000)))
    }
}

/// The same, as a `faultline-http/1` server on 127.0.0.1.
async fn constant_server() -> String {
    let answer = || async { Json(json!({ "balance": 1000 })) };
    let app = axum::Router::new()
        .route("/v1/health", get(|| async { "ok" }))
        .route("/v1/balance", post(answer))
        .route("/v1/debit", post(answer))
        .route("/v1/payment", post(answer));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let addr = listener.local_addr().expect("its address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

fn discard() -> Recorder {
    Recorder::new(&Header::default(), std::io::sink()).expect("a recorder")
}

/// Mean µs per read with `workers` concurrent callers of `sut`.
async fn per_call(sut: &Sut, workers: u64) -> f64 {
    let started = Instant::now();
    let tasks: Vec<_> = (0..workers)
        .map(|w| {
            let sut = sut.clone();
            tokio::spawn(async move {
                for i in 0..CALLS / workers {
                    let answer = sut.balance(OpId(w * CALLS + i), 1).await;
                    assert!(answer.is_ok(), "{answer:?}");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a caller");
    }
    started.elapsed().as_secs_f64() * 1e6 / CALLS as f64
}

async fn overhead() {
    let in_process = Sut::new(Constant);
    let url = constant_server().await;
    let service = HttpService::connect(&url, Duration::from_secs(5)).await.expect("the server");
    let gateway = Gateway::new(Default::default(), 0, discard());
    let over_http = Sut::new(service.system(gateway));
    for workers in [1, 8] {
        per_call(&over_http, workers).await; // warm the connection pool
        let local = per_call(&in_process, workers).await;
        let http = per_call(&over_http, workers).await;
        println!(
            "per operation, {workers} worker(s): in process {local:.2} µs, over HTTP {http:.1} µs: \
             the HTTP path adds {:.1} µs",
            http - local
        );
    }
}

async fn throughput() {
    let cluster =
        Cluster::builder().redis_replicas(2).postgres().start().await.unwrap_or_else(|e| {
            panic!("this benchmark needs Docker and faultline's images: {e}");
        });
    let python = python();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/python");
    let line = format!("{} {}", python.display(), root.join("failsafe.py").display());
    let spec = ServiceSpec::from_command_line(&line).expect("a command line");
    let store = Store::new(
        std::env::temp_dir().join(format!("faultline-bench-service-{}", std::process::id())),
    );
    for workers in [1, 8] {
        let rust = billing(&cluster, Which::Rust, &spec, &store, workers).await;
        let py = billing(&cluster, Which::Python, &spec, &store, workers).await;
        println!(
            "billing, {workers} worker(s), no fault: failsafe (Rust, in process) {rust:.0} ops/s; \
             failsafe.py (Python, over HTTP) {py:.0} ops/s"
        );
    }
    let _ = std::fs::remove_dir_all(store.root());
    cluster.teardown().await.expect("teardown");
}

/// The two failsafes.
enum Which {
    Rust,
    Python,
}

/// Operations per second of the billing workload with `workers`, against the Rust
/// `failsafe` in process or the Python service `spec`.
async fn billing(
    cluster: &Cluster,
    which: Which,
    spec: &ServiceSpec,
    store: &Store,
    workers: u32,
) -> f64 {
    let clients = ClientConfig { workers, time_limit: STRETCH, ..ClientConfig::default() };
    let config = BillingConfig { clients, ..BillingConfig::default() };
    let recorder = discard();
    let gateway = Gateway::new(config.gateway.clone(), config.seed, recorder.clone());
    let (constructor, launched) = match which {
        Which::Rust => (designs::builtin().get("failsafe").expect("built in"), None),
        Which::Python => {
            let dir = store.create_run("bench", "failsafe-py").expect("a run directory");
            let launch = Launch {
                spec: spec.clone(),
                seed: config.seed,
                run_id: cluster.run_id().to_string(),
                op_timeout: config.clients.op_timeout,
            };
            let launched = launch.start(&gateway, cluster, &dir).await.expect("the service starts");
            let http = launched.connect().await.expect("the service's layout");
            (Launched::constructor(http), Some(launched))
        }
    };
    let run = BillingRun::setup_with_gateway(
        config,
        &constructor,
        cluster.endpoints(),
        recorder,
        gateway,
    )
    .await
    .expect("billing setup");
    let summary = run.run(&CancellationToken::new()).await;
    run.finish(Duration::ZERO).await;
    if let Some(launched) = launched {
        launched.stop().await;
    }
    summary.ops_per_sec()
}

/// The reference services' Python, its environment made by `setup.sh` if missing.
fn python() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/python");
    let status =
        std::process::Command::new("bash").arg(root.join("setup.sh")).status().expect("bash");
    assert!(status.success(), "examples/python/setup.sh failed");
    root.join(".venv/bin/python")
}
