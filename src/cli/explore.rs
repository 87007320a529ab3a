//! `faultline explore`: random fault schedules against a system, shrunk to a minimal
//! failing scenario file.

use faultline::explore::{ExploreOptions, Explored, explore};
use faultline::store::Store;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// `faultline explore` options.
#[derive(clap::Args)]
pub struct ExploreArgs {
    /// The system under test.
    #[arg(long)]
    sut: String,
    /// At most this many cases.
    #[arg(long, default_value_t = 20)]
    cases: u32,
    /// No new case starts after this long, e.g. `10m`.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    budget: Duration,
    /// Shrinking stops after this long.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    shrink_budget: Duration,
    /// Shrinking stops after this many candidates.
    #[arg(long, default_value_t = 40)]
    shrink_candidates: u32,
    /// While shrinking, runs of each candidate; it counts as failing if any fails.
    #[arg(long, default_value_t = 3)]
    runs_per_candidate: u32,
    /// Replays of the minimal failing case.
    #[arg(long, default_value_t = 5)]
    replays: u32,
    /// Seeds the cases; a fresh one by default (printed, to explore again the same way).
    #[arg(long)]
    seed: Option<u64>,
    /// The store's directory.
    #[arg(long, default_value = "store")]
    store: PathBuf,
}

pub async fn run(args: ExploreArgs, interrupt: CancellationToken) -> anyhow::Result<ExitCode> {
    let seed = args.seed.unwrap_or_else(rand::random);
    println!(
        "exploring {} with seed {seed} (at most {} cases within {})",
        args.sut,
        args.cases,
        humantime::format_duration(args.budget)
    );
    let options = ExploreOptions {
        cases: args.cases,
        budget: args.budget,
        shrink_budget: args.shrink_budget,
        shrink_candidates: args.shrink_candidates,
        runs_per_candidate: args.runs_per_candidate,
        replays: args.replays,
        store: Store::new(&args.store),
        interrupt,
        ..ExploreOptions::new(&args.sut, seed)
    };
    let handle = tokio::runtime::Handle::current();
    let explored =
        tokio::task::spawn_blocking(move || explore(&options, handle, &|line| println!("{line}")))
            .await??;
    match explored {
        Explored::Passed { cases, unknown, elapsed } => {
            println!(
                "{} passed {cases} cases in {:.0} s: no failing schedule found; {unknown}",
                args.sut,
                elapsed.as_secs_f64()
            );
            Ok(ExitCode::SUCCESS)
        }
        Explored::Failed(found) => {
            println!("\n{} fails.", args.sut);
            if found.from_regressions {
                println!("a recorded regression still fails: {}", found.minimal);
            } else {
                println!("first failing case: {}", found.first);
                println!(
                    "shrunk in {} steps ({} runs per candidate) to: {}",
                    found.shrink_steps, args.runs_per_candidate, found.minimal
                );
            }
            println!("it failed {} of {} replays", found.replays_failed.0, found.replays_failed.1);
            println!("{}", found.unknown);
            println!(
                "time to the first failure {:.0} s, to shrink {:.0} s",
                found.to_first_failure.as_secs_f64(),
                found.shrinking.as_secs_f64()
            );
            println!(
                "replay it: faultline run --scenario {} --sut {}",
                found.scenario_file.display(),
                args.sut
            );
            Ok(ExitCode::from(1))
        }
    }
}
