//! The ledger's transactions: plain SQL, one client-side transaction each, locking the
//! account's row first so that operations on one account serialise.
//!
//! An error before `COMMIT` was sent left nothing behind (the transaction rolls back):
//! the operation certainly did not apply. An error or a timeout around `COMMIT` may
//! have committed.

use futures::future::BoxFuture;
use sqlx::{Connection, PgConnection, Row};
use std::time::Duration;
use workloads::client::OpError;
use workloads::store::{ErrorKind, Ledger, sqlstate_kind};

/// An account's ledger balance and the version every change bumps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Versioned {
    pub account: u32,
    pub balance: i64,
    pub version: i64,
}

/// A recharge intent recorded in the ledger, waiting to be charged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Intent {
    pub key: String,
    pub account: u32,
    pub amount: i64,
}

/// The ledger after a debit or payment, with the account's outstanding intent.
pub struct Applied {
    pub state: Versioned,
    pub pending: Option<Intent>,
}

/// Runs `body` in one transaction within `limit`.
pub async fn transact<T: Send>(
    ledger: &Ledger,
    limit: Duration,
    body: impl for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, Result<T, OpError>> + Send,
) -> Result<T, OpError> {
    let pool = ledger.pool()?;
    let mut conn = pool.acquire().await.map_err(|e| OpError::Refused(e.to_string()))?;
    let run = async {
        let mut tx = conn.begin().await.map_err(|e| OpError::Refused(e.to_string()))?;
        let value = body(&mut tx).await?;
        tx.commit().await.map_err(at_commit)?;
        Ok(value)
    };
    match tokio::time::timeout(limit, run).await {
        Ok(done) => done,
        Err(_) => {
            drop(conn.detach());
            Err(OpError::Indeterminate(format!("the ledger did not answer within {limit:?}")))
        }
    }
}

/// A statement that failed inside a transaction: it never committed.
pub fn refused(e: sqlx::Error) -> OpError {
    OpError::Refused(e.to_string())
}

/// What an error at `COMMIT` means: a database refusal rolled back, anything else
/// (a dropped connection) may have committed.
fn at_commit(e: sqlx::Error) -> OpError {
    let kind = match &e {
        sqlx::Error::Database(db) => db.code().map_or(ErrorKind::Unknown, |c| sqlstate_kind(&c)),
        _ => ErrorKind::Unknown,
    };
    match kind.is_definite() {
        true => OpError::Refused(e.to_string()),
        false => OpError::Indeterminate(e.to_string()),
    }
}

/// Applies a debit or payment (signed `amount`) keyed `key`, and records a recharge
/// intent keyed `intent` when a debit leaves the balance below the threshold and none
/// is outstanding. A suspended account refuses debits.
pub async fn apply(
    c: &mut PgConnection,
    account: u32,
    kind: &'static str,
    amount: i64,
    key: String,
    intent: String,
) -> Result<Applied, OpError> {
    let row = sqlx::query("SELECT suspended FROM accounts WHERE id = $1 FOR UPDATE")
        .bind(account as i32)
        .fetch_optional(&mut *c)
        .await
        .map_err(refused)?
        .ok_or_else(|| OpError::Refused(format!("no account {account}")))?;
    if kind == "debit" && row.get::<bool, _>(0) {
        return Err(OpError::Refused(format!("account {account} is suspended")));
    }
    sqlx::query(
        "INSERT INTO ledger_entries (account, kind, amount, idempotency_key) VALUES ($1, $2, $3, $4)",
    )
    .bind(account as i32)
    .bind(kind)
    .bind(amount)
    .bind(key)
    .execute(&mut *c)
    .await
    .map_err(refused)?;
    let row = sqlx::query(
        "UPDATE accounts SET balance = balance + $2, version = version + 1 WHERE id = $1
         RETURNING balance, version, balance < threshold, recharge",
    )
    .bind(account as i32)
    .bind(amount)
    .fetch_one(&mut *c)
    .await
    .map_err(refused)?;
    let state = Versioned { account, balance: row.get(0), version: row.get(1) };
    if kind == "debit" && row.get::<bool, _>(2) {
        // At most one pending intent per account: the partial unique index refuses a
        // second, and DO NOTHING keeps the first.
        sqlx::query(
            "INSERT INTO charges (idempotency_key, account, amount, status)
             VALUES ($1, $2, $3, 'pending') ON CONFLICT DO NOTHING",
        )
        .bind(intent)
        .bind(account as i32)
        .bind(row.get::<i64, _>(3))
        .execute(&mut *c)
        .await
        .map_err(refused)?;
    }
    let pending = pending_on(c, account).await?;
    Ok(Applied { state, pending })
}

/// The account's ledger state and outstanding intent, without changing anything.
pub async fn read(c: &mut PgConnection, account: u32) -> Result<Applied, OpError> {
    let row = sqlx::query("SELECT balance, version FROM accounts WHERE id = $1")
        .bind(account as i32)
        .fetch_optional(&mut *c)
        .await
        .map_err(refused)?
        .ok_or_else(|| OpError::Refused(format!("no account {account}")))?;
    let state = Versioned { account, balance: row.get(0), version: row.get(1) };
    Ok(Applied { state, pending: pending_on(c, account).await? })
}

