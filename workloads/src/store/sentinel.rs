//! Finding the Redis master through Sentinel, as production clients do.
//!
//! - [`discover`]: asks the sentinels in name order `SENTINEL get-master-addr-by-name`;
//!   the first that names a node of the cluster wins, as in redis-py and redis-rs. No
//!   quorum is asked for: in a minority split, a client whose first sentinel is on the
//!   old master's side is told the old master.
//! - [`subscribe`]: a Pub/Sub subscription on one sentinel, kept up through kills,
//!   pauses and restarts (a restarted sentinel is found at its port in the topology then).
//! - [`Follower`]: the master a [`RedisMaster`](super::RedisMaster) follows: discovered
//!   on first use and after an error, and moved at once by any sentinel's
//!   `+switch-master`, whose new address is taken as announced (as Jedis does).
//! - [`replicas`]: asks the sentinels in name order `SENTINEL replicas`, for a
//!   [`RedisReplica`](super::RedisReplica); the first that lists a replica that is up
//!   wins.
//!
//! Every call to a sentinel is bounded by the caller's timeout; a sentinel that is
//! down, paused or slow costs at most that before the next one is asked.

use super::{ErrorKind, StoreError};
use crate::endpoints::{SentinelEndpoints, Topology};
use futures::StreamExt;
use redis::RedisResult;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::{CancellationToken, DropGuard};

/// How long a subscription waits before reconnecting to a sentinel it lost, unless the
/// topology changes first (a restarted sentinel's new port).
const RESUBSCRIBE: Duration = Duration::from_millis(100);

/// The sentinels' names, in order (none without Sentinel).
pub(crate) fn names(topology: &Topology) -> Vec<String> {
    let endpoints = topology.borrow();
    endpoints.sentinel.as_ref().map(|s| s.nodes.keys().cloned().collect()).unwrap_or_default()
}

/// The channel Sentinel announces a new master on.
pub(crate) const SWITCH_MASTER: &str = "+switch-master";

/// The node Sentinel names as the master: the first sentinel, in name order, that
/// answers `SENTINEL get-master-addr-by-name` with a node of the cluster. Each sentinel
/// gets at most `timeout`; an error lists what each one said.
pub(crate) async fn discover(topology: &Topology, timeout: Duration) -> Result<String, StoreError> {
    let Some(sentinel) = topology.borrow().sentinel.clone() else {
        return Err(StoreError::new(ErrorKind::Unreachable, "the cluster runs no Sentinel"));
    };
    let mut said = Vec::new();
    for (name, addr) in &sentinel.nodes {
        let answer = tokio::time::timeout(timeout, ask(*addr, &sentinel.master_name)).await;
        match answer {
            Ok(Ok(Some((ip, port)))) => match sentinel.node_at(&ip, port) {
                Some(node) => return Ok(node.to_string()),
                None => said.push(format!("{name} named {ip}:{port}, no node of the cluster")),
            },
            Ok(Ok(None)) => said.push(format!("{name} knows no {}", sentinel.master_name)),
            Ok(Err(e)) => said.push(format!("{name}: {e}")),
            Err(_) => said.push(format!("{name}: no answer within {timeout:?}")),
        }
    }
    let said = if said.is_empty() { "none is known".to_string() } else { said.join("; ") };
    Err(StoreError::new(ErrorKind::Unreachable, format!("no sentinel named the master: {said}")))
}

/// The node more than half of all the sentinels name as the master (each asked
/// `SENTINEL get-master-addr-by-name`, at once, for at most `timeout`); `None` when no
/// node has a majority. Sentinel's word, not one sentinel's: a failover's leader
/// announces its own `+switch-master` only at `+failover-end`, which can come after a
/// newer failover, and a sentinel cut off with the old master names it until the heal.
pub(crate) async fn majority(topology: &Topology, timeout: Duration) -> Option<String> {
    let sentinel = topology.borrow().sentinel.clone()?;
    let asks = sentinel.nodes.values().map(|addr| async {
        let answer = tokio::time::timeout(timeout, ask(*addr, &sentinel.master_name)).await;
        match answer {
            Ok(Ok(Some((ip, port)))) => sentinel.node_at(&ip, port).map(str::to_string),
            _ => None,
        }
    });
    let named = futures::future::join_all(asks).await;
    let mut votes: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for node in named.into_iter().flatten() {
        *votes.entry(node).or_default() += 1;
    }
    votes.into_iter().find(|(_, n)| *n * 2 > sentinel.nodes.len()).map(|(node, _)| node)
}

