//! The interpreter: the one place where faults touch containers. It resolves a fault's
//! targets, performs it, records it in the history (an invoke, then an `info`
//! completion with the effect seen), keeps what its heal needs, and judges whether its
//! intended effect was seen.

use super::fault::Fault;
use super::fault::ServiceFault;
use super::net::{self, Cut, PartitionMethod};
use super::plan::Plan;
use super::process;
use super::reach::{Reach, Reachability};
use super::replication::{self, Split, StormState};
use super::schedule::{Schedule, Step};
use super::targets::View;
use super::topology::{self, Baseline};
use super::{NemesisError, gateway, observe, postgres, service, service_net};
use crate::cluster::Cluster;
use crate::service::{Launched, SharedService};
use checkers::history::{F, FaultEvent, OpType, Process, Value as HistoryValue};
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use tokio_util::sync::CancellationToken;
use workloads::gateway::{FaultToken, Gateway};
use workloads::recorder::Recorder;

/// Mixed into the run's seed for target choices, so they do not replay the draws of a
/// [`RandomSchedule`](super::RandomSchedule) made from the same seed.
pub(crate) const TARGET_STREAM: u64 = 0x6e65_6d65_7369_7321;

/// A started fault, as numbered in the history.
pub type FaultId = u32;

/// What one step of a fault did: its effect, and whether its intended effect was seen
/// (`None`: this step does not judge it).
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) effect: Value,
    pub(crate) observed: Option<bool>,
}

impl Outcome {
    pub(crate) fn judged(effect: Value, observed: bool) -> Outcome {
        Outcome { effect, observed: Some(observed) }
    }

    pub(crate) fn unjudged(effect: Value) -> Outcome {
        Outcome { effect, observed: None }
    }

    /// Judges it `seen`, noting `why_not` in the effect if it was not.
    pub(crate) fn judge(mut self, seen: bool, why_not: &str) -> Outcome {
        if !seen {
            self.effect["note"] = json!(why_not);
        }
        self.observed = Some(seen);
        self
    }

    fn reach(&self) -> Reach {
        match self.observed {
            Some(true) => Reach::Observed,
            Some(false) => {
                let why = self.effect["note"].as_str().unwrap_or("its effect was not seen");
                Reach::NotObserved { why: why.to_string() }
            }
            None => Reach::Pending,
        }
    }
}

/// What a started fault's heal needs.
enum Undo {
    Cut(Cut),
    Start(Vec<String>),
    Serving(Vec<String>),
    Resume(Vec<String>),
    GoodConfig(Vec<String>),
    AsyncCommit,
    Storm(Box<StormState>),
    Linked,
    Split(Split),
    IsolatedMaster(Cut, replication::Isolation),
    Netem(Vec<String>),
    Gateway(FaultToken),
    Service(ServiceFault),
    ServiceCut(Box<service_net::ServiceCut>),
}

struct Active {
    name: &'static str,
    targets: Vec<String>,
    undo: Undo,
}

/// Performs faults on a cluster and records them.
///
/// Every fault it starts stays active until [`Nemesis::heal`] or [`Nemesis::heal_all`];
/// `heal_all` ends every run (and [`Nemesis::run`] calls it, on Ctrl-C too). If a
/// `Nemesis` is dropped with faults active, it says so loudly on stderr and, as a last
/// resort, removes faultline's rules and resumes paused nodes.
pub struct Nemesis<'c> {
    cluster: &'c Cluster,
    recorder: Recorder,
    rng: ChaCha8Rng,
    next_id: FaultId,
    active: BTreeMap<FaultId, Active>,
    baseline: Baseline,
    method: PartitionMethod,
    netem: Option<Result<(), String>>,
    reach: Reachability,
    /// The schedule's step the fault being started performs, for its start's events.
    step: Option<u32>,
    /// The run's card gateway, for the `gateway-*` faults; none outside billing.
    gateway: Option<Gateway>,
    /// The service under test the run started and where it reaches the gateway's HTTP
    /// face, for the service faults and `partition-service`; none when the system runs
    /// in process.
    service: Option<(SharedService, SocketAddr)>,
}

