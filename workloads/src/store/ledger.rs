//! A Postgres pool for the ledger that follows the topology.
//!
//! sqlx has no per-query timeout, so every request here runs under two: Postgres's own
//! `statement_timeout`, and a client-side one half a second longer for a peer that went
//! silent. A connection whose request timed out is detached from the pool rather than
//! returned to it (sqlx leaks the pool permit of such a connection otherwise).

use super::{ErrorKind, StoreError, StoreSettings};
use crate::endpoints::{PostgresEndpoint, Topology};
use sqlx::postgres::{PgArguments, PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, query::Query};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The ledger's database; cheap to clone.
#[derive(Clone)]
pub struct Ledger {
    topology: Topology,
    settings: StoreSettings,
    durable_commits: bool,
    current: Arc<Mutex<Option<(SocketAddr, PgPool)>>>,
}

impl Ledger {
    /// Follows the Postgres node `topology` names.
    pub fn new(topology: Topology, settings: &StoreSettings) -> Ledger {
        Ledger {
            topology,
            settings: settings.clone(),
            durable_commits: false,
            current: Arc::new(Mutex::new(None)),
        }
    }

    /// Makes every commit wait until it is on disk, whatever the server's default
    /// (`synchronous_commit = on` in each session): a server misconfigured with
    /// `synchronous_commit = off` then cannot lose a commit this ledger saw acknowledged.
    pub fn with_durable_commits(self) -> Ledger {
        Ledger { durable_commits: true, ..self }
    }

    /// The pool for Postgres's current address (it connects on first use).
    pub fn pool(&self) -> Result<PgPool, StoreError> {
        let endpoint = self.topology.borrow().postgres.clone().ok_or_else(|| {
            StoreError::new(ErrorKind::Unreachable, "the cluster has no Postgres node")
        })?;
        let mut current = self.current.lock().expect("ledger pool lock");
        match &*current {
            Some((at, pool)) if *at == endpoint.addr => Ok(pool.clone()),
            _ => {
                let pool = self.connect_lazily(&endpoint);
                if let Some((_, old)) = current.replace((endpoint.addr, pool.clone())) {
                    tokio::spawn(async move { old.close().await });
                }
                Ok(pool)
            }
        }
    }

    fn connect_lazily(&self, endpoint: &PostgresEndpoint) -> PgPool {
        let statement_timeout = self.settings.postgres_timeout.as_millis().to_string();
        let options = PgConnectOptions::new()
            .host(&endpoint.addr.ip().to_string())
            .port(endpoint.addr.port())
            .username(&endpoint.user)
            .password(&endpoint.password)
            .database(&endpoint.database)
            .options(
                [("statement_timeout", statement_timeout.as_str())]
                    .into_iter()
                    .chain(self.durable_commits.then_some(("synchronous_commit", "on"))),
            );
        PgPoolOptions::new()
            .max_connections(self.settings.pool_size)
            .acquire_timeout(self.settings.postgres_timeout)
            .connect_lazy_with(options)
    }

    fn client_timeout(&self) -> Duration {
        self.settings.postgres_timeout + Duration::from_millis(500)
    }

    /// Runs `query` and returns its rows.
    pub async fn fetch_all(
        &self,
        query: Query<'_, Postgres, PgArguments>,
    ) -> Result<Vec<PgRow>, StoreError> {
        let mut conn = self.pool()?.acquire().await.map_err(classify)?;
        match tokio::time::timeout(self.client_timeout(), query.fetch_all(&mut *conn)).await {
            Ok(rows) => rows.map_err(classify),
            Err(_) => {
                drop(conn.detach());
                Err(StoreError::timeout("postgres", self.client_timeout()))
            }
        }
    }

    /// Runs `query`, which must return exactly one row.
    pub async fn fetch_one(
        &self,
        query: Query<'_, Postgres, PgArguments>,
    ) -> Result<PgRow, StoreError> {
        let mut rows = self.fetch_all(query).await?;
        match rows.len() {
            1 => Ok(rows.remove(0)),
            n => Err(StoreError::new(ErrorKind::Unknown, format!("expected one row, got {n}"))),
        }
    }

    /// Runs `sql`, which may hold several statements (schema definitions).
    pub async fn batch(&self, sql: &'static str) -> Result<(), StoreError> {
        let mut conn = self.pool()?.acquire().await.map_err(classify)?;
        let run = sqlx::raw_sql(sql).execute(&mut *conn);
        match tokio::time::timeout(self.client_timeout(), run).await {
            Ok(done) => done.map(drop).map_err(classify),
            Err(_) => {
                drop(conn.detach());
                Err(StoreError::timeout("postgres", self.client_timeout()))
            }
        }
    }
}

/// What a Postgres error means for the request that got it.
pub fn classify(e: sqlx::Error) -> StoreError {
    let kind = match &e {
        sqlx::Error::Database(db) => db.code().map_or(ErrorKind::Unknown, |c| sqlstate_kind(&c)),
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => ErrorKind::Unreachable,
        sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            ErrorKind::Unreachable
        }
        sqlx::Error::Io(_) => ErrorKind::Dropped,
        _ => ErrorKind::Unknown,
    };
    StoreError::new(kind, e.to_string())
}

/// What a SQLSTATE means: a connection failure or a shutdown may have cut a commit
/// short (indeterminate); a starting database refuses (`Loading`); anything else the
/// server reports rolled the statement back (`Rejected`): a constraint, a serialization
/// failure, a cancelled statement.
pub fn sqlstate_kind(code: &str) -> ErrorKind {
    match code {
        "25006" => ErrorKind::ReadOnly,
        "57P03" => ErrorKind::Loading,
        "57P01" | "57P02" => ErrorKind::Dropped,
        c if c.starts_with("08") => ErrorKind::Dropped,
        c if c.starts_with("XX") => ErrorKind::Unknown,
        _ => ErrorKind::Rejected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[rustfmt::skip]
    #[test]
    fn sqlstates_are_refusals_or_indeterminate() {
        let cases = [
            ("23505", ErrorKind::Rejected),  // unique_violation
            ("40001", ErrorKind::Rejected),  // serialization_failure
            ("57014", ErrorKind::Rejected),  // query_canceled (statement_timeout)
            ("25006", ErrorKind::ReadOnly),  // read_only_sql_transaction
            ("57P03", ErrorKind::Loading),   // cannot_connect_now
            ("57P01", ErrorKind::Dropped),   // admin_shutdown
            ("08006", ErrorKind::Dropped),   // connection_failure
            ("XX000", ErrorKind::Unknown),   // internal_error
        ];
        for (code, kind) in cases {
            assert_eq!(sqlstate_kind(code), kind, "{code}");
        }
    }

    #[test]
    fn a_pool_timeout_never_sent_the_request_and_a_broken_socket_may_have() {
        assert_eq!(classify(sqlx::Error::PoolTimedOut).kind, ErrorKind::Unreachable);
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert_eq!(classify(sqlx::Error::Io(reset)).kind, ErrorKind::Dropped);
    }
}
