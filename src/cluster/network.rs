//! The network as faults need it: where the harness's clients come from, whether a node
//! is running, paused or on the network, and taking a node off the network and back.
//!
//! Disconnecting is the coarse fallback partition for machines where iptables cannot run
//! inside containers (Docker only): a disconnected node reaches no other node and no
//! client, and its published port goes with it.

use super::{Cluster, ClusterError};
use std::net::IpAddr;

/// What the backend reports of a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeState {
    /// Its process runs (a paused one still counts as running).
    pub running: bool,
    /// It is frozen.
    pub paused: bool,
    /// It is on the run's network (always, on hosts).
    pub connected: bool,
}

impl Cluster {
    /// The address the harness's clients' connections come from, as the nodes see them
    /// (the run network's gateway, or the harness's address on the hosts' network):
    /// dropping it cuts the harness's clients from a node and nothing else.
    pub async fn clients_ip(&self) -> Result<IpAddr, ClusterError> {
        self.control().clients_ip().await
    }

    /// Whether `node` runs, is paused, and is on the run's network.
    pub async fn state(&self, node: &str) -> Result<NodeState, ClusterError> {
        self.node(node)?;
        self.control().state(node).await
    }

    /// Takes `node` off the run's network: it reaches no other node and no client.
    pub async fn disconnect(&self, node: &str) -> Result<(), ClusterError> {
        self.node(node)?;
        self.control().disconnect(node).await
    }

    /// Puts a disconnected `node` back on the run's network, publishes its new address
    /// and waits until it answers.
    pub async fn reconnect(&self, node: &str) -> Result<(), ClusterError> {
        let n = self.node(node)?;
        self.control().reconnect(node).await?;
        self.node_restarted(n).await
    }
}
