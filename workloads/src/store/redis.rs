//! A connection to whichever Redis node is the master now.
//!
//! Without Sentinel, the master is the one the topology names
//! ([`Endpoints::redis_master`](crate::endpoints::Endpoints::redis_master)). With
//! Sentinel ([`Endpoints::sentinel`](crate::endpoints::Endpoints::sentinel)), it is the
//! one Sentinel names, found as production clients find it (`sentinel`): the first
//! sentinel in name order that answers `SENTINEL get-master-addr-by-name`, then moved by
//! any sentinel's `+switch-master`, and asked again after a request on it fails with a
//! refused or dropped connection, a timeout or `READONLY`. Sentinel's answer (an address
//! on the run's network) is mapped to the node's name and its published port.
//!
//! One [`ConnectionManager`] per master address, made lazily: when the master moves (a
//! failover) or its port changes (a restart), the next request gets a fresh manager for
//! the new address. A manager reconnects in the background after a connection error,
//! but never retries the failed request: that is the caller's to judge ([`StoreError`]).

use super::sentinel::Follower;
use super::{ErrorKind, StoreError};
use crate::endpoints::Topology;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisError, ServerErrorKind};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A pooled connection to the current Redis master; cheap to clone.
///
/// With Sentinel, the first request subscribes to `+switch-master` on every sentinel:
/// it spawns tasks on the current tokio runtime, and the subscriptions end when the
/// last clone is dropped.
#[derive(Clone)]
pub struct RedisMaster {
    topology: Topology,
    timeout: Duration,
    current: Connections,
    sentinel: Arc<Follower>,
}

impl RedisMaster {
    /// Follows the master `topology` names, or Sentinel names when the topology has
    /// Sentinel; every request, and every call to a sentinel, waits at most `timeout`.
    /// It connects on first use, and needs no runtime until then.
    pub fn new(topology: Topology, timeout: Duration) -> RedisMaster {
        RedisMaster {
            topology,
            timeout,
            current: Connections::default(),
            sentinel: Arc::new(Follower::new()),
        }
    }

    /// The master's address now: with Sentinel, the published port of the node
    /// Sentinel last named (the topology's master until one has been named).
    pub fn addr(&self) -> SocketAddr {
        let endpoints = self.topology.borrow();
        let named = match &endpoints.sentinel {
            Some(_) => self.sentinel.known().and_then(|node| endpoints.redis.get(&node).copied()),
            None => None,
        };
        named.unwrap_or(endpoints.redis_master)
    }

    /// A connection to the current master (it connects on first use; with Sentinel it
    /// asks the sentinels first when no master is known). An error on it is the
    /// caller's alone: prefer [`RedisMaster::query`] and [`RedisMaster::eval`], which
    /// also make the next request ask Sentinel again.
    pub async fn connection(&self) -> Result<ConnectionManager, StoreError> {
        Ok(self.master().await?.1)
    }

    /// The master's node as Sentinel named it (`None` without Sentinel), and a
    /// connection to it.
    async fn master(&self) -> Result<(Option<String>, ConnectionManager), StoreError> {
        let with_sentinel = self.topology.borrow().sentinel.is_some();
        let (node, addr) = if with_sentinel {
            let node = self.sentinel.master(&self.topology, self.timeout).await?;
            let addr = self.topology.borrow().redis.get(&node).copied();
            let addr = addr.ok_or_else(|| {
                let why = format!("Sentinel named {node}, which has no published port");
                StoreError::new(ErrorKind::Unreachable, why)
            })?;
            (Some(node), addr)
        } else {
            (None, self.topology.borrow().redis_master)
        };
        Ok((node, self.current.to(addr, self.timeout)?))
    }

    /// Runs `cmd` on the current master.
    pub async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, StoreError> {
        let (node, mut conn) = self.master().await?;
        let answer = cmd.query_async(&mut conn).await.map_err(classify);
        self.judge(node, answer)
    }