/// The replicas of the master Sentinel lists, in name order, as production clients
/// ask: the first sentinel, in name order, whose answer to `SENTINEL replicas` lists a
/// replica that is a node of the cluster and not flagged down (`s_down`, `o_down`) or
/// `disconnected`. Each sentinel gets at most `timeout`; an error lists what each one
/// said.
pub(crate) async fn replicas(
    topology: &Topology,
    timeout: Duration,
) -> Result<Vec<String>, StoreError> {
    let Some(sentinel) = topology.borrow().sentinel.clone() else {
        return Err(StoreError::new(ErrorKind::Unreachable, "the cluster runs no Sentinel"));
    };
    let mut said = Vec::new();
    for (name, addr) in &sentinel.nodes {
        let answer = tokio::time::timeout(timeout, ask_replicas(*addr, &sentinel.master_name));
        match answer.await {
            Ok(Ok(listed)) => {
                let up = up_replicas(&sentinel, &listed);
                if !up.is_empty() {
                    return Ok(up);
                }
                said.push(format!("{name} lists no replica that is up"));
            }
            Ok(Err(e)) => said.push(format!("{name}: {e}")),
            Err(_) => said.push(format!("{name}: no answer within {timeout:?}")),
        }
    }
    let said = if said.is_empty() { "none is known".to_string() } else { said.join("; ") };
    Err(StoreError::new(ErrorKind::Unreachable, format!("no sentinel listed a replica: {said}")))
}

/// The nodes of the cluster among `listed` (`SENTINEL replicas`' answer: each
/// replica's fields by name) that no flag says are down or disconnected, in name order.
fn up_replicas(sentinel: &SentinelEndpoints, listed: &[HashMap<String, String>]) -> Vec<String> {
    let up = |fields: &HashMap<String, String>| {
        let flags = fields.get("flags").map_or("", String::as_str).split(',');
        let down = ["s_down", "o_down", "disconnected"];
        !flags.into_iter().any(|flag| down.contains(&flag))
    };
    let node = |fields: &HashMap<String, String>| {
        let port = fields.get("port")?.parse().ok()?;
        sentinel.node_at(fields.get("ip")?, port).map(str::to_string)
    };
    let mut nodes: Vec<String> = listed.iter().filter(|f| up(f)).filter_map(node).collect();
    nodes.sort();
    nodes
}

/// What the sentinel at `addr` lists as the replicas of `master`.
async fn ask_replicas(addr: SocketAddr, master: &str) -> RedisResult<Vec<HashMap<String, String>>> {
    let client = redis::Client::open(format!("redis://{addr}"))?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    redis::cmd("SENTINEL").arg("replicas").arg(master).query_async(&mut conn).await
}

/// What the sentinel at `addr` says the master `master` is.
async fn ask(addr: SocketAddr, master: &str) -> RedisResult<Option<(String, u16)>> {
    let client = redis::Client::open(format!("redis://{addr}"))?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    redis::cmd("SENTINEL").arg("get-master-addr-by-name").arg(master).query_async(&mut conn).await
}

/// The node a `+switch-master` message (`<name> <old-ip> <old-port> <new-ip>
/// <new-port>`) names as the new master of `sentinel`'s monitored master, if it is
/// about that master and names a node of the cluster.
pub(crate) fn switched_to<'a>(sentinel: &'a SentinelEndpoints, message: &str) -> Option<&'a str> {
    let words: Vec<&str> = message.split_whitespace().collect();
    match words[..] {
        [name, _, _, ip, port] if name == sentinel.master_name => {
            sentinel.node_at(ip, port.parse().ok()?)
        }
        _ => None,
    }
}

/// What a subscription listens to.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Subscription {
    /// One channel (`SUBSCRIBE`).
    Channel(&'static str),
    /// Every channel matching a pattern (`PSUBSCRIBE`).
    Pattern(&'static str),
}

/// A message a sentinel published.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Published {
    /// The sentinel's name.
    pub(crate) sentinel: String,
    /// The channel: the event's name (`+switch-master`).
    pub(crate) channel: String,
    /// The message as Sentinel sent it.
    pub(crate) message: String,
}

