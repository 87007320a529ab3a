//! The run's network as faults need it: where the harness's clients come from, whether a
//! node is running, paused or on the network, and taking a node off the network and back.
//!
//! Disconnecting is the coarse fallback partition for machines where iptables cannot run
//! inside containers: a disconnected node reaches no other node and no client, and its
//! published port goes with it.

use super::{Cluster, ClusterError};
use crate::docker::DockerError;
use std::net::IpAddr;
use testcontainers::bollard::models::{NetworkConnectRequest, NetworkDisconnectRequest};

/// What Docker reports of a node's container.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeState {
    /// Its process runs (a paused container still counts as running).
    pub running: bool,
    /// The cgroup freezer holds it.
    pub paused: bool,
    /// It is attached to the run's network.
    pub connected: bool,
}

impl Cluster {
    /// The gateway of the run's network. Host clients reach nodes through docker-proxy,
    /// so inside a node their connections come from this address; dropping it cuts the
    /// harness's clients from that node and nothing else.
    pub async fn gateway(&self) -> Result<IpAddr, ClusterError> {
        let network = self
            .docker
            .inspect_network(&self.network, None)
            .await
            .map_err(DockerError::api(format!("inspect network {}", self.network)))?;
        network
            .ipam
            .and_then(|ipam| ipam.config)
            .into_iter()
            .flatten()
            .find_map(|config| config.gateway?.parse().ok())
            .ok_or(ClusterError::NoAddress { node: self.network.clone(), what: "gateway" })
    }

    /// Whether `node` runs, is paused, and is on the run's network.
    pub async fn state(&self, node: &str) -> Result<NodeState, ClusterError> {
        let name = &self.node(node)?.container_name;
        let inspect = self
            .docker
            .inspect_container(name, None)
            .await
            .map_err(DockerError::api(format!("inspect {name}")))?;
        let state = inspect.state.unwrap_or_default();
        let connected = inspect
            .network_settings
            .and_then(|s| s.networks)
            .is_some_and(|networks| networks.contains_key(&self.network));
        Ok(NodeState {
            running: state.running.unwrap_or(false),
            paused: state.paused.unwrap_or(false),
            connected,
        })
    }

    /// Takes `node` off the run's network: it reaches no other node and no client.
    pub async fn disconnect(&self, node: &str) -> Result<(), ClusterError> {
        let container = self.node(node)?.container_name.clone();
        let request = NetworkDisconnectRequest { container, force: Some(true) };
        self.docker
            .disconnect_network(&self.network, request)
            .await
            .map_err(DockerError::api(format!("disconnect {node} from {}", self.network)))?;
        Ok(())
    }

    /// Puts a disconnected `node` back on the run's network, publishes its new host port
    /// and waits until it answers. Docker may give it another address on the network
    /// (it cannot pin one on a network without a configured subnet).
    pub async fn reconnect(&self, node: &str) -> Result<(), ClusterError> {
        let n = self.node(node)?;
        let request =
            NetworkConnectRequest { container: n.container_name.clone(), endpoint_config: None };
        self.docker
            .connect_network(&self.network, request)
            .await
            .map_err(DockerError::api(format!("connect {node} to {}", self.network)))?;
        self.node_restarted(n).await
    }
}
