//! A Postgres pool for the ledger that follows the topology.
//!
//! sqlx has no per-query timeout, so every request here runs under two: Postgres's own
//! `statement_timeout`, and a client-side one half a second longer for a peer that went
//! silent (a paused or cut-off server). A connection whose request timed out is
//! detached from the pool rather than returned to it: sqlx pings a connection it takes
//! back, the ping of a silent peer never ends, and the connection's pool permit stays
//! taken for as long, until the pool has none left to give.

use super::{ErrorKind, StoreError, StoreSettings};
use crate::endpoints::{PostgresEndpoint, Topology};
use futures::future::BoxFuture;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::{Connection, Postgres, Transaction, query::Query};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::{Instant, error::Elapsed, timeout, timeout_at};

/// The ledger's database; cheap to clone.
///
/// Every request runs under the settings' `postgres_timeout` as Postgres's
/// `statement_timeout`, and half a second more on the client: past that it fails with
/// [`ErrorKind::Timeout`] (it may have applied), and its connection is closed, never
/// returned to the pool (see [`Ledger::transaction`] for why, and for what errors mean
/// in a transaction).
#[derive(Clone)]
pub struct Ledger {
    topology: Topology,
    settings: StoreSettings,
    durable_commits: bool,
    current: Arc<Mutex<Option<(SocketAddr, PgPool)>>>,
}

impl Ledger {
    /// Follows the Postgres node `topology` names. It connects on first use; needs no
    /// runtime until then.
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

