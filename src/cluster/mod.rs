//! A live cluster in containers: a Redis master with replicas, and Postgres.
//!
//! ```no_run
//! # async fn demo() -> Result<(), faultline::cluster::ClusterError> {
//! use faultline::cluster::Cluster;
//! let cluster = Cluster::builder().redis_replicas(2).postgres().start().await?;
//! println!("master at {}", cluster.endpoints().borrow().redis_master);
//! cluster.teardown().await
//! # }
//! ```
//!
//! - `config`: `redis.conf` and `postgresql.conf` as ordered, overridable settings.
//! - `node`: node control, the primitives the nemesis builds on.
//! - `ready`: the harness's own readiness probes.
//! - `network`: the clients' gateway, node state, taking a node off the network and back.
//! - `guard`: the backstop that removes a run's containers and network if a `Cluster`
//!   is dropped without `teardown` (a panic, a cancelled start).
//! - `owner`: the process that owns a run, labelled on its objects.
//! - `clean`: `faultline clean`: dead runs go, live and kept ones stay unless asked.
//!
//! **Architecture invariant:** clients reach nodes only through ports published on
//! 127.0.0.1, read from [`Cluster::endpoints`]; container-to-container traffic stays on
//! the run's own bridge network.

pub mod clean;
mod config;
pub mod control;
mod docker_nodes;
pub(crate) mod guard;
mod network;
mod node;
pub mod owner;
pub(crate) mod ready;
mod sentinel;

pub use config::{PostgresConfig, RedisConfig};
pub use network::NodeState;
pub use node::NodeKind;
pub use ready::info_field;
pub use sentinel::{MASTER_NAME, SentinelConfig};

use crate::docker::{self, DockerError};
use crate::images::{self, ImageError};
use control::{Backend, NodeControl, NodeSpec};
use docker_nodes::DockerNodes;
pub(crate) use docker_nodes::create_network;
use node::Node;
use rand::RngExt;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use workloads::endpoints::{Endpoints, PostgresEndpoint, SentinelEndpoints, Topology};

/// Errors of the cluster and its nodes.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// Docker is unreachable or refused a request.
    #[error(transparent)]
    Docker(#[from] DockerError),
    /// An image is missing.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// A node did not become ready in time.
    #[error(
        "node {node} did not become ready within {waited:?}: {reason}\n--- last lines of its log ---\n{log}"
    )]
    NotReady {
        /// The node.
        node: String,
        /// How long the harness waited.
        waited: Duration,
        /// The probe's last error.
        reason: String,
        /// The node's last log lines.
        log: String,
    },
    /// The Sentinel settings cannot work.
    #[error("Sentinel: {0}")]
    Sentinel(String),
    /// No node has this name.
    #[error("no node named {0} in this cluster")]
    UnknownNode(String),
    /// The operation does not apply to this kind of node.
    #[error("{operation} does not apply to {node}, a {kind:?} node")]
    WrongKind {
        /// What was asked.
        operation: &'static str,
        /// The node.
        node: String,
        /// Its kind.
        kind: NodeKind,
    },
    /// A container could not be created or started through testcontainers.
    #[error("failed to start container {node}: {source}")]
    Start {
        /// The node.
        node: String,
        /// Why.
        #[source]
        source: testcontainers::TestcontainersError,
    },
    /// A host could not be reached or refused a command over SSH.
    #[error("host {host}: {message}")]
    Ssh {
        /// The host (its name and address).
        host: String,
        /// What went wrong, and what to do.
        message: String,
    },
    /// The hosts cannot run what the scenario asks of them; one line per host and
    /// missing piece.
    #[error("the hosts cannot run this scenario:\n{0}")]
    Unsuitable(String),
    /// This backend cannot do what was asked.
    #[error("{operation} is not available on the {backend} backend: {why}")]
    Unsupported {
        /// What was asked.
        operation: &'static str,
        /// The backend.
        backend: control::Backend,
        /// Why, and what to do instead.
        why: &'static str,
    },
    /// A container has no published port or address.
    #[error("node {node} has no {what}: is its container running?")]
    NoAddress {
        /// The node.
        node: String,
        /// What was looked for.
        what: &'static str,
    },
}

