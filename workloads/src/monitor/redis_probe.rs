//! The monitor's probe of the Redis master: a write, then an `MGET` of every balance key.

use crate::store::{StoreError, classify_redis};
use checkers::history::StoreStatus;
use redis::AsyncConnectionConfig;
use redis::aio::MultiplexedConnection;
use std::net::SocketAddr;
use std::time::Duration;

/// The harness key the monitor writes.
const PROBE_KEY: &str = "faultline:monitor";
/// The longest a whole probe may take, in timeouts: its write and reads each get one.
const PROBE_TIMEOUTS: u32 = 3;
/// Keys read in one `MGET`.
const CHUNK: usize = 500;

/// Probes of the Redis master, on a connection of the monitor's own.
pub(super) struct RedisProbe {
    /// Every account's balance key, in the monitor's order of accounts.
    keys: Vec<String>,
    timeout: Duration,
    conn: Option<(SocketAddr, MultiplexedConnection)>,
}

impl RedisProbe {
    pub(super) fn new(keys: Vec<String>, timeout: Duration) -> RedisProbe {
        RedisProbe { keys, timeout, conn: None }
    }

    /// The master's status at `addr`, and whether each balance key exists if they could
    /// be read; `unreachable` when the probe took longer than three timeouts.
    pub(super) async fn probe(
        &mut self,
        addr: Option<SocketAddr>,
    ) -> (StoreStatus, Option<Vec<bool>>) {
        let Some(addr) = addr else { return (StoreStatus::Unreachable, None) };
        let limit = self.timeout * PROBE_TIMEOUTS;
        match tokio::time::timeout(limit, self.probe_once(addr)).await {
            Ok(seen) => seen,
            Err(_) => {
                self.conn = None;
                (StoreStatus::Unreachable, None)
            }
        }
    }

    async fn probe_once(&mut self, addr: SocketAddr) -> (StoreStatus, Option<Vec<bool>>) {
        let mut conn = match self.connection(addr).await {
            Ok(conn) => conn,
            Err(e) => return (e.kind.status(), None),
        };
        let write = redis::cmd("SET").arg(PROBE_KEY).arg(1).query_async::<()>(&mut conn).await;
        let mut store =
            write.map_or_else(|e| classify_redis(e).kind.status(), |()| StoreStatus::Healthy);
        let present = match self.present(&mut conn).await {
            Ok(present) => Some(present),
            Err(e) => {
                if store == StoreStatus::Healthy {
                    store = e.kind.status();
                }
                None
            }
        };
        if store == StoreStatus::Unreachable {
            self.conn = None;
        }
        (store, present)
    }

    /// A connection to the master at `addr`, made anew when the master moved.
    async fn connection(&mut self, addr: SocketAddr) -> Result<MultiplexedConnection, StoreError> {
        if let Some((at, conn)) = &self.conn
            && *at == addr
        {
            return Ok(conn.clone());
        }
        let client = redis::Client::open(format!("redis://{addr}")).map_err(classify_redis)?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        let conn = client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(classify_redis)?;
        self.conn = Some((addr, conn.clone()));
        Ok(conn)
    }

    /// Whether each balance key exists.
    async fn present(&self, conn: &mut MultiplexedConnection) -> Result<Vec<bool>, StoreError> {
        let mut present = Vec::with_capacity(self.keys.len());
        for chunk in self.keys.chunks(CHUNK) {
            let values: Vec<Option<Vec<u8>>> =
                redis::cmd("MGET").arg(chunk).query_async(conn).await.map_err(classify_redis)?;
            present.extend(values.iter().map(Option::is_some));
        }
        Ok(present)
    }
}
