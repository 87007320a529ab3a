//! A connection to one of the Redis master's replicas, chosen by role.
//!
//! Without Sentinel, the replicas are the nodes the topology does not name as the
//! master ([`Endpoints::replicas`](crate::endpoints::Endpoints::replicas)). With
//! Sentinel, they are the nodes Sentinel lists, asked as production clients ask: the
//! first sentinel in name order that answers `SENTINEL replicas` with a replica that is
//! up (`sentinel`), its answer mapped to the nodes' names and published ports.
//!
//! One replica serves every request: the first in name order; after a request on it
//! fails with a refused or dropped connection, a timeout or `LOADING`, the next one in
//! name order (wrapping around). A replica that stops being one is left too: without
//! Sentinel, once the topology names it the master; with Sentinel, once the master
//! changes (a `+switch-master`, followed as [`RedisMaster`](super::RedisMaster) follows
//! it), the sentinels are asked again. Like a master's, a replica's connection never
//! retries a failed request.

use super::redis::{Connections, classify};
use super::sentinel::{self, Follower};
use super::{ErrorKind, StoreError};
use crate::endpoints::Topology;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A connection to one of the Redis master's replicas; cheap to clone.
///
/// With Sentinel, the first request subscribes to `+switch-master` on every sentinel:
/// it spawns tasks on the current tokio runtime, and the subscriptions end when the
/// last clone is dropped.
#[derive(Clone)]
pub struct RedisReplica {
    topology: Topology,
    timeout: Duration,
    chosen: Arc<Mutex<Chosen>>,
    current: Connections,
    sentinel: Arc<Follower>,
}

/// Which replica requests go to.
#[derive(Default)]
struct Chosen {
    /// The replica, and (with Sentinel) the master Sentinel named when it was chosen.
    replica: Option<(String, Option<String>)>,
    /// The last replica a request failed on: the next choice starts after it.
    failed: Option<String>,
}

impl RedisReplica {
    /// Reads from a replica of the master `topology` names, or of the master Sentinel
    /// names when the topology has Sentinel; every request, and every call to a
    /// sentinel, waits at most `timeout`. It connects on first use, and needs no runtime
    /// until then.
    pub fn new(topology: Topology, timeout: Duration) -> RedisReplica {
        RedisReplica {
            topology,
            timeout,
            chosen: Arc::default(),
            current: Connections::default(),
            sentinel: Arc::new(Follower::new()),
        }
    }

    /// The address of the replica requests go to now, at its current published port:
    /// `None` until a request chose one, and after a failed request made it choose again.
    pub fn addr(&self) -> Option<SocketAddr> {
        let chosen = self.chosen.lock().expect("replica choice lock");
        let (node, _) = chosen.replica.as_ref()?;
        self.topology.borrow().redis.get(node).copied()
    }

    /// Runs `cmd` on the replica.
    pub async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, StoreError> {
        let node = self.replica().await?;
        let addr = self.topology.borrow().redis.get(&node).copied();
        let addr = addr.ok_or_else(|| {
            StoreError::new(ErrorKind::Unreachable, format!("{node} has no published port"))
        })?;
        let mut conn = self.current.to(addr, self.timeout)?;
        let answer = cmd.query_async(&mut conn).await.map_err(classify);
        if let Err(e) = &answer {
            self.judge(&node, e);
        }
        answer
    }

    /// The replica to use now, chosen again if it is no longer one.
    async fn replica(&self) -> Result<String, StoreError> {
        if self.topology.borrow().sentinel.is_none() {
            let replicas: Vec<String> =
                self.topology.borrow().replicas().map(|(node, _)| node.to_string()).collect();
            return self.choose(None, &replicas);
        }
        let master = self.sentinel.master(&self.topology, self.timeout).await?;
        {
            let chosen = self.chosen.lock().expect("replica choice lock");
            if let Some((node, Some(under))) = &chosen.replica
                && *under == master
            {
                return Ok(node.clone());
            }
        }
        let mut replicas = sentinel::replicas(&self.topology, self.timeout).await?;
        replicas.retain(|node| *node != master);
        self.choose(Some(master), &replicas)
    }

    /// Keeps the replica chosen if it is among `replicas` (in name order), or chooses
    /// the first after the last one that failed, wrapping around.
    fn choose(&self, master: Option<String>, replicas: &[String]) -> Result<String, StoreError> {
        let mut chosen = self.chosen.lock().expect("replica choice lock");
        let kept = chosen.replica.as_ref().filter(|(node, _)| replicas.contains(node));
        let after = chosen.failed.as_deref();
        let next = after.and_then(|failed| replicas.iter().find(|node| node.as_str() > failed));
        let node = kept.map(|(node, _)| node).or(next).or(replicas.first()).cloned();
        chosen.replica = node.clone().map(|node| (node, master));
        node.ok_or_else(|| StoreError::new(ErrorKind::Unreachable, "the master has no replica"))
    }

    /// The follower of Sentinel's word on the master, for tests.
    #[cfg(test)]
    pub(crate) fn follower(&self) -> &Follower {
        &self.sentinel
    }

    /// An error that says `node` may be gone (the connection refused, dropped or timed
    /// out, or the node loading its data) makes the next request choose another replica.
    fn judge(&self, node: &str, e: &StoreError) {
        let gone = matches!(
            e.kind,
            ErrorKind::Unreachable | ErrorKind::Timeout | ErrorKind::Dropped | ErrorKind::Loading
        );
        let mut chosen = self.chosen.lock().expect("replica choice lock");
        if gone && chosen.replica.as_ref().is_some_and(|(chosen, _)| chosen == node) {
            chosen.replica = None;
            chosen.failed = Some(node.to_string());
        }
    }
}

#[cfg(test)]
mod tests;