    /// The pool for Postgres's current address (it connects on first use). Must be
    /// called within a tokio runtime: sqlx spawns the pool's maintenance task, and a
    /// pool replaced because Postgres moved is closed by a spawned task.
    ///
    /// A request made on it directly has neither the client-side timeout nor the
    /// detaching of a timed-out connection: prefer the methods below.
    pub fn pool(&self) -> Result<PgPool, StoreError> {
        let endpoint = self.endpoint()?;
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

    fn endpoint(&self) -> Result<PostgresEndpoint, StoreError> {
        self.topology.borrow().postgres.clone().ok_or_else(|| {
            StoreError::new(ErrorKind::Unreachable, "the cluster has no Postgres node")
        })
    }

    /// The options the pool connects to Postgres's current address with, for a
    /// connection made apart from the pool (which retries some refusals, and hides
    /// them, until its timeout).
    pub(crate) fn connect_options(&self) -> Result<PgConnectOptions, StoreError> {
        Ok(self.options(&self.endpoint()?))
    }

    fn connect_lazily(&self, endpoint: &PostgresEndpoint) -> PgPool {
        PgPoolOptions::new()
            .max_connections(self.settings.pool_size)
            .acquire_timeout(self.settings.postgres_timeout)
            .connect_lazy_with(self.options(endpoint))
    }

    fn options(&self, endpoint: &PostgresEndpoint) -> PgConnectOptions {
        let statement_timeout = self.settings.postgres_timeout.as_millis().to_string();
        PgConnectOptions::new()
            .host(&endpoint.addr.ip().to_string())
            .port(endpoint.addr.port())
            .username(&endpoint.user)
            .password(&endpoint.password)
            .database(&endpoint.database)
            .options(
                [("statement_timeout", statement_timeout.as_str())]
                    .into_iter()
                    .chain(self.durable_commits.then_some(("synchronous_commit", "on"))),
            )
    }

    fn client_timeout(&self) -> Duration {
        self.settings.postgres_timeout + Duration::from_millis(500)
    }

    async fn acquire(&self) -> Result<PoolConnection<Postgres>, StoreError> {
        self.pool()?.acquire().await.map_err(classify)
    }

    /// A request's `answer`, classified; `conn`, which carried it, is detached if the
    /// request timed out.
    fn answered<T>(
        &self,
        conn: PoolConnection<Postgres>,
        answer: Result<Result<T, sqlx::Error>, Elapsed>,
    ) -> Result<T, StoreError> {
        match answer {
            Ok(done) => done.map_err(classify),
            Err(_) => {
                drop(conn.detach());
                Err(StoreError::timeout("postgres", self.client_timeout()))
            }
        }
    }

    /// Runs `query` and returns its rows.
    pub async fn fetch_all(
        &self,
        query: Query<'_, Postgres, PgArguments>,
    ) -> Result<Vec<PgRow>, StoreError> {
        let mut conn = self.acquire().await?;
        let answer = timeout(self.client_timeout(), query.fetch_all(&mut *conn)).await;
        self.answered(conn, answer)
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

    /// Runs `query` (an `INSERT`, `UPDATE` or `DELETE`) and returns how many rows it
    /// affected.
    pub async fn execute(
        &self,
        query: Query<'_, Postgres, PgArguments>,
    ) -> Result<u64, StoreError> {
        let mut conn = self.acquire().await?;
        let answer = timeout(self.client_timeout(), query.execute(&mut *conn)).await;
        self.answered(conn, answer).map(|done| done.rows_affected())
    }

    /// Runs `sql`, which may hold several statements (schema definitions).
    pub async fn batch(&self, sql: &'static str) -> Result<(), StoreError> {
        let mut conn = self.acquire().await?;
        let answer = timeout(self.client_timeout(), sqlx::raw_sql(sql).execute(&mut *conn)).await;
        self.answered(conn, answer).map(drop)
    }

    /// Runs `body` in one transaction, as sqlx's [`Connection::transaction`] does, under
    /// this ledger's timeouts: commits it when `body` returns `Ok`, rolls it back when it
    /// returns an error.
    ///
    /// ```no_run
    /// # async fn debit(ledger: &workloads::store::Ledger) -> Result<i64, workloads::store::StoreError> {
    /// let balance: i64 = ledger
    ///     .transaction(|tx| {
    ///         Box::pin(async move {
    ///             sqlx::query("UPDATE accounts SET balance = balance - 100 WHERE id = 1")
    ///                 .execute(&mut **tx)
    ///                 .await?;
    ///             sqlx::query_scalar("SELECT balance FROM accounts WHERE id = 1")
    ///                 .fetch_one(&mut **tx)
    ///                 .await
    ///         })
    ///     })
    ///     .await?;
    /// # Ok(balance) }
    /// ```
    ///
    /// # Timeouts
    ///
    /// Every statement runs under Postgres's `statement_timeout` (`postgres_timeout`).
    /// On the client, `BEGIN` and `body` together get `postgres_timeout` plus half a
    /// second, and `COMMIT` gets as long again. A connection that timed out, or whose
    /// rollback failed, is closed instead of going back to the pool: sqlx pings a
    /// connection it takes back, against a silent peer (a paused or cut-off server)
    /// that ping never ends, and the connection's pool permit stays taken for as long,
    /// until the pool has none left to give.
    ///
    /// # What an error means
    ///
    /// - Anything that goes wrong **before `COMMIT` was sent** (no connection, `BEGIN`
    ///   or a statement failing, `body` returning an error, no answer in time, a dropped
    ///   connection) left nothing behind: Postgres never commits a transaction without
    ///   its `COMMIT`. The error is definite ([`ErrorKind::is_definite`]): a refusal
    ///   keeps its kind, a timeout or a broken connection reads as
    ///   [`ErrorKind::Unreachable`], anything else as [`ErrorKind::Rejected`].
    /// - **During `COMMIT`**, an error the server reports (a serialization failure, a
    ///   deferred constraint) rolled the transaction back: definite, as
    ///   [`sqlstate_kind`] judges it (a connection failure or a shutdown it reports is
    ///   not). A connection that broke ([`ErrorKind::Dropped`]) or no answer in time
    ///   ([`ErrorKind::Timeout`]) may have committed: indeterminate.
    ///
    /// `body` must return the error of any statement that failed: Postgres answers the
    /// `COMMIT` of a failed transaction by rolling it back without an error, so a body
    /// that swallowed an error and returned `Ok` would be reported committed.
    pub async fn transaction<T, F>(&self, body: F) -> Result<T, StoreError>
    where
        T: Send,
        F: for<'c> FnOnce(
                &'c mut Transaction<'_, Postgres>,
            ) -> BoxFuture<'c, Result<T, sqlx::Error>>
            + Send,
    {
        let conn = self.acquire().await.map_err(rolled_back)?;
        // Closed if this future is dropped before the transaction ended (a caller that
        // gave up on it, as the harness's operation timeout does).
        let mut held = Closing(Some(conn));
        let (outcome, afterwards) = self.transact(held.0.as_mut().expect("held"), body).await;
        if afterwards == Afterwards::Pool {
            drop(held.0.take());
        }
        outcome
    }

    /// Runs `body` in a transaction on `conn`: how it ended, and what to do with `conn`.
    async fn transact<T, F>(
        &self,
        conn: &mut PgConnection,
        body: F,
    ) -> (Result<T, StoreError>, Afterwards)
    where
        F: for<'c> FnOnce(
            &'c mut Transaction<'_, Postgres>,
        ) -> BoxFuture<'c, Result<T, sqlx::Error>>,
    {
        let limit = self.client_timeout();
        let deadline = Instant::now() + limit;
        let silent = || rolled_back(StoreError::timeout("postgres", limit));
        let mut tx = match timeout_at(deadline, conn.begin()).await {
            Ok(Ok(tx)) => tx,
            Ok(Err(e)) => return (Err(rolled_back(classify(e))), Afterwards::Pool),
            Err(_) => return (Err(silent()), Afterwards::Detach),
        };
        let value = match timeout_at(deadline, body(&mut tx)).await {
            Ok(Ok(value)) => value,
            Ok(Err(e)) => {
                let afterwards = match timeout(limit, tx.rollback()).await {
                    Ok(Ok(())) => Afterwards::Pool,
                    _ => Afterwards::Detach,
                };
                return (Err(rolled_back(classify(e))), afterwards);
            }
            Err(_) => return (Err(silent()), Afterwards::Detach),
        };
        match timeout(limit, tx.commit()).await {
            Ok(Ok(())) => (Ok(value), Afterwards::Pool),
            Ok(Err(e)) => (Err(at_commit(e)), Afterwards::Pool),
            Err(_) => (Err(StoreError::timeout("postgres COMMIT", limit)), Afterwards::Detach),
        }
    }
}

