//! `faultline explore`: random fault schedules against a system under test; a failing
//! one is shrunk to a minimal reproducer and written as a scenario file that `faultline
//! run --scenario FILE` replays.
//!
//! - `case`: what a case is, and the proptest strategy that draws and shrinks cases.
//! - `found`: the scenario files written, and the regressions file the next exploration
//!   starts from.
//! - `unknown`: runs that ended unknown, counted with their reasons.
//!
//! A case fails when its run is invalid, which only safety checkers decide (liveness
//! rows are reported, not judged). A run that ends unknown neither fails nor passes a
//! case silently: the exploration counts such runs and summarises why.
//!
//! Cases run on one cluster, reset between cases rather than rebuilt: every run ends
//! with the nemesis healing everything, and the next workload recreates its schema and
//! flushes Redis. A run that fails as a harness (not as a verdict) brings a fresh
//! cluster for the next case. Real systems are noisy, so while shrinking each candidate
//! runs up to `runs_per_candidate` times and counts as failing if any run is invalid,
//! and so does each recorded regression replayed first; the minimal case is then
//! replayed `replays` times.

mod case;
mod found;
mod unknown;

pub use case::{Case, cases, faults};
pub use found::{Regression, Regressions};
pub use unknown::Unknowns;

use crate::cluster::Cluster;
use crate::progress::Progress;
use crate::runner::{Run, RunError, RunOptions};
use crate::scenario::{ClusterSpec, Scenario};
use crate::store::Store;
use checkers::Validity;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;
use workloads::sut::Registry;

/// How to explore. Defaults: 20 cases within 10 minutes, shrinking for at most 10
/// minutes and 40 candidates, 3 runs per candidate, 5 replays of the minimal case.
#[derive(Clone)]
pub struct ExploreOptions {
    /// The system under test.
    pub sut: String,
    /// Seeds the cases drawn.
    pub seed: u64,
    /// At most this many cases.
    pub cases: u32,
    /// No new case starts after this long.
    pub budget: Duration,
    /// Shrinking stops after this long.
    pub shrink_budget: Duration,
    /// Shrinking stops after this many candidates.
    pub shrink_candidates: u32,
    /// While shrinking, and replaying a recorded regression, runs of each case (it
    /// fails if any run fails).
    pub runs_per_candidate: u32,
    /// Replays of the minimal case.
    pub replays: u32,
    /// Where runs, found scenarios and the regressions file go.
    pub store: Store,
    /// The systems under test to choose from.
    pub registry: Registry,
    /// Stops early (Ctrl-C).
    pub interrupt: CancellationToken,
}

impl ExploreOptions {
    /// The defaults, for `sut` and `seed`.
    pub fn new(sut: &str, seed: u64) -> ExploreOptions {
        ExploreOptions {
            sut: sut.to_string(),
            seed,
            cases: 20,
            budget: Duration::from_secs(600),
            shrink_budget: Duration::from_secs(600),
            shrink_candidates: 40,
            runs_per_candidate: 3,
            replays: 5,
            store: Store::default(),
            registry: designs::builtin(),
            interrupt: CancellationToken::new(),
        }
    }
}

/// What an exploration found.
#[derive(Debug)]
pub enum Explored {
    /// No case run was invalid.
    Passed {
        /// Cases run.
        cases: u32,
        /// The runs among them that ended unknown, and why.
        unknown: Unknowns,
        /// How long it took.
        elapsed: Duration,
    },
    /// A case failed; here is its minimal form.
    Failed(Box<Found>),
}

/// A failing schedule, shrunk.
#[derive(Debug)]
pub struct Found {
    /// The first failing case drawn (or the regression that still fails).
    pub first: Case,
    /// The minimal failing case.
    pub minimal: Case,
    /// The scenario file that replays it.
    pub scenario_file: PathBuf,
    /// Whether it came from the regressions file rather than a new search.
    pub from_regressions: bool,
    /// Shrink candidates tried.
    pub shrink_steps: u32,
    /// Replays of the minimal case that failed, and replays run.
    pub replays_failed: (u32, u32),
    /// Time from the start to the first failure.
    pub to_first_failure: Duration,
    /// Time spent shrinking.
    pub shrinking: Duration,
    /// The runs that ended unknown, and why.
    pub unknown: Unknowns,
}