async fn pending_on(c: &mut PgConnection, account: u32) -> Result<Option<Intent>, OpError> {
    let row = sqlx::query(
        "SELECT idempotency_key, amount FROM charges WHERE account = $1 AND status = 'pending'",
    )
    .bind(account as i32)
    .fetch_optional(&mut *c)
    .await
    .map_err(refused)?;
    Ok(row.map(|r| Intent { key: r.get(0), account, amount: r.get(1) }))
}

/// Whether `intent` still needs charging: it is pending and the balance is still below
/// the threshold; an intent no longer needed is cancelled.
pub async fn still_needed(c: &mut PgConnection, intent: Intent) -> Result<bool, OpError> {
    let row = sqlx::query("SELECT balance < threshold FROM accounts WHERE id = $1 FOR UPDATE")
        .bind(intent.account as i32)
        .fetch_one(&mut *c)
        .await
        .map_err(refused)?;
    let below: bool = row.get(0);
    let cancelled = sqlx::query(
        "UPDATE charges SET status = 'cancelled' WHERE idempotency_key = $1 AND status = 'pending' AND $2",
    )
    .bind(&intent.key)
    .bind(!below)
    .execute(&mut *c)
    .await
    .map_err(refused)?;
    let pending = sqlx::query("SELECT status = 'pending' FROM charges WHERE idempotency_key = $1")
        .bind(&intent.key)
        .fetch_one(&mut *c)
        .await
        .map_err(refused)?;
    Ok(cancelled.rows_affected() == 0 && pending.get::<bool, _>(0))
}

/// Abandons `intent` if it is still pending: its key can no longer charge.
pub async fn abandon(c: &mut PgConnection, intent: Intent) -> Result<(), OpError> {
    lock(c, intent.account).await?;
    sqlx::query(
        "UPDATE charges SET status = 'cancelled' WHERE idempotency_key = $1 AND status = 'pending'",
    )
    .bind(&intent.key)
    .execute(&mut *c)
    .await
    .map_err(refused)?;
    Ok(())
}

/// Credits captured charge `charge` of `intent`, once, whatever became of the intent
/// meanwhile (a capture is credited even if another operation cancelled the intent).
pub async fn credit(
    c: &mut PgConnection,
    intent: Intent,
    charge: i64,
) -> Result<Versioned, OpError> {
    lock(c, intent.account).await?;
    let entry = sqlx::query(
        "INSERT INTO ledger_entries (account, kind, amount, idempotency_key, charge_id)
         VALUES ($1, 'recharge', $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind(intent.account as i32)
    .bind(intent.amount)
    .bind(&intent.key)
    .bind(charge)
    .execute(&mut *c)
    .await
    .map_err(refused)?;
    if entry.rows_affected() == 1 {
        sqlx::query(
            "UPDATE charges SET status = 'credited', charge_id = $2 WHERE idempotency_key = $1",
        )
        .bind(&intent.key)
        .bind(charge)
        .execute(&mut *c)
        .await
        .map_err(refused)?;
        sqlx::query(
            "UPDATE accounts SET balance = balance + $2, version = version + 1 WHERE id = $1",
        )
        .bind(intent.account as i32)
        .bind(intent.amount)
        .execute(&mut *c)
        .await
        .map_err(refused)?;
    }
    state(c, intent.account).await
}

/// Records a declined charge and suspends the account.
pub async fn decline(
    c: &mut PgConnection,
    intent: Intent,
    charge: i64,
) -> Result<Versioned, OpError> {
    lock(c, intent.account).await?;
    sqlx::query(
        "UPDATE charges SET status = 'declined', charge_id = $2
         WHERE idempotency_key = $1 AND status <> 'credited'",
    )
    .bind(&intent.key)
    .bind(charge)
    .execute(&mut *c)
    .await
    .map_err(refused)?;
    sqlx::query("UPDATE accounts SET suspended = true, version = version + 1 WHERE id = $1")
        .bind(intent.account as i32)
        .execute(&mut *c)
        .await
        .map_err(refused)?;
    state(c, intent.account).await
}

async fn lock(c: &mut PgConnection, account: u32) -> Result<(), OpError> {
    sqlx::query("SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE")
        .bind(account as i32)
        .fetch_one(&mut *c)
        .await
        .map(drop)
        .map_err(refused)
}

async fn state(c: &mut PgConnection, account: u32) -> Result<Versioned, OpError> {
    let row = sqlx::query("SELECT balance, version FROM accounts WHERE id = $1")
        .bind(account as i32)
        .fetch_one(&mut *c)
        .await
        .map_err(refused)?;
    Ok(Versioned { account, balance: row.get(0), version: row.get(1) })
}

/// Intents still pending, across accounts.
pub async fn pending(c: &mut PgConnection) -> Result<Vec<Intent>, OpError> {
    let rows = sqlx::query(
        "SELECT idempotency_key, account, amount FROM charges WHERE status = 'pending'",
    )
    .fetch_all(&mut *c)
    .await
    .map_err(refused)?;
    Ok(rows
        .iter()
        .map(|r| Intent { key: r.get(0), account: r.get::<i32, _>(1) as u32, amount: r.get(2) })
        .collect())
}

/// Every account's ledger state.
pub async fn all(c: &mut PgConnection) -> Result<Vec<Versioned>, OpError> {
    let rows = sqlx::query("SELECT id, balance, version FROM accounts ORDER BY id")
        .fetch_all(&mut *c)
        .await
        .map_err(refused)?;
    Ok(rows
        .iter()
        .map(|r| Versioned {
            account: r.get::<i32, _>(0) as u32,
            balance: r.get(1),
            version: r.get(2),
        })
        .collect())
}
