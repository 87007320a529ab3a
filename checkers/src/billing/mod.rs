//! The billing checkers: did the system under test keep the customer's money right?
//!
//! - [`ChargeWithoutCredit`]: captured money reaches the ledger (once) and the balance store.
//! - [`OverCharge`]: one capture per idempotency key and per client operation, and only
//!   when a recharge was needed.
//! - [`WrongfulSuspension`]: suspensions follow a card decline at a low balance.
//! - [`Reconciliation`]: every reported balance and the final balances agree with what
//!   happened and with each other.
//! - [`FailSafe`]: no charge while the balance store is unsafe.
//! - [`Contract`]: the rules below that the history can show, each broken one reported
//!   as a `contract-violation` rather than as the money anomaly it would resemble.
//! - `bounds`, `sums` and `shared` (private): L, L_r, U and the windows below, kept once
//!   per suite and reported as the `balance-bounds` row (`Unknown` when an operation
//!   names an account never opened, a debit or payment has no amount or one of zero or
//!   fewer cents, a charge a negative one, or a sum would overflow 64 bits: the account
//!   is judged no more, never with inverted bounds). `reported` (private): the check of one reported balance.
//!   `finals` (private): one final state per account, else `Unknown`.
//!
//! # The history they read
//!
//! At set-up the harness records the shape of the stores the system under test
//! declared (`harness`/`ok`/`layout`, [`LayoutShape`](crate::history::LayoutShape)):
//! `{"in_flight": true}` when it keeps each account's in-flight balance in a balance
//! store (Redis) besides the ledger, `{"in_flight": false}` when the ledger's balance is
//! its only one (a Postgres-only design), whose final states then carry no in-flight
//! balance and whose balance store, for the monitor, is the ledger. A history without
//! the record is read as `{"in_flight": true}`. Each account is opened by a
//! `harness`/`ok`/`open` operation (opening balance,
//! threshold T, recharge amount R, optional floor). Clients `debit`, `payment` and `read`
//! balances (invoke, then `ok`, `fail` or `info`; an `ok` completion reports the balance
//! the system gave, `null` when it found none). The harness's card **gateway** records
//! every charge attempt as one operation: `ok` captured, `fail` not captured, `info`
//! outcome unknown; with the client operation the system was serving when it asked
//! (`op`), if any, and what the caller was told (`answer`: `captured`, `declined`,
//! `error`, `lost`, `unavailable`). A `fail` charge is a **card decline** (or may be:
//! `card-declined`, `card-deactivated`, or any error another driver writes) unless its
//! error is `gateway-error` (an error before capture) or `gateway-unavailable` (an
//! outage): those are the gateway failing, and say nothing about the card. The type is ground truth: a capture is `ok` whatever the
//! caller saw (an error after capture, an answer that never came). The **monitor** probes the balance store (invoke, then `ok` with its status, and
//! the accounts whose balances went missing or were restored since its previous probe,
//! or `info` when it could not tell, its `error` saying why; a lone completion
//! is a probe invoked and completed at once). The harness invokes the system's `settle`
//! and records its completion. At the end the harness records one `harness`/`ok`/`final`
//! operation per account, read from the stores: in-flight (balance store; absent when
//! the layout keeps none) and ledger balances, the suspended flag, the charge ids the ledger credits (one per credit
//! entry), and the sum of the ledger's entries. The gateway, the monitor and the final
//! reads belong to the harness: their records are ground truth.
//!
//! # What a system must do
//!
//! The checkers hold a system under test (and the driver recording its history) to
//! this contract; a system that breaks it is flagged, as named:
//!
//! 1. **The gateway records a charge attempt before the system sees its answer.**
//!    A capture recorded late looks like money the system showed before it existed:
//!    a balance above U (`impossible-balance`, or `lost-write` when acknowledged
//!    debits could account for the excess: see reconciliation). The harness's gateway
//!    does so; a driver's must too.
//! 2. **An operation that made a capture answers `ok` only after crediting it** (ledger
//!    and balance store); when the credit failed or its outcome is unknown, it answers
//!    `info`, never `ok` with the balance before the credit (a later balance below
//!    L_r: `impossible-balance`, or `lost-write` when only acknowledged payments could
//!    account for it). Credit only what was captured, after the capture: money
//!    credited before the gateway captured it is above U (`impossible-balance` or
//!    `lost-write` as in 1, and `balance-out-of-bounds`).
//! 3. **Reads reflect every acknowledged operation**: a balance an `ok` operation
//!    reports includes every operation that completed `ok` before it began. A
//!    lagging replica is a stale read: outside R, a `lost-write` when the writes it
//!    lags behind can account for the difference, else `impossible-balance`.
//! 4. **A balance key is never evicted**: a store that no longer holds an opened
//!    account's balance after the faults healed lost it (`lost-balance`).
//! 5. **At most one capture per client operation and account, and one per need**
//!    (`duplicate-recharge`, `over-charge`): a recharge carried out in an operation
//!    other than the one that decided it, or in the background, re-checks the need,
//!    and the gateway attributes each charge to the client operation the system was
//!    serving (`op`), or to none.
//! 6. **Charges name an opened account and a positive amount, and an `ok` read
//!    reports the balance** (`contract-violation`, [`Contract`]): without them the
//!    money checkers have nothing to hold the system to (no bounds for an account never
//!    opened; bounds that stop at a charge of no cents or fewer; a read that reports
//!    nothing passes every check) and would say `Unknown` or nothing at all. An `ok`
//!    answer never carries an error. A debit or payment may answer `ok` without a
//!    balance.
//! 7. **Idempotency keys are global**, as Stripe's are: one key names one charge, on
//!    one account; a key sent again (any account) asks for the charge it first named.
//!    Two captures under one key are a `duplicate-recharge`.
//!
//! # Definitions
//!
//! *Before t* means earlier in the history than the operation at t. The **true
//! balance** of an account is what its customer used and paid, by ground truth: money
//! the gateway captured counts whether or not the system under test credited it. An
//! operation is *in flight* at t when it was invoked before t and had not completed
//! before t; a client operation completed `info` may still be running inside the system
//! (a service that outlives its client's timeout), so it counts as in flight for ever.
//! For an account a:
//!
//! - **L_a(t)**, the least true balance possible at t = opening balance + payments that
//!   completed `ok` before t + charges captured (`ok`) before t − debits invoked before t
//!   that had not completed `fail` before t (so `ok`, `info` and pending debits count).
//! - **U_a(t)**, the greatest = opening balance + payments invoked before t that had not
//!   completed `fail` before t + charges `ok` or `info` before t − debits that completed
//!   `ok` before t.
//! - A charge attempt c on a is **served** when the gateway attributes it to a client
//!   operation o (`op`) on a that is in flight at c; otherwise (no `op`, an operation
//!   on another account, or one not in flight) it is a **background** charge: a task,
//!   `settle`, or a queue drained inside some other operation decided it, when it
//!   liked.
//! - **L_r,a(t)**, the least balance a *read* may see at t: L_a(t) less the captures not
//!   yet confirmed. A system may credit a capture a little after the gateway captured
//!   it, so a served capture for o counts in L_r only once o and every other client
//!   operation on a in flight at the capture have completed `ok` (an operation that
//!   made a capture answers `ok` only after crediting it: the contract above).
//!   It never counts when one of them completed `info` or `fail` (the credit may come
//!   at any time, by a repair, or never: charge-without-credit judges that), when a
//!   client operation on a completed `info` before it (still in flight), or when it
//!   is a background capture (credited when the system likes).
//! - **R** for a client operation o on a: [least L_r,a, greatest U_a] over o's interval,
//!   from its invocation to its completion; o's own debit counts in L_r from its
//!   invocation, its own payment in U.
//! - **W_a(t)**, the least L_a over the window in which the system may have decided
//!   what happens at t: from the earliest invocation among the client operations on a
//!   in flight at t (debits, payments, reads; `info` ones for ever) and the harness's
//!   `settle` if in flight, but not before the last capture on a before t, up to t. A
//!   background charge attempt is judged over the wider of that and the window since
//!   the last capture on a (or its opening), which `settle` in flight never narrows.
//!   This rests on one rule: **one
//!   recharge per need** — a system decides a recharge while serving an operation on
//!   the account (or settling, or in the background), and a decision made before the
//!   account's previous capture would be a second recharge for the need that capture
//!   met. It does not rest on the order of a system's steps inside an operation, nor on
//!   the harness serialising operations on an account: a recharge may be completed
//!   inside a read, a payment or `settle`, and payments may race debits.
//!
//! An `info` debit or payment may have applied, at any time after its invocation, or
//! never: it counts in whichever bound it widens, for ever. An `info` charge may or may
//! not have been captured: it counts in U only. A debit invoked before t that fails
//! after t still counts in L(t): the checkers read the history once, forwards, so their
//! bounds are looser than the ideal ones and never tighter, which keeps every verdict
//! below sound (no false alarm) at the cost of missing a few borderline anomalies.
//! L_end and U_end are the bounds at the end of the history. Every sum is checked: one
//! that would overflow 64 bits of cents makes the account unjudged and every checker
//! reading the bounds `Unknown`, naming the operation.
//!
//! # The invariants
//!
//! **charge-without-credit** ([`ChargeWithoutCredit`]).
//! - Every charge the gateway captured is in its account's final `credited` list
//!   (kind `charge-without-credit`); an `info` charge needs no credit but may have one.
//! - Every credited id is a charge on that account that the gateway captured or left
//!   `info`; a declined, unknown or other account's charge is `credit-without-charge`.
//! - No charge id is credited twice, in one account's list or in two accounts'
//!   (`duplicate-credit`).
//! - An account with captures whose final in-flight balance is below L_end misses
//!   captured money in the balance store (`charge-not-in-flight`).
//! - A captured charge whose account has no final state, or an unreadable ledger,
//!   makes the verdict `Unknown`; so does an account with two or more final states
//!   (here and in reconciliation), never a `duplicate-credit`.
//!
//! **over-charge** ([`OverCharge`]).
//! - Two captures with the same idempotency key, or on one account attributed to the
//!   same client operation (**at most one capture per client operation and account**:
//!   a key is the system's own, and another gateway may not deduplicate; an operation
//!   may recharge other accounts, draining a queue), are a `duplicate-recharge`;
//!   witnesses are both captures (and the operation).
//! - A capture c on account a is an `over-charge` when W_a(t_c), not counting c, is at
//!   least T: the balance could not have been below the threshold whenever the system
//!   decided, so nothing justified a recharge. This is what catches repeated recharging
//!   for one need (after a capture the window restarts, with the captured money in L),
//!   as in the 2013 incident where every debit on a lost balance recharged again.
//!   Witnesses: the capture and the account's capture before it.
//!
//! **wrongful-suspension** ([`WrongfulSuspension`]). An account whose final state says
//! `suspended: true` must have had a card decline d (a `fail` charge other than a
//! gateway error or outage) with
//! W_a(t_d) < T (a background decline's W as a background capture's). Witnesses: the final state, and the first and last declines.
//!
//! **reconciliation** ([`Reconciliation`]). Jepsen's bank test across systems.
//! - Every balance an `ok` debit, payment or read reported lies within its R, and a
//!   read of an opened account finds a balance (`impossible-balance`): a missing key
//!   read as 0, a stale replica, an acknowledged payment not yet (or no longer)
//!   visible. Witnesses: the operation's invocation and completion.
//! - Such a balance b is a `lost-write` instead when acknowledged writes made before
//!   the operation began can account for it, a diagnosis of an anomaly already sound
//!   as `impossible-balance` (the verdict is the same):
//!   - **above** U: the debits on the account that completed `ok` before the
//!     operation was invoked sum to at least b − U cents;
//!   - **below** L_r: the payments on the account that completed `ok` before the
//!     operation was invoked sum to at least L_r − b cents, and no completion at or
//!     after the latest of those payments (and before the operation's own completion)
//!     confirmed a capture on the account for reads (counted it in L_r): a missing
//!     credit would then be as likely as a lost payment.
//!
//!   The explanation reads "… above the U cents the history allows while it ran:
//!   consistent with acknowledged debits worth at least b − U cents not applied (the
//!   latest acknowledged before op I: op W)" (or "below … payments … L_r − b"). This
//!   is what a failover to a replica that never got the writes, or a rollback, looks
//!   like; it is not proof of it. What else fits stays possible: above U, a phantom
//!   credit, a payment answered `fail` that applied, a credit before its capture, a
//!   capture recorded late, when no larger than the debits; below L_r, a debit applied
//!   twice, or a capture confirmed before the latest payment and left uncredited.
//!   Anything larger than the acknowledged writes of the relevant kind stays
//!   `impossible-balance`. Witnesses: the invocation, the completion, and the latest
//!   such debit (or payment). The bounds keep, per account, the latest `ok` debit
//!   and payment, the sums of the `ok` debits' and payments' amounts, and the latest
//!   completion that confirmed a capture; and a copy of the first two per operation
//!   in flight, taken at its invocation. Final balances are not diagnosed so: outside
//!   [L_end, U_end] they stay `balance-out-of-bounds`.
//! - Each final balance, in-flight and ledger, lies within [L_end, U_end]
//!   (`balance-out-of-bounds`), and the two are equal (`stores-disagree`). A final
//!   state without an in-flight balance is complete when the layout keeps none; when
//!   it keeps one (or the history records no layout) the account is `Unknown` (the
//!   harness did not read it: no evidence of a loss). Two `layout` records that
//!   disagree make the verdict `Unknown`.
//! - The ledger's entries sum to its balance (`ledger-unbalanced`; `null`: no entries,
//!   a sum of 0; unreadable: `Unknown`).
//! - A store that no longer holds the account's balance after the faults healed lost
//!   it (`lost-balance`); a store that could not be read makes that account `Unknown`.
//! - Where an account has a floor, no final balance and no balance a client
//!   completion reported lies below it (`below-floor`).
//! - No final states at all, or an opened account without one, is `Unknown`.
//!
//! **fail-safe** ([`FailSafe`]). A store is *unsafe* for account a at a probe when the
//! probe's status is not `healthy`, or a's balance has been reported `missing` and
//! not yet `restored`. A condition *begins* at the completion of the first probe that
//! saw it. For a capture c on a at t_c, the probe *before* is the last probe completed
//! before t_c and the probe *after* the first probe invoked after t_c (a probe in
//! flight at t_c is neither, so a slow probe only widens the window of doubt). c is an
//! `unsafe-charge` when:
//! 1. the probes before and after share a reason the store is unsafe for a (both
//!    unhealthy in one run of unhealthy probes, or a missing at both, not restored in
//!    between), so the condition held throughout t_c; and
//! 2. the system may have decided the charge only after that condition began: the
//!    earliest invocation among the client operations on a in flight at t_c (`info`
//!    ones for ever) and `settle` if in flight, is after the condition began; for a
//!    background capture, the earlier of that and the last capture on a (or its
//!    opening). This keeps the checker sound
//!    against the race between a system's check of the store and a fault's onset.
//!
//! Only a probe completed `ok` with what it saw is an observation. A probe completed
//! without one (`info`: the monitor could not tell, as when Postgres refuses new
//! sessions while its open ones may still be served; `fail`; or `ok` without a probe
//! value) **ends every condition**: the store may have been safe while it ran. A
//! condition seen again after it begins anew at the next probe completed `ok` (a
//! balance still missing, which the monitor reports once, is missing from that probe
//! on, without being reported again). So the probes before and after a capture share
//! a reason only when no probe between them went unobserved, and rule 2 measures from
//! an observation made after the gap: a decision taken during it is never judged.
//!
//! A capture is not judged when the condition may have lifted between the two probes:
//! a nemesis `heal` completed between the completion of the probe before and the
//! invocation of the probe after (the history shows the fault ended); or, when the
//! header gives the monitor's timing (`"monitor": {"interval": ns, "timeout": ns}`),
//! those two instants lie more than 2 × (interval + timeout) apart (the monitor missed
//! a look). What remains assumed: a condition the monitor saw at two consecutive
//! probes, with no heal recorded between them, held between them. The harness's
//! monitor invokes a probe about one interval (100 ms) after the previous one began,
//! or at once if that one ran longer; a probe itself may take up to three timeouts (3
//! s with its 1 s timeout), so the probes before and after a capture may complete
//! seconds apart, while the gap the bound above measures stays near one interval.
//! Faults last seconds. The window rule is W's: one recharge per need.
//! Witnesses: the capture and the probes before and after it.

