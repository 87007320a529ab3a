//! The ledger's transactions: plain SQL, each the body of one
//! [`Ledger::transaction`](workloads::store::Ledger::transaction), locking the account's
//! row first so that operations on one account serialise.
//!
//! A body returns the error of any statement that failed, and the transaction judges
//! it (definite before `COMMIT` was sent, indeterminate during). The ledger's own
//! refusals (no such account, a suspended account) are not errors of the database: a
//! body returns them as a [`Refusal`] inside `Ok`, after writing nothing, and the
//! caller maps them to [`OpError::Refused`].

use sqlx::{PgConnection, Row};
use std::fmt;
use workloads::client::OpError;

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

/// Why the ledger refused an operation on an account: the transaction wrote nothing,
/// so the operation certainly did not apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The account was never opened.
    NoAccount(u32),
    /// The account is suspended, and refuses debits.
    Suspended(u32),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NoAccount(account) => write!(f, "no account {account}"),
            Refusal::Suspended(account) => write!(f, "account {account} is suspended"),
        }
    }
}

impl From<Refusal> for OpError {
    fn from(r: Refusal) -> OpError {
        OpError::Refused(r.to_string())
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
) -> Result<Result<Applied, Refusal>, sqlx::Error> {
    let row = sqlx::query("SELECT suspended FROM accounts WHERE id = $1 FOR UPDATE")
        .bind(account as i32)
        .fetch_optional(&mut *c)
        .await?;
    let Some(row) = row else { return Ok(Err(Refusal::NoAccount(account))) };
    if kind == "debit" && row.get::<bool, _>(0) {
        return Ok(Err(Refusal::Suspended(account)));
    }
    sqlx::query(
        "INSERT INTO ledger_entries (account, kind, amount, idempotency_key) VALUES ($1, $2, $3, $4)",
    )
    .bind(account as i32)
    .bind(kind)
    .bind(amount)
    .bind(key)
    .execute(&mut *c)
    .await?;
    let row = sqlx::query(
        "UPDATE accounts SET balance = balance + $2, version = version + 1 WHERE id = $1
         RETURNING balance, version, balance < threshold, recharge",
    )
    .bind(account as i32)
    .bind(amount)
    .fetch_one(&mut *c)
    .await?;
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
        .await?;
    }
    let pending = pending_on(c, account).await?;
    Ok(Ok(Applied { state, pending }))
}

/// The account's ledger state and outstanding intent, without changing anything.
pub async fn read(
    c: &mut PgConnection,
    account: u32,
) -> Result<Result<Applied, Refusal>, sqlx::Error> {
    let row = sqlx::query("SELECT balance, version FROM accounts WHERE id = $1")
        .bind(account as i32)
        .fetch_optional(&mut *c)
        .await?;
    let Some(row) = row else { return Ok(Err(Refusal::NoAccount(account))) };
    let state = Versioned { account, balance: row.get(0), version: row.get(1) };
    Ok(Ok(Applied { state, pending: pending_on(c, account).await? }))
}

async fn pending_on(c: &mut PgConnection, account: u32) -> Result<Option<Intent>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT idempotency_key, amount FROM charges WHERE account = $1 AND status = 'pending'",
    )
    .bind(account as i32)
    .fetch_optional(&mut *c)
    .await?;
    Ok(row.map(|r| Intent { key: r.get(0), account, amount: r.get(1) }))
}

/// Whether `intent` still needs charging: it is pending and the balance is still below
/// the threshold; an intent no longer needed is cancelled.
pub async fn still_needed(c: &mut PgConnection, intent: Intent) -> Result<bool, sqlx::Error> {
    let row = sqlx::query("SELECT balance < threshold FROM accounts WHERE id = $1 FOR UPDATE")
        .bind(intent.account as i32)
        .fetch_one(&mut *c)
        .await?;
    let below: bool = row.get(0);
    let cancelled = sqlx::query(
        "UPDATE charges SET status = 'cancelled' WHERE idempotency_key = $1 AND status = 'pending' AND $2",
    )
    .bind(&intent.key)
    .bind(!below)
    .execute(&mut *c)
    .await?;
    let pending = sqlx::query("SELECT status = 'pending' FROM charges WHERE idempotency_key = $1")
        .bind(&intent.key)
        .fetch_one(&mut *c)
        .await?;
    Ok(cancelled.rows_affected() == 0 && pending.get::<bool, _>(0))
}

