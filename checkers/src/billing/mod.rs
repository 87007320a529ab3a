//! The billing checkers: did the system under test keep the customer's money right?
//!
//! - [`ChargeWithoutCredit`]: captured money reaches the ledger and the balance store.
//! - [`OverCharge`]: one capture per idempotency key, and only when a recharge was needed.
//! - [`WrongfulSuspension`]: suspensions follow a card decline at a low balance.
//! - [`Reconciliation`]: final balances agree with each other and with what happened.
//! - [`FailSafe`]: no charge while the balance store is unsafe.
//! - `bounds` and `shared` (private): L and U below, kept once per suite and reported as
//!   the `balance-bounds` row (`Unknown` when an operation names an account never
//!   opened, or a debit or payment has no amount).
//!
//! # The history they read
//!
//! Each account is opened by a `harness`/`ok`/`open` operation (opening balance,
//! threshold T, recharge amount R, optional floor). Clients `debit`, `payment` and `read`
//! balances (invoke, then `ok`, `fail` or `info`). The harness's card **gateway** records
//! every charge attempt as one operation: `ok` captured, `fail` declined, `info` outcome
//! unknown. The **monitor** probes the balance store (status, and balance keys that went
//! missing or were restored since its previous probe). At the end the harness records
//! one `harness`/`ok`/`final` operation per account: in-flight (balance store) and ledger
//! balances, the suspended flag, and the charge ids the ledger credits. The gateway and
//! the monitor belong to the harness: their records are ground truth.
//!
//! # Definitions
//!
//! *Before t* means earlier in the history than the operation at t. The **true
//! balance** of an account is what its customer used and paid, by ground truth: money
//! the gateway captured counts whether or not the system under test credited it. For an
//! account a:
//!
//! - **L_a(t)**, the least true balance possible at t = opening balance + payments that
//!   completed `ok` before t + charges captured (`ok`) before t − debits invoked before t
//!   that had not completed `fail` before t (so `ok`, `info` and pending debits count).
//! - **U_a(t)**, the greatest = opening balance + payments invoked before t that had not
//!   completed `fail` before t + charges `ok` or `info` before t − debits that completed
//!   `ok` before t.
//!
//! - **W_a(t)**, the least L_a over the window in which the system may have decided
//!   what happens at t: from the later of the invocation of the earliest debit on a in
//!   flight at t and the last capture on a before t, up to t. By the harness contract a
//!   recharge (and so a decline) happens inside the interval of the debit that triggered
//!   it, and a correct system decides one recharge per need, so the decision behind a
//!   charge attempt at t lies in that window, even when a payment lands between the
//!   decision and the capture. With no debit in flight, W_a(t) = L_a(t).
//!
//! An `info` debit or payment may have applied, at any time after its invocation, or
//! never: it counts in whichever bound it widens, for ever. An `info` charge may or may
//! not have been captured: it counts in U only. A debit invoked before t that fails
//! after t still counts in L(t): the checkers read the history once, forwards, so their
//! bound is looser than the ideal one and never tighter, which keeps every verdict
//! below sound (no false alarm) at the cost of missing a few borderline anomalies.
//! L_end and U_end are the bounds at the end of the history.
//!
//! # The invariants
//!
//! **charge-without-credit** ([`ChargeWithoutCredit`]).
//! - Every charge the gateway captured is in its account's final `credited` list
//!   (kind `charge-without-credit`); an `info` charge needs no credit but may have one.
//! - Every credited id is a charge on that account that the gateway captured or left
//!   `info`; a declined, unknown or other account's charge is `credit-without-charge`.
//! - An account with captures whose final in-flight balance is below L_end misses
//!   captured money in the balance store (`charge-not-in-flight`).
//! - A captured charge whose account has no final state, or an unreadable ledger,
//!   makes the verdict `Unknown`.
//!
//! **over-charge** ([`OverCharge`]).
//! - Two captures with the same idempotency key are a `duplicate-recharge`; witnesses
//!   are both captures.
//! - A capture c on account a is an `over-charge` when W_a(t_c), not counting c, is at
//!   least T: the balance could not have been below the threshold whenever the system
//!   decided, so nothing justified a recharge. This is what catches repeated recharging
//!   for one need (after a capture the window restarts, with the captured money in L),
//!   as in the 2013 incident where every debit on a lost balance recharged again.
//!   Witnesses: the capture and the account's capture before it.
//!
//! **wrongful-suspension** ([`WrongfulSuspension`]). An account whose final state says
//! `suspended: true` must have had a declined charge d (any `fail` charge) with
//! W_a(t_d) < T. Witnesses: the final state, and the first and last declines.
//!
//! **reconciliation** ([`Reconciliation`]). Jepsen's bank test across systems.
//! - Each final balance, in-flight and ledger, lies within [L_end, U_end]
//!   (`balance-out-of-bounds`), and the two are equal (`stores-disagree`).
//! - A store that no longer holds the account's balance after the faults healed lost
//!   it (`lost-balance`); a store that could not be read makes that account `Unknown`.
//! - Where an account has a floor, no final balance and no balance a client
//!   completion reported lies below it (`below-floor`).
//! - No final states at all, or an opened account without one, is `Unknown`.
//!
//! **fail-safe** ([`FailSafe`]). A store is *unsafe* for account a at a probe when the
//! probe's status is not `healthy`, or a's balance key has been reported `missing` and
//! not yet `restored`. A capture c on a at t_c is an `unsafe-charge` when:
//! 1. the last probe before t_c and the first probe after t_c share a reason the store
//!    is unsafe for a (both unhealthy, or a missing at both, not restored in between),
//!    so the condition held throughout t_c; and
//! 2. every client operation on a in flight at t_c was invoked after that condition's
//!    first probe, so the system under test received the request and decided entirely
//!    inside the window. This keeps the checker sound against the race between a
//!    system's check of the store and a fault's onset.
//!
//! Two assumptions come from the harness contract: a condition the monitor sees at two
//! consecutive probes held between them (faults last far longer than the ~100 ms
//! between probes), and a recharge happens inside the interval of the debit that
//! triggered it (so a debit completed `info` no longer has a recharge in flight).
//! Witnesses: the capture and the probes before and after it.

mod bounds;
mod credit;
mod failsafe;
mod recharge;
mod reconcile;
mod reported;
mod shared;
mod sums;
mod suspension;

pub use credit::ChargeWithoutCredit;
pub use failsafe::FailSafe;
pub use recharge::OverCharge;
pub use reconcile::Reconciliation;
pub use suspension::WrongfulSuspension;

use crate::checker::Checker;

/// Every billing checker, sharing one set of bounds (see `shared`): the four that read
/// L and U, fail-safe, and `balance-bounds`, which keeps L and U and reports the
/// operations it could not account for.
pub fn checkers() -> Vec<Box<dyn Checker>> {
    let bounds = shared::SharedBounds::default();
    vec![
        Box::new(ChargeWithoutCredit::sharing(&bounds)),
        Box::new(OverCharge::sharing(&bounds)),
        Box::new(WrongfulSuspension::sharing(&bounds)),
        Box::new(Reconciliation::sharing(&bounds)),
        Box::new(FailSafe::default()),
        Box::new(bounds.updater()),
    ]
}

#[cfg(test)]
mod tests;