mod bounds;
mod contract;
mod credit;
mod failsafe;
mod finals;
mod recharge;
mod reconcile;
mod reported;
mod shared;
mod sums;
mod suspension;

pub use contract::Contract;
pub use credit::ChargeWithoutCredit;
pub use failsafe::{FailSafe, MONITOR_SHAPE, MonitorTiming};
pub use recharge::OverCharge;
pub use reconcile::Reconciliation;
pub use suspension::WrongfulSuspension;

use crate::checker::Checker;

/// Every billing checker, sharing one set of bounds (see `shared`): the four that read
/// L and U, fail-safe (knowing the monitor's timing, if the header gave it), and
/// `balance-bounds`, which keeps L and U and reports the operations it could not
/// account for.
pub fn checkers(monitor: Option<MonitorTiming>) -> Vec<Box<dyn Checker>> {
    let bounds = shared::SharedBounds::default();
    vec![
        Box::new(ChargeWithoutCredit::sharing(&bounds)),
        Box::new(OverCharge::sharing(&bounds)),
        Box::new(WrongfulSuspension::sharing(&bounds)),
        Box::new(Reconciliation::sharing(&bounds)),
        Box::new(FailSafe::new(monitor)),
        Box::new(bounds.updater()),
        Box::new(Contract::default()),
    ]
}

#[cfg(test)]
mod tests;
