//! The `faultline` command line.

mod cli;

use anyhow::Context;
use clap::{Parser, Subcommand};
use faultline::cluster::Cluster;
use faultline::cluster::clean::{Left, Scope};
use faultline::hosts::fleet::FleetSpec;
use faultline::store;
use faultline::{docker, images};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Jepsen-style fault injection for billing systems on Redis and Postgres.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario against systems under test and print their verdicts side by side
    /// (with no arguments: twilio-2013 against naive and failsafe).
    /// Exit code: 0 valid, 1 invalid, 2 unknown, 3 the harness failed or refused the
    /// scenario (e.g. a fault that could not start before `--time-limit`).
    Run(cli::run::RunArgs),
    /// Check a service against faultline-http/1 (docs/protocol.md) before spending a
    /// run on it: every endpoint and outcome, one line per finding.
    /// Exit code: 0 it conforms, 1 findings, 3 it could not be checked.
    Conform {
        /// The command that starts the service; faultline starts Redis, Postgres, the
        /// gateway and the service, as a run would.
        #[arg(long, conflicts_with = "url", required_unless_present = "url")]
        service: Option<String>,
        /// A service already running at this base URL, against its own stores. Its
        /// `POST /v1/setup` empties those stores: never point this at data anyone needs.
        #[arg(long)]
        url: Option<String>,
        /// Where the service's output and the history go.
        #[arg(long, default_value = "store")]
        store: PathBuf,
    },
    /// List the bundled scenarios.
    Scenarios,
    /// Random fault schedules against a system under test; a failing one is shrunk to
    /// a minimal scenario file that `faultline run --scenario FILE` replays.
    /// A case fails on an invalid safety verdict; runs that ended unknown are counted
    /// and their reasons summarised.
    /// Exit code: 0 nothing found, 1 a failing schedule found, 3 the harness failed.
    Explore(cli::explore::ExploreArgs),
    /// Start a cluster, print its endpoints, and tear it down on Ctrl-C.
    Up {
        /// Redis replicas following the master.
        #[arg(long, default_value_t = 2)]
        replicas: usize,
        /// Leave Postgres out.
        #[arg(long)]
        no_postgres: bool,
        /// Redis Sentinel nodes watching the master (an odd number; none by default).
        #[arg(long, default_value_t = 0)]
        sentinels: usize,
    },
    /// Hosts for runs over SSH (`run --hosts`).
    Hosts {
        #[command(subcommand)]
        command: HostsCommand,
    },
    /// Manage faultline's Docker images.
    Images {
        #[command(subcommand)]
        command: ImagesCommand,
    },
    /// Remove the containers and networks of runs whose process is gone; live runs and
    /// kept ones (`run --keep`) stay unless named with `--run` or swept with `--all`.
    Clean {
        /// Remove this run (its id, as `run` and `up` print it), live or kept.
        #[arg(long, conflicts_with = "all")]
        run: Option<String>,
        /// Clean the hosts of this inventory instead (over SSH): every run's state
        /// directory, dead-man switch, paused process group, server and file faultline
        /// left there, its iptables chain and a netem qdisc; nothing else.
        #[arg(long, value_name = "HOSTS_TOML", conflicts_with_all = ["run", "all"])]
        hosts: Option<PathBuf>,
        /// Remove every faultline run, live and kept ones too.
        #[arg(long)]
        all: bool,
    },
    /// Check a stored history again, offline: a run directory or a history file. For a
    /// run directory, its results, JUnit and report are written anew. With `--model`,
    /// check a register history's linearizability per key instead: a faultline history,
    /// a Jepsen EDN history or a Jepsen text log.
    /// Exit code: 0 valid (linearizable), 1 invalid, 2 unknown, 3 an unreadable history.
    Check(cli::check::CheckArgs),
    /// Browse the store over HTTP, on 127.0.0.1.
    Serve {
        /// The port (0: any free one).
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// The store's directory.
        #[arg(long, default_value = "store")]
        store: PathBuf,
    },
}

#[derive(Subcommand)]
enum ImagesCommand {
    /// Build the Redis, Postgres and host images unless this version's are present.
    Build,
}

