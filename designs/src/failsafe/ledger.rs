//! The fail-safe system's ledger operations: each one statement, a PL/pgSQL function
//! that locks the account row, so each is atomic and costs one round trip.
//!
//! Each runs as one of [`Ledger`]'s requests, under its statement and client-side
//! timeouts and its error classification. A design whose operation takes several
//! statements would run them in one [`Ledger::transaction`] instead.

use checkers::history::{AccountId, ChargeId};
use sqlx::Row;
use sqlx::postgres::PgRow;
use workloads::store::{ErrorKind, Ledger, StoreError};

/// The functions, created with the schema.
pub(super) const FUNCTIONS: &str = r#"
CREATE OR REPLACE FUNCTION failsafe_apply(p_account integer, p_kind text, p_amount bigint, p_key text)
RETURNS TABLE (outcome text, new_balance bigint, new_version bigint, pending_key text)
LANGUAGE plpgsql AS $$
DECLARE
    a accounts%ROWTYPE;
BEGIN
    SELECT * INTO a FROM accounts WHERE id = p_account FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'no-account'::text, 0::bigint, 0::bigint, NULL::text;
        RETURN;
    END IF;
    outcome := 'ok';
    IF p_kind = 'debit' AND a.suspended THEN
        outcome := 'suspended';
    ELSE
        INSERT INTO ledger_entries (account, kind, amount, idempotency_key)
        VALUES (p_account, p_kind, p_amount, p_key)
        ON CONFLICT (idempotency_key) DO NOTHING;
        IF FOUND THEN
            UPDATE accounts SET balance = accounts.balance + p_amount, version = accounts.version + 1
            WHERE id = p_account RETURNING * INTO a;
            IF p_kind = 'debit' AND a.balance < a.threshold AND NOT EXISTS (
                SELECT 1 FROM charges c WHERE c.account = p_account AND c.status IN ('pending', 'charging')
            ) THEN
                UPDATE accounts SET recharges = accounts.recharges + 1
                WHERE id = p_account RETURNING * INTO a;
                INSERT INTO charges (idempotency_key, account, amount, status)
                VALUES ('recharge-' || p_account || '-' || a.recharges, p_account, a.recharge, 'pending');
            END IF;
        END IF;
    END IF;
    RETURN QUERY SELECT outcome, a.balance, a.version, (
        SELECT c.idempotency_key FROM charges c WHERE c.account = p_account AND c.status IN ('pending', 'charging')
    );
END $$;

CREATE OR REPLACE FUNCTION failsafe_begin_charge(p_key text)
RETURNS TABLE (outcome text, charge_account integer, charge_amount bigint)
LANGUAGE plpgsql AS $$
DECLARE
    c charges%ROWTYPE;
    a accounts%ROWTYPE;
BEGIN
    SELECT * INTO c FROM charges WHERE idempotency_key = p_key;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'no-intent'::text, NULL::integer, NULL::bigint;
        RETURN;
    END IF;
    SELECT * INTO a FROM accounts WHERE id = c.account FOR UPDATE;
    SELECT * INTO c FROM charges WHERE idempotency_key = p_key;
    IF c.status = 'charging' THEN
        -- A charge under this key may be under way: never cancel it; charging again
        -- under the same key is idempotent at the gateway.
        outcome := 'charge';
    ELSIF c.status <> 'pending' THEN
        outcome := c.status;
    ELSIF a.balance >= a.threshold THEN
        UPDATE charges SET status = 'cancelled' WHERE idempotency_key = p_key;
        outcome := 'cancelled';
    ELSE
        UPDATE charges SET status = 'charging' WHERE idempotency_key = p_key;
        outcome := 'charge';
    END IF;
    RETURN QUERY SELECT outcome, c.account, c.amount;
END $$;

CREATE OR REPLACE FUNCTION failsafe_credit(p_key text, p_charge bigint)
RETURNS TABLE (charge_account integer, new_balance bigint, new_version bigint)
LANGUAGE plpgsql AS $$
DECLARE
    c charges%ROWTYPE;
    a accounts%ROWTYPE;
