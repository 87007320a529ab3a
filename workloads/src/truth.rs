//! The harness's final read of the stores: every account's [`FinalState`], read
//! through the [`Layout`] the system under test declares, never returned by the
//! system's own code.
//!
//! - the in-flight balance: an `MGET` of the layout's balance keys on the current
//!   Redis master, tried [`MGET_TRIES`] times: a connection the last faults closed
//!   (Sentinel kills the clients of every node it reconfigures) fails one request
//!   before it is made again;
//! - the ledger: its balance, suspension and credited charges (one id per credit
//!   entry, duplicates kept), and, where the layout keeps entries, their sum, which
//!   the checkers compare with the balance.
//!
//! A store, or a query, that cannot be read gives `Observed::Error` for what it holds:
//! the ledger's balance when any of the balance, suspension or credit queries fails
//! (an account whose credits could not be read must not look uncredited), the sum
//! alone when only the entries query fails.

use crate::store::{ErrorKind, StoreError, Stores};
use crate::sut::Layout;
use checkers::history::{AccountId, ChargeId, FinalState, Observed};
use sqlx::Row;
use sqlx::postgres::PgRow;
use std::collections::BTreeMap;

/// Redis keys read in one `MGET`.
const CHUNK: usize = 500;

/// How often an `MGET` that failed is tried, and how long apart.
pub const MGET_TRIES: u32 = 3;
const MGET_RETRY: std::time::Duration = std::time::Duration::from_millis(200);

/// Reads every account's final state from both stores.
pub async fn final_states(
    stores: &Stores,
    layout: &Layout,
    accounts: &[AccountId],
) -> Vec<FinalState> {
    let in_flight = in_flight_balances(stores, layout, accounts).await;
    let ledger = ledger_states(stores, layout, accounts).await;
    let entries = match &layout.entries {
        Some(sql) => Some(column(stores, sql, accounts, "entries", balance).await),
        None => None,
    };
    accounts
        .iter()
        .zip(in_flight)
        .map(|(&account, in_flight)| {
            let entries = entries.as_ref().map(|sums| match sums {
                Ok(sums) => sums.get(&account).map_or(Observed::Missing, |&s| Observed::Balance(s)),
                Err(e) => Observed::Error(e.to_string()),
            });
            let (ledger, suspended, credited) = match &ledger {
                Ok(states) => states.get(&account).cloned().unwrap_or_default().finish(),
                Err(e) => (Observed::Error(e.to_string()), None, Vec::new()),
            };
            FinalState { account, in_flight, ledger, suspended, credited, entries }
        })
        .collect()
}

/// Every account's in-flight balance under `layout`, in order.
pub async fn in_flight_balances(
    stores: &Stores,
    layout: &Layout,
    accounts: &[AccountId],
) -> Vec<Observed> {
    let mut balances = Vec::with_capacity(accounts.len());
    for chunk in accounts.chunks(CHUNK) {
        let keys: Vec<String> = chunk.iter().map(|&a| layout.balance_key(a)).collect();
        let mget = redis::cmd("MGET").arg(keys).clone();
        let mut read = stores.redis.query::<Vec<Option<String>>>(&mget).await;
        for _ in 1..MGET_TRIES {
            if read.is_ok() {
                break;
            }
            tokio::time::sleep(MGET_RETRY).await;
            read = stores.redis.query::<Vec<Option<String>>>(&mget).await;
        }
        match read {
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

/// One account's ledger as read.
#[derive(Clone, Default)]
struct LedgerState {
    balance: Option<i64>,
    suspended: Option<bool>,
    credited: Vec<ChargeId>,
}

impl LedgerState {
    fn finish(self) -> (Observed, Option<bool>, Vec<ChargeId>) {
        (self.balance.map_or(Observed::Missing, Observed::Balance), self.suspended, self.credited)
    }
}

async fn ledger_states(
    stores: &Stores,
    layout: &Layout,
    accounts: &[AccountId],
) -> Result<BTreeMap<AccountId, LedgerState>, StoreError> {
    let mut states: BTreeMap<AccountId, LedgerState> = BTreeMap::new();
    let balances = column(stores, &layout.ledger_balance, accounts, "ledger_balance", balance);
    for (account, b) in balances.await? {
        states.entry(account).or_default().balance = Some(b);
    }
    let suspended = column(stores, &layout.suspended, accounts, "suspended", flag);
    for (account, s) in suspended.await? {
        states.entry(account).or_default().suspended = Some(s);
    }
    for row in rows(stores, &layout.credited, accounts).await? {
        let (account, charge) = (account_of(&row, "credited")?, balance(&row, "credited")?);
        let charge = ChargeId::try_from(charge).map_err(|_| {
            StoreError::new(ErrorKind::Rejected, format!("credited: {charge} is no charge id"))
        })?;
        states.entry(account).or_default().credited.push(charge);
    }
    Ok(states)
}

/// A query's rows as (account, value), one per account.
async fn column<T>(
    stores: &Stores,
    sql: &str,
    accounts: &[AccountId],
    name: &str,
    value: fn(&PgRow, &str) -> Result<T, StoreError>,
) -> Result<BTreeMap<AccountId, T>, StoreError> {
    let mut values = BTreeMap::new();
    for row in rows(stores, sql, accounts).await? {
        values.insert(account_of(&row, name)?, value(&row, name)?);
    }
    Ok(values)
}

async fn rows(
    stores: &Stores,
    sql: &str,
    accounts: &[AccountId],
) -> Result<Vec<PgRow>, StoreError> {
    let ids: Vec<i32> = accounts.iter().map(|&a| a as i32).collect();
    // The query is the system's declaration, not built from data: no injection.
    let query = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).bind(ids);
    stores.ledger.fetch_all(query).await
}

fn account_of(row: &PgRow, query: &str) -> Result<AccountId, StoreError> {
    let id = match row.try_get::<i32, _>(0) {
        Ok(id) => i64::from(id),
        Err(_) => row.try_get::<i64, _>(0).map_err(|e| bad_column(query, 1, "integer", e))?,
    };
    AccountId::try_from(id)
        .map_err(|_| StoreError::new(ErrorKind::Rejected, format!("{query}: {id} is no account")))
}

fn balance(row: &PgRow, query: &str) -> Result<i64, StoreError> {
    row.try_get::<i64, _>(1).map_err(|e| bad_column(query, 2, "bigint", e))
}

fn flag(row: &PgRow, query: &str) -> Result<bool, StoreError> {
    row.try_get::<bool, _>(1).map_err(|e| bad_column(query, 2, "boolean", e))
}

fn bad_column(query: &str, n: usize, kind: &str, e: sqlx::Error) -> StoreError {
    let why = format!("the layout's {query} query: column {n} must be {kind}: {e}");
    StoreError::new(ErrorKind::Rejected, why)
}
