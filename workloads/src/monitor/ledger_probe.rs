//! The monitor's probe of the ledger, for a layout that keeps no balance apart from it:
//! the layout's balance query for every account, on Postgres.
//!
//! When the probe gets no session, one connection made directly says why, for the
//! pool retries Postgres's refusals of new sessions until its timeout and reports only
//! that: nobody answering (refused, silent) is `unreachable`, but a Postgres refusing
//! new sessions (`57P03`, starting up or shutting down; `53300`, too many connections)
//! may still serve the sessions already open, a system's among them: the monitor
//! cannot tell.

use super::Look;
use crate::endpoints::Topology;
use crate::store::{ErrorKind, Ledger, StoreSettings, classify_postgres};
use crate::sut::Layout;
use crate::truth;
use checkers::history::{AccountId, StoreStatus};
use sqlx::postgres::PgConnection;
use sqlx::{Connection, Error};
use std::time::Duration;
use tokio::time::timeout;

/// SQLSTATEs of a Postgres that refuses new sessions while it may serve open ones.
const REFUSING_NEW_SESSIONS: [&str; 2] = ["57P03", "53300"];

/// Probes of the ledger, on a pool of one connection of the monitor's own.
pub(super) struct LedgerProbe {
    ledger: Ledger,
    layout: Layout,
    timeout: Duration,
}

impl LedgerProbe {
    /// Probes with `timeout` as Postgres's statement timeout, the wait for a connection,
    /// and the wait for the direct one that says why none came (the client gives up on
    /// a statement half a second later).
    pub(super) fn new(topology: &Topology, layout: Layout, timeout: Duration) -> LedgerProbe {
        let settings =
            StoreSettings { postgres_timeout: timeout, pool_size: 1, ..StoreSettings::default() };
        LedgerProbe { ledger: Ledger::new(topology.clone(), &settings), layout, timeout }
    }

    /// The ledger's status, and whether it holds each account's balance if it answered.
    pub(super) async fn probe(&self, accounts: &[AccountId]) -> Look {
        match truth::ledger_balances(&self.ledger, &self.layout, accounts).await {
            Ok(held) => {
                let present = accounts.iter().map(|a| held.contains_key(a)).collect();
                Ok((StoreStatus::Healthy, Some(present)))
            }
            // A request outside a transaction is unreachable only when it got no session.
            Err(e) if e.kind == ErrorKind::Unreachable => self.why_no_session().await,
            Err(e) => Ok((e.kind.status(), None)),
        }
    }

    /// Why the pool got no session: one connection made directly, within the timeout.
    async fn why_no_session(&self) -> Look {
        let Ok(options) = self.ledger.connect_options() else {
            return Ok((StoreStatus::Unreachable, None));
        };
        match timeout(self.timeout, PgConnection::connect_with(&options)).await {
            Err(_) => Ok((StoreStatus::Unreachable, None)),
            Ok(Ok(conn)) => {
                let _ = timeout(self.timeout, conn.close()).await;
                Err("Postgres gave the monitor no session in time, then one: it came back while \
                     the monitor waited"
                    .into())
            }
            Ok(Err(Error::Database(db)))
                if db.code().is_some_and(|c| REFUSING_NEW_SESSIONS.contains(&&*c)) =>
            {
                let code = db.code().unwrap_or_default();
                Err(format!(
                    "Postgres refuses new sessions ({code}: {}): its open sessions may still be \
                     served",
                    db.message()
                ))
            }
            Ok(Err(e)) => Ok((classify_postgres(e).kind.status(), None)),
        }
    }
}
