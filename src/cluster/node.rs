//! Node control as the nemesis sees it: every primitive acts on one node by name, through
//! the cluster's backend ([`NodeControl`](super::control::NodeControl)), and leaves the
//! cluster's endpoints current: a node that starts again (after a kill, a stop or a
//! restart) can come back on another address, so it is read again and published to
//! clients before the node is probed ready.

use super::{Cluster, ClusterError, ready};
use crate::docker::ExecOutput;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::Duration;

/// What a node runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    /// redis-server.
    Redis,
    /// PostgreSQL.
    Postgres,
    /// Redis Sentinel (`redis-server --sentinel`).
    Sentinel,
}

/// A node as the cluster keeps it: its name, its kind and the configuration file it was
/// last started with.
pub(super) struct Node {
    pub(super) name: String,
    pub(super) kind: NodeKind,
    pub(super) config: Mutex<String>,
}

impl Node {
    pub(super) fn expect_kind(
        &self,
        kind: NodeKind,
        operation: &'static str,
    ) -> Result<(), ClusterError> {
        if self.kind == kind {
            Ok(())
        } else {
            Err(ClusterError::WrongKind { operation, node: self.name.clone(), kind: self.kind })
        }
    }
}

impl Cluster {
    /// Runs `cmd` as root on `node` (inside its container, or on its host).
    pub async fn exec(&self, node: &str, cmd: &[&str]) -> Result<ExecOutput, ClusterError> {
        self.node(node)?;
        self.control().exec(node, cmd).await
    }

    /// Sends `signal` (`HUP`, ...) to `node`'s server process.
    pub async fn signal(&self, node: &str, signal: &str) -> Result<(), ClusterError> {
        self.node(node)?;
        self.control().signal(node, signal).await
    }

    /// The last `tail` lines of `node`'s log (all of it with `None`).
    pub async fn logs(&self, node: &str, tail: Option<usize>) -> Result<String, ClusterError> {
        self.node(node)?;
        self.control().logs(node, tail).await
    }

    /// Kills `node`'s server with SIGKILL and waits until it is gone.
    pub async fn kill(&self, node: &str) -> Result<(), ClusterError> {
        self.node(node)?;
        self.control().kill(node).await
    }

    /// Stops `node` cleanly (SIGTERM, then SIGKILL after 10 s).
    pub async fn stop(&self, node: &str) -> Result<(), ClusterError> {
        self.node(node)?;
        self.control().stop(node).await
    }

    /// Starts a stopped `node` and waits until it answers; its new address is published.
    pub async fn start(&self, node: &str) -> Result<(), ClusterError> {
        let n = self.node(node)?;
        self.control().start(node).await?;
        self.node_restarted(n).await
    }

    /// Freezes every process of `node`.
    pub async fn pause(&self, node: &str) -> Result<(), ClusterError> {
        self.node(node)?;
        self.control().pause(node).await
    }

    /// Thaws a paused `node`.
    pub async fn unpause(&self, node: &str) -> Result<(), ClusterError> {
        self.node(node)?;
        self.control().unpause(node).await
    }

    /// The configuration file `node` was last started with.
    pub fn config_text(&self, node: &str) -> Result<String, ClusterError> {
        Ok(self.node(node)?.config.lock().expect("config lock").clone())
    }

    /// Replaces `node`'s configuration file with `text` (a whole `redis.conf`, or the
    /// settings included by `postgresql.conf`) and restarts it: SIGTERM, so Redis saves
    /// a snapshot first if its old configuration says so. Waits until it answers again.
    pub async fn restart_with_config(&self, node: &str, text: &str) -> Result<(), ClusterError> {
        self.set_config(node, text).await?;
        self.restart(node).await
    }

    /// Restarts `node` cleanly with the file it has now (a sentinel's, as Sentinel
    /// rewrote it) and waits until it answers again.
    pub async fn restart(&self, node: &str) -> Result<(), ClusterError> {
        let n = self.node(node)?;
        self.control().restart(node).await?;
        self.node_restarted(n).await
    }

    /// Replaces `node`'s configuration file with `text` without restarting it: the
    /// node reads it at its next start (or, for Postgres, at its next reload).
    pub async fn set_config(&self, node: &str, text: &str) -> Result<(), ClusterError> {
        let n = self.node(node)?;
        self.control().write_config(node, text).await?;
        *n.config.lock().expect("config lock") = text.to_string();
        Ok(())
    }

    /// The node's address among the nodes, for rules between nodes.
    pub async fn ip(&self, node: &str) -> Result<IpAddr, ClusterError> {
        self.node(node)?;
        self.control().peer_ip(node).await
    }

    /// The host name other nodes reach `node` by in their configuration files: its
    /// container name on the run's network, or its host's address.
    pub fn peer_host(&self, node: &str) -> Result<String, ClusterError> {
        self.node(node)?;
        self.control().peer_host(node)
    }

    /// The network interface of `node` that tc shapes.
    pub fn interface(&self, node: &str) -> Result<String, ClusterError> {
        self.node(node)?;
        self.control().interface(node)
    }

    pub(super) async fn node_restarted(&self, node: &Node) -> Result<(), ClusterError> {
        let addr = self.control().client_addr(&node.name).await?;
        self.publish(node, addr);
        if node.kind == NodeKind::Redis && self.endpoints.borrow().sentinel.is_some() {
            let announced = SocketAddr::new(self.ip(&node.name).await?, NodeKind::Redis.port());
            self.endpoints.send_modify(|e| {
                if let Some(sentinel) = e.sentinel.as_mut() {
                    sentinel.announced.retain(|_, name| *name != node.name);
                    sentinel.announced.insert(announced, node.name.clone());
                }
            });
        }
        self.wait_node_ready(node, tokio::time::Instant::now() + Duration::from_secs(30)).await
    }

    /// Publishes `addr` as where clients reach `node`.
    pub(super) fn publish(&self, node: &Node, addr: SocketAddr) {
        match node.kind {
            NodeKind::Redis => self.endpoints.send_modify(|e| {
                e.redis.insert(node.name.clone(), addr);
                if *self.master.lock().expect("master lock") == node.name {
                    e.redis_master = addr;
                }
            }),
            NodeKind::Postgres => self.endpoints.send_modify(|e| {
                if let Some(pg) = e.postgres.as_mut() {
                    pg.addr = addr;
                }
            }),
            NodeKind::Sentinel => self.endpoints.send_modify(|e| {
                if let Some(sentinel) = e.sentinel.as_mut() {
                    sentinel.nodes.insert(node.name.clone(), addr);
                }
            }),
        }
    }

    pub(super) async fn wait_node_ready(
        &self,
        node: &Node,
        deadline: tokio::time::Instant,
    ) -> Result<(), ClusterError> {
        let started = tokio::time::Instant::now();
        let result = match node.kind {
            NodeKind::Redis => {
                let addr = self.endpoints.borrow().redis[&node.name];
                ready::poll_until(deadline, || ready::redis_ping(addr)).await
            }
            NodeKind::Postgres => {
                let endpoint = self
                    .endpoints
                    .borrow()
                    .postgres
                    .clone()
                    .expect("a postgres node has an endpoint");
                ready::poll_until(deadline, || ready::postgres_select_1(&endpoint)).await
            }
            NodeKind::Sentinel => {
                let addr = self.sentinel_addr(&node.name)?;
                ready::poll_until(deadline, || ready::redis_ping(addr)).await
            }
        };
        match result {
            Ok(()) => Ok(()),
            Err(reason) => Err(self.not_ready(node, started.elapsed(), reason).await),
        }
    }
}