/// Why an exploration stopped without an answer.
#[derive(Debug, thiserror::Error)]
pub enum ExploreError {
    /// A run failed as a harness.
    #[error(transparent)]
    Run(Box<RunError>),
    /// The regressions or found scenario could not be read or written.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Interrupted before an answer.
    #[error("interrupted")]
    Interrupted,
}

impl From<RunError> for ExploreError {
    fn from(e: RunError) -> ExploreError {
        ExploreError::Run(Box::new(e))
    }
}

/// The state shared by the cases of one exploration.
struct Explorer<'a> {
    options: &'a ExploreOptions,
    handle: Handle,
    cluster: RefCell<Option<Cluster>>,
    log: &'a dyn Fn(&str),
    ran: Cell<u32>,
    shrinking: Cell<bool>,
    steps: Cell<u32>,
    unknown: RefCell<Unknowns>,
}

/// Explores, from a thread outside the runtime (`spawn_blocking`): proptest is
/// synchronous, so each case blocks on `handle`. Progress lines go to `log`.
pub fn explore(
    options: &ExploreOptions,
    handle: Handle,
    log: &dyn Fn(&str),
) -> Result<Explored, ExploreError> {
    let started = Instant::now();
    let explorer = Explorer {
        options,
        handle,
        cluster: RefCell::new(None),
        log,
        ran: Cell::new(0),
        shrinking: Cell::new(false),
        steps: Cell::new(0),
        unknown: RefCell::default(),
    };
    let result = explorer.search(started);
    explorer.teardown();
    result
}

