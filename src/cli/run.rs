//! `faultline run`: scenarios against systems under test, a verdict table at the end.

use anyhow::Context;
use checkers::Validity;
use faultline::hosts::Inventory;
use faultline::progress::Progress;
use faultline::runner::{Run, RunError, RunOptions, RunOutcome, check_service_faults};
use faultline::scenario::{Overrides, Scenario, WorkloadKind};
use faultline::service::ServiceSpec;
use faultline::store::Store;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// `faultline run` options.
#[derive(clap::Args)]
pub struct RunArgs {
    /// A bundled scenario's name (see `faultline scenarios`) or a scenario file.
    #[arg(long, default_value = "twilio-2013")]
    scenario: String,
    /// The system under test; give it several times to run each. Default: every
    /// built-in one (naive and failsafe), side by side.
    #[arg(long)]
    sut: Vec<String>,
    /// A service under test in any language, speaking faultline-http/1
    /// (docs/protocol.md): the command that starts it, e.g. `--service "python3
    /// examples/python/failsafe.py"`. Give it several times to run each; with no `--sut`,
    /// only the services run. Replaces the scenario's `[sut]`.
    #[arg(long)]
    service: Vec<String>,
    /// A service under test run as a container of this image (present on this
    /// machine; never pulled), on the run's own network. Give it several times to run
    /// each; beside `--service` and `--service-build`.
    #[arg(long, value_name = "NAME")]
    service_image: Vec<String>,
    /// A service under test run as a container of the image built from this directory
    /// (it holds a Dockerfile; rebuilt only when its contents change), on the run's own
    /// network, e.g. `--service-build examples/python`.
    #[arg(long, value_name = "DIR")]
    service_build: Vec<PathBuf>,
    /// Replaces the scenario's seed.
    #[arg(long)]
    seed: Option<u64>,
    /// How long clients run, e.g. `30s` or `2m`.
    #[arg(long, value_parser = humantime::parse_duration)]
    time_limit: Option<Duration>,
    /// Concurrent client workers.
    #[arg(long)]
    concurrency: Option<u32>,
    /// How long clients run again after every fault healed, e.g. `5s`; `0s` skips the
    /// recovery phase.
    #[arg(long, value_parser = humantime::parse_duration)]
    recovery: Option<Duration>,
    /// Runs each system this many times, with seeds seed, seed+1, ...
    #[arg(long, default_value_t = 1)]
    test_count: u64,
    /// Leaves the cluster running afterwards, labelled as kept: `faultline clean --run
    /// ID` (or `--all`) removes it; a plain `faultline clean` leaves it.
    #[arg(long)]
    keep: bool,
    /// The store's directory.
    #[arg(long, default_value = "store")]
    store: PathBuf,
    /// Runs on the hosts this inventory lists, over SSH, instead of containers (see
    /// `faultline hosts up` for a fleet to try it on).
    #[arg(long, value_name = "HOSTS_TOML")]
    hosts: Option<PathBuf>,
    /// With `--hosts`: prints every command the run would send to each host, in order,
    /// and changes nothing.
    #[arg(long, requires = "hosts")]
    dry_run: bool,
}

/// A system to run: built in (or registered) by name, a `--service`, or the scenario's
/// own `[sut]`.
enum System {
    Named(String),
    Service(Box<ServiceSpec>),
    ScenarioService,
}

struct Row {
    sut: String,
    seed: u64,
    outcome: Result<RunOutcome, RunError>,
}

