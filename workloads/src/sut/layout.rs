//! Where a billing system keeps the state the harness reads as ground truth.
//!
//! The harness never asks the system under test for its final state: it reads the
//! stores itself ([`truth`](crate::truth)), through the [`Layout`] the system declares
//! ([`BillingSystem::layout`](super::BillingSystem::layout)): where each account's
//! in-flight balance lives, and SQL queries for the ledger. A system on faultline's
//! [`standard`](super::standard) layout declares nothing.
//!
//! The in-flight balance lives in one of two places, which is also the balance store
//! the [`monitor`](crate::monitor) probes for fail-safety:
//!
//! - a Redis key per account ([`Layout::balance_key`], `{account}` standing for the
//!   account), besides the ledger: the final reads compare the two;
//! - nowhere apart from the ledger (`balance_key: None`, as in [`Layout::ledger_only`]):
//!   a Postgres-only design, whose ledger is its balance store. The final reads then
//!   skip Redis, and the history's `layout` record tells the checkers not to expect an
//!   in-flight balance.
//!
//! Each query takes the accounts to read as `$1`, an `integer[]`, and returns rows whose
//! first column is the account (`integer` or `bigint`):
//!
//! | query | second column | rows |
//! |---|---|---|
//! | `ledger_balance` | the balance, `bigint` | one per account |
//! | `suspended` | whether it is suspended, `boolean` | one per account |
//! | `credited` | a gateway charge id the ledger credited, `bigint` | one per credit entry, duplicates kept (no `DISTINCT`) |
//! | `entries` | the sum of its entries, `bigint` (cast `SUM`, which is `numeric`) | one per account |
//!
//! ```
//! use workloads::sut::Layout;
//!
//! let layout = Layout {
//!     balance_key: Some("wallet:{account}:cents".into()),
//!     ledger_balance: "SELECT id, cents FROM wallets WHERE id = ANY($1)".into(),
//!     suspended: "SELECT id, frozen FROM wallets WHERE id = ANY($1)".into(),
//!     credited: "SELECT wallet, card_charge FROM postings
//!                WHERE card_charge IS NOT NULL AND wallet = ANY($1)".into(),
//!     entries: Some("SELECT wallet, SUM(cents)::bigint FROM postings
//!                    WHERE wallet = ANY($1) GROUP BY wallet".into()),
//! };
//! assert_eq!(layout.validate(), Ok(()));
//! assert_eq!(layout.balance_key(7).as_deref(), Some("wallet:7:cents"));
//!
//! // The same ledger with no balance in Redis: a Postgres-only design.
//! let ledger_only = Layout { balance_key: None, ..layout };
//! assert_eq!(ledger_only.validate(), Ok(()));
//! assert_eq!(ledger_only.balance_key(7), None);
//! assert!(!ledger_only.shape().in_flight);
//! ```

use checkers::history::{AccountId, LayoutShape};

/// Where the harness reads each account's final state. See the [module docs](self) for
/// the queries it takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The Redis key of an account's in-flight balance (an integer, in cents), with
    /// `{account}` standing for the account's id; `None` when the system keeps no
    /// balance apart from the ledger's (a Postgres-only design).
    pub balance_key: Option<String>,
    /// `(account, balance)` from the ledger.
    pub ledger_balance: String,
    /// `(account, suspended)`.
    pub suspended: String,
    /// `(account, charge id)`, one row per credit entry.
    pub credited: String,
    /// `(account, sum of its ledger entries)`, when the ledger keeps entries; the sum
    /// must equal the ledger balance.
    pub entries: Option<String>,
}

/// What `{account}` stands for in [`Layout::balance_key`].
const ACCOUNT: &str = "{account}";

impl Layout {
    /// faultline's [`standard`](super::standard) layout.
    pub fn standard() -> Layout {
        Layout { balance_key: Some("balance:{account}".into()), ..Layout::ledger_only() }
    }