/// Builds a [`Cluster`]. Defaults: a master and 2 replicas, no Postgres, no Sentinel,
/// the default [`RedisConfig`] and [`PostgresConfig`], 30 s for every node to become
/// ready.
#[derive(Clone, Debug)]
pub struct ClusterBuilder {
    replicas: usize,
    sentinels: usize,
    sentinel_config: SentinelConfig,
    postgres: bool,
    redis_config: RedisConfig,
    postgres_config: PostgresConfig,
    ready_timeout: Duration,
    seed: Option<u64>,
    kept: bool,
}

impl Default for ClusterBuilder {
    fn default() -> ClusterBuilder {
        ClusterBuilder {
            replicas: 2,
            sentinels: 0,
            sentinel_config: SentinelConfig::default(),
            postgres: false,
            redis_config: RedisConfig::default(),
            postgres_config: PostgresConfig::default(),
            ready_timeout: Duration::from_secs(30),
            seed: None,
            kept: false,
        }
    }
}

impl ClusterBuilder {
    /// How many Redis replicas follow the master.
    pub fn redis_replicas(mut self, n: usize) -> Self {
        self.replicas = n;
        self
    }

    /// Runs `n` Redis Sentinel nodes (`sentinel-0`, ...; an odd number) watching the
    /// master with these settings. Clients then find the master through them, and
    /// the cluster's own view of the master follows what they say.
    pub fn sentinels(mut self, n: usize, config: SentinelConfig) -> Self {
        self.sentinels = n;
        self.sentinel_config = config;
        self
    }

    /// Adds a Postgres node.
    pub fn postgres(mut self) -> Self {
        self.postgres = true;
        self
    }

    /// Sets a `redis.conf` directive on every Redis node.
    pub fn redis_setting(mut self, key: &str, value: &str) -> Self {
        self.redis_config.set(key, value);
        self
    }

    /// Sets a `postgresql.conf` setting.
    pub fn postgres_setting(mut self, key: &str, value: &str) -> Self {
        self.postgres_config.set(key, value);
        self
    }

    /// How long every node has to become ready.
    pub fn ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    /// The run's seed; it is recorded with the cluster. Run ids stay unique regardless.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Labels the run as kept from its start (`faultline run --keep`): once this
    /// process exits, `faultline clean` leaves it unless asked by its id or `--all`.
    pub fn kept(mut self, kept: bool) -> ClusterBuilder {
        self.kept = kept;
        self
    }

    /// How many Redis replicas, sentinels, and whether Postgres: the nodes this builder
    /// makes.
    pub(crate) fn shape(&self) -> (usize, usize, bool) {
        (self.replicas, self.sentinels, self.postgres)
    }

    /// Creates the network and containers and waits until every node is ready. If it
    /// fails, or the returned future is dropped, nothing of the run is left behind.
    pub async fn start(self) -> Result<Cluster, ClusterError> {
        if let Some(problem) = self.sentinel_config.problem(self.sentinels) {
            return Err(ClusterError::Sentinel(problem));
        }
        let docker = docker::connect().await?;
        images::ensure_present(&docker).await?;
        let run = new_run_id();
        let labels = clean::labels(&run, self.kept);
        let password = random_password();
        let control = DockerNodes::new(docker, &run, labels, &password).await?;
        let network = control.network().to_string();
        let login =
            PostgresLogin { user: "postgres".into(), password, database: "postgres".into() };
        let mut cluster = self.launch(Box::new(control), run, login).await?;
        cluster.network = Some(network);
        Ok(cluster)
    }

