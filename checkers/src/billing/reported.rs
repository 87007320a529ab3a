//! *impossible-balance* and *lost-write*, part of reconciliation: every balance a
//! client operation reported lies within R, what the history allows over that
//! operation's interval.
//!
//! R for an operation is [least L_r, greatest U] from its invocation to its completion
//! (see the [module docs](super)); the bounds keep both per operation in flight, so a
//! completion is judged in constant time and nothing is remembered after it. A balance
//! outside R is a `lost-write` only when lost acknowledged writes can account for it
//! (the rule is in the [module docs](super)), else an `impossible-balance`: a
//! diagnosis, never a different verdict.

use super::sums::Range;
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
    /// The anomaly, if what it reported lies outside R.
    pub fn judge(&self, range: Range) -> Option<Anomaly> {
        let (index, invoked, account) = (self.index, self.invoked, self.account);
        match *self.balance {
            Observed::Balance(b) => self.outside(b, range),
            Observed::Missing if *self.f == F::Read => Some(self.anomaly(
                AnomalyKind::ImpossibleBalance,
                format!(
                    "op {index}: a read of account {account} (invoked at op {invoked}) found no \
                     balance, though the account holds at least {} cents",
                    range.low
                ),
                None,
                range.low.max(1),
            )),
            _ => None,
        }
    }

    /// A reported balance `b` outside R: a lost write when the acknowledged writes it
    /// may miss came before the operation began and add up to the missing amount, else
    /// an impossible balance (see the module docs).
    fn outside(&self, b: i64, range: Range) -> Option<Anomaly> {
        let Range { low, high, before, confirmed } = range;
        let (index, invoked, account, f) = (self.index, self.invoked, self.account, self.f);
        let reported = format!(
            "op {index}: a {f} on account {account} (invoked at op {invoked}) reported a balance of {b} cents"
        );
        let lost = match (b > high, b < low) {
            (true, _) => {
                let missing = b.saturating_sub(high);
                before
                    .debit
                    .filter(|_| missing <= before.debits)
                    .map(|w| (w, "above", high, "debits", missing))
            }
            (_, true) => {
                let missing = low.saturating_sub(b);
                before
                    .payment
                    .filter(|_| missing <= before.payments)
                    .filter(|&w| confirmed.is_none_or(|c| c < w))
                    .map(|w| (w, "below", low, "payments", missing))
            }
            (false, false) => return None,
        };
        Some(match lost {
            Some((witness, side, bound, writes, missing)) => self.anomaly(
                AnomalyKind::LostWrite,
                format!(
                    "{reported}, {side} the {bound} cents the history allows while it ran: \
                     consistent with acknowledged {writes} worth at least {missing} cents not \
                     applied (the latest acknowledged before op {invoked}: op {witness})"
                ),
                Some(witness),
                missing,
            ),
            None => self.anomaly(
                AnomalyKind::ImpossibleBalance,
                format!(
                    "{reported}, outside the {low} to {high} cents the history allows while it ran"
                ),
                None,
                low.saturating_sub(b).max(b.saturating_sub(high)),
            ),
        })
    }

    /// An anomaly about the account, witnessed by the operation's invocation and
    /// completion, and `witness` if any.
    fn anomaly(
        &self,
        kind: AnomalyKind,
        explanation: String,
        witness: Option<u64>,
        magnitude: i64,
    ) -> Anomaly {
        let ops = [self.invoked, self.index].into_iter().chain(witness).collect();
        Anomaly { kind, subject: Subject::Account(self.account), explanation, ops, magnitude }
    }
}
