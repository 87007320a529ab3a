//! The node-control seam: every operation the cluster and the nemesis perform on a node,
//! behind one trait with two implementations. [`DockerNodes`](super::docker_nodes) runs
//! each node as a container of the run; `hosts::SshNodes` reaches real hosts (or the
//! container fleet that stands in for them) over SSH and runs each node as a process
//! there. The cluster's API, the interpreter and the scenarios are the same on both.
//!
//! A node is named as the scenarios name it (`redis-0`, `sentinel-1`, `postgres`); a
//! backend maps the name to its container or host. Every operation on a node that is
//! not known to the backend fails with [`ClusterError::UnknownNode`].

use super::{ClusterError, NodeKind, NodeState};
use crate::docker::ExecOutput;
use std::net::{IpAddr, SocketAddr};

/// Which backend a cluster runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Containers of the run's own, on a bridge network of its own.
    Docker,
    /// Processes on hosts reached over SSH (`--hosts hosts.toml`).
    Ssh,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Docker => "docker",
            Backend::Ssh => "ssh",
        })
    }
}

/// One node to create: its name, what it runs and the whole configuration file it
/// starts with (`redis.conf`, the settings `postgresql.conf` includes, or a sentinel's
/// file, which Sentinel rewrites).
#[derive(Clone, Debug)]
pub struct NodeSpec {
    /// `redis-0`, `sentinel-1`, `postgres`.
    pub name: String,
    /// What it runs.
    pub kind: NodeKind,
    /// The configuration file's text.
    pub config: String,
}

/// Node control: the primitives the cluster and the nemesis build on.
///
/// Every primitive acts on one node by name. Commands run as root on the node (inside
/// its container, or on its host, through `sudo` where the inventory asks for it), so
/// the nemesis's tools (`redis-cli`, `psql`, `iptables`, `tc`, `bash`) work the same on
/// both backends. Readiness is not the backend's business: the cluster probes a node
/// after starting it, through [`NodeControl::client_addr`].
#[async_trait::async_trait]
pub trait NodeControl: Send + Sync + 'static {
    /// Which backend this is.
    fn backend(&self) -> Backend;

    /// Creates and starts the nodes of `specs` (a container each, or the process of
    /// each node's host, started with its configuration file written first). They
    /// need not be ready when this returns.
    async fn create(&mut self, specs: Vec<NodeSpec>) -> Result<(), ClusterError>;

    /// Runs `cmd` as root on `node` and waits for it to exit.
    async fn exec(&self, node: &str, cmd: &[&str]) -> Result<ExecOutput, ClusterError>;

    /// Sends `signal` (`HUP`, ...) to `node`'s server process.
    async fn signal(&self, node: &str, signal: &str) -> Result<(), ClusterError>;

    /// Kills `node`'s server (SIGKILL, and every process it started) and waits until it
    /// is gone.
    async fn kill(&self, node: &str) -> Result<(), ClusterError>;

    /// Stops `node` cleanly (SIGTERM, then SIGKILL after 10 s) and waits until it is
    /// gone.
    async fn stop(&self, node: &str) -> Result<(), ClusterError>;

    /// Starts a stopped `node` with the configuration file it has now.
    async fn start(&self, node: &str) -> Result<(), ClusterError>;

    /// Stops `node` cleanly and starts it again.
    async fn restart(&self, node: &str) -> Result<(), ClusterError>;

    /// Freezes every process of `node`.
    async fn pause(&self, node: &str) -> Result<(), ClusterError>;

    /// Thaws a paused `node`.
    async fn unpause(&self, node: &str) -> Result<(), ClusterError>;

    /// Replaces `node`'s configuration file with `text`; the node reads it at its next
    /// start (or reload).
    async fn write_config(&self, node: &str, text: &str) -> Result<(), ClusterError>;

    /// The last `tail` lines `node`'s server wrote (all of it with `None`).
    async fn logs(&self, node: &str, tail: Option<usize>) -> Result<String, ClusterError>;

    /// Where the harness's clients reach `node`'s server now (a port published on
    /// 127.0.0.1, or the host's address).
    async fn client_addr(&self, node: &str) -> Result<SocketAddr, ClusterError>;

    /// `node`'s address among the nodes: what iptables rules between nodes and Sentinel
    /// name it by.
    async fn peer_ip(&self, node: &str) -> Result<IpAddr, ClusterError>;

    /// The host name other nodes reach `node` by in their configuration files
    /// (`replicaof <host> 6379`): a container name on the run's network, or an address.
    fn peer_host(&self, node: &str) -> Result<String, ClusterError>;

    /// Whether `node` runs, is paused, and is on the network.
    async fn state(&self, node: &str) -> Result<NodeState, ClusterError>;

    /// The address the harness's clients' connections come from, as the nodes see
    /// them: dropping it cuts the clients from a node and nothing else.
    async fn clients_ip(&self) -> Result<IpAddr, ClusterError>;

    /// The network interface of `node` that tc shapes.
    fn interface(&self, node: &str) -> Result<String, ClusterError>;

    /// Takes `node` off the network (the coarse partition where iptables cannot run);
    /// a backend that cannot says so.
    async fn disconnect(&self, node: &str) -> Result<(), ClusterError>;

    /// Puts a disconnected `node` back.
    async fn reconnect(&self, node: &str) -> Result<(), ClusterError>;

    /// Whether something other than the nemesis healed the nodes' faults during the run
    /// (on hosts: a dead-man switch fired because its lease was not renewed in time),
    /// and what: such a run did not hold its faults as scheduled.
    fn interrupted(&self) -> Option<String> {
        None
    }

    /// Whether iptables rules on a node survive the node's server stopping (on hosts)
    /// rather than going with its network namespace (a container's).
    fn rules_survive_restart(&self) -> bool {
        false
    }

    /// The last resort of a nemesis dropped with faults in place: a blocking function
    /// that resumes every paused node and removes faultline's rules, run on a thread of
    /// its own (`Drop` cannot await).
    fn backstop(&self) -> Box<dyn FnOnce() -> Result<(), String> + Send>;

    /// Leaves the nodes running after this process exits (`faultline run --keep`), or
    /// says why this backend cannot.
    fn keep(self: Box<Self>) -> Result<(), ClusterError>;

    /// Removes everything of the run: containers and network, or on hosts the processes
    /// it started, its rules, its dead-man switches and its files.
    async fn teardown(self: Box<Self>) -> Result<(), ClusterError>;
}