#[derive(Subcommand)]
enum HostsCommand {
    /// Start a fleet of containers acting as hosts (sshd; Redis and Postgres run as
    /// processes; reachable only over SSH), write its hosts.toml, and tear it down on
    /// Ctrl-C.
    Up {
        /// Redis hosts (the first starts as the master).
        #[arg(long, default_value_t = 3)]
        redis: usize,
        /// Sentinel hosts.
        #[arg(long, default_value_t = 0)]
        sentinels: usize,
        /// Leave the Postgres host out.
        #[arg(long)]
        no_postgres: bool,
        /// Where the key pair, known_hosts and hosts.toml go.
        #[arg(long, default_value = "fleet")]
        dir: PathBuf,
    },
}

/// The harness itself failed (as opposed to a verdict).
const HARNESS_FAILED: u8 = 3;

fn main() -> ExitCode {
    faultline::logging::init_cli();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new().expect("a Tokio runtime");
    match runtime.block_on(dispatch(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(HARNESS_FAILED)
        }
    }
}

async fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run(args) => cli::run::run(args, interrupt_on_signal()).await,
        Command::Scenarios => cli::run::scenarios(),
        Command::Conform { service, url, store } => conform(service, url, store).await,
        Command::Explore(args) => {
            ensure_images().await?;
            cli::explore::run(args, interrupt_on_signal()).await
        }
        Command::Up { replicas, no_postgres, sentinels } => {
            up(replicas, !no_postgres, sentinels).await
        }
        Command::Images { command: ImagesCommand::Build } => build_images().await,
        Command::Hosts { command: HostsCommand::Up { redis, sentinels, no_postgres, dir } } => {
            ensure_images().await?;
            let spec = FleetSpec { redis, sentinels, postgres: !no_postgres, nosudo: None };
            faultline::hosts::fleet::up(spec, &dir).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Clean { hosts: Some(hosts), .. } => clean_hosts(&hosts).await,
        Command::Clean { run, all, hosts: None } => clean(run, all).await,
        Command::Check(args) => cli::check::check(args),
        Command::Serve { port, store } => serve(port, store).await,
    }
}

async fn up(replicas: usize, postgres: bool, sentinels: usize) -> anyhow::Result<ExitCode> {
    ensure_images().await?;
    let mut builder = Cluster::builder().redis_replicas(replicas);
    if sentinels > 0 {
        builder = builder.sentinels(sentinels, faultline::cluster::SentinelConfig::default());
    }
    if postgres {
        builder = builder.postgres();
    }
    let cluster = tokio::select! {
        cluster = builder.start() => cluster.context("starting the cluster")?,
        () = faultline::shutdown_signal() => {
            eprintln!("interrupted while starting: everything of the run was removed");
            return Ok(ExitCode::from(130));
        }
    };
    print_endpoints(&cluster);
    faultline::shutdown_signal().await;
    let run = cluster.run_id().to_string();
    cluster.teardown().await.context("tearing the cluster down")?;
    println!("run {run} torn down");
    Ok(ExitCode::SUCCESS)
}

fn print_endpoints(cluster: &Cluster) {
    let endpoints = cluster.endpoints().borrow().clone();
    println!(
        "run {} is up on network {}",
        cluster.run_id(),
        cluster.network().unwrap_or("of the hosts")
    );
    for (name, addr) in &endpoints.redis {
        let role = if *addr == endpoints.redis_master { "master" } else { "replica" };
        println!("  {name:<9} {role:<8} redis-cli -h {} -p {}", addr.ip(), addr.port());
    }
    if let Some(pg) = &endpoints.postgres {
        println!("  {:<9} {:<8} psql {}", "postgres", "ledger", pg.url());
    }
    for (name, addr) in endpoints.sentinel.iter().flat_map(|s| &s.nodes) {
        println!("  {name:<9} {:<8} redis-cli -h {} -p {}", "sentinel", addr.ip(), addr.port());
    }
    println!("press Ctrl-C to tear it down");
}

/// Builds the images if this version's are missing, so the first run on a fresh machine
/// needs no separate step.
pub(crate) async fn ensure_images() -> anyhow::Result<()> {
    let docker = docker::connect().await?;
    if images::ensure_present(&docker).await.is_err() {
        eprintln!("faultline's images are not built yet: building them (once)");
        build_images().await?;
    }
    Ok(())
}

