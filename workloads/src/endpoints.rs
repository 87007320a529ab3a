//! Where the system under test finds its stores.
//!
//! The harness owns the cluster and publishes its current addresses through a
//! [`tokio::sync::watch`] channel: a node restarted by a fault can come back on another
//! host port, and a failover moves the Redis master to another node. Clients read the
//! current [`Endpoints`] whenever they (re)connect, so they follow both.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use tokio::sync::watch;

/// The current addresses of the cluster, all on 127.0.0.1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoints {
    /// The node clients should write balances to.
    pub redis_master: SocketAddr,
    /// Every Redis node by name (`redis-0`, ...), master included.
    pub redis: BTreeMap<String, SocketAddr>,
    /// The ledger's database, if the cluster has one.
    pub postgres: Option<PostgresEndpoint>,
    /// Redis Sentinel, if the cluster runs it.
    pub sentinel: Option<SentinelEndpoints>,
}

impl Endpoints {
    /// The Redis node the topology names as the master: the one at
    /// [`redis_master`](Endpoints::redis_master).
    pub fn master_node(&self) -> Option<(&str, SocketAddr)> {
        self.redis
            .iter()
            .find(|(_, addr)| **addr == self.redis_master)
            .map(|(n, a)| (n.as_str(), *a))
    }

    /// Every other Redis node, in name order: the master's replicas. With Sentinel,
    /// the harness moves its master to the node a majority of the sentinels names
    /// after each failover, so this lags Sentinel's word for a moment
    /// ([`RedisReplica`](crate::store::RedisReplica) follows Sentinel itself).
    pub fn replicas(&self) -> impl Iterator<Item = (&str, SocketAddr)> {
        self.redis
            .iter()
            .filter(|(_, addr)| **addr != self.redis_master)
            .map(|(name, addr)| (name.as_str(), *addr))
    }
}

/// The cluster's Redis Sentinel nodes, and how to read their answers.
///
/// Sentinel names Redis nodes by their address on the run's network (`ip`, `6379`),
/// which clients on the host do not dial: [`SentinelEndpoints::node_at`] turns such an
/// address into the node's name, and [`Endpoints::redis`] gives its published port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentinelEndpoints {
    /// The name the sentinels monitor the master under (`SENTINEL
    /// get-master-addr-by-name <master_name>`).
    pub master_name: String,
    /// Every sentinel by name (`sentinel-0`, ...), at its published port on 127.0.0.1.
    pub nodes: BTreeMap<String, SocketAddr>,
    /// Each Redis node's name by the address Sentinel reports for it.
    pub announced: BTreeMap<SocketAddr, String>,
}

impl SentinelEndpoints {
    /// The Redis node Sentinel means by `ip` and `port`, if any.
    pub fn node_at(&self, ip: &str, port: u16) -> Option<&str> {
        let addr = SocketAddr::new(ip.parse().ok()?, port);
        self.announced.get(&addr).map(String::as_str)
    }
}

/// How to reach the ledger's database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostgresEndpoint {
    /// Host address of the published port.
    pub addr: SocketAddr,
    /// User name.
    pub user: String,
    /// The password the harness generated for this run.
    pub password: String,
    /// Database name.
    pub database: String,
}

impl PostgresEndpoint {
    /// A `postgres://` URL for this endpoint.
    pub fn url(&self) -> String {
        format!("postgres://{}:{}@{}/{}", self.user, self.password, self.addr, self.database)
    }
}

/// A live view of the cluster's endpoints.
pub type Topology = watch::Receiver<Endpoints>;
