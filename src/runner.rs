//! One run, end to end: scenario → cluster → clients + nemesis → history → checkers →
//! verdict + report, with everything kept in the store.
//!
//! ```no_run
//! # async fn demo() -> Result<(), faultline::runner::RunError> {
//! use faultline::runner::{Run, RunOptions};
//! use faultline::scenario::{Overrides, Scenario};
//!
//! let scenario = Scenario::load("twilio-2013")?.resolve(&Overrides::default())?;
//! let outcome = Run::new(scenario, "failsafe", RunOptions::default()).execute().await?;
//! assert!(outcome.report.verdict().is_valid(), "{}", outcome.report);
//! // The same as data: no anomaly, and the figures the report shows.
//! assert!(outcome.results.first_anomaly().is_none());
//! assert!(outcome.results.charges.captured > 0);
//! # Ok(()) }
//! ```
//!
//! Phases: the cluster starts; the history opens in the run's directory, its header
//! listing the schedule's steps; the workload sets up (schema, accounts, the monitor);
//! clients run for the time limit while the nemesis performs the schedule; the nemesis
//! heals everything; the recovery phase (recorded as a `phase` op) runs clients again
//! with no fault for the scenario's `recovery`; after a quiet period the workload
//! settles and records final states; node logs are saved; the cluster is torn down; the
//! checkers judge the stored history; results, JUnit and the report are written. On interruption (Ctrl-C) the clients stop, the nemesis heals, the history is
//! flushed and the cluster torn down: the run directory keeps what happened.

use crate::cluster::{Cluster, ClusterError};
use crate::logging;
use crate::nemesis::{Nemesis, NemesisError, Reachability, Schedule};
use crate::progress::Progress;
use crate::report::{self, Results};
use crate::scenario::{Scenario, ScenarioError, WorkloadSpec};
use crate::service::{Launch, Launched, ServiceSpec};
use crate::store::{self, RunDir, Store};
use checkers::format::{Header, HistoryReader};
use checkers::history::{F, OpType, Phase, PhaseName, Process, Value};
use checkers::{Report, Suite};
use std::fs::File;
use std::io::{self, BufReader};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use workloads::billing::BillingRun;
use workloads::counter::CounterRun;
use workloads::gateway::Gateway;
use workloads::recorder::Recorder;
use workloads::register::RegisterRun;
use workloads::sentinel::SentinelWatch;
use workloads::set::SetRun;
use workloads::sut::Registry;

/// The run's log, in its directory.
const LOG: &str = "faultline.log";

