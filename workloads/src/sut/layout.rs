//! Where a billing system keeps the state the harness reads as ground truth.
//!
//! The harness never asks the system under test for its final state: it reads the
//! stores itself ([`truth`](crate::truth)), through the [`Layout`] the system declares
//! ([`BillingSystem::layout`](super::BillingSystem::layout)): a Redis key pattern for
//! each account's in-flight balance (also what the monitor watches), and SQL queries
//! for the ledger. A system on faultline's [`standard`](super::standard) layout
//! declares nothing.
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
//!     balance_key: "wallet:{account}:cents".into(),
//!     ledger_balance: "SELECT id, cents FROM wallets WHERE id = ANY($1)".into(),
//!     suspended: "SELECT id, frozen FROM wallets WHERE id = ANY($1)".into(),
//!     credited: "SELECT wallet, card_charge FROM postings
//!                WHERE card_charge IS NOT NULL AND wallet = ANY($1)".into(),
//!     entries: Some("SELECT wallet, SUM(cents)::bigint FROM postings
//!                    WHERE wallet = ANY($1) GROUP BY wallet".into()),
//! };
//! assert_eq!(layout.validate(), Ok(()));
//! assert_eq!(layout.balance_key(7), "wallet:7:cents");
//! ```

use checkers::history::AccountId;

/// Where the harness reads each account's final state. See the [module docs](self) for
/// the queries it takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The Redis key of an account's in-flight balance (an integer, in cents), with
    /// `{account}` standing for the account's id.
    pub balance_key: String,
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
        Layout {
            balance_key: "balance:{account}".into(),
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

    /// The Redis key of `account`'s in-flight balance.
    pub fn balance_key(&self, account: AccountId) -> String {
        self.balance_key.replace(ACCOUNT, &account.to_string())
    }

    /// Checks that every account gets a key of its own and every query reads the
    /// accounts it is given.
    pub fn validate(&self) -> Result<(), String> {
        if !self.balance_key.contains(ACCOUNT) {
            return Err(format!(
                "layout: balance_key {:?} must contain {ACCOUNT}, or every account shares one key",
                self.balance_key
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
        assert_eq!(layout.balance_key(42), super::super::standard::balance_key(42));
    }

    #[test]
    fn a_layout_whose_accounts_share_a_key_or_whose_query_ignores_them_is_refused() {
        let shared = Layout { balance_key: "balance".into(), ..Layout::standard() };
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