BEGIN
    SELECT * INTO c FROM charges WHERE idempotency_key = p_key;
    SELECT * INTO a FROM accounts WHERE id = c.account FOR UPDATE;
    INSERT INTO ledger_entries (account, kind, amount, idempotency_key, charge_id)
    VALUES (c.account, 'recharge', c.amount, p_key, p_charge)
    ON CONFLICT DO NOTHING;
    IF FOUND THEN
        UPDATE charges SET status = 'credited', charge_id = p_charge WHERE idempotency_key = p_key;
        UPDATE accounts SET balance = accounts.balance + c.amount, version = accounts.version + 1
        WHERE id = c.account RETURNING * INTO a;
    END IF;
    RETURN QUERY SELECT c.account, a.balance, a.version;
END $$;

CREATE OR REPLACE FUNCTION failsafe_renew(p_key text)
RETURNS TABLE (renewed_key text)
LANGUAGE plpgsql AS $$
DECLARE
    c charges%ROWTYPE;
    a accounts%ROWTYPE;
BEGIN
    SELECT * INTO c FROM charges WHERE idempotency_key = p_key;
    SELECT * INTO a FROM accounts WHERE id = c.account FOR UPDATE;
    UPDATE charges SET status = 'cancelled' WHERE idempotency_key = p_key AND status IN ('pending', 'charging');
    IF FOUND THEN
        UPDATE accounts SET recharges = accounts.recharges + 1
        WHERE id = c.account RETURNING * INTO a;
        INSERT INTO charges (idempotency_key, account, amount, status)
        VALUES ('recharge-' || a.id || '-' || a.recharges, a.id, c.amount, 'pending');
        RETURN QUERY SELECT 'recharge-' || a.id || '-' || a.recharges;
    ELSE
        RETURN QUERY SELECT NULL::text;
    END IF;
END $$;

CREATE OR REPLACE FUNCTION failsafe_decline(p_key text, p_charge bigint)
RETURNS TABLE (charge_account integer, new_balance bigint, new_version bigint)
LANGUAGE plpgsql AS $$
DECLARE
    c charges%ROWTYPE;
    a accounts%ROWTYPE;
BEGIN
    SELECT * INTO c FROM charges WHERE idempotency_key = p_key;
    SELECT * INTO a FROM accounts WHERE id = c.account FOR UPDATE;
    UPDATE charges SET status = 'declined', charge_id = p_charge
    WHERE idempotency_key = p_key AND status IN ('pending', 'charging');
    RETURN QUERY SELECT c.account, a.balance, a.version;
END $$;
"#;

/// An account's ledger balance and its version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Versioned {
    pub account: AccountId,
    pub balance: i64,
    pub version: i64,
}

/// The ledger after an operation, and the recharge intent outstanding on the account.
pub(super) struct Applied {
    pub outcome: String,
    pub state: Versioned,
    pub pending: Option<String>,
}

/// A recharge to charge now.
pub(super) struct ToCharge {
    pub account: AccountId,
    pub amount: i64,
}

/// Applies a debit or payment (signed `amount`) once per `key`, and starts a recharge
/// intent when a debit leaves the balance below the threshold with none outstanding.
pub(super) async fn apply(
    ledger: &Ledger,
    account: AccountId,
    kind: &str,
    amount: i64,
    key: &str,
) -> Result<Applied, StoreError> {
    let call = sqlx::query("SELECT * FROM failsafe_apply($1, $2, $3, $4)")
        .bind(account as i32)
        .bind(kind)
        .bind(amount)
        .bind(key);
    let row = ledger.fetch_one(call).await?;
    let state = Versioned { account, balance: row.get(1), version: row.get(2) };
    Ok(Applied { outcome: row.get(0), state, pending: row.get(3) })
}

