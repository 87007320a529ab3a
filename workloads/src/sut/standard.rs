//! faultline's standard layout of the two stores, which the [`BillingSystem`]
//! defaults use ([`Layout::standard`](super::Layout::standard) is where the harness
//! reads it).
//!
//! - **Redis**: one key per account, `balance:<account>`, holding its in-flight balance
//!   in cents as an integer.
//! - **Postgres**, the double-bookkeeping ledger:
//!   - `accounts`: balance, a version bumped by every change, the auto-recharge policy
//!     (threshold, recharge amount), how many recharges were started, `suspended`;
//!   - `ledger_entries`: one row per balance change (their sum is the balance) (`open`, `debit`, `payment`,
//!     `recharge`), with an optional idempotency key and the gateway charge a
//!     recharge credits, both unique;
//!   - `charges`: charge intents, one per idempotency key, at most one `pending` per
//!     account.
//!
//! [`BillingSystem`]: super::BillingSystem

use super::Layout;
use crate::store::{StoreError, Stores};
use checkers::history::{AccountId, AccountSpec, Observed};

const SCHEMA: &str = "
DROP TABLE IF EXISTS ledger_entries, charges, accounts CASCADE;
CREATE TABLE accounts (
    id integer PRIMARY KEY,
    balance bigint NOT NULL,
    version bigint NOT NULL DEFAULT 0,
    threshold bigint NOT NULL,
    recharge bigint NOT NULL,
    recharges bigint NOT NULL DEFAULT 0,
    suspended boolean NOT NULL DEFAULT false
);
CREATE TABLE ledger_entries (
    id bigserial PRIMARY KEY,
    account integer NOT NULL REFERENCES accounts (id),
    kind text NOT NULL CHECK (kind IN ('open', 'debit', 'payment', 'recharge')),
    amount bigint NOT NULL,
    idempotency_key text UNIQUE,
    charge_id bigint UNIQUE,
    at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE charges (
    idempotency_key text PRIMARY KEY,
    account integer NOT NULL REFERENCES accounts (id),
    amount bigint NOT NULL,
    status text NOT NULL CHECK (status IN ('pending', 'charging', 'credited', 'declined', 'cancelled')),
    charge_id bigint UNIQUE,
    at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX one_pending_charge_per_account ON charges (account) WHERE status IN ('pending', 'charging');
";

/// Redis keys written in one request.
const CHUNK: usize = 500;

/// The Redis key of `account`'s in-flight balance.
pub fn balance_key(account: AccountId) -> String {
    format!("balance:{account}")
}

/// Empties both stores and creates the ledger's tables.
pub async fn create_schema(stores: &Stores) -> Result<(), StoreError> {
    create_schema_with(stores, &Layout::standard()).await
}

/// Creates the ledger's tables, emptying the ledger, and Redis too when `layout` keeps
/// balances there: a system without a balance in Redis ([`Layout::ledger_only`]) never
/// touches it.
pub async fn create_schema_with(stores: &Stores, layout: &Layout) -> Result<(), StoreError> {
    if layout.balance_key.is_some() {
        let () = stores.redis.query(&redis::cmd("FLUSHALL")).await?;
    }
    stores.ledger.batch(SCHEMA).await
}

/// Opens every account at its opening balance, in the ledger (with an `open` entry)
/// and in Redis.
pub async fn seed(stores: &Stores, accounts: &[AccountSpec]) -> Result<(), StoreError> {
    seed_with(stores, &Layout::standard(), accounts).await
}

/// Opens every account as [`seed`] does, in the standard ledger, with each in-flight
/// balance under `layout`'s balance key: for a system that keeps the standard tables
/// but names its Redis keys otherwise, or keeps no balance in Redis
/// ([`Layout::ledger_only`]: Redis is left alone).
pub async fn seed_with(
    stores: &Stores,
    layout: &Layout,
    accounts: &[AccountSpec],
) -> Result<(), StoreError> {
    let column = |f: fn(&AccountSpec) -> i64| accounts.iter().map(f).collect::<Vec<i64>>();
    let ids: Vec<i32> = accounts.iter().map(|a| a.account as i32).collect();
    let insert = sqlx::query(
        "WITH opened AS (
             INSERT INTO accounts (id, balance, threshold, recharge)
             SELECT * FROM UNNEST($1::int[], $2::bigint[], $3::bigint[], $4::bigint[])
             RETURNING id, balance)
         INSERT INTO ledger_entries (account, kind, amount) SELECT id, 'open', balance FROM opened",
    )
    .bind(ids)
    .bind(column(|a| a.balance))
    .bind(column(|a| a.threshold))
    .bind(column(|a| a.recharge));
    stores.ledger.fetch_all(insert).await?;
    let keyed: Vec<(String, i64)> =
        accounts.iter().filter_map(|a| Some((layout.balance_key(a.account)?, a.balance))).collect();
    for chunk in keyed.chunks(CHUNK) {
        let mut mset = redis::cmd("MSET");
        for (key, balance) in chunk {
            mset.arg(key).arg(balance);
        }
        let () = stores.redis.query(&mset).await?;
    }
    Ok(())
}

/// Every account's Redis balance under the standard layout, in order.
pub async fn in_flight_balances(stores: &Stores, accounts: &[AccountId]) -> Vec<Observed> {
    let keys: Vec<String> = accounts.iter().map(|&a| balance_key(a)).collect();
    crate::truth::redis_balances(stores, &keys).await
}
