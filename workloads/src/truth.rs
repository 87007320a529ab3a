//! The harness's final read of the stores: every account's [`FinalState`], read
//! through the [`Layout`] the system under test declares, never returned by the
//! system's own code.
//!
//! - the in-flight balance: an `MGET` of the layout's balance keys on the current
//!   Redis master, tried [`MGET_TRIES`] times: a connection the last faults closed
//!   (Sentinel kills the clients of every node it reconfigures) fails one request
//!   before it is made again; none, and Redis is not read, when the layout keeps no
//!   balance apart from the ledger (the history's `layout` record says so);
//! - the ledger: its balance, suspension and credited charges (one id per credit
//!   entry, duplicates kept), and, where the layout keeps entries, their sum, which
//!   the checkers compare with the balance.
//!
//! A store, or a query, that cannot be read gives `Observed::Error` for what it holds:
//! the ledger's balance when any of the balance, suspension or credit queries fails
//! (an account whose credits could not be read must not look uncredited), the sum
//! alone when only the entries query fails.

use crate::store::{ErrorKind, Ledger, StoreError, Stores};
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
    let in_flight = match in_flight_balances(stores, layout, accounts).await {
        Some(balances) => balances.into_iter().map(Some).collect(),
        None => vec![None; accounts.len()],
    };
    let ledger = ledger_states(stores, layout, accounts).await;
    let entries = match &layout.entries {
        Some(sql) => Some(column(&stores.ledger, sql, accounts, "entries", balance).await),
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

/// Every account's in-flight balance under `layout`, in order; `None` when the layout
/// keeps no balance apart from the ledger.
pub async fn in_flight_balances(
    stores: &Stores,
    layout: &Layout,
    accounts: &[AccountId],
) -> Option<Vec<Observed>> {
    layout.balance_key.as_ref()?;
    let keys: Vec<String> = accounts.iter().filter_map(|&a| layout.balance_key(a)).collect();
    Some(redis_balances(stores, &keys).await)
}

/// The balances under these Redis keys on the current master, in order.
pub async fn redis_balances(stores: &Stores, keys: &[String]) -> Vec<Observed> {
    let mut balances = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(CHUNK) {
        let mget = redis::cmd("MGET").arg(chunk).clone();
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
    for (account, b) in ledger_balances(&stores.ledger, layout, accounts).await? {
        states.entry(account).or_default().balance = Some(b);
    }
    let suspended = column(&stores.ledger, &layout.suspended, accounts, "suspended", flag);
    for (account, s) in suspended.await? {
        states.entry(account).or_default().suspended = Some(s);
    }
    for row in rows(&stores.ledger, &layout.credited, accounts).await? {
        let (account, charge) = (account_of(&row, "credited")?, balance(&row, "credited")?);
        let charge = ChargeId::try_from(charge).map_err(|_| {
            StoreError::new(ErrorKind::Rejected, format!("credited: {charge} is no charge id"))
        })?;
        states.entry(account).or_default().credited.push(charge);
    }
    Ok(states)
}

/// Each account's ledger balance under `layout`, for the accounts the ledger holds.
pub(crate) async fn ledger_balances(
    ledger: &Ledger,
    layout: &Layout,
    accounts: &[AccountId],
) -> Result<BTreeMap<AccountId, i64>, StoreError> {
    column(ledger, &layout.ledger_balance, accounts, "ledger_balance", balance).await
}

/// A query's rows as (account, value), one per account.
async fn column<T>(
    ledger: &Ledger,
    sql: &str,
    accounts: &[AccountId],
    name: &str,
    value: fn(&PgRow, &str) -> Result<T, StoreError>,
) -> Result<BTreeMap<AccountId, T>, StoreError> {
    let mut values = BTreeMap::new();
    for row in rows(ledger, sql, accounts).await? {
        values.insert(account_of(&row, name)?, value(&row, name)?);
    }
    Ok(values)
}

async fn rows(
    ledger: &Ledger,
    sql: &str,
    accounts: &[AccountId],
) -> Result<Vec<PgRow>, StoreError> {
    let ids: Vec<i32> = accounts.iter().map(|&a| a as i32).collect();
    // The query is the system's declaration, not built from data: no injection.
    let query = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).bind(ids);
    ledger.fetch_all(query).await
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreSettings;
    use crate::testkit::fake_postgres::{FAKE, FakePostgres, refused};

    #[tokio::test]
    async fn a_ledger_only_layout_reads_the_ledger_and_never_redis() {
        let postgres = FakePostgres::refusing_logins("28P01").await;
        let (_keep, topology) = tokio::sync::watch::channel(postgres.endpoints(refused()));
        let stores = Stores::new(topology, &StoreSettings::default());
        let layout = Layout::ledger_only();
        assert_eq!(in_flight_balances(&stores, &layout, &[1, 2]).await, None);
        let finals = final_states(&stores, &layout, &[1, 2]).await;
        assert_eq!(finals.len(), 2);
        for f in &finals {
            assert_eq!(f.in_flight, None, "Redis is never read: {f:?}");
            assert!(matches!(&f.ledger, Observed::Error(e) if e.contains(FAKE)), "{f:?}");
        }
        let standard = final_states(&stores, &Layout::standard(), &[1]).await;
        assert!(matches!(standard[0].in_flight, Some(Observed::Error(_))), "{standard:?}");
    }
}