/// An account's balance and outstanding intent, without locking it.
pub(super) async fn read(ledger: &Ledger, account: AccountId) -> Result<Applied, StoreError> {
    let query = sqlx::query(
        "SELECT a.balance, a.version, (
             SELECT c.idempotency_key FROM charges c WHERE c.account = a.id AND c.status IN ('pending', 'charging'))
         FROM accounts a WHERE a.id = $1",
    );
    let row = ledger.fetch_one(query.bind(account as i32)).await?;
    let state = Versioned { account, balance: row.get(0), version: row.get(1) };
    Ok(Applied { outcome: "ok".into(), state, pending: row.get(2) })
}

/// Re-checks the intent `key` under the account's lock: `Some` when it is still
/// pending and the balance still below the threshold (it is then marked `charging`), or
/// when it is `charging` already: another operation may be charging it right now, so it
/// is never cancelled, and charging it again under the same key is idempotent at the
/// gateway. Otherwise it cancels a pending intent whose need is gone and returns `None`.
/// (Cancelling a `charging` one could let the next debit open a second intent while
/// the first charge is captured: two recharges for one need.)
pub(super) async fn begin_charge(
    ledger: &Ledger,
    key: &str,
) -> Result<Option<ToCharge>, StoreError> {
    let call = sqlx::query("SELECT * FROM failsafe_begin_charge($1)").bind(key);
    let row = ledger.fetch_one(call).await?;
    let (outcome, account, amount): (String, Option<i32>, Option<i64>) =
        (row.get(0), row.get(1), row.get(2));
    Ok(match (outcome.as_str(), account, amount) {
        ("charge", Some(account), Some(amount)) => {
            Some(ToCharge { account: account as AccountId, amount })
        }
        _ => None,
    })
}

/// Credits the captured charge of intent `key`, once.
pub(super) async fn credit(
    ledger: &Ledger,
    key: &str,
    charge: ChargeId,
) -> Result<Versioned, StoreError> {
    let call = sqlx::query("SELECT * FROM failsafe_credit($1, $2)").bind(key).bind(charge as i64);
    versioned(ledger.fetch_one(call).await?)
}

/// Replaces pending intent `key`, whose key can no longer charge, by a fresh pending
/// intent for the same amount; nothing if `key` is no longer pending.
pub(super) async fn renew(ledger: &Ledger, key: &str) -> Result<(), StoreError> {
    let call = sqlx::query("SELECT * FROM failsafe_renew($1)").bind(key);
    ledger.fetch_one(call).await.map(drop)
}

/// Marks intent `key` declined.
pub(super) async fn decline(
    ledger: &Ledger,
    key: &str,
    charge: ChargeId,
) -> Result<Versioned, StoreError> {
    let call = sqlx::query("SELECT * FROM failsafe_decline($1, $2)").bind(key).bind(charge as i64);
    versioned(ledger.fetch_one(call).await?)
}

/// Suspends `account`.
pub(super) async fn suspend(ledger: &Ledger, account: AccountId) -> Result<(), StoreError> {
    let update = sqlx::query("UPDATE accounts SET suspended = true WHERE id = $1");
    ledger.execute(update.bind(account as i32)).await.map(drop)
}

/// Every pending intent and its account, oldest first.
pub(super) async fn pending(ledger: &Ledger) -> Result<Vec<(String, AccountId)>, StoreError> {
    let query = sqlx::query(
        "SELECT idempotency_key, account FROM charges WHERE status IN ('pending', 'charging') ORDER BY at",
    );
    let rows = ledger.fetch_all(query).await?;
    Ok(rows.iter().map(|row| (row.get(0), row.get::<i32, _>(1) as AccountId)).collect())
}

/// Every account's balance and version.
pub(super) async fn all(ledger: &Ledger) -> Result<Vec<Versioned>, StoreError> {
    let rows = ledger
        .fetch_all(sqlx::query("SELECT id, balance, version FROM accounts ORDER BY id"))
        .await?;
    rows.into_iter().map(versioned).collect()
}

fn versioned(row: PgRow) -> Result<Versioned, StoreError> {
    let account: Option<i32> = row.get(0);
    let account = account.ok_or_else(|| StoreError::new(ErrorKind::Rejected, "no such intent"))?;
    Ok(Versioned { account: account as AccountId, balance: row.get(1), version: row.get(2) })
}