/// A pooled connection closed rather than returned to the pool when dropped: one whose
/// transaction timed out, failed to roll back, or was abandoned half-way (its future
/// dropped) is in a state nobody knows, and sqlx would ping it on its return; against a
/// silent server (paused, cut off) that ping never ends and the pool permit stays taken.
struct Closing(Option<PoolConnection<Postgres>>);

impl Drop for Closing {
    fn drop(&mut self) {
        if let Some(conn) = self.0.take() {
            drop(conn.detach());
        }
    }
}

/// What becomes of a transaction's connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Afterwards {
    /// Back to the pool.
    Pool,
    /// Closed: its state is unknown (it timed out, or its rollback failed).
    Detach,
}

/// What a Postgres error means for the request that got it. A request in a transaction
/// is judged by [`Ledger::transaction`], which also knows whether `COMMIT` was sent.
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

/// An error before a transaction's `COMMIT` was sent: the transaction rolled back, so
/// the error is definite whatever it was.
fn rolled_back(e: StoreError) -> StoreError {
    let kind = match e.kind {
        ErrorKind::Timeout | ErrorKind::Dropped => ErrorKind::Unreachable,
        ErrorKind::Unknown => ErrorKind::Rejected,
        definite => definite,
    };
    StoreError::new(kind, format!("rolled back: {}", e.message))
}

/// An error in answer to `COMMIT`: definite when the server reports it (by its
/// SQLSTATE); a broken connection, or anything the client could not read, may have
/// committed.
fn at_commit(e: sqlx::Error) -> StoreError {
    let kind = match &e {
        sqlx::Error::Database(db) => db.code().map_or(ErrorKind::Unknown, |c| sqlstate_kind(&c)),
        sqlx::Error::Io(_) => ErrorKind::Dropped,
        _ => ErrorKind::Unknown,
    };
    StoreError::new(kind, format!("COMMIT: {e}"))
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
mod tests;