impl Explorer<'_> {
    fn search(&self, started: Instant) -> Result<Explored, ExploreError> {
        let regressions = Regressions::load(&self.options.store)?;
        for regression in regressions.for_sut(&self.options.sut) {
            (self.log)(&format!("regression {}: replaying", regression.scenario.display()));
            let case = regression.case()?;
            if self.fails(&case, self.options.runs_per_candidate)? {
                (self.log)("  still fails");
                let to_first_failure = started.elapsed();
                return self.conclude(case.clone(), case, true, to_first_failure, Duration::ZERO);
            }
            (self.log)("  passes now");
        }
        let config = Config {
            cases: self.options.cases,
            max_shrink_iters: self.options.shrink_candidates,
            max_shrink_time: u32::try_from(self.options.shrink_budget.as_millis())
                .unwrap_or(u32::MAX),
            failure_persistence: None,
            ..Config::default()
        };
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&self.options.seed.to_le_bytes());
        let mut runner =
            TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed));
        let first = RefCell::new(None);
        let result = runner.run(&cases(), |case| self.judge(case, started, &first));
        match result {
            Ok(()) if self.options.interrupt.is_cancelled() => Err(ExploreError::Interrupted),
            Ok(()) => Ok(Explored::Passed {
                cases: self.ran.get(),
                unknown: self.unknown.take(),
                elapsed: started.elapsed(),
            }),
            Err(TestError::Abort(why)) => {
                Err(ExploreError::Io(std::io::Error::other(why.to_string())))
            }
            Err(TestError::Fail(_, minimal)) => {
                let (first, to_first_failure) = first.into_inner().expect("a failure was seen");
                let shrinking = started.elapsed() - to_first_failure;
                self.conclude(first, minimal, false, to_first_failure, shrinking)
            }
        }
    }

    /// proptest's test: runs the case (repeatedly while shrinking); invalid fails it.
    fn judge(
        &self,
        case: Case,
        started: Instant,
        first: &RefCell<Option<(Case, Duration)>>,
    ) -> Result<(), TestCaseError> {
        if self.options.interrupt.is_cancelled()
            || (!self.shrinking.get() && started.elapsed() > self.options.budget)
        {
            return Ok(());
        }
        let runs = if self.shrinking.get() {
            self.steps.set(self.steps.get() + 1);
            (self.log)(&format!("shrink step {}: {case}", self.steps.get()));
            self.options.runs_per_candidate
        } else {
            self.ran.set(self.ran.get() + 1);
            (self.log)(&format!("case {} of {}: {case}", self.ran.get(), self.options.cases));
            1
        };
        match self.fails(&case, runs) {
            Ok(false) => Ok(()),
            Ok(true) => {
                if !self.shrinking.replace(true) {
                    *first.borrow_mut() = Some((case.clone(), started.elapsed()));
                    (self.log)("  fails: shrinking");
                }
                Err(TestCaseError::fail(case.to_string()))
            }
            Err(e) => Err(TestCaseError::reject(format!("the harness failed: {e}"))),
        }
    }

    /// Whether any of `runs` runs of `case` is invalid; says how many were, and how
    /// many ended unknown.
    fn fails(&self, case: &Case, runs: u32) -> Result<bool, ExploreError> {
        let mut unknown = 0;
        for run in 1..=runs {
            match self.run(case)? {
                Validity::Invalid => {
                    (self.log)(&format!("  invalid on run {run} of at most {runs}"));
                    return Ok(true);
                }
                Validity::Unknown => unknown += 1,
                Validity::Valid => {}
            }
        }
        (self.log)(&format!("  not invalid on {runs} of {runs} runs ({unknown} unknown)"));
        Ok(false)
    }

    /// One run of `case` on the shared cluster, started (again) if need be.
    fn run(&self, case: &Case) -> Result<Validity, ExploreError> {
        let name = format!("explore-{}", self.options.sut);
        let scenario = case.scenario(&name, self.options.seed).map_err(RunError::from)?;
        let mut cluster = self.cluster.borrow_mut();
        if cluster.is_none() {
            let builder = explore_cluster().builder(self.options.seed);
            *cluster = Some(self.handle.block_on(builder.start()).map_err(RunError::from)?);
        }
        let options = RunOptions {
            store: self.options.store.clone(),
            registry: self.options.registry.clone(),
            interrupt: self.options.interrupt.clone(),
            progress: Progress::quiet(),
            ..RunOptions::default()
        };
        let run = Run::new(scenario, &self.options.sut, options);
        match self.handle.block_on(run.execute_on(cluster.as_ref().expect("started above"))) {
            Ok(outcome) => {
                self.unknown.borrow_mut().count(&outcome.report);
                Ok(outcome.report.validity())
            }
            Err(RunError::Interrupted(_)) => Err(ExploreError::Interrupted),
            Err(e) => {
                (self.log)(&format!(
                    "  the harness failed ({e}); the next case gets a fresh cluster"
                ));
                if let Some(broken) = cluster.take() {
                    let _ = self.handle.block_on(broken.teardown());
                }
                Err(e.into())
            }
        }
    }

    /// Replays the minimal case, writes it as a scenario file and records it.
    fn conclude(
        &self,
        first: Case,
        minimal: Case,
        from_regressions: bool,
        to_first_failure: Duration,
        shrinking: Duration,
    ) -> Result<Explored, ExploreError> {
        (self.log)(&format!("minimal: {minimal}"));
        let mut failed = 0;
        for replay in 1..=self.options.replays {
            let invalid = self.run(&minimal)? == Validity::Invalid;
            failed += u32::from(invalid);
            (self.log)(&format!(
                "  replay {replay} of {}: {}",
                self.options.replays,
                if invalid { "invalid" } else { "valid" }
            ));
        }
        let name = format!("explored-{}", self.options.sut);
        let scenario = minimal.scenario(&name, self.options.seed).map_err(RunError::from)?;
        let scenario_file =
            found::write(&self.options.store, &self.options.sut, self.options.seed, &scenario)?;
        if !from_regressions {
            Regressions::record(
                &self.options.store,
                &self.options.sut,
                self.options.seed,
                &scenario_file,
                &minimal,
            )?;
        }
        Ok(Explored::Failed(Box::new(Found {
            first,
            minimal,
            scenario_file,
            from_regressions,
            shrink_steps: self.steps.get(),
            replays_failed: (failed, self.options.replays),
            to_first_failure,
            shrinking,
            unknown: self.unknown.take(),
        })))
    }

    fn teardown(&self) {
        if let Some(cluster) = self.cluster.borrow_mut().take()
            && let Err(e) = self.handle.block_on(cluster.teardown())
        {
            (self.log)(&format!("tearing the cluster down failed: {e}; run `faultline clean`"));
        }
    }
}

/// The cluster every case runs on: a master, two replicas and Postgres, with a tiny
/// replication backlog and snapshots, as in the 2013 scenario.
fn explore_cluster() -> ClusterSpec {
    let case = Case { faults: vec![], workers: 1, accounts: 1 };
    case.scenario("explore", 0).expect("a case without faults is a valid scenario").cluster
}

impl Scenario {
    /// The case this scenario replays, if it is one `faultline explore` wrote.
    pub fn as_case(&self) -> Option<Case> {
        let billing = self.billing.as_ref()?;
        Some(Case {
            faults: self.schedule().faults,
            workers: billing.clients.workers,
            accounts: billing.accounts,
        })
    }
}