    /// Creates the nodes through `control` (the stores, then the sentinels), publishes
    /// their endpoints and waits until every node is ready. Clients log in to Postgres
    /// with `login`.
    pub(crate) async fn launch(
        self,
        mut control: Box<dyn NodeControl>,
        run: String,
        login: PostgresLogin,
    ) -> Result<Cluster, ClusterError> {
        if let Some(problem) = self.sentinel_config.problem(self.sentinels) {
            return Err(ClusterError::Sentinel(problem));
        }
        let specs = match control.peer_host("redis-0") {
            Ok(master) => self.node_specs(&master),
            Err(e) => return Err(undo(control, e).await),
        };
        if let Err(e) = control.create(specs.clone()).await {
            return Err(undo(control, e).await);
        }
        let mut addrs = Vec::new();
        for spec in &specs {
            match control.client_addr(&spec.name).await {
                Ok(addr) => addrs.push(addr),
                Err(e) => return Err(undo(control, e).await),
            }
        }
        let nodes = specs
            .into_iter()
            .map(|s| Node { name: s.name, kind: s.kind, config: Mutex::new(s.config) })
            .collect();
        let mut cluster = Cluster::assemble(control, run, nodes, &addrs, login, self.seed);
        cluster.kept = self.kept;
        let ready = async {
            cluster.wait_ready(self.ready_timeout).await?;
            if self.sentinels > 0 {
                let master_ip = cluster.ip(&cluster.master()).await?;
                cluster.start_sentinels(self.sentinel_specs(master_ip)).await?;
                cluster.wait_sentinels_ready(self.ready_timeout).await?;
            }
            Ok::<_, ClusterError>(())
        };
        match ready.await {
            Ok(()) => Ok(cluster),
            Err(e) => {
                if let Err(t) = cluster.teardown().await {
                    tracing::warn!("removing a cluster that did not start: {t}");
                }
                Err(e)
            }
        }
    }

    /// The stores' nodes, replicas pointed at `master` (how they reach `redis-0`).
    pub(crate) fn node_specs(&self, master: &str) -> Vec<NodeSpec> {
        let mut specs = Vec::new();
        for i in 0..=self.replicas {
            let mut config = self.redis_config.clone();
            if i > 0 {
                config.set("replicaof", &format!("{master} {}", NodeKind::Redis.port()));
            }
            specs.push(NodeSpec {
                name: format!("redis-{i}"),
                kind: NodeKind::Redis,
                config: config.render(),
            });
        }
        if self.postgres {
            specs.push(NodeSpec {
                name: "postgres".into(),
                kind: NodeKind::Postgres,
                config: self.postgres_config.render(),
            });
        }
        specs
    }

    /// The sentinels' nodes, watching the master at `master_ip`.
    pub(crate) fn sentinel_specs(&self, master_ip: std::net::IpAddr) -> Vec<NodeSpec> {
        let text = self.sentinel_config.render(self.sentinels, master_ip);
        (0..self.sentinels)
            .map(|i| NodeSpec {
                name: format!("sentinel-{i}"),
                kind: NodeKind::Sentinel,
                config: text.clone(),
            })
            .collect()
    }
}

/// Removes what `control` created of a cluster that could not start, and returns why it
/// could not.
async fn undo(control: Box<dyn NodeControl>, error: ClusterError) -> ClusterError {
    if let Err(e) = control.teardown().await {
        tracing::warn!("removing a cluster that did not start: {e}");
    }
    error
}

/// How clients log in to Postgres.
#[derive(Clone, Debug)]
pub(crate) struct PostgresLogin {
    pub(crate) user: String,
    pub(crate) password: String,
    pub(crate) database: String,
}

/// A running cluster. Dropping it removes everything of the run; [`Cluster::teardown`]
/// does the same and reports errors.
pub struct Cluster {
    // Field order matters: the nodes' backend drops (and removes them) last.
    nodes: Vec<Node>,
    run: String,
    /// The Docker network, on the Docker backend.
    network: Option<String>,
    master: Arc<Mutex<String>>,
    endpoints: Arc<watch::Sender<Endpoints>>,
    seed: Option<u64>,
    kept: bool,
    control: Box<dyn NodeControl>,
}

