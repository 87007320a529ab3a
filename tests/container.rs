//! Services run as containers on the run's own network (`[sut] build`, `--service-build`),
//! end to end on real containers: the Python reference service built from
//! `examples/python/Dockerfile` on faultline's base image with Debian's own clients,
//! killed with the stores, and cut from Postgres by `partition-service`. Nothing of a
//! run (containers, network, rules) is left afterwards.

use crate::common;
use crate::common::{assert_valid, remove_store};
use checkers::format::{Header, HistoryReader};
use checkers::history::{F, Op, OpType, Process, Value};
use faultline::nemesis::Reach;
use faultline::runner::{Run, RunError, RunOptions, RunOutcome};
use faultline::scenario::{Overrides, Scenario};
use faultline::service::{Launch, ServiceSpec};
use faultline::store::{RunDir, Store};
use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use workloads::gateway::{Gateway, GatewayConfig};
use workloads::recorder::Recorder;

fn python_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/python")
}

/// The Python failsafe service as a container built from `examples/python`.
fn failsafe_container() -> ServiceSpec {
    let mut spec =
        ServiceSpec::from_build(&python_dir()).expect("examples/python has a Dockerfile");
    spec.name = Some("failsafe-container".into());
    spec.start_timeout = Duration::from_secs(60);
    spec
}

async fn run(scenario: Scenario, spec: Option<ServiceSpec>) -> Result<RunOutcome, RunError> {
    let root = std::env::temp_dir().join(format!(
        "faultline-test-container-{}-{}-{}",
        scenario.name,
        scenario.seed,
        std::process::id()
    ));
    let options = RunOptions { store: Store::new(root), service: spec, ..RunOptions::default() };
    Run::of_service(scenario, options)?.execute().await
}

