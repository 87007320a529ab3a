//! *impossible-balance*, part of reconciliation: every balance a client operation
//! reported lies within R, what the history allows over that operation's interval.
//!
//! R for an operation is [least L_r, greatest U] from its invocation to its completion
//! (see the [module docs](super)); the bounds keep both per operation in flight, so a
//! completion is judged in constant time and nothing is remembered after it.

use crate::history::{AccountId, F, Observed};
use crate::verdict::{Anomaly, AnomalyKind, Subject};

/// One `ok` completion that reported a balance, or reported none.
pub(super) struct Reported<'a> {
    pub index: u64,
    pub invoked: u64,
    pub f: &'a F,
    pub account: AccountId,
    pub balance: &'a Observed,
}

impl Reported<'_> {
    /// The anomaly, if what it reported lies outside R = `(low, high)`.
    pub fn judge(&self, (low, high): (i64, i64)) -> Option<Anomaly> {
        let (index, invoked, account, f) = (self.index, self.invoked, self.account, self.f);
        let (explanation, magnitude) = match *self.balance {
            Observed::Balance(b) if b < low || b > high => (
                format!(
                    "op {index}: a {f} on account {account} (invoked at op {invoked}) reported a balance \
                     of {b} cents, outside the {low} to {high} cents the history allows while it ran"
                ),
                low.saturating_sub(b).max(b.saturating_sub(high)),
            ),
            Observed::Missing if *f == F::Read => (
                format!(
                    "op {index}: a read of account {account} (invoked at op {invoked}) found no balance, \
                     though the account holds at least {low} cents"
                ),
                low.max(1),
            ),
            _ => return None,
        };
        Some(Anomaly {
            kind: AnomalyKind::ImpossibleBalance,
            subject: Subject::Account(account),
            explanation,
            ops: vec![invoked, index],
            magnitude,
        })
    }
}
