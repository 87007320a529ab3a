//! The cluster's two stores as clients see them: connections that follow the current
//! topology, and what their errors mean. What a billing service needs to reach them the
//! way faultline's own designs do.
//!
//! - [`RedisMaster`]: a pooled connection to whichever node is the Redis master now,
//!   found through Sentinel when the cluster runs it (`sentinel`).
//! - [`RedisReplica`]: a connection to one of the master's replicas, by role, following
//!   failovers the same way.
//! - [`Ledger`]: a Postgres pool for the ledger, rebuilt when Postgres moves: requests
//!   and transactions under a statement timeout and a client-side one.
//! - [`StoreError`]: a failed request, classified once ([`classify_redis`],
//!   [`classify_postgres`], [`Ledger::transaction`]): did it certainly not apply (a
//!   Jepsen `fail`), or may it have (an `info`)? And what does it say about the store
//!   (the monitor's [`StoreStatus`])?
//!
//! None of them connects when made: a request connects. Requests need a tokio runtime,
//! as async code does; so does [`Ledger::pool`], and with Sentinel the first request of
//! a Redis handle spawns its subscriptions on the current runtime.

mod ledger;
mod redis;
mod replica;
pub(crate) mod sentinel;

pub use self::redis::{RedisMaster, classify as classify_redis};
pub use ledger::{Ledger, classify as classify_postgres, sqlstate_kind};
pub use replica::RedisReplica;

use crate::endpoints::Topology;
use checkers::history::StoreStatus;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What went wrong with a store request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The node refused a write because it is a read-only replica (`READONLY`).
    ReadOnly,
    /// The node is loading its dataset (`LOADING`), or the database is starting up.
    Loading,
    /// The store answered with an error, or a transaction failed before its `COMMIT`
    /// was sent: the request did not apply.
    Rejected,
    /// The request never took effect for want of the store: no connection could be
    /// made, or a transaction lost its connection, or its answer, before its `COMMIT`
    /// was sent.
    Unreachable,
    /// No answer in time: the request may have applied.
    Timeout,
    /// The connection broke while the request was out: it may have applied.
    Dropped,
    /// Anything else the client could not make sense of: it may have applied.
    Unknown,
}

impl ErrorKind {
    /// Whether the request certainly did not take effect.
    pub fn is_definite(self) -> bool {
        matches!(
            self,
            ErrorKind::ReadOnly | ErrorKind::Loading | ErrorKind::Rejected | ErrorKind::Unreachable
        )
    }

    /// What the error says about the store, as the monitor reports it.
    pub fn status(self) -> StoreStatus {
        match self {
            ErrorKind::ReadOnly => StoreStatus::ReadOnly,
            ErrorKind::Loading => StoreStatus::Loading,
            ErrorKind::Unreachable | ErrorKind::Timeout | ErrorKind::Dropped => {
                StoreStatus::Unreachable
            }
            ErrorKind::Rejected | ErrorKind::Unknown => StoreStatus::Error,
        }
    }
}

/// A failed request to Redis or Postgres.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct StoreError {
    /// What kind of failure it was.
    pub kind: ErrorKind,
    /// What the store or the client said.
    pub message: String,
}

impl StoreError {
    /// An error of this kind.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> StoreError {
        StoreError { kind, message: message.into() }
    }

    /// A request that got no answer within `limit`.
    pub fn timeout(what: &str, limit: Duration) -> StoreError {
        StoreError::new(ErrorKind::Timeout, format!("{what}: no answer within {limit:?}"))
    }
}

/// How clients reach the stores. Defaults: a 1 s Redis response timeout, a 2 s Postgres
/// statement timeout, and 16 pooled Postgres connections.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSettings {
    /// Longest wait for a Redis connection or reply.
    #[serde(with = "humantime_serde")]
    pub redis_timeout: Duration,
    /// Postgres `statement_timeout`; the client gives up half a second later.
    #[serde(with = "humantime_serde")]
    pub postgres_timeout: Duration,
    /// Postgres connections in the pool.
    pub pool_size: u32,
}

impl Default for StoreSettings {
    fn default() -> StoreSettings {
        StoreSettings {
            redis_timeout: Duration::from_secs(1),
            postgres_timeout: Duration::from_secs(2),
            pool_size: 16,
        }
    }
}

/// Both stores, following the topology: what the harness itself uses to set up,
/// seed and read final states, and what a system under test may use too.
#[derive(Clone)]
pub struct Stores {
    /// The current Redis master.
    pub redis: RedisMaster,
    /// The ledger database.
    pub ledger: Ledger,
}

impl Stores {
    /// Connections (made lazily) to the stores `topology` names; needs no runtime
    /// until the first request.
    pub fn new(topology: Topology, settings: &StoreSettings) -> Stores {
        Stores {
            redis: RedisMaster::new(topology.clone(), settings.redis_timeout),
            ledger: Ledger::new(topology, settings),
        }
    }
}
