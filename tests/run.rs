//! `faultline run` end to end: the 2013 incident reproduced against `naive` and
//! prevented by `failsafe`, every bundled scenario to a verdict, the report rendered,
//! and the command line's exit codes.

use crate::common::{assert_valid, remove_store};
use checkers::verdict::AnomalyKind;
use checkers::{Report, Validity};
use faultline::runner::{Run, RunOptions, RunOutcome};
use faultline::scenario::{Overrides, Scenario};
use faultline::store::Store;
use std::path::PathBuf;
use std::process::Command;

fn temporary_store(name: &str) -> Store {
    let root = std::env::temp_dir().join(format!("faultline-test-{name}-{}", std::process::id()));
    Store::new(root)
}

async fn run(scenario: &str, sut: &str, seed: Option<u64>) -> RunOutcome {
    let scenario = Scenario::load(scenario)
        .expect("a bundled scenario")
        .resolve(&Overrides { seed, ..Overrides::default() })
        .expect("the bundled scenario fits its own time limit");
    let store = temporary_store(&format!("{}-{sut}-{}", scenario.name, scenario.seed));
    let root = store.root().to_path_buf();
    // One store per test: a passing test removes its store while others still run.
    let options = RunOptions { store, ..RunOptions::default() };
    crate::common::verdict_of(Run::new(scenario, sut, options), &root).await
}

