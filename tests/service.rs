//! Services in another language under test, end to end (`faultline-http/1`): the Python
//! ports of `naive` and `failsafe` in `examples/python/`, started by faultline as
//! processes, against real containers. The Python environment is made by the project's
//! own `examples/python/setup.sh`, as a fresh machine would.

use checkers::verdict::AnomalyKind;
use checkers::{Report, Validity};
use faultline::runner::{Run, RunOptions, RunOutcome};
use faultline::scenario::{Overrides, Scenario};
use faultline::service::ServiceSpec;
use faultline::store::Store;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The virtual environment's Python, made once per test binary by `setup.sh`.
pub fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/python");
        let status = std::process::Command::new("bash")
            .arg(root.join("setup.sh"))
            .status()
            .expect("bash runs examples/python/setup.sh");
        assert!(status.success(), "examples/python/setup.sh failed: {status}");
        root.join(".venv/bin/python")
    })
}

/// The reference service `script` (in `examples/python/`), with `env` added.
pub fn service(script: &str, env: &[(&str, &str)]) -> ServiceSpec {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/python");
    let line = format!("{} {}", python().display(), root.join(script).display());
    let mut spec = ServiceSpec::from_command_line(&line).expect("a command line");
    spec.env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    spec
}

pub async fn run_service(scenario: &str, spec: ServiceSpec, seed: Option<u64>) -> RunOutcome {
    let scenario = Scenario::load(scenario)
        .expect("a bundled scenario")
        .resolve(&Overrides { seed, ..Overrides::default() })
        .expect("the bundled scenario fits its own time limit");
    let name = spec.name();
    let root = std::env::temp_dir().join(format!(
        "faultline-test-service-{}-{name}-{}-{}",
        scenario.name,
        scenario.seed,
        std::process::id()
    ));
    let options =
        RunOptions { store: Store::new(root), service: Some(spec), ..RunOptions::default() };
    let run = Run::of_service(scenario, options).expect("a service to run");
    match run.execute().await {
        Ok(outcome) => outcome,
        Err(e) => panic!(
            "the run did not reach a verdict (this test needs Docker and faultline's images): {e}"
        ),
    }
}

fn remove_store(outcome: &RunOutcome) {
    let store = outcome.dir.path().parent().and_then(|scenario| scenario.parent());
    std::fs::remove_dir_all(store.expect("a run directory lies two levels under its store"))
        .unwrap();
}

fn assert_valid(outcome: &RunOutcome) {
    assert_eq!(
        outcome.report.validity(),
        Validity::Valid,
        "{}\nrun directory: {}",
        outcome.report,
        outcome.dir.path().display()
    );
}

fn count(report: &Report, checker: &str, kind: AnomalyKind) -> u64 {
    let result = report.result(checker).unwrap_or_else(|| panic!("no {checker} result:\n{report}"));
    result.verdict.anomalies().iter().filter(|g| g.kind == kind).map(|g| g.count).sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn twilio_2013_catches_the_python_naive_service_as_it_caught_the_rust_one() {
    let outcome = run_service("twilio-2013", service("naive.py", &[]), None).await;
    let report = &outcome.report;
    assert_eq!(report.validity(), Validity::Invalid, "{report}");
    for (checker, kind) in [
        ("charge-without-credit", AnomalyKind::ChargeWithoutCredit),
        ("over-charge", AnomalyKind::OverCharge),
        ("wrongful-suspension", AnomalyKind::WrongfulSuspension),
        ("fail-safe", AnomalyKind::UnsafeCharge),
    ] {
        assert!(count(report, checker, kind) > 0, "{checker} found no {kind:?}:\n{report}");
    }
    let stderr =
        std::fs::read_to_string(outcome.dir.file("service.stderr.log")).unwrap_or_default();
    let stdout =
        std::fs::read_to_string(outcome.dir.file("service.stdout.log")).unwrap_or_default();
    assert!(!(stderr.is_empty() && stdout.is_empty()), "the service's output is kept in the run");
    remove_store(&outcome);
}

macro_rules! python_failsafe_is_valid {
    ($($name:ident: $scenario:expr,)*) => {$(
        #[tokio::test(flavor = "multi_thread")]
        async fn $name() {
            let outcome = run_service($scenario, service("failsafe.py", &[]), None).await;
            assert_valid(&outcome);
            remove_store(&outcome);
        }
    )*};
}

python_failsafe_is_valid! {
    python_failsafe_is_valid_on_twilio_2013: "twilio-2013",
    python_failsafe_is_valid_on_twilio_2013_contended: "twilio-2013-contended",
    python_failsafe_is_valid_on_contended: "contended",
    python_failsafe_is_valid_on_partition_replicas: "partition-replicas",
    python_failsafe_is_valid_on_kill_master: "kill-master",
    python_failsafe_is_valid_on_pause_master: "pause-master",
    python_failsafe_is_valid_on_failover: "failover",
    python_failsafe_is_valid_on_split_brain: "split-brain",
    python_failsafe_is_valid_on_postgres_restart: "postgres-restart",
    python_failsafe_is_valid_on_random: "random",
}