async fn build_images() -> anyhow::Result<ExitCode> {
    println!(
        "images for this version: {}, {}, {}",
        images::reference(images::REDIS),
        images::reference(images::POSTGRES),
        images::reference(images::HOST)
    );
    match images::build(|line| println!("  {line}")).await? {
        images::Built::Present => println!("already built; nothing to do"),
        images::Built::Built(took) => println!("built in {:.1} s", took.as_secs_f64()),
    }
    Ok(ExitCode::SUCCESS)
}

async fn conform(
    service: Option<String>,
    url: Option<String>,
    store: PathBuf,
) -> anyhow::Result<ExitCode> {
    use faultline::conform::{self, Target};
    let (target, what) = match (service, url) {
        (Some(line), _) => {
            ensure_images().await?;
            (Target::Service(faultline::service::ServiceSpec::from_command_line(&line)?), line)
        }
        (None, Some(url)) => {
            println!(
                "conform sends POST /v1/setup to {url}, which empties that service's stores and \
                 opens two test accounts"
            );
            (Target::Url(url.clone()), url)
        }
        (None, None) => unreachable!("clap requires --service or --url"),
    };
    println!("conform: {what} (faultline-http/1, docs/protocol.md)");
    let conformance = conform::conform(target, &store::Store::new(store)).await?;
    print!("{conformance}");
    Ok(ExitCode::from(if conformance.failures() == 0 { 0 } else { 1 }))
}

async fn clean_hosts(path: &Path) -> anyhow::Result<ExitCode> {
    let inventory = faultline::hosts::Inventory::load(path)?;
    let report = faultline::hosts::clean(&inventory).await?;
    for (host, removed) in &report.hosts {
        match removed.is_empty() {
            true => println!("{host}: nothing left by faultline"),
            false => removed.iter().for_each(|line| println!("{host}: {line}")),
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn clean(run: Option<String>, all: bool) -> anyhow::Result<ExitCode> {
    let scope = match (run, all) {
        (Some(run), _) => Scope::Run(run),
        (None, true) => Scope::All,
        (None, false) => Scope::Dead,
    };
    for service in faultline::service::clean(&scope) {
        println!("killed service process group {} of run {}", service.pgid(), service.run);
    }
    let cleaned = faultline::cluster::clean::clean(&scope).await?;
    for (run, removed) in &cleaned.removed {
        println!(
            "removed run {run}: {} container(s), {} network(s)",
            removed.containers.len(),
            removed.networks.len()
        );
    }
    for (run, why) in &cleaned.left {
        match why {
            Left::Live(pid) => println!("left run {run}: its process {pid} still runs"),
            Left::Kept => println!("left run {run}: kept on purpose (--run {run} removes it)"),
            Left::NotAsked => {}
        }
    }
    match &scope {
        Scope::Run(asked) if cleaned.removed.is_empty() => println!("no run {asked} to remove"),
        _ if cleaned.removed.is_empty() && cleaned.left.is_empty() => {
            println!("nothing left by faultline runs")
        }
        _ => {}
    }
    Ok(ExitCode::SUCCESS)
}

async fn serve(port: u16, store: PathBuf) -> anyhow::Result<ExitCode> {
    let (listener, addr) = faultline::serve::bind(port)
        .await
        .with_context(|| format!("cannot listen on 127.0.0.1:{port}"))?;
    println!("serving {} on http://{addr}/ (Ctrl-C stops)", store.display());
    let shutdown = tokio_util::sync::CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        faultline::shutdown_signal().await;
        stop.cancel();
    });
    faultline::serve::serve(store::Store::new(store), listener, shutdown).await?;
    Ok(ExitCode::SUCCESS)
}

/// A token cancelled by the first Ctrl-C or SIGTERM, so the run heals, flushes its
/// history and removes its cluster; a second one exits at once.
fn interrupt_on_signal() -> tokio_util::sync::CancellationToken {
    let interrupt = tokio_util::sync::CancellationToken::new();
    let cancel = interrupt.clone();
    tokio::spawn(async move {
        faultline::shutdown_signal().await;
        eprintln!(
            "\ninterrupted: healing faults and removing the cluster (interrupt again to quit now)"
        );
        cancel.cancel();
        faultline::shutdown_signal().await;
        eprintln!(
            "quitting: `faultline clean` removes what is left (`faultline clean --hosts FILE` on hosts)"
        );
        std::process::exit(130);
    });
    interrupt
}
