//! Services in another language under test, end to end (`faultline-http/1`): the Python
//! ports of `naive` and `failsafe` in `examples/python/`, started by faultline as
//! processes, against real containers. The Python environment is made by the project's
//! own `examples/python/setup.sh`, as a fresh machine would.

use crate::common::{assert_valid, remove_store};
use checkers::verdict::AnomalyKind;
use checkers::{Report, Validity};
use faultline::runner::{Run, RunOptions, RunOutcome};
use faultline::scenario::{Overrides, Scenario, WorkloadKind};
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
    let store = Store::new(root.clone());
    let options = RunOptions { store, service: Some(spec), ..RunOptions::default() };
    let run = Run::of_service(scenario, options).expect("a service to run");
    crate::common::verdict_of(run, &root).await
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
    ($($name:ident: $scenario:expr,)*) => {
        $(
            #[tokio::test(flavor = "multi_thread")]
            async fn $name() {
                let outcome = run_service($scenario, service("failsafe.py", &[]), None).await;
                assert_valid(&outcome);
                remove_store(&outcome);
            }
        )*

        /// The scenarios the Python failsafe is held valid on, one test each.
        const COVERED: &[&str] = &[$($scenario),*];
    };
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
    python_failsafe_is_valid_on_gateway_lost_response: "gateway-lost-response",
    python_failsafe_is_valid_on_gateway_flaky: "gateway-flaky",
    python_failsafe_is_valid_on_sentinel_partition: "sentinel-partition",
    python_failsafe_is_valid_on_sentinel_partition_mitigated: "sentinel-partition-mitigated",
    python_failsafe_is_valid_on_sentinel_kill_master: "sentinel-kill-master",
    python_failsafe_is_valid_on_sentinel_flapping: "sentinel-flapping",
}

#[test]
fn every_bundled_billing_scenario_holds_the_python_failsafe_to_a_verdict() {
    // A billing system is tested on billing scenarios only: the others run Jepsen's
    // workloads on Redis alone.
    let mut bundled: Vec<String> = faultline::scenario::bundled()
        .into_iter()
        .filter(|(_, s)| s.as_ref().expect("a bundled scenario").workload == WorkloadKind::Billing)
        .map(|(name, _)| name)
        .collect();
    // `service-crash` has its own test below, which also checks its faults took effect.
    bundled.retain(|name| name != "service-crash");
    let mut covered: Vec<String> = COVERED.iter().map(|s| s.to_string()).collect();
    bundled.sort();
    covered.sort();
    assert_eq!(covered, bundled, "a bundled scenario without a Python failsafe test");
}

#[tokio::test(flavor = "multi_thread")]
async fn killing_the_python_failsafe_between_charge_and_credit_loses_no_money() {
    let outcome = run_service("service-crash", service("failsafe.py", &[]), None).await;
    assert_valid(&outcome);
    assert_eq!(
        outcome.reach.took_effect(),
        4,
        "every service fault took effect: {:?}",
        outcome.reach
    );
    assert!(outcome.reach.ineffective().is_empty(), "{:?}", outcome.reach.ineffective());
    let history = std::fs::read_to_string(outcome.dir.file("history.jsonl")).unwrap();
    let kills = history.lines().filter(|l| l.contains("\"killed_pid\"")).count();
    assert_eq!(kills, 2, "two kills, each just after a capture");
    assert_eq!(history.matches("\"after_charge\":").count(), 2, "each killed after a capture");
    let stderr =
        std::fs::read_to_string(outcome.dir.file("service.stderr.log")).unwrap_or_default();
    let stdout =
        std::fs::read_to_string(outcome.dir.file("service.stdout.log")).unwrap_or_default();
    assert!(
        !(stderr.is_empty() && stdout.is_empty()),
        "the service's output is kept across restarts"
    );
    remove_store(&outcome);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_that_retries_with_a_fresh_key_after_a_lost_answer_double_charges_and_the_report_says_why()
 {
    let buggy = service("failsafe.py", &[("FAULTLINE_BUG", "retry-fresh-key")]);
    let outcome = run_service("gateway-lost-response", buggy, None).await;
    let report = &outcome.report;
    assert_eq!(report.validity(), Validity::Invalid, "{report}");
    let over = report.result("over-charge").expect("an over-charge row");
    let duplicate =
        over.verdict.anomalies().iter().find(|g| g.kind == AnomalyKind::DuplicateRecharge);
    let duplicate = duplicate.unwrap_or_else(|| panic!("no duplicate recharge:\n{report}"));
    assert!(
        duplicate.first.explanation.contains("it charged again instead of asking the gateway"),
        "{}",
        duplicate.first.explanation
    );
    let html = std::fs::read_to_string(outcome.dir.file("report.html")).unwrap();
    assert!(
        html.contains("it charged again instead of asking the gateway"),
        "the report explains it"
    );
    remove_store(&outcome);
}

#[test]
fn a_service_that_exits_at_start_is_exit_3_with_its_command_line_and_stderr() {
    let store =
        std::env::temp_dir().join(format!("faultline-test-service-exits-{}", std::process::id()));
    let line = "python3 -c \"import sys; print('cannot reach redis: boom', file=sys.stderr); sys.exit(2)\"";
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["run", "--scenario", "kill-master", "--service", line, "--store"])
        .arg(&store)
        .output()
        .expect("faultline runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.contains("cannot reach redis: boom") && stdout.contains("python3 -c"),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(store);
}

#[test]
fn a_service_fault_against_a_system_inside_faultline_is_refused_before_anything_runs() {
    let store =
        std::env::temp_dir().join(format!("faultline-test-service-refused-{}", std::process::id()));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["run", "--scenario", "service-crash", "--sut", "failsafe", "--store"])
        .arg(&store)
        .output()
        .expect("faultline runs");
    let _ = std::fs::remove_dir_all(store);
    let all =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(3), "{all}");
    assert!(all.contains("<bundled>/service-crash.toml:") && all.contains("--service"), "{all}");
}
