//! faultline's standard layout of the two stores, which the [`BillingSystem`]
//! defaults use.
//!
//! - **Redis**: one key per account, `balance:<account>`, holding its in-flight balance
//!   in cents as an integer.
//! - **Postgres**, the double-bookkeeping ledger:
//!   - `accounts`: balance, a version bumped by every change, the auto-recharge policy
//!     (threshold, recharge amount), how many recharges were started, `suspended`;
//!   - `ledger_entries`: one row per balance change (`open`, `debit`, `payment`,
//!     `recharge`), with an optional idempotency key and the gateway charge a
//!     recharge credits, both unique;
//!   - `charges`: charge intents, one per idempotency key, at most one `pending` per
//!     account.
//!
//! [`BillingSystem`]: super::BillingSystem

use crate::store::{StoreError, Stores};
use checkers::history::{AccountId, AccountSpec, ChargeId, FinalState, Observed};
use sqlx::Row;
use std::collections::BTreeMap;

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
    status text NOT NULL CHECK (status IN ('pending', 'credited', 'declined', 'cancelled')),
    charge_id bigint UNIQUE,
    at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX one_pending_charge_per_account ON charges (account) WHERE status = 'pending';
";

/// Redis keys read or written in one request.
const CHUNK: usize = 500;

/// The Redis key of `account`'s in-flight balance.
pub fn balance_key(account: AccountId) -> String {
    format!("balance:{account}")
}

/// Empties both stores and creates the ledger's tables.
pub async fn create_schema(stores: &Stores) -> Result<(), StoreError> {
    let () = stores.redis.query(&redis::cmd("FLUSHALL")).await?;
    stores.ledger.batch(SCHEMA).await
}

/// Opens every account at its opening balance, in the ledger (with an `open` entry)
/// and in Redis.
pub async fn seed(stores: &Stores, accounts: &[AccountSpec]) -> Result<(), StoreError> {
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
    for chunk in accounts.chunks(CHUNK) {
        let mut mset = redis::cmd("MSET");
        for a in chunk {
            mset.arg(balance_key(a.account)).arg(a.balance);
        }
        let () = stores.redis.query(&mset).await?;
    }
    Ok(())
}

/// Reads every account's final state from both stores; a store that cannot be read
/// gives `Observed::Error` for what it holds.
pub async fn final_states(stores: &Stores, accounts: &[AccountId]) -> Vec<FinalState> {
    let in_flight = in_flight_balances(stores, accounts).await;
    let ledger = ledger_states(stores, accounts).await;
    accounts
        .iter()
        .zip(in_flight)
        .map(|(&account, in_flight)| match &ledger {
            Ok(states) => {
                let (balance, suspended, credited) =
                    states.get(&account).cloned().unwrap_or((Observed::Missing, false, Vec::new()));
                FinalState {
                    account,
                    in_flight,
                    ledger: balance,
                    suspended: Some(suspended),
                    credited,
                    entries: None,
                }
            }
            Err(e) => FinalState {
                account,
                in_flight,
                ledger: Observed::Error(e.to_string()),
                suspended: None,
                credited: Vec::new(),
                entries: None,
            },
        })
        .collect()
}

/// Every account's Redis balance, in order.
pub async fn in_flight_balances(stores: &Stores, accounts: &[AccountId]) -> Vec<Observed> {
    let mut balances = Vec::with_capacity(accounts.len());
    for chunk in accounts.chunks(CHUNK) {
        let keys: Vec<String> = chunk.iter().map(|&a| balance_key(a)).collect();
        match stores.redis.query::<Vec<Option<String>>>(redis::cmd("MGET").arg(keys)).await {
            Ok(values) => balances.extend(values.into_iter().map(observed)),
            Err(e) => balances.extend(chunk.iter().map(|_| Observed::Error(e.to_string()))),
        }
    }
    balances
}

/// A balance key's value as read.
pub fn observed(value: Option<String>) -> Observed {
    match value {
        None => Observed::Missing,
        Some(text) => text.parse().map_or_else(
            |_| Observed::Error(format!("not a balance: {text:?}")),
            Observed::Balance,
        ),
    }
}

type LedgerState = (Observed, bool, Vec<ChargeId>);

async fn ledger_states(
    stores: &Stores,
    accounts: &[AccountId],
) -> Result<BTreeMap<AccountId, LedgerState>, StoreError> {
    let ids: Vec<i32> = accounts.iter().map(|&a| a as i32).collect();
    let query = sqlx::query("SELECT id, balance, suspended FROM accounts WHERE id = ANY($1)");
    let mut states = BTreeMap::new();
    for row in stores.ledger.fetch_all(query.bind(&ids[..])).await? {
        let (id, balance, suspended): (i32, i64, bool) = (row.get(0), row.get(1), row.get(2));
        states.insert(id as AccountId, (Observed::Balance(balance), suspended, Vec::new()));
    }
    let credits = sqlx::query(
        "SELECT account, charge_id FROM ledger_entries
         WHERE charge_id IS NOT NULL AND account = ANY($1) ORDER BY charge_id",
    );
    for row in stores.ledger.fetch_all(credits.bind(&ids[..])).await? {
        let (account, charge): (i32, i64) = (row.get(0), row.get(1));
        if let Some(state) = states.get_mut(&(account as AccountId)) {
            state.2.push(charge as ChargeId);
        }
    }
    Ok(states)
}