fn group<'a>(report: &'a Report, checker: &str, kind: AnomalyKind) -> &'a checkers::AnomalyGroup {
    let result = report.result(checker).unwrap_or_else(|| panic!("no {checker} result:\n{report}"));
    let found = result.verdict.anomalies().iter().find(|g| g.kind == kind);
    found.unwrap_or_else(|| panic!("{checker} found no {kind:?}:\n{report}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn twilio_2013_against_naive_is_invalid_the_way_2013_was_and_the_report_says_why() {
    let outcome = run("twilio-2013", "naive", None).await;
    let report = &outcome.report;
    assert_eq!(report.validity(), Validity::Invalid, "{report}");
    let html = std::fs::read_to_string(outcome.dir.file("report.html")).unwrap();
    for (checker, kind) in [
        ("charge-without-credit", AnomalyKind::ChargeWithoutCredit),
        ("over-charge", AnomalyKind::OverCharge),
        ("wrongful-suspension", AnomalyKind::WrongfulSuspension),
        ("fail-safe", AnomalyKind::UnsafeCharge),
    ] {
        let found = group(report, checker, kind);
        assert!(!found.first.ops.is_empty(), "{checker}: no witnessing operation");
        assert_results_time_the_witness(&outcome, checker, kind);
        let witness = found.first.ops[0];
        assert!(
            html.contains(&format!("{{&quot;index&quot;:{witness},")),
            "report.html does not show op {witness} for {checker}"
        );
        assert!(
            html.contains(&report_escape(&found.first.explanation)),
            "report.html does not explain {checker}"
        );
    }
    // A library run, with no subscriber installed, writes its own log: naive's
    // warnings from the client workers' tasks are there.
    let log = std::fs::read_to_string(outcome.dir.file("faultline.log")).unwrap();
    assert!(log.contains(" WARN ") && log.contains(", ignored"), "faultline.log:\n{log}");
    let junit = std::fs::read_to_string(outcome.dir.file("junit.xml")).unwrap();
    assert!(
        junit.contains("<testcase name=\"charge-without-credit\"") && junit.contains("<failure"),
        "{junit}"
    );
    screenshot_shows_the_report(&outcome.dir.file("report.html"), &outcome.dir.file("report.png"));
    remove_store(&outcome);
}

/// The run's results give the anomaly's earliest witness with the time the history
/// records for it.
fn assert_results_time_the_witness(outcome: &RunOutcome, checker: &str, kind: AnomalyKind) {
    let results = &outcome.results;
    assert_eq!(results.verdict, Validity::Invalid);
    let finding = results.of_kind(kind).find(|f| f.checker == checker);
    let finding = finding.unwrap_or_else(|| panic!("no {checker} finding in the results"));
    let witness = finding.first.witness.expect("the earliest witness, with its time");
    assert_eq!(Some(&witness.index), finding.first.ops.iter().min());
    let history = std::fs::read_to_string(outcome.dir.file("history.jsonl")).unwrap();
    let index = format!("{{\"index\":{},", witness.index);
    let line = history.lines().find(|l| l.starts_with(&index)).expect("the witness's line");
    let op: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(witness.time, op["time"].as_u64().unwrap() as f64 / 1e9, "{line}");
}

/// Renders `html` with headless Chromium into `png` (at most 120 s), with a profile of
/// its own (never handed to another Chromium already running).
fn chromium_screenshot(html: &std::path::Path, png: &std::path::Path) -> std::process::Output {
    let profile = png.with_extension("chromium-profile");
    std::fs::create_dir_all(&profile).unwrap();
    let output = Command::new("timeout")
        .args(["--kill-after=10", "120", "chromium"])
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
            // Tall enough for the whole page: verdict, anomalies, timeline and plots.
            "--window-size=1100,4800",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", html.display()))
        .output()
        .expect("chromium (Debian's package) renders the report; .ci/run installs it");
    std::fs::remove_dir_all(&profile).ok();
    output
}

/// Renders `html` with headless Chromium into `png`, and checks a picture came out.
fn screenshot_shows_the_report(html: &std::path::Path, png: &std::path::Path) {
    // Chromium can hang (shared memory in a container, a stuck GPU process) where it
    // rendered the same page a minute before: each attempt runs under `timeout`, and a
    // second one follows a hang, so a hang fails this test in minutes, never stalls it.
    let mut status = chromium_screenshot(html, png);
    if status.status.code() == Some(124) {
        status = chromium_screenshot(html, png);
    }
    assert_ne!(status.status.code(), Some(124), "chromium did not finish within 120 s, twice");
    assert!(
        status.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    let bytes = std::fs::read(png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    assert!(
        bytes.len() > 200_000,
        "a {}-byte picture cannot show the verdict, timeline and plots",
        bytes.len()
    );
}

macro_rules! failsafe_survives_2013 {
    ($($name:ident: $seed:expr,)*) => {$(
        #[tokio::test(flavor = "multi_thread")]
        async fn $name() {
            let outcome = run("twilio-2013", "failsafe", Some($seed)).await;
            assert_valid(&outcome);
            remove_store(&outcome);
        }
    )*};
}

failsafe_survives_2013! {
    twilio_2013_against_failsafe_is_valid_seed_1: 1,
    twilio_2013_against_failsafe_is_valid_seed_2: 2,
    twilio_2013_against_failsafe_is_valid_seed_3: 3,
    twilio_2013_against_failsafe_is_valid_seed_4: 4,
    twilio_2013_against_failsafe_is_valid_seed_5: 5,
}

/// The gateway's faults took effect: some charge met each judged fault, and the
/// caller-visible answers the scenario is about were recorded.
fn assert_gateway_faults_met(outcome: &RunOutcome, answers: &[&str]) {
    let history = std::fs::read_to_string(outcome.dir.file("history.jsonl")).unwrap();
    for answer in answers {
        let recorded = format!("\"answer\":\"{answer}\"");
        assert!(
            history.contains(&recorded),
            "no charge answered {answer}: {}",
            outcome.dir.path().display()
        );
    }
    let faults = outcome.report.result("faults").expect("a faults result");
    assert_eq!(faults.verdict, checkers::Verdict::Valid, "{}", outcome.report);
}

macro_rules! failsafe_survives_the_gateway {
    ($($name:ident: $scenario:expr, $seed:expr, $answers:expr,)*) => {$(
        #[tokio::test(flavor = "multi_thread")]
        async fn $name() {
            let outcome = run($scenario, "failsafe", Some($seed)).await;
            assert_valid(&outcome);
            assert_gateway_faults_met(&outcome, &$answers);
            remove_store(&outcome);
        }
    )*};
}

failsafe_survives_the_gateway! {
    gateway_lost_response_against_failsafe_is_valid_seed_11: "gateway-lost-response", 11, ["lost", "error"],
    gateway_flaky_against_failsafe_is_valid_seed_12: "gateway-flaky", 12, ["error", "unavailable", "declined"],
}

macro_rules! scenario_reaches_a_verdict {
    ($($name:ident: $scenario:expr,)*) => {$(
        #[tokio::test(flavor = "multi_thread")]
        async fn $name() {
            for sut in ["naive", "failsafe"] {
                let outcome = run($scenario, sut, None).await;
                assert!(outcome.dir.file("results.json").exists() && outcome.dir.file("report.html").exists());
                assert_schedule_and_recovery_recorded($scenario, &outcome);
                println!("{} against {sut}: {}", $scenario, outcome.report.validity());
                if sut == "failsafe" {
                    assert_valid(&outcome);
                }
                remove_store(&outcome);
            }
        }
    )*};
}

scenario_reaches_a_verdict! {
    partition_replicas_reaches_a_verdict_against_both: "partition-replicas",
    kill_master_reaches_a_verdict_against_both: "kill-master",
    pause_master_reaches_a_verdict_against_both: "pause-master",
    failover_reaches_a_verdict_against_both: "failover",
    split_brain_reaches_a_verdict_against_both: "split-brain",
    postgres_restart_reaches_a_verdict_against_both: "postgres-restart",
    random_reaches_a_verdict_against_both: "random",
    contended_reaches_a_verdict_against_both: "contended",
    twilio_2013_contended_reaches_a_verdict_against_both: "twilio-2013-contended",
}

/// The header lists the scenario's steps (written, then drawn from the run's seed), and
/// the recovery phase was recorded after every fault's heal.
fn assert_schedule_and_recovery_recorded(scenario: &str, outcome: &RunOutcome) {
    let history = std::fs::read_to_string(outcome.dir.file("history.jsonl")).unwrap();
    let header: serde_json::Value = serde_json::from_str(history.lines().next().unwrap()).unwrap();
    let mut scenario = Scenario::load(scenario).unwrap();
    scenario.seed = header["seed"].as_u64().expect("the header's seed");
    let schedule = scenario.schedule();
    let steps = schedule.faults.len() + schedule.random.len();
    assert_eq!(header["schedule"].as_array().map(Vec::len), Some(steps), "{header}");
    let lines: Vec<&str> = history.lines().collect();
    let phase = lines.iter().position(|l| l.contains("\"f\":\"phase\""));
    let last_heal = lines.iter().rposition(|l| l.contains("\"f\":\"heal\""));
    assert!(phase.is_some() && phase > last_heal, "no recovery phase after the last heal");
}

fn faultline(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_faultline")).args(args).output().unwrap()
}

#[test]
fn an_unknown_scenario_is_a_harness_error_that_lists_the_bundled_ones() {
    let out = faultline(&["run", "--scenario", "no-such-thing"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("no scenario named \"no-such-thing\"") && stderr.contains("twilio-2013"),
        "{stderr}"
    );
}

#[test]
fn a_time_limit_that_cuts_off_a_scheduled_fault_is_refused_before_anything_runs() {
    let out = faultline(&["run", "--scenario", "twilio-2013", "--time-limit", "4s"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("<bundled>/twilio-2013.toml:")
            && stderr.contains("fault \"resync-storm\" (step 0) starts at 5s")
            && stderr.contains("--time-limit 4s"),
        "{stderr}"
    );
}

#[test]
fn scenarios_lists_every_bundled_one() {
    let out = faultline(&["scenarios"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for (name, _) in workloads::scenarios::BUNDLED {
        assert!(stdout.lines().any(|l| l.starts_with(name)), "{name} missing from:\n{stdout}");
    }
}

#[test]
fn check_exits_0_valid_1_invalid_3_for_a_malformed_history() {
    let dir: PathBuf = std::env::temp_dir().join(format!("faultline-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let header = "{\"schema\":\"faultline.history/1\",\"workload\":\"counter\"}\n";
    let add = "{\"index\":0,\"time\":0,\"process\":0,\"type\":\"invoke\",\"f\":\"add\",\"value\":2}\n{\"index\":1,\"time\":5,\"process\":0,\"type\":\"ok\",\"f\":\"add\",\"value\":2}\n";
    let read = |v: i64| {
        format!(
            "{{\"index\":2,\"time\":6,\"process\":1,\"type\":\"invoke\",\"f\":\"read\"}}\n{{\"index\":3,\"time\":9,\"process\":1,\"type\":\"ok\",\"f\":\"read\",\"value\":{v}}}\n"
        )
    };
    for (name, text, code) in [
        ("valid.jsonl", format!("{header}{add}{}", read(2)), 0),
        ("invalid.jsonl", format!("{header}{add}{}", read(7)), 1),
        ("malformed.jsonl", format!("{header}{{\"index\":\"zero\"}}\n{add}"), 3),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        let out = faultline(&["check", path.to_str().unwrap()]);
        let output = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(code), "{name}: {output}");
        if code == 3 {
            assert!(output.contains("line 2"), "{name}: the error names the line: {output}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

fn report_escape(text: &str) -> String {
    faultline::report::escape(text)
}