/// Abandons `intent` if it is still pending: its key can no longer charge.
pub async fn abandon(c: &mut PgConnection, intent: Intent) -> Result<(), sqlx::Error> {
    lock(c, intent.account).await?;
    sqlx::query(
        "UPDATE charges SET status = 'cancelled' WHERE idempotency_key = $1 AND status = 'pending'",
    )
    .bind(&intent.key)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Credits captured charge `charge` of `intent`, once, whatever became of the intent
/// meanwhile (a capture is credited even if another operation cancelled the intent).
pub async fn credit(
    c: &mut PgConnection,
    intent: Intent,
    charge: i64,
) -> Result<Versioned, sqlx::Error> {
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
    .await?;
    if entry.rows_affected() == 1 {
        sqlx::query(
            "UPDATE charges SET status = 'credited', charge_id = $2 WHERE idempotency_key = $1",
        )
        .bind(&intent.key)
        .bind(charge)
        .execute(&mut *c)
        .await?;
        sqlx::query(
            "UPDATE accounts SET balance = balance + $2, version = version + 1 WHERE id = $1",
        )
        .bind(intent.account as i32)
        .bind(intent.amount)
        .execute(&mut *c)
        .await?;
    }
    state(c, intent.account).await
}

/// Records a declined charge and suspends the account.
pub async fn decline(
    c: &mut PgConnection,
    intent: Intent,
    charge: i64,
) -> Result<Versioned, sqlx::Error> {
    lock(c, intent.account).await?;
    sqlx::query(
        "UPDATE charges SET status = 'declined', charge_id = $2
         WHERE idempotency_key = $1 AND status <> 'credited'",
    )
    .bind(&intent.key)
    .bind(charge)
    .execute(&mut *c)
    .await?;
    sqlx::query("UPDATE accounts SET suspended = true, version = version + 1 WHERE id = $1")
        .bind(intent.account as i32)
        .execute(&mut *c)
        .await?;
    state(c, intent.account).await
}

async fn lock(c: &mut PgConnection, account: u32) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE")
        .bind(account as i32)
        .fetch_one(&mut *c)
        .await
        .map(drop)
}

async fn state(c: &mut PgConnection, account: u32) -> Result<Versioned, sqlx::Error> {
    let row = sqlx::query("SELECT balance, version FROM accounts WHERE id = $1")
        .bind(account as i32)
        .fetch_one(&mut *c)
        .await?;
    Ok(Versioned { account, balance: row.get(0), version: row.get(1) })
}

/// Intents still pending, across accounts.
pub async fn pending(c: &mut PgConnection) -> Result<Vec<Intent>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT idempotency_key, account, amount FROM charges WHERE status = 'pending'",
    )
    .fetch_all(&mut *c)
    .await?;
    Ok(rows
        .iter()
        .map(|r| Intent { key: r.get(0), account: r.get::<i32, _>(1) as u32, amount: r.get(2) })
        .collect())
}

/// Every account's ledger state.
pub async fn all(c: &mut PgConnection) -> Result<Vec<Versioned>, sqlx::Error> {
    let rows = sqlx::query("SELECT id, balance, version FROM accounts ORDER BY id")
        .fetch_all(&mut *c)
        .await?;
    Ok(rows
        .iter()
        .map(|r| Versioned {
            account: r.get::<i32, _>(0) as u32,
            balance: r.get(1),
            version: r.get(2),
        })
        .collect())
}