/// Keeps `subscription` on the sentinel `name` until `stop`, sending every message to
/// `out`: connects to the sentinel's address in the topology (within `timeout`), and
/// when the connection ends or cannot be made, tries again once the topology changes or
/// after a short wait. A paused sentinel keeps its connection: its messages arrive once
/// it resumes. Ends too when `out` is closed.
pub(crate) async fn subscribe(
    name: String,
    mut topology: Topology,
    subscription: Subscription,
    timeout: Duration,
    out: mpsc::UnboundedSender<Published>,
    stop: CancellationToken,
) {
    loop {
        let addr = topology
            .borrow_and_update()
            .sentinel
            .as_ref()
            .and_then(|s| s.nodes.get(&name).copied());
        if let Some(addr) = addr {
            let opened = tokio::time::timeout(timeout, open(addr, subscription)).await;
            match opened {
                Ok(Ok(pubsub)) => {
                    let mut messages = pubsub.into_on_message();
                    loop {
                        let message = tokio::select! {
                            message = messages.next() => message,
                            () = stop.cancelled() => return,
                        };
                        let Some(message) = message else { break };
                        let published = Published {
                            sentinel: name.clone(),
                            channel: message.get_channel_name().to_string(),
                            message: String::from_utf8_lossy(message.get_payload_bytes()).into(),
                        };
                        if out.send(published).is_err() {
                            return;
                        }
                    }
                    tracing::debug!("lost the subscription to {name} at {addr}");
                }
                Ok(Err(e)) => tracing::debug!("cannot subscribe to {name} at {addr}: {e}"),
                Err(_) => tracing::debug!("{name} at {addr}: no subscription within {timeout:?}"),
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(RESUBSCRIBE) => {}
            Ok(()) = topology.changed() => {}
        }
    }
}

async fn open(addr: SocketAddr, subscription: Subscription) -> RedisResult<redis::aio::PubSub> {
    let client = redis::Client::open(format!("redis://{addr}"))?;
    let mut pubsub = client.get_async_pubsub().await?;
    match subscription {
        Subscription::Channel(channel) => pubsub.subscribe(channel).await?,
        Subscription::Pattern(pattern) => pubsub.psubscribe(pattern).await?,
    }
    Ok(pubsub)
}

/// The master a [`RedisMaster`](super::RedisMaster) follows through Sentinel (and a
/// [`RedisReplica`](super::RedisReplica) reads from a replica of).
///
/// It subscribes to `+switch-master` on every sentinel at first use (which needs a
/// tokio runtime); those subscriptions end when the follower is dropped.
pub(crate) struct Follower {
    /// The node Sentinel last named; `None`: ask.
    master: Arc<watch::Sender<Option<String>>>,
    /// One discovery at a time: requests that find the master unknown wait for it.
    asking: tokio::sync::Mutex<()>,
    /// Ends the subscriptions when dropped.
    listening: OnceLock<DropGuard>,
}

impl Follower {
    /// A follower that knows no master yet.
    pub(crate) fn new() -> Follower {
        Follower {
            master: Arc::new(watch::Sender::new(None)),
            asking: tokio::sync::Mutex::new(()),
            listening: OnceLock::new(),
        }
    }

    /// The node Sentinel names as the master: the last one named, or a fresh
    /// [`discover`] when none is known.
    pub(crate) async fn master(
        &self,
        topology: &Topology,
        timeout: Duration,
    ) -> Result<String, StoreError> {
        self.listen(topology, timeout);
        if let Some(node) = self.known() {
            return Ok(node);
        }
        let _asking = self.asking.lock().await;
        if let Some(node) = self.known() {
            return Ok(node);
        }
        let node = discover(topology, timeout).await?;
        // A `+switch-master` heard meanwhile is newer than this answer.
        self.master.send_if_modified(|master| {
            let unknown = master.is_none();
            if unknown {
                *master = Some(node.clone());
            }
            unknown
        });
        Ok(self.known().unwrap_or(node))
    }

    /// The node Sentinel last named, if any.
    pub(crate) fn known(&self) -> Option<String> {
        self.master.borrow().clone()
    }

    /// Forgets `node` as the master (a request on it failed): the next request asks the
    /// sentinels again, unless a `+switch-master` already named another node.
    pub(crate) fn forget(&self, node: &str) {
        self.master.send_if_modified(|master| {
            let forgotten = master.as_deref() == Some(node);
            if forgotten {
                *master = None;
            }
            forgotten
        });
    }

    /// The master as it changes, for tests.
    #[cfg(test)]
    pub(crate) fn watch(&self) -> watch::Receiver<Option<String>> {
        self.master.subscribe()
    }

    /// Subscribes to `+switch-master` on every sentinel, once.
    fn listen(&self, topology: &Topology, timeout: Duration) {
        self.listening.get_or_init(|| {
            let stop = CancellationToken::new();
            let (out, mut published) = mpsc::unbounded_channel();
            for name in names(topology) {
                let subscription = Subscription::Channel(SWITCH_MASTER);
                let stop = stop.clone();
                tokio::spawn(subscribe(
                    name,
                    topology.clone(),
                    subscription,
                    timeout,
                    out.clone(),
                    stop,
                ));
            }
            drop(out);
            let (master, topology) = (self.master.clone(), topology.clone());
            // Ends once every subscription has: they hold the only senders.
            tokio::spawn(async move {
                while let Some(published) = published.recv().await {
                    follow(&master, &topology, &published);
                }
            });
            stop.drop_guard()
        });
    }
}

/// Moves `master` to the node a `+switch-master` names; one that names no known node
/// makes the next request ask the sentinels.
fn follow(master: &watch::Sender<Option<String>>, topology: &Topology, published: &Published) {
    let endpoints = topology.borrow();
    let Some(sentinel) = &endpoints.sentinel else { return };
    let about_ours = published.message.split_whitespace().next() == Some(&sentinel.master_name);
    if published.channel != SWITCH_MASTER || !about_ours {
        return;
    }
    let node = switched_to(sentinel, &published.message).map(str::to_string);
    tracing::debug!("{} announced {}: now {node:?}", published.sentinel, published.message);
    master.send_if_modified(|now| {
        let moved = *now != node;
        *now = node;
        moved
    });
}

#[cfg(test)]
mod tests;