    /// The [`standard`](super::standard) ledger with no balance in Redis: for a
    /// Postgres-only design on the standard tables, whose `accounts.balance` is the
    /// only balance (seed it with [`standard::seed_with`](super::standard::seed_with)).
    pub fn ledger_only() -> Layout {
        Layout {
            balance_key: None,
            ledger_balance: "SELECT id, balance FROM accounts WHERE id = ANY($1)".into(),
            suspended: "SELECT id, suspended FROM accounts WHERE id = ANY($1)".into(),
            credited: "SELECT account, charge_id FROM ledger_entries
                       WHERE charge_id IS NOT NULL AND account = ANY($1) ORDER BY charge_id"
                .into(),
            entries: Some(
                "SELECT account, SUM(amount)::bigint FROM ledger_entries
                 WHERE account = ANY($1) GROUP BY account"
                    .into(),
            ),
        }
    }

    /// The Redis key of `account`'s in-flight balance; `None` when the ledger holds
    /// the only balance.
    pub fn balance_key(&self, account: AccountId) -> Option<String> {
        let pattern = self.balance_key.as_ref()?;
        Some(pattern.replace(ACCOUNT, &account.to_string()))
    }

    /// The shape the history records (`harness`/`layout`), which tells the checkers
    /// whether the final states carry an in-flight balance.
    pub fn shape(&self) -> LayoutShape {
        LayoutShape { in_flight: self.balance_key.is_some() }
    }

    /// Checks that every account gets a key of its own, if balances live in Redis, and
    /// every query reads the accounts it is given.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(key) = &self.balance_key
            && !key.contains(ACCOUNT)
        {
            return Err(format!(
                "layout: balance_key {key:?} must contain {ACCOUNT}, or every account shares one \
                 key (a design without a balance in Redis declares none)"
            ));
        }
        let queries = [
            ("ledger_balance", Some(&self.ledger_balance)),
            ("suspended", Some(&self.suspended)),
            ("credited", Some(&self.credited)),
            ("entries", self.entries.as_ref()),
        ];
        for (name, query) in queries {
            if let Some(sql) = query
                && !sql.contains("$1")
            {
                return Err(format!(
                    "layout: the {name} query must select the accounts given as $1 (an integer[]): {sql}"
                ));
            }
        }
        Ok(())
    }
}

impl Default for Layout {
    fn default() -> Layout {
        Layout::standard()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_layout_names_faultlines_keys_and_is_valid() {
        let layout = Layout::standard();
        assert_eq!(layout.validate(), Ok(()));
        assert_eq!(layout.balance_key(42), Some(super::super::standard::balance_key(42)));
        assert!(layout.shape().in_flight);
    }

    #[test]
    fn the_ledger_only_layout_is_the_standard_ledger_with_no_balance_key() {
        let layout = Layout::ledger_only();
        assert_eq!(layout.validate(), Ok(()));
        assert_eq!(layout.balance_key(42), None);
        assert_eq!(layout.shape(), LayoutShape { in_flight: false });
        assert_eq!(Layout { balance_key: None, ..Layout::standard() }, layout);
        let broken = Layout { entries: Some("SELECT 1, 2".into()), ..Layout::ledger_only() };
        let err = broken.validate().unwrap_err();
        assert!(err.starts_with("layout: the entries query must select"), "{err}");
    }

    #[test]
    fn a_layout_whose_accounts_share_a_key_or_whose_query_ignores_them_is_refused() {
        let shared = Layout { balance_key: Some("balance".into()), ..Layout::standard() };
        let err = shared.validate().unwrap_err();
        assert!(err.contains("must contain {account}"), "{err}");
        let all = Layout {
            credited: "SELECT account, charge_id FROM ledger_entries".into(),
            ..Layout::standard()
        };
        let err = all.validate().unwrap_err();
        assert!(err.starts_with("layout: the credited query must select"), "{err}");
    }
}