impl<'c> Nemesis<'c> {
    /// A nemesis for `cluster`, recording into `recorder`; `seed` fixes every random
    /// choice. Captures the cluster's configs (what heals restore) and checks whether
    /// iptables works inside the nodes ([`Nemesis::partition_method`]).
    pub async fn new(
        cluster: &'c Cluster,
        recorder: Recorder,
        seed: u64,
    ) -> Result<Nemesis<'c>, NemesisError> {
        let baseline = Baseline::capture(cluster).await?;
        let method = PartitionMethod::detect(cluster, &cluster.master()).await?;
        if let PartitionMethod::Disconnect(why) = &method {
            tracing::warn!("{why}");
        }
        Ok(Nemesis {
            cluster,
            recorder,
            rng: ChaCha8Rng::seed_from_u64(seed ^ TARGET_STREAM),
            next_id: 1,
            active: BTreeMap::new(),
            baseline,
            method,
            netem: None,
            reach: Reachability::default(),
            step: None,
            gateway: None,
            service: None,
        })
    }

    /// The nemesis with the run's service under test (and the gateway's HTTP face it
    /// talks to), so it can perform the faults that act on the service.
    pub fn with_service(mut self, launched: &Launched) -> Nemesis<'c> {
        self.service = Some((launched.service.clone(), launched.gateway));
        self
    }

    /// The nemesis with the run's card gateway, so it can perform the `gateway-*`
    /// faults; without one they fail to start.
    pub fn with_gateway(mut self, gateway: Gateway) -> Nemesis<'c> {
        self.gateway = Some(gateway);
        self
    }

    /// How partitions are made here: iptables, or the disconnect fallback and why.
    pub fn partition_method(&self) -> &PartitionMethod {
        &self.method
    }

    /// Makes partitions with `method` from now on (e.g. to exercise the fallback).
    pub fn use_partition_method(&mut self, method: PartitionMethod) {
        self.method = method;
    }

    /// Whether each fault so far took effect.
    pub fn reachability(&self) -> &Reachability {
        &self.reach
    }

    /// The nodes fault `id` acts on, while it is active.
    pub fn targets(&self, id: FaultId) -> Vec<String> {
        self.active.get(&id).map(|a| a.targets.clone()).unwrap_or_default()
    }

    /// The faults started and not yet healed.
    pub fn active(&self) -> Vec<(FaultId, &'static str)> {
        self.active.iter().map(|(id, a)| (*id, a.name)).collect()
    }

    /// Starts `fault` and returns its id; the fault holds until healed. A fault that
    /// fails half-way is recorded with its error and left to [`Nemesis::heal_all`].
    pub async fn start(&mut self, fault: &Fault) -> Result<FaultId, NemesisError> {
        self.start_step(fault, None).await
    }

    /// Starts `fault` as the schedule's `step` (its start's events carry it).
    async fn start_step(
        &mut self,
        fault: &Fault,
        step: Option<u32>,
    ) -> Result<FaultId, NemesisError> {
        self.step = step;
        let started = self.start_now(fault).await;
        self.step = None;
        started
    }

    async fn start_now(&mut self, fault: &Fault) -> Result<FaultId, NemesisError> {
        let id = self.take_id();
        let name = fault.name();
        let plan = match Plan::new(fault, &self.view(), &mut self.rng) {
            Ok(plan) => plan,
            Err(e) => {
                self.record(OpType::Invoke, F::Start, id, name, &[], None, None);
                return Err(self.failed(F::Start, id, name, &[], e));
            }
        };
        let targets = plan.targets();
        self.record(OpType::Invoke, F::Start, id, name, &targets, None, None);
        let restarted = match &plan {
            Plan::Restart(nodes) | Plan::BadRestart(_, nodes) => nodes.clone(),
            _ => Vec::new(),
        };
        let performed = match self.perform(id, name, plan).await {
            Ok((mut outcome, undo)) => {
                self.reapply_cuts(&restarted, &mut outcome).await.map(|()| (outcome, undo))
            }
            Err(e) => Err(e),
        };
        match performed {
            Ok((outcome, undo)) => {
                self.record(OpType::Info, F::Start, id, name, &targets, Some(&outcome), None);
                self.reach.set(id, name, &targets, outcome.reach());
                self.active.insert(id, Active { name, targets, undo });
                Ok(id)
            }
            Err(e) => Err(self.failed(F::Start, id, name, &targets, e)),
        }
    }

    /// Heals fault `id` and records the heal with its effect.
    pub async fn heal(&mut self, id: FaultId) -> Result<(), NemesisError> {
        let active = self.active.remove(&id).ok_or(NemesisError::UnknownFault(id))?;
        let (name, targets) = (active.name, active.targets);
        self.record(OpType::Invoke, F::Heal, id, name, &targets, None, None);
        let restarted = match &active.undo {
            Undo::Start(nodes) | Undo::GoodConfig(nodes) => nodes.clone(),
            Undo::AsyncCommit => vec!["postgres".to_string()],
            _ => Vec::new(),
        };
        let healed = match self.undo(name, active.undo).await {
            Ok(mut outcome) => self.reapply_cuts(&restarted, &mut outcome).await.map(|()| outcome),
            Err(e) => Err(e),
        };
        match healed {
            Ok(outcome) => {
                self.record(OpType::Info, F::Heal, id, name, &targets, Some(&outcome), None);
                let started = self.reach.get(id).cloned();
                if outcome.observed.is_some() && !matches!(started, Some(Reach::NotObserved { .. }))
                {
                    self.reach.set(id, name, &targets, outcome.reach());
                }
                Ok(())
            }
            Err(e) => Err(self.failed(F::Heal, id, name, &targets, e)),
        }
    }

    /// Heals every active fault (paused nodes first, then newest first), then sweeps the
    /// cluster back to how it started: nothing paused, stopped or disconnected, no rule
    /// or qdisc of faultline's, good configs, one master with every replica linked. The
    /// sweep is recorded as the heal of a `heal-all` fault; it fails only if the cluster
    /// could not be made clean.
    pub async fn heal_all(&mut self) -> Result<(), NemesisError> {
        let mut ids: Vec<FaultId> = self.active.keys().rev().copied().collect();
        ids.sort_by_key(|id| !matches!(self.active[id].undo, Undo::Resume(_)));
        let mut errors = Vec::new();
        for id in ids {
            if let Err(e) = self.heal(id).await {
                errors.push(format!("#{id}: {e}"));
            }
        }
        self.judge_interrupted();
        let id = self.take_id();
        let nodes = self.cluster.node_names();
        self.record(OpType::Invoke, F::Heal, id, "heal-all", &nodes, None, None);
        let swept = async {
            let fixed = topology::sweep(self.cluster, &self.baseline).await?;
            Ok::<_, NemesisError>((fixed, topology::clean(self.cluster).await?))
        };
        match swept.await {
            Ok((fixed, problems)) => {
                let clean = problems.as_array().is_some_and(Vec::is_empty);
                let effect = json!({ "fixed": fixed, "problems": problems, "heal_errors": errors });
                let outcome = Outcome::judged(effect, clean);
                self.record(OpType::Info, F::Heal, id, "heal-all", &nodes, Some(&outcome), None);
                match clean {
                    true => Ok(()),
                    false => Err(NemesisError::NotHealed {
                        fault: "heal-all",
                        reason: problems.to_string(),
                    }),
                }
            }
            Err(e) => {
                let error = Some(e.to_string());
                self.record(OpType::Info, F::Heal, id, "heal-all", &nodes, None, error);
                Err(e)
            }
        }
    }

    /// If something other than the nemesis healed the nodes' faults during the run (a
    /// host's dead-man switch that fired), every fault started so far is judged again,
    /// as not having held: the run did not test what it meant to, and the history says
    /// so (each fault's latest judgement stands).
    fn judge_interrupted(&mut self) {
        let Some(why) = self.cluster.interrupted() else { return };
        tracing::warn!("{why}");
        for fault in self.reach.faults.clone() {
            let note = format!("did not hold as scheduled: {why}");
            let outcome = Outcome::judged(json!({ "note": note }), false);
            self.record(
                OpType::Invoke,
                F::Heal,
                fault.id,
                &fault.fault,
                &fault.targets,
                None,
                None,
            );
            self.record(
                OpType::Info,
                F::Heal,
                fault.id,
                &fault.fault,
                &fault.targets,
                Some(&outcome),
                None,
            );
            self.reach.set(fault.id, &fault.fault, &fault.targets, outcome.reach());
        }
    }

    /// Performs `schedule` from now: each fault at its `at`, healed after its
    /// `duration`. Faults without a duration hold until `end` is cancelled, which the
    /// runner does when the run ends, or on Ctrl-C (then the schedule stops early).
    /// Once `end` is cancelled no fault starts: a step left unstarted has no `start` in
    /// the history, which is how the `faults` checker sees it never ran.
    /// Either way every fault is healed ([`Nemesis::heal_all`]) before this returns.
    /// A fault that cannot start or heal is recorded and the schedule goes on.
    pub async fn run(
        &mut self,
        schedule: &Schedule,
        end: &CancellationToken,
    ) -> Result<Reachability, NemesisError> {
        let t0 = tokio::time::Instant::now();
        let mut started: BTreeMap<usize, FaultId> = BTreeMap::new();
        for (at, step) in schedule.timeline() {
            tokio::select! {
                biased;
                () = end.cancelled() => break,
                () = tokio::time::sleep_until(t0 + at) => {}
            }
            match step {
                Step::Start(i) => {
                    match self.start_step(&schedule.fault(i).fault, schedule.step(i)).await {
                        Ok(id) => {
                            started.insert(i, id);
                        }
                        Err(e) => tracing::warn!("fault {i} of the schedule did not start: {e}"),
                    }
                }
                Step::Heal(i) => {
                    if let Some(id) = started.remove(&i)
                        && let Err(e) = self.heal(id).await
                    {
                        tracing::warn!("fault #{id} did not heal: {e}");
                    }
                }
            }
        }
        end.cancelled().await;
        self.heal_all().await?;
        Ok(self.reach.clone())
    }

    fn take_id(&mut self) -> FaultId {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn view(&self) -> View {
        let mut redis = self.cluster.redis_nodes();
        redis.sort();
        let mut all = self.cluster.node_names();
        all.sort();
        let mut sentinels = self.cluster.sentinel_nodes();
        sentinels.sort();
        View { master: self.cluster.master(), redis, all, sentinels }
    }

    async fn perform(
        &mut self,
        id: FaultId,
        name: &'static str,
        plan: Plan,
    ) -> Result<(Outcome, Undo), NemesisError> {
        let (c, baseline) = (self.cluster, &self.baseline);
        Ok(match plan {
            Plan::Cut(grudge) => {
                let (cut, effect, seen) = net::cut(c, &self.method, id, grudge).await?;
                (Outcome::unjudged(effect).judge(seen, "a cut link stayed open"), Undo::Cut(cut))
            }
            Plan::Down(how, nodes) => (process::down(c, how, &nodes).await?, Undo::Start(nodes)),
            Plan::Restart(nodes) => {
                (process::restart(c, baseline, &nodes).await?, Undo::Serving(nodes))
            }
            Plan::Pause(nodes) => (process::pause(c, &nodes).await?, Undo::Resume(nodes)),
            Plan::BadRestart(bad, nodes) => {
                (process::bad_restart(c, bad, &nodes).await?, Undo::GoodConfig(nodes))
            }
            Plan::AsyncCommit => (postgres::async_commit(c).await?, Undo::AsyncCommit),
            Plan::Storm(resync_loop, plan, _) => {
                let (outcome, state) =
                    replication::storm(c, &self.method, id, resync_loop, plan).await?;
                (outcome, Undo::Storm(Box::new(state)))
            }
            Plan::Failover(new) => (replication::failover(c, baseline, &new).await?, Undo::Linked),
            Plan::SplitBrain(new) => {
                let (outcome, split) = replication::split_brain(c, &new).await?;
                (outcome, Undo::Split(split))
            }
            Plan::IsolateMaster(old, grudge) => {
                let isolation = replication::Isolation::begin(c, &old).await?;
                let (cut, effect, seen) = net::cut(c, &self.method, id, grudge).await?;
                let outcome = Outcome::unjudged(effect).judge(seen, "a cut link stayed open");
                (outcome, Undo::IsolatedMaster(cut, isolation))
            }
            Plan::Netem(args, nodes) => {
                (self.netem(name, &args, &nodes).await?, Undo::Netem(nodes))
            }
            Plan::Gateway(fault) => {
                let gateway = self.gateway(name)?;
                let (outcome, token) = gateway::start(gateway, fault);
                (outcome, Undo::Gateway(token))
            }
            Plan::Service(fault) => {
                let outcome = service::start(self.service(name)?, self.gateway.as_ref(), fault);
                (outcome.await, Undo::Service(fault))
            }
            Plan::CutService(stores, to_gateway) => {
                let Some((service, gateway)) = &self.service else {
                    return Err(NemesisError::NoTarget(format!(
                        "{name} cuts the service under test, and this run has none"
                    )));
                };
                let target = service_net::Service { service, gateway: *gateway };
                let (outcome, cut) =
                    service_net::cut(c, &self.method, id, target, stores, to_gateway).await?;
                (outcome, Undo::ServiceCut(Box::new(cut)))
            }
        })
    }

    async fn undo(&mut self, name: &'static str, undo: Undo) -> Result<Outcome, NemesisError> {
        let (c, baseline) = (self.cluster, &self.baseline);
        match undo {
            Undo::Cut(cut) => {
                let links = replica_links(c).await;
                match net::heal(c, &cut).await? {
                    0 => Ok(Outcome::unjudged(
                        json!({ "links_before_heal": links, "rules_left": 0 }),
                    )),
                    left => Err(NemesisError::NotHealed {
                        fault: name,
                        reason: format!("{left} rules left"),
                    }),
                }
            }
            Undo::Start(nodes) => process::start(c, baseline, &nodes).await,
            Undo::Serving(nodes) => process::serving(c, baseline, &nodes).await,
            Undo::Resume(nodes) => process::resume(c, &nodes).await,
            Undo::GoodConfig(nodes) => process::good_restart(c, baseline, &nodes).await,
            Undo::AsyncCommit => postgres::kill_and_restore(c, baseline).await,
            Undo::Storm(state) => replication::end_storm(c, *state).await,
            Undo::Linked => replication::linked(c, name).await,
            Undo::Split(split) => replication::end_split(c, baseline, split).await,
            Undo::IsolatedMaster(cut, mut isolation) => {
                let before_heal = isolation.writes(c).await?;
                match net::heal(c, &cut).await? {
                    0 => isolation.end(c, before_heal).await,
                    left => Err(NemesisError::NotHealed {
                        fault: name,
                        reason: format!("{left} rules left"),
                    }),
                }
            }
            Undo::Netem(nodes) => {
                for node in &nodes {
                    net::remove_netem(c, node).await?;
                }
                Ok(Outcome::unjudged(json!({ "removed": nodes })))
            }
            Undo::Gateway(token) => Ok(gateway::heal(self.gateway(name)?, token)),
            Undo::Service(fault) => Ok(service::heal(self.service(name)?, fault).await),
            Undo::ServiceCut(cut) => {
                let service = self.service.as_ref().map(|(s, _)| s);
                match service_net::heal(c, service, &cut).await? {
                    0 => Ok(Outcome::unjudged(json!({ "rules_left": 0 }))),
                    left => Err(NemesisError::NotHealed {
                        fault: name,
                        reason: format!("{left} rules left"),
                    }),
                }
            }
        }
    }

    /// Puts back the rules every active partition holds in `nodes`, which just
    /// restarted and so lost them with their network namespace.
    async fn reapply_cuts(
        &self,
        nodes: &[String],
        outcome: &mut Outcome,
    ) -> Result<(), NemesisError> {
        let mut added = 0;
        for active in self.active.values() {
            let cut = match &active.undo {
                Undo::Cut(cut) => cut,
                Undo::Storm(storm) => storm.cut(),
                Undo::ServiceCut(cut) => &cut.stores,
                _ => continue,
            };
            for node in nodes {
                added += net::reapply(self.cluster, cut, node).await?;
            }
        }
        if added > 0 {
            outcome.effect["rules_reapplied"] = json!(added);
        }
        Ok(())
    }

    /// The run's service under test, for service fault `name`.
    fn service(&self, name: &'static str) -> Result<&SharedService, NemesisError> {
        self.service.as_ref().map(|(service, _)| service).ok_or_else(|| {
            NemesisError::NoTarget(format!(
                "{name} acts on the service under test, and this run started none (give the \
                 scenario a [sut] command, or run with --service)"
            ))
        })
    }

    /// The run's gateway, for gateway fault `name`.
    fn gateway(&self, name: &'static str) -> Result<&Gateway, NemesisError> {
        self.gateway.as_ref().ok_or_else(|| NemesisError::NoTarget(format!(
            "{name} acts on the card gateway, and this run has none (only the billing workload has one)"
        )))
    }

    /// Adds a netem qdisc on `nodes`, once this kernel is known to have netem.
    async fn netem(
        &mut self,
        name: &'static str,
        args: &str,
        nodes: &[String],
    ) -> Result<Outcome, NemesisError> {
        let support = match &self.netem {
            Some(known) => known.clone(),
            None => net::netem_support(self.cluster, &nodes[0]).await?,
        };
        self.netem = Some(support.clone());
        if let Err(reason) = support {
            return Err(NemesisError::Unsupported { fault: name, reason });
        }
        let mut seen = true;
        for node in nodes {
            net::add_netem(self.cluster, node, args).await?;
            let interface = self.cluster.interface(node)?;
            let shown =
                self.cluster.exec(node, &["tc", "qdisc", "show", "dev", &interface]).await?;
            seen &= shown.stdout.contains("netem");
        }
        Ok(Outcome::unjudged(json!({ "netem": args })).judge(seen, "no netem qdisc in place"))
    }

    /// Records a failed start or heal and returns its error.
    fn failed(
        &mut self,
        f: F,
        id: FaultId,
        name: &'static str,
        targets: &[String],
        e: NemesisError,
    ) -> NemesisError {
        self.record(OpType::Info, f.clone(), id, name, targets, None, Some(e.to_string()));
        let why = e.to_string();
        let reach = match &e {
            NemesisError::Unsupported { reason, .. } => Reach::Unsupported { why: reason.clone() },
            _ if f == F::Heal => Reach::Failed { why: format!("heal: {why}") },
            _ => Reach::Failed { why },
        };
        let judged =
            matches!(self.reach.get(id), Some(Reach::Observed | Reach::NotObserved { .. }));
        if !(f == F::Heal && judged) {
            self.reach.set(id, name, targets, reach);
        }
        e
    }

    #[expect(clippy::too_many_arguments, reason = "one record, every field of its event")]
    fn record(
        &self,
        kind: OpType,
        f: F,
        id: FaultId,
        name: &str,
        targets: &[String],
        outcome: Option<&Outcome>,
        error: Option<String>,
    ) {
        let observed = outcome.and_then(|o| o.observed).or(error.as_ref().map(|_| false));
        let event = FaultEvent {
            id,
            fault: name.to_string(),
            targets: targets.to_vec(),
            effect: outcome.map(|o| o.effect.clone()),
            observed,
            step: if f == F::Start { self.step } else { None },
        };
        self.recorder.record(Process::Nemesis, kind, f, HistoryValue::Fault(event), error);
    }
}

/// Each replica's `master_link_status`, as the replica reports it.
async fn replica_links(cluster: &Cluster) -> Value {
    let mut links = serde_json::Map::new();
    for replica in cluster.replicas() {
        let status = observe::info(cluster, &replica, "replication", "master_link_status").await;
        links.insert(replica, json!(status.ok().flatten()));
    }
    Value::Object(links)
}

impl Drop for Nemesis<'_> {
    fn drop(&mut self) {
        if self.active.is_empty() {
            return;
        }
        let faults: Vec<String> =
            self.active.iter().map(|(id, a)| format!("#{id} {}", a.name)).collect();
        eprintln!(
            "faultline: the nemesis was dropped with faults in place ({}): heal_all was not \
             called. As a last resort, removing faultline's rules and resuming paused nodes.",
            faults.join(", ")
        );
        let sweep = std::thread::spawn(self.cluster.backstop());
        if let Ok(Err(e)) | Err(e) = sweep.join().map_err(|_| "the backstop panicked".to_string()) {
            eprintln!("faultline: the nemesis backstop failed: {e}; tear the cluster down");
        }
    }
}
