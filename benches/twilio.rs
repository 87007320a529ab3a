//! `faultline run --scenario twilio-2013`, timed from start to verdict (images built),
//! against both systems; for the invalid one, when the first anomaly's witnessing
//! operation happened, next to when the bad restart began.
//!
//! `cargo bench --bench twilio`

use checkers::format::HistoryReader;
use checkers::history::{F, Value};
use faultline::progress::Progress;
use faultline::runner::{Run, RunOptions, RunOutcome};
use faultline::scenario::{Overrides, Scenario};
use faultline::store::{self, Store};
use std::fs::File;
use std::io::BufReader;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let store = Store::new(std::env::temp_dir().join("faultline-bench-twilio"));
    for sut in ["naive", "failsafe"] {
        let scenario = Scenario::load("twilio-2013")?.resolve(&Overrides::default())?;
        let options = RunOptions {
            store: store.clone(),
            progress: Progress::auto(sut),
            ..RunOptions::default()
        };
        let outcome = Run::new(scenario, sut, options).execute().await?;
        println!(
            "twilio-2013 against {sut}: {} in {:.1} s from start to verdict (target < 90 s), {} operations",
            outcome.report.validity(),
            outcome.elapsed.as_secs_f64(),
            outcome.report.ops
        );
        first_anomaly(&outcome)?;
    }
    Ok(())
}

/// Prints when the earliest witnessing operation of any anomaly happened.
fn first_anomaly(outcome: &RunOutcome) -> anyhow::Result<()> {
    let groups = outcome.report.results.iter().flat_map(|r| r.verdict.anomalies());
    let Some(first) = groups.flat_map(|g| g.first.ops.iter().copied()).min() else { return Ok(()) };
    let mut restart = None;
    let mut witness = None;
    let reader = HistoryReader::new(BufReader::new(File::open(outcome.dir.file(store::HISTORY))?))?;
    for op in reader {
        let op = op?;
        let bad_restart = matches!(&op.value, Value::Fault(f) if f.fault == "restart-2013");
        if restart.is_none() && op.f == F::Start && bad_restart {
            restart = Some(op.time);
        }
        if op.index == first {
            witness = Some(op.time);
            break;
        }
    }
    let secs = |ns: Option<u64>| {
        ns.map_or_else(|| "never".to_string(), |t| format!("{:.1} s", t as f64 / 1e9))
    };
    println!(
        "  the bad restart began at {}; the first anomaly's witness (op {first}) at {}",
        secs(restart),
        secs(witness)
    );
    Ok(())
}
