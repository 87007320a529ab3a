//! Anomalies: what kind of property was violated, about what, witnessed by which
//! operations, and their grouping by kind.

use crate::history::AccountId;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What kind of property an anomaly violates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AnomalyKind {
    /// A captured card charge that the ledger never credited.
    ChargeWithoutCredit,
    /// A ledger credit for a charge the gateway did not capture.
    CreditWithoutCharge,
    /// An in-flight balance that misses money captured from the card.
    ChargeNotInFlight,
    /// Two captures with one idempotency key, or for one client operation.
    DuplicateRecharge,
    /// A capture although the balance could not have been below the threshold.
    OverCharge,
    /// A suspension that no card decline justified.
    WrongfulSuspension,
    /// A final balance outside what the operations allow.
    BalanceOutOfBounds,
    /// Final in-flight and ledger balances that disagree.
    StoresDisagree,
    /// A balance the store no longer holds after the faults healed.
    LostBalance,
    /// A balance below the account's floor.
    BelowFloor,
    /// A balance a client operation reported outside what the history allows over its
    /// interval, or a read that found no balance.
    ImpossibleBalance,
    /// A balance a client operation reported outside what the history allows, missing
    /// debits (above U) or payments (below L_r) acknowledged before it began.
    LostWrite,
    /// A charge the ledger credits more than once.
    DuplicateCredit,
    /// A ledger whose entries do not sum to its balance.
    LedgerUnbalanced,
    /// A capture while the balance store was unreadable, missing the balance, or
    /// refusing writes.
    UnsafeCharge,
    /// A counter read outside the bounds its increments allow.
    CounterOutOfBounds,
    /// An acknowledged set element that later reads lost.
    LostElement,
    /// A set element missing from reads after it was known, then seen again.
    StaleElement,
    /// A set element read more than once in one read.
    DuplicateElement,
    /// A set element read although never added.
    UnexpectedElement,
    /// A unique id handed out twice.
    DuplicateId,
    /// A kind of operation that never succeeded.
    NeverSucceeded,
    /// A kind of operation attempted after the faults healed that the system never answered
    /// again (`ok` or `fail`).
    NotRecovered,
    /// Too few operations succeeded outside fault windows.
    LowAvailability,
    /// The system broke a rule the money checkers rely on (a charge on an account
    /// never opened or of no cents, an `ok` read without a balance): see
    /// `checkers::billing#what-a-system-must-do`.
    ContractViolation,
    /// A register whose operations no order consistent with real time explains.
    NotLinearizable,
}

impl AnomalyKind {
    /// The kind's name, as written in reports.
    pub fn name(self) -> &'static str {
        match self {
            AnomalyKind::ChargeWithoutCredit => "charge-without-credit",
            AnomalyKind::CreditWithoutCharge => "credit-without-charge",
            AnomalyKind::ChargeNotInFlight => "charge-not-in-flight",
            AnomalyKind::DuplicateRecharge => "duplicate-recharge",
            AnomalyKind::OverCharge => "over-charge",
            AnomalyKind::WrongfulSuspension => "wrongful-suspension",
            AnomalyKind::BalanceOutOfBounds => "balance-out-of-bounds",
            AnomalyKind::StoresDisagree => "stores-disagree",
            AnomalyKind::LostBalance => "lost-balance",
            AnomalyKind::BelowFloor => "below-floor",
            AnomalyKind::ImpossibleBalance => "impossible-balance",
            AnomalyKind::LostWrite => "lost-write",
            AnomalyKind::DuplicateCredit => "duplicate-credit",
            AnomalyKind::LedgerUnbalanced => "ledger-unbalanced",
            AnomalyKind::UnsafeCharge => "unsafe-charge",
            AnomalyKind::CounterOutOfBounds => "counter-out-of-bounds",
            AnomalyKind::LostElement => "lost-element",
            AnomalyKind::StaleElement => "stale-element",
            AnomalyKind::DuplicateElement => "duplicate-element",
            AnomalyKind::UnexpectedElement => "unexpected-element",
            AnomalyKind::DuplicateId => "duplicate-id",
            AnomalyKind::NeverSucceeded => "never-succeeded",
            AnomalyKind::NotRecovered => "not-recovered",
            AnomalyKind::LowAvailability => "low-availability",
            AnomalyKind::ContractViolation => "contract-violation",
            AnomalyKind::NotLinearizable => "not-linearizable",
        }
    }
}

impl fmt::Display for AnomalyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// What an anomaly is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Subject {
    /// A billing account.
    Account(AccountId),
    /// An idempotency key.
    Key(String),
    /// A counter, set element or unique id.
    Element(i64),
    /// A kind of operation (`f`).
    F(String),
    /// The counter of a counter workload.
    Counter,
    /// A register of a register workload, by key.
    Register(u64),
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Account(a) => write!(f, "account {a}"),
            Subject::Key(k) => write!(f, "key {k:?}"),
            Subject::Element(e) => write!(f, "element {e}"),
            Subject::F(name) => write!(f, "f {name}"),
            Subject::Counter => f.write_str("the counter"),
            Subject::Register(k) => write!(f, "key {k}"),
        }
    }
}

/// One violation, with the operations that witness it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Anomaly {
    /// What property it violates.
    pub kind: AnomalyKind,
    /// What it is about.
    pub subject: Subject,
    /// One sentence for the engineer on call: amounts in cents, operations by index.
    pub explanation: String,
    /// The indices of the operations that witness it.
    pub ops: Vec<u64>,
    /// How bad it is, in the kind's unit (cents for money); the worst has the greatest.
    pub magnitude: i64,
}

impl fmt::Display for Anomaly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.explanation)
    }
}

/// Every anomaly of one kind, kept as a count and three examples.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnomalyGroup {
    /// The kind they share.
    pub kind: AnomalyKind,
    /// How many there were.
    pub count: u64,
    /// The first found (lowest witnessing operation).
    pub first: Anomaly,
    /// The one of greatest magnitude (the earliest among equals).
    pub worst: Anomaly,
    /// The last found.
    pub last: Anomaly,
}

impl AnomalyGroup {
    /// A group of one.
    pub fn new(a: Anomaly) -> AnomalyGroup {
        AnomalyGroup { kind: a.kind, count: 1, first: a.clone(), worst: a.clone(), last: a }
    }

    pub(super) fn absorb(&mut self, other: AnomalyGroup) {
        self.count += other.count;
        if first_op(&other.first) < first_op(&self.first) {
            self.first = other.first;
        }
        if other.worst.magnitude > self.worst.magnitude {
            self.worst = other.worst;
        }
        if first_op(&other.last) >= first_op(&self.last) {
            self.last = other.last;
        }
    }
}

fn first_op(a: &Anomaly) -> u64 {
    a.ops.iter().copied().min().unwrap_or(u64::MAX)
}

impl fmt::Display for AnomalyGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ×{}", self.kind, self.count)?;
        write!(f, "\n  first: {}", self.first)?;
        if self.worst != self.first {
            write!(f, "\n  worst: {}", self.worst)?;
        }
        if self.last != self.first && self.last != self.worst {
            write!(f, "\n  last:  {}", self.last)?;
        }
        Ok(())
    }
}