fn expect_verdict(outcome: Result<RunOutcome, RunError>) -> RunOutcome {
    outcome.unwrap_or_else(|e| {
        panic!("the run did not reach a verdict (this test needs Docker, root and faultline's images): {e}")
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn python_failsafe_in_a_container_is_valid_on_kill_master() {
    let scenario = Scenario::load("kill-master")
        .unwrap()
        .resolve(&Overrides { seed: Some(12), ..Overrides::default() })
        .unwrap();
    let outcome = expect_verdict(run(scenario, Some(failsafe_container())).await);
    assert_valid(&outcome);
    assert_eq!(outcome.reach.took_effect(), outcome.reach.faults.len(), "{}", outcome.reach);
    let stderr = std::fs::read_to_string(outcome.dir.file("service.stderr.log")).unwrap();
    let stdout = std::fs::read_to_string(outcome.dir.file("service.stdout.log")).unwrap();
    assert!(
        !(stderr.is_empty() && stdout.is_empty()),
        "the container's output is kept in the run directory"
    );
    common::assert_run_is_gone(&outcome.run_id).await;
    remove_store(&outcome);
}

/// A short run of the container service with Postgres cut from it for 6 s.
const PARTITION_POSTGRES: &str = r#"
name = "partition-service-postgres"
description = "The service's container is cut from Postgres, its ledger, while usage flows."
seed = 7
workload = "billing"

[cluster]
redis_replicas = 1

[billing]
accounts = 60
opening = { min = 1000, max = 2500 }
clients = { workers = 6, time_limit = "20s", op_timeout = "2s" }

[sut]
name = "failsafe-container"
build = "BUILD"
start_timeout = "60s"

[[faults]]
at = "6s"
fault = "partition-service"
from = ["postgres"]
duration = "6s"
"#;

/// Debits and payments, each with the times of its invocation and completion and how
/// it completed, paired by client.
fn ledger_writes(history: &Path) -> Vec<(u64, u64, OpType)> {
    let reader = HistoryReader::new(BufReader::new(File::open(history).unwrap())).unwrap();
    let mut open: HashMap<u32, u64> = HashMap::new();
    let mut writes = Vec::new();
    for op in reader.map(Result::unwrap) {
        let Process::Client(client) = op.process else { continue };
        if !matches!(op.f, F::Debit | F::Payment) {
            continue;
        }
        match op.kind {
            OpType::Invoke => {
                open.insert(client, op.time);
            }
            kind => {
                if let Some(invoked) = open.remove(&client) {
                    writes.push((invoked, op.time, kind));
                }
            }
        }
    }
    writes
}

/// When the fault named `fault` took effect and when its heal began (ns since start).
fn fault_window(history: &Path, fault: &str) -> (u64, u64) {
    let reader = HistoryReader::new(BufReader::new(File::open(history).unwrap())).unwrap();
    let ops: Vec<Op> = reader.map(Result::unwrap).collect();
    let at = |f: F, kind: OpType| {
        ops.iter()
            .find(|op| {
                op.f == f
                    && op.kind == kind
                    && matches!(&op.value, Value::Fault(e) if e.fault == fault)
            })
            .unwrap_or_else(|| panic!("no {f:?} {kind:?} of {fault} in the history"))
            .time
    };
    (at(F::Start, OpType::Info), at(F::Heal, OpType::Invoke))
}

#[tokio::test(flavor = "multi_thread")]
async fn partition_service_from_postgres_stops_the_ledger_writes_while_it_holds() {
    let text = PARTITION_POSTGRES.replace("BUILD", &python_dir().display().to_string());
    let scenario = Scenario::parse("partition-service-postgres.toml", &text)
        .unwrap()
        .resolve(&Overrides::default())
        .unwrap();
    let outcome = expect_verdict(run(scenario, None).await);
    assert_valid(&outcome);
    let cut = outcome.reach.faults.iter().find(|f| f.fault == "partition-service").unwrap();
    assert_eq!(cut.reach, Reach::Observed, "{}", outcome.reach);
    assert_eq!(cut.targets, ["postgres", "service"]);
    // The failsafe service commits every debit and payment to its ledger first: none
    // can succeed while its container cannot reach Postgres, and they do again after.
    let history = outcome.dir.file(faultline::store::HISTORY);
    let (cut_at, heal_at) = fault_window(&history, "partition-service");
    let writes = ledger_writes(&history);
    let during: Vec<_> = writes.iter().filter(|(i, c, _)| *i > cut_at && *c < heal_at).collect();
    assert!(!during.is_empty(), "clients wrote while the cut held");
    assert!(
        during.iter().all(|(_, _, kind)| *kind != OpType::Ok),
        "a ledger write succeeded while the service was cut from Postgres: {during:?}"
    );
    let after = writes.iter().filter(|(i, _, kind)| *i > heal_at && *kind == OpType::Ok).count();
    assert!(after > 0, "ledger writes succeed again after the heal");
    common::assert_run_is_gone(&outcome.run_id).await;
    remove_store(&outcome);
}

#[tokio::test(flavor = "multi_thread")]
async fn partition_service_is_refused_for_a_service_process_before_anything_starts() {
    let text = PARTITION_POSTGRES.replace("build = \"BUILD\"", "command = [\"python3\", \"x.py\"]");
    let err = Scenario::parse("p.toml", &text).unwrap_err().to_string();
    assert!(err.starts_with("p.toml:22:9:"), "points at the fault: {err}");
    assert!(err.contains("partition-service") && err.contains("--service-build"), "{err}");
    let text = PARTITION_POSTGRES.replace(
        "[sut]\nname = \"failsafe-container\"\nbuild = \"BUILD\"\nstart_timeout = \"60s\"\n",
        "",
    );
    let scenario =
        Scenario::parse("p.toml", &text).unwrap().resolve(&Overrides::default()).unwrap();
    let process = ServiceSpec::from_command_line("python3 no-such-service.py").unwrap();
    let Err(e) = run(scenario, Some(process)).await else { panic!("the run started") };
    assert!(matches!(e, RunError::NeedsContainer(_)), "{e}");
    assert!(e.to_string().contains("the process `python3 no-such-service.py`"), "{e}");
}

/// Whether the service at `url` answers `GET /v1/health` within a second.
async fn healthy(url: &str) -> bool {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let check = client.get(format!("{url}/v1/health")).timeout(Duration::from_secs(1)).send();
    matches!(check.await, Ok(answer) if answer.status().is_success())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_container_service_is_killed_paused_and_restarted_as_a_process_is() {
    let cluster =
        common::start(faultline::cluster::Cluster::builder().redis_replicas(0).postgres()).await;
    let recorder = Recorder::new(&Header::new(Default::default()), std::io::sink()).unwrap();
    let gateway = Gateway::new(GatewayConfig::default(), 1, recorder);
    let dir =
        std::env::temp_dir().join(format!("faultline-test-container-ops-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let launch = Launch {
        spec: failsafe_container(),
        seed: 1,
        run_id: cluster.run_id().to_string(),
        op_timeout: Duration::from_secs(2),
    };
    let launched = launch.start(&gateway, &cluster, &RunDir::open(dir.clone())).await.unwrap();
    let url = launched.url.clone();
    assert!(url.starts_with("http://127.0.0.1:"), "published on loopback only: {url}");
    let gateway_ip = launched.gateway.ip();
    assert!(!gateway_ip.is_loopback() && !gateway_ip.is_unspecified(), "{gateway_ip}");
    {
        let mut service = launched.service.lock().await;
        assert!(service.is_container() && healthy(&url).await);
        let env: HashMap<String, String> = service.environment().into_iter().collect();
        assert_eq!(env["FAULTLINE_LISTEN"], "0.0.0.0:8080");
        assert_eq!(env["FAULTLINE_REDIS_MASTER"], "redis-0:6379");
        assert!(env["FAULTLINE_POSTGRES_URL"].contains("@postgres:5432/"), "{env:?}");
        assert_eq!(env["FAULTLINE_GATEWAY_URL"], launched.gateway_url);
        service.pause().await.unwrap();
        assert!(!healthy(&url).await, "a paused container does not answer");
        service.resume().await.unwrap();
        assert!(healthy(&url).await, "a resumed container answers");
        service.kill().await;
        let status = service.exited().expect("a killed container has exited");
        assert_eq!(status.signal(), Some(9), "{status}");
        assert!(!healthy(&url).await);
        service.restart().await.expect("restarted");
        assert!(service.exited().is_none() && healthy(&url).await, "back at the same URL");
    }
    launched.stop().await;
    let docker = faultline::docker::connect().await.unwrap();
    let left = faultline::docker::leftovers(&docker, cluster.run_id()).await.unwrap();
    assert!(!left.iter().any(|name| name.ends_with("-service")), "removed at stop: {left:?}");
    let log = std::fs::read_to_string(dir.join("service.stderr.log")).unwrap();
    assert_eq!(log.matches("listening on 0.0.0.0:8080").count(), 2, "both starts kept: {log}");
    common::teardown_and_assert_clean(cluster).await;
    std::fs::remove_dir_all(dir).unwrap();
}