/// Why a run did not reach a verdict.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The scenario is invalid.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// No system under test has that name.
    #[error(transparent)]
    UnknownSystem(#[from] workloads::sut::UnknownSystem),
    /// The cluster failed.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// The workload could not start.
    #[error(transparent)]
    Workload(#[from] workloads::WorkloadError),
    /// The service under test could not be started or reached.
    #[error(transparent)]
    Service(#[from] crate::service::ServiceError),
    /// A fault needs the service under test as a container, and the run has none.
    #[error("{0}")]
    NeedsContainer(String),
    /// The nemesis failed outright.
    #[error(transparent)]
    Nemesis(#[from] NemesisError),
    /// The store could not be written.
    #[error("writing the run's files: {0}")]
    Io(#[from] io::Error),
    /// The stored history could not be read back.
    #[error("reading the history back: {0}")]
    History(#[from] checkers::format::ReadError),
    /// The run cannot take place on hosts as asked.
    #[error("on hosts: {0}")]
    Hosts(String),
    /// Interrupted (Ctrl-C): everything was healed and removed; the history is kept.
    #[error("interrupted: the cluster was healed and removed; what happened is in {}", .0.display())]
    Interrupted(std::path::PathBuf),
}

/// How to run, beyond the scenario.
#[derive(Clone)]
pub struct RunOptions {
    /// Where run directories go.
    pub store: Store,
    /// The systems under test to choose from; by default faultline's own designs
    /// (`designs::builtin()`).
    pub registry: Registry,
    /// Leave the cluster running afterwards, labelled as kept from its start (remove it
    /// with `faultline clean --run ID` or `--all`).
    pub keep: bool,
    /// The command line, recorded in `run.json`.
    pub command_line: Vec<String>,
    /// Stops the run early (Ctrl-C).
    pub interrupt: CancellationToken,
    /// Where progress goes.
    pub progress: Progress,
    /// A service under test to start (`--service`), instead of the scenario's `[sut]`.
    pub service: Option<ServiceSpec>,
    /// Run on these hosts over SSH (`--hosts hosts.toml`) instead of containers.
    pub hosts: Option<crate::hosts::Inventory>,
}

impl Default for RunOptions {
    fn default() -> RunOptions {
        RunOptions {
            store: Store::default(),
            registry: designs::builtin(),
            keep: false,
            command_line: std::env::args().collect(),
            interrupt: CancellationToken::new(),
            progress: Progress::quiet(),
            service: None,
            hosts: None,
        }
    }
}

/// What a run produced.
#[derive(Debug)]
pub struct RunOutcome {
    /// Its directory in the store.
    pub dir: RunDir,
    /// The checkers' verdicts.
    pub report: Report,
    /// The results as data: the verdict, each anomaly with its earliest witness's index
    /// and time, and the figures the report shows.
    pub results: Results,
    /// Which faults took effect.
    pub reach: Reachability,
    /// The cluster's run id.
    pub run_id: String,
    /// Wall time from start to verdict.
    pub elapsed: Duration,
}

/// A run about to happen.
pub struct Run {
    scenario: Scenario,
    sut: String,
    options: RunOptions,
}

impl Run {
    /// A run of a resolved `scenario` against the system under test named `sut`.
    pub fn new(scenario: Scenario, sut: &str, options: RunOptions) -> Run {
        Run { scenario, sut: sut.to_string(), options }
    }

    /// A run of a resolved `scenario` against the service it names (`[sut]`) or
    /// [`RunOptions::service`], called by the service's name.
    pub fn of_service(scenario: Scenario, options: RunOptions) -> Result<Run, RunError> {
        let spec = options.service.as_ref().or(scenario.sut.as_ref()).ok_or_else(|| {
            RunError::Service(crate::service::ServiceError::BadCommand(
                "(none: the scenario has no [sut] and no --service was given)".into(),
            ))
        })?;
        let sut = spec.name();
        Ok(Run { scenario, sut, options })
    }

    /// The service this run starts, if any: `--service`, else the scenario's `[sut]`.
    fn service(&self) -> Option<&ServiceSpec> {
        self.options.service.as_ref().or(self.scenario.sut.as_ref())
    }

    /// Runs it to a verdict on a cluster of its own, started for it and removed after
    /// it (unless [`RunOptions::keep`]). What it logs goes to the run's `faultline.log`
    /// ([`logging`]).
    pub async fn execute(self) -> Result<RunOutcome, RunError> {
        let started = Instant::now();
        let outcome = match self.prepare() {
            Ok(dir) => logging::in_run(&dir.file(LOG), self.on_own_cluster(dir, started)).await,
            Err(e) => Err(e),
        };
        self.options.progress.done();
        outcome
    }

    /// Runs it to a verdict on `cluster`, which must have healed from any earlier run,
    /// and leaves it running: what `faultline explore` does between cases. The workload
    /// starts from empty stores (its set-up recreates the schema and flushes Redis).
    pub async fn execute_on(self, cluster: &Cluster) -> Result<RunOutcome, RunError> {
        let started = Instant::now();
        let on = async |dir: RunDir| {
            let reach = self.record(cluster, &dir).await?;
            self.verdict(dir, reach, cluster.run_id(), started)
        };
        let outcome = match self.prepare() {
            Ok(dir) => logging::in_run(&dir.file(LOG), on(dir)).await,
            Err(e) => Err(e),
        };
        self.options.progress.done();
        outcome
    }

    async fn on_own_cluster(&self, dir: RunDir, started: Instant) -> Result<RunOutcome, RunError> {
        let progress = &self.options.progress;
        progress.phase("starting the cluster");
        let builder = self.scenario.cluster.builder(self.scenario.seed).kept(self.options.keep);
        let start = async {
            match &self.options.hosts {
                None => builder.start().await,
                Some(inventory) => {
                    let needs = self.scenario.schedule().needs();
                    crate::hosts::start_cluster(builder, inventory, needs).await
                }
            }
        };
        let cluster = tokio::select! {
            cluster = start => cluster?,
            () = self.options.interrupt.cancelled() => return Err(RunError::Interrupted(dir.path().to_path_buf())),
        };
        let reach = self.record(&cluster, &dir).await;
        let run_id = cluster.run_id().to_string();
        if self.options.keep {
            progress.note(&format!(
                "cluster {run_id} kept running: remove it with `faultline clean --run {run_id}`"
            ));
            cluster.keep()?;
        } else {
            progress.phase("tearing down");
            cluster.teardown().await?;
        }
        self.verdict(dir, reach?, &run_id, started)
    }

    /// The run's directory, with the resolved scenario and an empty log. A fault the
    /// run's system cannot take (a cut of the service's container, with no service or a
    /// service process) is refused here, before anything starts.
    fn prepare(&self) -> Result<RunDir, RunError> {
        if self.scenario.workload == crate::scenario::WorkloadKind::Billing
            && self.service().is_none()
        {
            self.options.registry.get(&self.sut)?;
            self.scenario.refuse_service_faults(&self.sut)?;
        }
        check_service_faults(&self.scenario, self.service(), &self.sut)?;
        if self.options.hosts.is_some() {
            if self.options.keep {
                return Err(RunError::Hosts(
                    "--keep is for containers: a run on hosts always stops what it started \
                     (its dead-man switches would heal its faults anyway)"
                        .into(),
                ));
            }
            if self.service().is_some_and(ServiceSpec::is_container) {
                return Err(RunError::Hosts(
                    "a service in a container joins the run's Docker network, which a run on \
                     hosts has not: run the service as a process (`--service CMD`)"
                        .into(),
                ));
            }
        }
        let dir = self.options.store.create_run(&self.scenario.name, &self.sut)?;
        dir.write("scenario.toml", self.scenario.to_toml())?;
        File::create(dir.file(LOG))?;
        Ok(dir)
    }

    /// Records the history of the run on `cluster` into `dir`, and the nodes' logs;
    /// `None` if interrupted.
    async fn record(
        &self,
        cluster: &Cluster,
        dir: &RunDir,
    ) -> Result<Option<Reachability>, RunError> {
        self.write_run_json(dir, cluster.run_id(), None)?;
        let workload = self.scenario.workload();
        let schedule = self.scenario.schedule();
        let mut header = self.header(&workload, cluster);
        header.meta.insert("schedule".into(), schedule.header());
        let recorder = Recorder::new(&header, File::create(dir.file(store::HISTORY))?)?;
        self.options.progress.watch(recorder.clone());
        // Sentinel's events are ground truth, and its word moves the harness's master.
        let sentinels =
            SentinelWatch::start(cluster.endpoints(), recorder.clone(), cluster.master_follower());
        let result = self.drive(cluster, &recorder, workload, &schedule, dir).await;
        sentinels.stop().await;
        let flushed = recorder.finish();
        self.options.progress.phase("saving node logs");
        save_logs(cluster, dir).await;
        let reach = result?;
        flushed?;
        Ok(reach)
    }

    /// Checks the stored history and writes results, JUnit and the report.
    fn verdict(
        &self,
        dir: RunDir,
        reach: Option<Reachability>,
        run_id: &str,
        started: Instant,
    ) -> Result<RunOutcome, RunError> {
        let Some(reach) = reach else {
            return Err(RunError::Interrupted(dir.path().to_path_buf()));
        };
        self.options.progress.phase("checking");
        let report = self.check(&dir)?;
        let summary = report::write_all(&dir, &report)?;
        let results = Results::new(&report, &summary);
        let elapsed = started.elapsed();
        self.write_run_json(&dir, run_id, Some(elapsed))?;
        Ok(RunOutcome { dir, report, results, reach, run_id: run_id.to_string(), elapsed })
    }

    fn header(&self, workload: &WorkloadSpec, cluster: &Cluster) -> Header {
        let mut header = match workload {
            WorkloadSpec::Billing(config) => config.header(&self.sut),
            WorkloadSpec::Counter(config) => config.header(),
            WorkloadSpec::Register(config) => config.header(),
            WorkloadSpec::Set(config) => config.header(),
        };
        header.meta.insert("scenario".into(), self.scenario.name.clone().into());
        header.meta.insert("seed".into(), self.scenario.seed.into());
        header.meta.insert("run".into(), cluster.run_id().into());
        header.meta.entry("sut").or_insert_with(|| "redis".into());
        header
    }

    /// Clients and nemesis together, then the heal, the recovery phase and the final
    /// phase; `None` if interrupted.
    async fn drive(
        &self,
        cluster: &Cluster,
        recorder: &Recorder,
        workload: WorkloadSpec,
        schedule: &Schedule,
        dir: &RunDir,
    ) -> Result<Option<Reachability>, RunError> {
        let progress = &self.options.progress;
        let interrupt = &self.options.interrupt;
        let (running, launched) = match (workload, self.service()) {
            (WorkloadSpec::Billing(config), Some(spec)) => {
                progress.phase(&format!("starting the service `{}`", spec.describe()));
                let gateway = Gateway::new(config.gateway.clone(), config.seed, recorder.clone());
                let launch = Launch {
                    spec: spec.clone(),
                    seed: self.scenario.seed,
                    run_id: cluster.run_id().to_string(),
                    op_timeout: config.clients.op_timeout,
                };
                let launched = tokio::select! {
                    launched = launch.start(&gateway, cluster, dir) => launched?,
                    () = interrupt.cancelled() => return Ok(None),
                };
                let http = match launched.connect().await {
                    Ok(http) => http,
                    Err(e) => {
                        launched.stop().await;
                        return Err(e.into());
                    }
                };
                progress.phase("setting up the workload");
                let (system, topology) = (Launched::constructor(http), cluster.endpoints());
                let run = BillingRun::setup_with_gateway(
                    config,
                    &system,
                    topology,
                    recorder.clone(),
                    gateway,
                );
                (Running::Billing(Box::new(run.await?)), Some(launched))
            }
            (workload, _) => {
                progress.phase("setting up the workload");
                let (registry, sut) = (&self.options.registry, &self.sut);
                (Running::setup(workload, registry, sut, cluster, recorder).await?, None)
            }
        };
        let outcome =
            self.drive_running(cluster, recorder, running, schedule, launched.as_ref()).await;
        if let Some(launched) = launched {
            launched.stop().await;
        }
        outcome
    }

    async fn drive_running(
        &self,
        cluster: &Cluster,
        recorder: &Recorder,
        running: Running,
        schedule: &Schedule,
        launched: Option<&Launched>,
    ) -> Result<Option<Reachability>, RunError> {
        let progress = &self.options.progress;
        let interrupt = &self.options.interrupt;
        let mut nemesis = Nemesis::new(cluster, recorder.clone(), self.scenario.seed).await?;
        if let Running::Billing(run) = &running {
            nemesis = nemesis.with_gateway(run.gateway().clone());
        }
        if let Some(launched) = launched {
            nemesis = nemesis.with_service(launched);
        }
        let end = interrupt.child_token();
        progress.phase("running");
        let clients = async {
            running.run(interrupt).await;
            end.cancel();
        };
        let (reach, ()) = tokio::join!(nemesis.run(schedule, &end), clients);
        let reach = reach?;
        if !self.scenario.recovery.is_zero() && !interrupt.is_cancelled() {
            progress.phase("recovery: clients again, no faults");
            running.recover(self.scenario.recovery, recorder, interrupt).await;
        }
        if interrupt.is_cancelled() {
            return Ok(None);
        }
        progress.phase("quiet period, settling, final reads");
        running.finish(self.scenario.quiet).await;
        Ok(Some(reach))
    }

    fn check(&self, dir: &RunDir) -> Result<Report, RunError> {
        let reader = HistoryReader::new(BufReader::new(File::open(dir.file(store::HISTORY))?))?;
        let mut suite =
            Suite::for_header(reader.header()).map_err(|e| io::Error::other(e.to_string()))?;
        if let Some(min) = self.scenario.checkers.min_availability {
            suite = suite.min_availability(min);
        }
        Ok(suite.check_reader(reader)?)
    }

    fn write_run_json(
        &self,
        dir: &RunDir,
        run_id: &str,
        elapsed: Option<Duration>,
    ) -> io::Result<()> {
        let meta = serde_json::json!({
            "scenario": self.scenario.name,
            "sut": self.sut,
            "seed": self.scenario.seed,
            "run": run_id,
            "command_line": self.options.command_line,
            "elapsed_secs": elapsed.map(|e| e.as_secs_f64()),
        });
        dir.write_json("run.json", &meta)
    }
}

/// Refuses a schedule with a fault the run's system cannot take: a cut of the service's
/// container (`partition-service`) when the service is a process (`service`) or there
/// is none (the built-in system `sut`).
pub fn check_service_faults(
    scenario: &Scenario,
    service: Option<&ServiceSpec>,
    sut: &str,
) -> Result<(), RunError> {
    let schedule = scenario.schedule();
    let mut faults = schedule.faults.iter().chain(&schedule.random).map(|f| &f.fault);
    let Some(fault) = faults.find(|f| f.needs_service_container()) else { return Ok(()) };
    let what = match service {
        Some(spec) if spec.is_container() => return Ok(()),
        Some(spec) => format!("the process `{}`", spec.describe()),
        None => format!("{sut}, built into faultline"),
    };
    Err(RunError::NeedsContainer(crate::scenario::needs_container(fault, &what)))
}

async fn save_logs(cluster: &Cluster, dir: &RunDir) {
    for node in cluster.node_names() {
        match cluster.logs(&node, None).await {
            Ok(log) => {
                if let Err(e) = std::fs::write(dir.node_log(&node), log) {
                    tracing::warn!("could not save {node}'s log: {e}");
                }
            }
            Err(e) => tracing::warn!("could not read {node}'s log: {e}"),
        }
    }
}

/// The workload between its phases.
enum Running {
    Billing(Box<BillingRun>),
    Counter(CounterRun),
    Register(RegisterRun),
    Set(SetRun),
}

impl Running {
    async fn setup(
        workload: WorkloadSpec,
        registry: &Registry,
        sut: &str,
        cluster: &Cluster,
        recorder: &Recorder,
    ) -> Result<Running, RunError> {
        let (topology, recorder) = (cluster.endpoints(), recorder.clone());
        Ok(match workload {
            WorkloadSpec::Billing(config) => {
                let run =
                    BillingRun::setup(config, &registry.get(sut)?, topology, recorder).await?;
                Running::Billing(Box::new(run))
            }
            WorkloadSpec::Counter(config) => {
                Running::Counter(CounterRun::setup(config, topology, recorder).await?)
            }
            WorkloadSpec::Register(config) => {
                Running::Register(RegisterRun::setup(config, topology, recorder).await?)
            }
            WorkloadSpec::Set(config) => {
                Running::Set(SetRun::setup(config, topology, recorder).await?)
            }
        })
    }

    async fn run(&self, cancel: &CancellationToken) {
        match self {
            Running::Billing(run) => run.run(cancel).await,
            Running::Counter(run) => run.run(cancel).await,
            Running::Register(run) => run.run(cancel).await,
            Running::Set(run) => run.run(cancel).await,
        };
    }

    /// The recovery phase: records its `phase` op, then runs clients for `period`
    /// (billing through its own `recover`, which does the same with its own workers).
    async fn recover(&self, period: Duration, recorder: &Recorder, interrupt: &CancellationToken) {
        if let Running::Billing(run) = self {
            run.recover(period, interrupt).await;
            return;
        }
        let phase = Value::Phase(Phase { phase: PhaseName::Recovery });
        recorder.record(Process::Harness, OpType::Ok, F::Phase, phase, None);
        let stop = interrupt.child_token();
        let timer = async {
            tokio::select! {
                () = tokio::time::sleep(period) => stop.cancel(),
                () = stop.cancelled() => {}
            }
        };
        let clients = async {
            self.run(&stop).await;
            stop.cancel();
        };
        tokio::join!(timer, clients);
    }

    async fn finish(self, quiet: Duration) {
        match self {
            Running::Billing(run) => {
                run.finish(quiet).await;
            }
            Running::Counter(_) | Running::Register(_) => {}
            Running::Set(run) => {
                run.finish(quiet).await;
            }
        }
    }
}