    /// Runs a Lua script on the current master as `invocation` calls it, built with
    /// redis's own [`Script::key`](redis::Script::key) and
    /// [`arg`](redis::ScriptInvocation::arg), so keys and arguments may be of any type
    /// redis can send.
    ///
    /// ```no_run
    /// # async fn f(redis: &workloads::store::RedisMaster) -> Result<(), workloads::store::StoreError> {
    /// let script = redis::Script::new("return redis.call('SET', KEYS[1], ARGV[1])");
    /// let _: () = redis.eval(script.key("greeting").arg("hello").arg(42)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn eval<T: redis::FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        let (node, mut conn) = self.master().await?;
        let answer = invocation.invoke_async(&mut conn).await.map_err(classify);
        self.judge(node, answer)
    }

    /// Passes `answer` on; an error that says `node` may no longer be the master (the
    /// connection refused, dropped or timed out, or `READONLY`) makes the next request
    /// ask Sentinel again.
    fn judge<T>(
        &self,
        node: Option<String>,
        answer: Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if let (Some(node), Err(e)) = (&node, &answer) {
            let moved = matches!(
                e.kind,
                ErrorKind::ReadOnly
                    | ErrorKind::Unreachable
                    | ErrorKind::Timeout
                    | ErrorKind::Dropped
            );
            if moved {
                self.sentinel.forget(node);
            }
        }
        answer
    }

    /// Whether the current master says it is one (`ROLE`): a node restarted with
    /// `replicaof` pointing at itself says it is a replica.
    pub async fn is_master(&self) -> Result<bool, StoreError> {
        let role: Vec<redis::Value> = self.query(&redis::cmd("ROLE")).await?;
        Ok(matches!(role.first(), Some(redis::Value::BulkString(r)) if r == b"master"))
    }

    /// The follower of Sentinel's word, for tests.
    #[cfg(test)]
    pub(crate) fn follower(&self) -> &Follower {
        &self.sentinel
    }
}

/// A connection manager to the address requests go to now, replaced when it moves.
#[derive(Clone, Default)]
pub(super) struct Connections(Arc<Mutex<Option<(SocketAddr, ConnectionManager)>>>);

impl Connections {
    /// The manager for `addr`: the current one, or a fresh one if the address moved.
    pub(super) fn to(
        &self,
        addr: SocketAddr,
        timeout: Duration,
    ) -> Result<ConnectionManager, StoreError> {
        let mut current = self.0.lock().expect("redis connection lock");
        match &*current {
            Some((at, conn)) if *at == addr => Ok(conn.clone()),
            _ => {
                let conn = connect_lazily(addr, timeout)?;
                *current = Some((addr, conn.clone()));
                Ok(conn)
            }
        }
    }
}

fn connect_lazily(addr: SocketAddr, timeout: Duration) -> Result<ConnectionManager, StoreError> {
    let client = redis::Client::open(format!("redis://{addr}")).map_err(classify)?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        .set_number_of_retries(1)
        .set_min_delay(Duration::from_millis(20))
        .set_max_delay(Duration::from_millis(200));
    client.get_connection_manager_lazy(config).map_err(classify)
}

/// What a Redis error means: `READONLY` and `LOADING` refused the request, as does any
/// other error reply; a refused connection never sent it; a timeout or a dropped
/// connection may have applied it.
pub fn classify(e: RedisError) -> StoreError {
    let kind = match e.kind() {
        redis::ErrorKind::Server(ServerErrorKind::ReadOnly) => ErrorKind::ReadOnly,
        redis::ErrorKind::Server(ServerErrorKind::BusyLoading) => ErrorKind::Loading,
        redis::ErrorKind::Server(_) | redis::ErrorKind::Extension => ErrorKind::Rejected,
        _ if e.is_connection_refusal() => ErrorKind::Unreachable,
        _ if e.is_timeout() => ErrorKind::Timeout,
        _ if e.is_connection_dropped() || e.is_io_error() => ErrorKind::Dropped,
        _ => ErrorKind::Unknown,
    };
    StoreError::new(kind, e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    fn server(reply: &[u8]) -> RedisError {
        redis::parse_redis_value(reply).unwrap().extract_error().unwrap_err()
    }

    #[rustfmt::skip]
    #[test]
    fn redis_errors_are_refusals_or_indeterminate() {
        let cases = [
            (server(b"-READONLY You can't write against a read only replica.\r\n"), ErrorKind::ReadOnly),
            (server(b"-LOADING Redis is loading the dataset in memory\r\n"),       ErrorKind::Loading),
            (server(b"-NOREPLICAS Not enough good replicas to write.\r\n"),        ErrorKind::Rejected),
            (server(b"-ERR value is not an integer or out of range\r\n"),          ErrorKind::Rejected),
            (io::Error::from(io::ErrorKind::ConnectionRefused).into(),             ErrorKind::Unreachable),
            (io::Error::from(io::ErrorKind::TimedOut).into(),                      ErrorKind::Timeout),
            (io::Error::from(io::ErrorKind::BrokenPipe).into(),                    ErrorKind::Dropped),
            (io::Error::from(io::ErrorKind::UnexpectedEof).into(),                 ErrorKind::Dropped),
        ];
        for (error, kind) in cases {
            let text = error.to_string();
            assert_eq!(classify(error).kind, kind, "{text}");
        }
    }
}