pub async fn run(args: RunArgs, interrupt: CancellationToken) -> anyhow::Result<ExitCode> {
    let scenario = Scenario::load(&args.scenario)?;
    let hosts = args.hosts.as_deref().map(Inventory::load).transpose()?;
    if let (true, Some(inventory)) = (args.dry_run, &hosts) {
        let resolved = scenario.clone().resolve(&Overrides {
            seed: args.seed,
            time_limit: args.time_limit,
            concurrency: args.concurrency,
            recovery: args.recovery,
        })?;
        print!("{}", faultline::hosts::dry_run(&resolved, inventory)?);
        return Ok(ExitCode::SUCCESS);
    }
    let registry = designs::builtin();
    let mut services = args
        .service
        .iter()
        .map(|line| ServiceSpec::from_command_line(line))
        .collect::<Result<Vec<_>, _>>()?;
    for image in &args.service_image {
        services.push(ServiceSpec::from_image(image)?);
    }
    for dir in &args.service_build {
        services.push(ServiceSpec::from_build(dir)?);
    }
    let named = match (&args.sut[..], scenario.workload) {
        ([], _) if !services.is_empty() || scenario.sut.is_some() => vec![],
        ([], WorkloadKind::Billing) => registry.names().into_iter().map(str::to_string).collect(),
        ([], _) => vec!["redis".to_string()],
        (given, _) => given.to_vec(),
    };
    let mut suts: Vec<System> = named.into_iter().map(System::Named).collect();
    suts.extend(services.into_iter().map(|spec| System::Service(Box::new(spec))));
    if suts.is_empty() {
        suts.push(System::ScenarioService);
    }
    let base_seed = args.seed.unwrap_or(scenario.seed);
    let overrides = |seed| Overrides {
        seed: Some(seed),
        time_limit: args.time_limit,
        concurrency: args.concurrency,
        recovery: args.recovery,
    };
    let first = scenario.clone().resolve(&overrides(base_seed))?;
    for sut in &suts {
        let checked = match sut {
            System::Named(name) => check_service_faults(&first, None, name),
            System::Service(spec) => check_service_faults(&first, Some(spec), &spec.name()),
            System::ScenarioService => match &first.sut {
                Some(spec) => check_service_faults(&first, Some(spec), &spec.name()),
                None => Ok(()),
            },
        };
        checked?;
    }
    crate::ensure_images().await?;
    let mut rows = Vec::new();
    for i in 0..args.test_count {
        for sut in &suts {
            let seed = base_seed + i;
            let resolved = scenario.clone().resolve(&overrides(seed))?;
            let name = match sut {
                System::Named(name) => name.clone(),
                System::Service(spec) => spec.name(),
                System::ScenarioService => {
                    resolved.sut.as_ref().map_or_else(String::new, |s| s.name())
                }
            };
            let options = RunOptions {
                store: Store::new(&args.store),
                registry: registry.clone(),
                keep: args.keep,
                interrupt: interrupt.clone(),
                progress: Progress::auto(&format!("{}/{name} seed {seed}", scenario.name)),
                service: match sut {
                    System::Service(spec) => Some((**spec).clone()),
                    _ => None,
                },
                hosts: hosts.clone(),
                ..RunOptions::default()
            };
            let outcome = match sut {
                System::Named(name) => Run::new(resolved, name, options).execute().await,
                _ => match Run::of_service(resolved, options) {
                    Ok(run) => run.execute().await,
                    Err(e) => Err(e),
                },
            };
            if let Ok(done) = &outcome {
                println!(
                    "\n{}/{name} seed {seed}: {} in {:.0} s",
                    scenario.name,
                    done.report.validity(),
                    done.elapsed.as_secs_f64()
                );
                print!("{}", done.report);
                println!("report: {}/report.html", done.dir.path().display());
            }
            let interrupted = matches!(outcome, Err(RunError::Interrupted(_)));
            rows.push(Row { sut: name, seed, outcome });
            if interrupted {
                break;
            }
        }
    }
    print_table(&scenario.name, &rows);
    Ok(exit_code(&rows))
}

fn print_table(scenario: &str, rows: &[Row]) {
    let width = 26;
    let mut header = format!("\n{:<24}", scenario);
    for row in rows {
        header.push_str(&format!("{:<width$}", format!("{} (seed {})", row.sut, row.seed)));
    }
    println!("{header}");
    let mut verdict = format!("{:<24}", "verdict");
    for row in rows {
        let cell = match &row.outcome {
            Ok(o) => o.report.validity().to_string(),
            Err(RunError::Interrupted(_)) => "interrupted".to_string(),
            Err(_) => "harness failed".to_string(),
        };
        verdict.push_str(&format!("{cell:<width$}"));
    }
    println!("{verdict}");
    let (safety, liveness) = checker_names(rows);
    for checker in &safety {
        println!("{}", checker_line(checker, rows, width));
    }
    if !liveness.is_empty() {
        println!("liveness (reported beside the verdict, not in it):");
        for checker in &liveness {
            println!("{}", checker_line(checker, rows, width));
        }
    }
    for row in rows {
        match &row.outcome {
            Ok(o) => {
                println!("{} seed {}: {}/report.html", row.sut, row.seed, o.dir.path().display())
            }
            Err(e) => println!("{} seed {}: {e:#}", row.sut, row.seed),
        }
    }
}

/// Every checker that reported, in order: the safety ones, then the liveness ones.
fn checker_names(rows: &[Row]) -> (Vec<String>, Vec<String>) {
    let (mut safety, mut liveness) = (Vec::new(), Vec::new());
    let results =
        rows.iter().filter_map(|r| r.outcome.as_ref().ok()).flat_map(|o| &o.report.results);
    for result in results {
        let names: &mut Vec<String> = if result.is_safety() { &mut safety } else { &mut liveness };
        if !names.contains(&result.checker) {
            names.push(result.checker.clone());
        }
    }
    (safety, liveness)
}

fn checker_line(checker: &str, rows: &[Row], width: usize) -> String {
    let mut line = format!("{checker:<24}");
    for row in rows {
        let cell = match row.outcome.as_ref().ok().and_then(|o| o.report.result(checker)) {
            Some(r) => {
                let count: u64 = r.verdict.anomalies().iter().map(|g| g.count).sum();
                match r.verdict.validity() {
                    Validity::Invalid => format!("{} ({count})", r.status()),
                    _ => r.status().to_string(),
                }
            }
            None => "-".to_string(),
        };
        line.push_str(&format!("{cell:<width$}"));
    }
    line
}

/// 3 if the harness failed for any run; otherwise the worst verdict's code.
fn exit_code(rows: &[Row]) -> ExitCode {
    if rows.iter().any(|r| r.outcome.is_err()) {
        return ExitCode::from(3);
    }
    let worst =
        rows.iter().filter_map(|r| r.outcome.as_ref().ok()).map(|o| o.report.validity()).max();
    ExitCode::from(worst.unwrap_or(Validity::Valid).exit_code() as u8)
}

/// `faultline scenarios`: every bundled scenario with its description.
pub fn scenarios() -> anyhow::Result<ExitCode> {
    for (name, scenario) in faultline::scenario::bundled() {
        let scenario = scenario.with_context(|| format!("bundled scenario {name}"))?;
        println!("{name:<22} {}", scenario.description);
    }
    Ok(ExitCode::SUCCESS)
}
