//! `faultline run --scenario twilio-2013`, timed from start to verdict (images built),
//! against both systems; for the invalid one, when the first anomaly's witnessing
//! operation happened, next to when the bad restart began.
//!
//! `cargo bench --bench twilio`

use faultline::progress::Progress;
use faultline::runner::{Run, RunOptions, RunOutcome};
use faultline::scenario::{Overrides, Scenario};
use faultline::store::Store;

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
        first_anomaly(&outcome);
    }
    Ok(())
}

/// Prints when the earliest witnessing operation of any anomaly happened, from the
/// run's results.
fn first_anomaly(outcome: &RunOutcome) {
    let results = &outcome.results;
    let Some(first) = results.first_anomaly().and_then(|f| f.first.witness) else { return };
    let restart = results.faults.iter().find(|f| f.fault == "restart-2013").map(|f| f.start);
    let restart = restart.map_or_else(|| "never".to_string(), |t| format!("{t:.1} s"));
    println!(
        "  the bad restart began at {restart}; the first anomaly's witness (op {}) at {:.1} s",
        first.index, first.time
    );
}
