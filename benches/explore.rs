//! `faultline explore` against `naive` from 3 seeds: time to the first failure and
//! time to shrink it (within 4 minutes), with how small it got and how often it failed
//! again.
//!
//! `cargo bench --bench explore`

use faultline::explore::{ExploreOptions, Explored, explore};
use faultline::store::Store;

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    for seed in [1, 2, 3] {
        let store =
            Store::new(std::env::temp_dir().join(format!("faultline-bench-explore-{seed}")));
        let _ = std::fs::remove_dir_all(store.root());
        let options = ExploreOptions {
            store,
            shrink_budget: std::time::Duration::from_secs(240),
            ..ExploreOptions::new("naive", seed)
        };
        match explore(&options, runtime.handle().clone(), &|_| {})? {
            Explored::Passed { cases, .. } => println!("seed {seed}: no failure in {cases} cases"),
            Explored::Failed(found) => println!(
                "seed {seed}: first failure after {:.0} s; shrunk in {:.0} s ({} steps, {} runs each) to {} fault(s), failing {} of {} replays: {}",
                found.to_first_failure.as_secs_f64(),
                found.shrinking.as_secs_f64(),
                found.shrink_steps,
                options.runs_per_candidate,
                found.minimal.faults.len(),
                found.replays_failed.0,
                found.replays_failed.1,
                found.minimal
            ),
        }
    }
    Ok(())
}