impl Cluster {
    /// A builder with the defaults listed on [`ClusterBuilder`].
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder::default()
    }

    fn assemble(
        control: Box<dyn NodeControl>,
        run: String,
        nodes: Vec<Node>,
        addrs: &[std::net::SocketAddr],
        login: PostgresLogin,
        seed: Option<u64>,
    ) -> Cluster {
        let mut redis = BTreeMap::new();
        let mut postgres = None;
        for (node, addr) in nodes.iter().zip(addrs.iter().copied()) {
            match node.kind {
                NodeKind::Redis => {
                    redis.insert(node.name.clone(), addr);
                }
                NodeKind::Postgres => {
                    postgres = Some(PostgresEndpoint {
                        addr,
                        user: login.user.clone(),
                        password: login.password.clone(),
                        database: login.database.clone(),
                    })
                }
                NodeKind::Sentinel => unreachable!("sentinels start after the stores"),
            }
        }
        let master = "redis-0".to_string();
        let redis_master = *redis.get(&master).expect("a cluster always has redis-0");
        let (endpoints, _) =
            watch::channel(Endpoints { redis_master, redis, postgres, sentinel: None });
        let (master, endpoints) = (Arc::new(Mutex::new(master)), Arc::new(endpoints));
        Cluster { nodes, run, network: None, master, endpoints, seed, kept: false, control }
    }

    pub(super) fn control(&self) -> &dyn NodeControl {
        self.control.as_ref()
    }

    /// The backend the nodes run on.
    pub fn backend(&self) -> Backend {
        self.control.backend()
    }

    /// The run id, also the value of the `faultline.run` label on all of its objects.
    pub fn run_id(&self) -> &str {
        &self.run
    }

    /// The name of the run's Docker network (the Docker backend only).
    pub fn network(&self) -> Option<&str> {
        self.network.as_deref()
    }

    /// The labels every object of the run carries (its id, its owner, whether it is
    /// kept): what the run's teardown, its guard and `faultline clean` remove by.
    pub fn labels(&self) -> HashMap<String, String> {
        clean::labels(&self.run, self.kept)
    }

    /// The run's network as a container service joins it: its name, its bridge
    /// gateway (where the harness's servers listen for the service) and the labels.
    /// A container service needs the Docker backend.
    pub async fn run_network(&self) -> Result<crate::service::RunNetwork, ClusterError> {
        let Some(name) = self.network.clone() else {
            return Err(ClusterError::Unsupported {
                operation: "a service in a container",
                backend: self.backend(),
                why: "a run on hosts reaches its service as a process the harness starts \
                      (`--service CMD`)",
            });
        };
        Ok(crate::service::RunNetwork {
            run: self.run.clone(),
            name,
            gateway: self.clients_ip().await?,
            labels: self.labels(),
        })
    }
    /// The seed the cluster was built with, if any.
    pub fn seed(&self) -> Option<u64> {
        self.seed
    }

    /// A live view of the current endpoints, for clients to follow restarts and
    /// failovers.
    pub fn endpoints(&self) -> Topology {
        self.endpoints.subscribe()
    }

    /// Every node's name: Redis nodes first (`redis-0`, …), then `postgres`.
    pub fn node_names(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.name.clone()).collect()
    }

    /// The names of the Redis nodes.
    pub fn redis_nodes(&self) -> Vec<String> {
        self.nodes_of(NodeKind::Redis)
    }

    /// The names of the Sentinel nodes (none without Sentinel).
    pub fn sentinel_nodes(&self) -> Vec<String> {
        self.nodes_of(NodeKind::Sentinel)
    }

    fn nodes_of(&self, kind: NodeKind) -> Vec<String> {
        self.nodes.iter().filter(|n| n.kind == kind).map(|n| n.name.clone()).collect()
    }

    /// What kind of node `node` is.
    pub fn kind(&self, node: &str) -> Result<NodeKind, ClusterError> {
        Ok(self.node(node)?.kind)
    }

    /// Starts the sentinels of `specs` watching the current master, each with its own
    /// fresh file, and publishes them with the addresses Sentinel will name nodes by.
    async fn start_sentinels(&mut self, specs: Vec<NodeSpec>) -> Result<(), ClusterError> {
        let mut announced = BTreeMap::new();
        for node in self.redis_nodes() {
            let addr = std::net::SocketAddr::new(self.ip(&node).await?, NodeKind::Redis.port());
            announced.insert(addr, node);
        }
        self.control.create(specs.clone()).await?;
        let mut nodes = BTreeMap::new();
        for spec in specs {
            nodes.insert(spec.name.clone(), self.control.client_addr(&spec.name).await?);
            self.nodes.push(Node {
                name: spec.name,
                kind: spec.kind,
                config: Mutex::new(spec.config),
            });
        }
        let master_name = sentinel::MASTER_NAME.to_string();
        self.endpoints.send_modify(|e| {
            e.sentinel = Some(SentinelEndpoints { master_name, nodes, announced });
        });
        Ok(())
    }

    /// Waits until every sentinel answers, then until each sees the master, every
    /// replica and every other sentinel.
    async fn wait_sentinels_ready(&self, timeout: Duration) -> Result<(), ClusterError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let sentinels: Vec<&Node> =
            self.nodes.iter().filter(|n| n.kind == NodeKind::Sentinel).collect();
        let (replicas, others) = (self.replicas().len(), sentinels.len() - 1);
        let probes = sentinels.iter().map(|node| async move {
            self.wait_node_ready(node, deadline).await?;
            let addr = self.sentinel_addr(&node.name)?;
            let started = tokio::time::Instant::now();
            match ready::poll_until(deadline, || sentinel::sentinel_ready(addr, replicas, others))
                .await
            {
                Ok(()) => Ok(()),
                Err(reason) => Err(self.not_ready(node, started.elapsed(), reason).await),
            }
        });
        futures::future::try_join_all(probes).await?;
        Ok(())
    }

    /// The address Sentinel knows Redis node `node` by (its IP on the run's network),
    /// with Sentinel; `None` without it.
    pub fn announced_ip(&self, node: &str) -> Option<std::net::IpAddr> {
        let endpoints = self.endpoints.borrow();
        let announced = &endpoints.sentinel.as_ref()?.announced;
        announced.iter().find(|(_, name)| *name == node).map(|(addr, _)| addr.ip())
    }

    /// A sentinel's published address now.
    pub fn sentinel_addr(&self, node: &str) -> Result<std::net::SocketAddr, ClusterError> {
        self.endpoints
            .borrow()
            .sentinel
            .as_ref()
            .and_then(|s| s.nodes.get(node).copied())
            .ok_or(ClusterError::NoAddress { node: node.to_string(), what: "sentinel port" })
    }

    /// The name of the node clients currently treat as the Redis master.
    pub fn master(&self) -> String {
        self.master.lock().expect("master lock").clone()
    }

    /// The Redis nodes other than the master.
    pub fn replicas(&self) -> Vec<String> {
        let master = self.master();
        self.redis_nodes().into_iter().filter(|n| *n != master).collect()
    }

    /// Points clients at `node` as the Redis master (after a promotion).
    pub fn set_master(&self, node: &str) -> Result<(), ClusterError> {
        let node = self.node(node)?;
        node.expect_kind(NodeKind::Redis, "set_master")?;
        *self.master.lock().expect("master lock") = node.name.clone();
        self.endpoints.send_modify(|e| e.redis_master = e.redis[&node.name]);
        Ok(())
    }

    /// A callback that moves the cluster's master to the Redis node it names, from any
    /// task: what the harness's sentinel watch calls on `+switch-master`, so the
    /// harness's view of the master (its monitor, its faults' targets, the control URL)
    /// follows Sentinel's word. A name that is no Redis node is ignored.
    pub fn master_follower(&self) -> impl Fn(&str) + Send + Sync + 'static {
        let (master, endpoints) = (Arc::clone(&self.master), Arc::clone(&self.endpoints));
        move |node: &str| {
            let Some(addr) = endpoints.borrow().redis.get(node).copied() else { return };
            let mut current = master.lock().expect("master lock");
            if *current != node {
                tracing::info!("Sentinel moved the master from {current} to {node}");
                *current = node.to_string();
                endpoints.send_modify(|e| e.redis_master = addr);
            }
        }
    }

    fn node(&self, name: &str) -> Result<&Node, ClusterError> {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .ok_or_else(|| ClusterError::UnknownNode(name.into()))
    }

    async fn wait_ready(&self, timeout: Duration) -> Result<(), ClusterError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let probes = self.nodes.iter().map(|n| self.wait_node_ready(n, deadline));
        futures::future::try_join_all(probes).await?;
        let replicas = self.replicas();
        let links = replicas.iter().map(|r| self.wait_replica_linked(r, deadline));
        futures::future::try_join_all(links).await?;
        Ok(())
    }

    /// Waits until every replica reports its link to the master up.
    pub async fn wait_replication(&self, timeout: Duration) -> Result<(), ClusterError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let replicas = self.replicas();
        futures::future::try_join_all(
            replicas.iter().map(|r| self.wait_replica_linked(r, deadline)),
        )
        .await?;
        Ok(())
    }

    async fn wait_replica_linked(
        &self,
        name: &str,
        deadline: tokio::time::Instant,
    ) -> Result<(), ClusterError> {
        let node = self.node(name)?;
        let addr = self.endpoints.borrow().redis[name];
        let started = tokio::time::Instant::now();
        match ready::poll_until(deadline, || ready::replica_linked(addr)).await {
            Ok(()) => Ok(()),
            Err(reason) => Err(self.not_ready(node, started.elapsed(), reason).await),
        }
    }

    async fn not_ready(&self, node: &Node, waited: Duration, reason: String) -> ClusterError {
        let log = self
            .control
            .logs(&node.name, Some(20))
            .await
            .unwrap_or_else(|e| format!("(could not read its log: {e})"));
        ClusterError::NotReady { node: node.name.clone(), waited, reason, log }
    }

    /// Leaves the cluster running after this process exits (`faultline run --keep`);
    /// `faultline clean` removes it. Returns the run id.
    pub fn keep(self) -> Result<String, ClusterError> {
        let Cluster { control, run, .. } = self;
        control.keep()?;
        Ok(run)
    }

    /// Whether something other than the nemesis healed faults during the run, and what
    /// ([`NodeControl::interrupted`]).
    pub fn interrupted(&self) -> Option<String> {
        self.control.interrupted()
    }

    /// Whether iptables rules on a node survive its server stopping (on hosts), rather
    /// than going with its container's network namespace.
    pub fn rules_survive_restart(&self) -> bool {
        self.control.rules_survive_restart()
    }

    /// The last resort of a nemesis dropped with faults in place: resumes every paused
    /// node and removes faultline's rules, blocking (run it on a thread of its own).
    pub fn backstop(&self) -> Box<dyn FnOnce() -> Result<(), String> + Send> {
        self.control.backstop()
    }

    /// Removes everything of this run.
    pub async fn teardown(self) -> Result<(), ClusterError> {
        self.control.teardown().await
    }
}

pub(crate) fn new_run_id() -> String {
    let mut rng = rand::rng();
    (0..8).map(|_| char::from(b"0123456789abcdef"[rng.random_range(0..16)])).collect()
}

pub(crate) fn random_password() -> String {
    let mut rng = rand::rng();
    let alphabet = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    (0..24).map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())])).collect()
}
