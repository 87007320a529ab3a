//! The history model: operations, who performed them, and what they carry.
//!
//! The model follows Jepsen's (`jepsen-io/history`): every client operation is an
//! invocation followed by a completion. `Ok` took effect, `Fail` did not, `Info` may or
//! may not have. A process whose operation ends in `Info` never invokes again; the
//! harness gives that worker a fresh process id.
//!
//! Besides client operations a faultline history holds events recorded by the harness
//! itself, each as a single completed operation:
//!
//! | process   | `f`                         | what it records                                      |
//! |-----------|-----------------------------|------------------------------------------------------|
//! | `harness` | `layout`                    | the shape of the stores the system under test declared, at set-up: `{"in_flight": false}` when the ledger holds its only balance ([`LayoutShape`]) |
//! | `harness` | `open`                      | an account opened with its opening balance and policy |
//! | `gateway` | `charge`                    | a card charge: `ok` captured, `fail` not (declined: `card-declined`, `card-deactivated`; or the gateway failed: `gateway-error`, `gateway-unavailable`), `info` unknown; `answer`: what the caller was told |
//! | `gateway` | `card-deactivated`          | the gateway deactivated a card                       |
//! | `monitor` | `probe`                     | the harness's own look at the balance store (invoke, then `ok` with what it saw, or `info` with no value when it could not tell, `error` saying why) |
//! | `nemesis` | `start`, `heal`             | a fault starting or healing (invoke, then `info` with its effect) |
//! | `harness` | `phase`                     | a phase of the run beginning (`recovery`: faults healed, clients run again) |
//! | `harness` | `settle`                    | the system under test finishing its background work (invoke, then `ok`, `fail` or `info`) |
//! | `harness` | `final`                     | one account's balances, read by the harness from the stores after every fault healed |
//! | `sentinel` | `event`                    | an event a Redis Sentinel published (`ok` only): which sentinel, the channel (`+sdown`, `+switch-master`, …), its message, and on `+switch-master` the new master's node name ([`SentinelEvent`]) |
//!
//! The card gateway, the monitor and the sentinel watch belong to the harness, so their
//! events are ground truth, not claims of the system under test. A sentinel event is
//! ground truth of what that sentinel *said*, not of which node was master: sentinels
//! may disagree, and each announces a switch on its own.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An account of the billing system under test.
pub type AccountId = u32;
/// The id the card gateway gave a charge attempt.
pub type ChargeId = u64;

/// Who performed an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Process {
    /// A client worker; serialised as a plain integer.
    Client(u32),
    /// The fault injector.
    Nemesis,
    /// The harness's card gateway.
    Gateway,
    /// The harness's observer of the balance store.
    Monitor,
    /// The harness itself: set-up and final reads.
    Harness,
    /// The harness's watch of Redis Sentinel: what the sentinels published.
    Sentinel,
}

impl fmt::Display for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Process::Client(p) => write!(f, "process {p}"),
            Process::Nemesis => f.write_str("the nemesis"),
            Process::Gateway => f.write_str("the gateway"),
            Process::Monitor => f.write_str("the monitor"),
            Process::Harness => f.write_str("the harness"),
            Process::Sentinel => f.write_str("the sentinel watch"),
        }
    }
}

/// What became of an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpType {
    /// The operation was started.
    Invoke,
    /// It took effect.
    Ok,
    /// It did not take effect.
    Fail,
    /// It may or may not have taken effect.
    Info,
}

/// What an operation does.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum F {
    /// Usage debited from an account.
    Debit,
    /// A manual payment credited to an account.
    Payment,
    /// A read: of an account's balance (billing) or of a counter or set.
    Read,
    /// A card charge seen by the gateway.
    Charge,
    /// The gateway deactivated a card.
    CardDeactivated,
    /// The monitor's observation of the balance store.
    Probe,
    /// The shape of the stores the system under test declared, at set-up.
    Layout,
    /// An account opened at set-up.
    Open,
    /// An account's final state.
    Final,
    /// A fault starting.
    Start,
    /// A fault healing.
    Heal,
    /// A phase of the run beginning.
    Phase,
    /// The system under test finishing its background work.
    Settle,
    /// An addition to a counter or a set.
    Add,
    /// A request for a unique id.
    Generate,
    /// An event a Redis Sentinel published.
    Event,
    /// A write to a register.
    Write,
    /// A compare-and-set on a register.
    Cas,
    /// Anything else, kept by name.
    Other(Box<str>),
}

impl F {
    /// The name written in histories.
    pub fn as_str(&self) -> &str {
        match self {
            F::Debit => "debit",
            F::Payment => "payment",
            F::Read => "read",
            F::Charge => "charge",
            F::CardDeactivated => "card-deactivated",
            F::Probe => "probe",
            F::Layout => "layout",
            F::Open => "open",
            F::Final => "final",
            F::Start => "start",
            F::Heal => "heal",
            F::Phase => "phase",
            F::Settle => "settle",
            F::Add => "add",
            F::Generate => "generate",
            F::Event => "event",
            F::Write => "write",
            F::Cas => "cas",
            F::Other(name) => name,
        }
    }

    /// The `F` of a name read from a history.
    pub fn from_name(name: &str) -> F {
        match name {
            "debit" => F::Debit,
            "payment" => F::Payment,
            "read" => F::Read,
            "charge" => F::Charge,
            "card-deactivated" => F::CardDeactivated,
            "probe" => F::Probe,
            "layout" => F::Layout,
            "open" => F::Open,
            "final" => F::Final,
            "start" => F::Start,
            "heal" => F::Heal,
            "phase" => F::Phase,
            "settle" => F::Settle,
            "add" => F::Add,
            "generate" => F::Generate,
            "event" => F::Event,
            "write" => F::Write,
            "cas" => F::Cas,
            other => F::Other(other.into()),
        }
    }
}

impl fmt::Display for F {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A balance as read from a store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observed {
    /// The store answered with this balance.
    Balance(i64),
    /// The store answered, and holds no balance for the account.
    Missing,
    /// The store could not be read; the error it gave.
    Error(String),
}

/// A debit, payment or balance read on one account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountOp {
    /// The account.
    pub account: AccountId,
    /// The amount debited or paid, in cents; absent for reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<i64>,
    /// The balance the system under test reported, if it reported one
    /// (`null`: it found no balance).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "observed_opt")]
    pub balance: Option<Observed>,
}

/// A card charge attempt, as the harness's gateway saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Charge {
    /// The gateway's id for this attempt.
    pub charge: ChargeId,
    /// The account whose card was charged.
    pub account: AccountId,
    /// The amount, in cents.
    pub amount: i64,
    /// The idempotency key the system under test sent, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The client operation (its invocation's index) the system under test was serving
    /// when it asked for this charge, as the harness knew it: the operation whose call
    /// into the system the gateway was reached from. Absent when the charge came from
    /// no client operation (settle, a background task).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<u64>,
    /// What the caller was told, when the gateway recorded it (histories written
    /// before faultline recorded it have none). Ground truth stays the operation's
    /// type: a charge is `ok` when captured, whatever the caller saw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<ChargeAnswer>,
}

/// What the card gateway told the caller of a charge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChargeAnswer {
    /// The charge was captured, and the caller was told so.
    Captured,
    /// The card was declined, and the caller was told so.
    Declined,
    /// The caller got an error that leaves the outcome open (an HTTP `500`): the
    /// charge may or may not have been captured.
    Error,
    /// The caller never got an answer.
    Lost,
    /// The caller was told the gateway is down: nothing was captured.
    Unavailable,
}

impl ChargeAnswer {
    /// The name written in histories.
    pub fn as_str(self) -> &'static str {
        match self {
            ChargeAnswer::Captured => "captured",
            ChargeAnswer::Declined => "declined",
            ChargeAnswer::Error => "error",
            ChargeAnswer::Lost => "lost",
            ChargeAnswer::Unavailable => "unavailable",
        }
    }
}

/// The errors a gateway records when it failed to make a charge, nothing captured:
/// the gateway failing, not the card. Any other `fail` charge (`card-declined`,
/// `card-deactivated`, or another driver's spelling, or none) may be the card declining:
/// an unknown spelling makes the checkers more lenient, never wrong.
pub const GATEWAY_FAILURES: [&str; 2] = ["gateway-error", "gateway-unavailable"];

impl Op {
    /// Whether this is a gateway charge the card may have declined: `fail`, and not one
    /// of [`GATEWAY_FAILURES`].
    pub fn is_card_decline(&self) -> bool {
        self.f == F::Charge
            && self.kind == OpType::Fail
            && !self.error.as_deref().is_some_and(|e| GATEWAY_FAILURES.contains(&e))
    }
}

/// The state of the balance store as the harness's monitor saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StoreStatus {
    /// Reads and writes succeed.
    Healthy,
    /// Writes are refused (`READONLY`: the node believes it is a replica).
    ReadOnly,
    /// The node is loading its dataset (`LOADING`).
    Loading,
    /// No answer in time, or the connection was refused or dropped.
    Unreachable,
    /// Any other error.
    Error,
}

/// One observation of the balance store by the harness's monitor.
///
/// `missing` and `restored` are changes since the previous probe: accounts whose balance
/// key disappeared, and accounts whose balance key came back. When the store cannot be
/// read both are empty.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    /// Whether the store accepted a write and a read.
    pub store: StoreStatus,
    /// Accounts whose balance went missing since the previous probe.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<AccountId>,
    /// Accounts whose balance came back since the previous probe.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restored: Vec<AccountId>,
}

/// An account as opened at set-up, with its auto-recharge policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountSpec {
    /// The account.
    pub account: AccountId,
    /// Opening balance, in cents, seeded in every store.
    pub balance: i64,
    /// Auto-recharge triggers when a debit leaves the balance below this.
    pub threshold: i64,
    /// What one auto-recharge charges the card and credits, in cents.
    pub recharge: i64,
    /// The lowest balance the system allows, if it forbids going below one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floor: Option<i64>,
}

/// The shape of the stores a billing system declared (its layout), as the harness
/// records it at set-up (`harness`/`ok`/`layout`): `{"in_flight": true}` for a system
/// that keeps each account's in-flight balance in a store of its own (Redis) besides
/// the ledger, `{"in_flight": false}` for one whose only balance is the ledger's.
///
/// It tells the checkers whether a final state lacking an in-flight balance lacks
/// nothing (`false`) or lacks a balance the harness should have read (`true`); a history
/// without a `layout` record is read as `true`, as histories were before it existed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayoutShape {
    /// Whether the system keeps an in-flight balance apart from the ledger.
    pub in_flight: bool,
}

/// One account's state after every fault healed and the system settled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinalState {
    /// The account.
    pub account: AccountId,
    /// The in-flight balance, read from the balance store (Redis); absent when the
    /// system keeps none apart from the ledger (its [`LayoutShape`] says so).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "observed_opt")]
    pub in_flight: Option<Observed>,
    /// The balance the ledger (Postgres) records.
    #[serde(with = "observed")]
    pub ledger: Observed,
    /// Whether the ledger marks the account suspended; absent if it could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspended: Option<bool>,
    /// The gateway charges whose credit the ledger records, one id per credit entry
    /// (an id listed twice was credited twice).
    #[serde(default)]
    pub credited: Vec<ChargeId>,
    /// The sum of the ledger's entries for the account, where its layout keeps
    /// entries; it must equal `ledger`.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "observed_opt")]
    pub entries: Option<Observed>,
}

/// A phase of a run, recorded by the harness as it begins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PhaseName {
    /// Every fault healed; clients run again, with no fault, to show the system
    /// recovered.
    Recovery,
}

/// A phase beginning: `{"phase": "recovery"}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Phase {
    /// Which phase.
    pub phase: PhaseName,
}

/// A fault starting or healing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaultEvent {
    /// Pairs a fault's start with its heal.
    pub id: u32,
    /// The fault's name in the catalogue, e.g. `partition-replicas`.
    pub fault: String,
    /// The nodes it acts on.
    #[serde(default)]
    pub targets: Vec<String>,
    /// What the harness observed it do (on the completion).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<serde_json::Value>,
    /// Whether the fault's intended effect was observed (on the completion).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<bool>,
    /// On a start: the scheduled fault it performs, by its `step` in the header's
    /// `schedule`; absent for a fault no schedule named in advance (a random one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<u32>,
}

/// The channel on which Sentinel announces that it moved its master to another node.
pub const SWITCH_MASTER: &str = "+switch-master";

/// A read, write or compare-and-set on the register named `key` (the `register`
/// workload; Jepsen's independent `[key value]` tuples):
///
/// - `read`: `{"key":3}` invoked, `{"key":3,"value":5}` ok (`"value":null`: it held nothing);
/// - `write`: `{"key":3,"value":5}`;
/// - `cas`: `{"key":3,"cas":[1,2]}` (from 1 to 2); `ok` when it set the register, `fail`
///   when the register did not hold 1 (a definite outcome that says what it read, as
///   Porcupine's etcd model takes it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterOp {
    /// The register.
    pub key: u64,
    /// A write's value, or what a completed read found (`None`: nothing).
    #[serde(default)]
    pub value: Option<i64>,
    /// A compare-and-set's expected and new values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cas: Option<[i64; 2]>,
}

/// The error a `cas` completes `fail` with when the register held another value.
pub const MISMATCH: &str = "mismatch";

/// An event a Redis Sentinel published, as the harness's sentinel watch recorded it:
/// `{"sentinel":"sentinel-1","event":"+switch-master","detail":"faultline 172.18.0.2 6379
/// 172.18.0.3 6379","master":"redis-1"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentinelEvent {
    /// The sentinel that published it (its node name, e.g. `sentinel-1`).
    pub sentinel: String,
    /// The Pub/Sub channel it came on: `+sdown`, `+odown`, `+switch-master`, ….
    pub event: String,
    /// The message as Sentinel sent it; the nodes in it are addresses, as Sentinel
    /// names them.
    pub detail: String,
    /// On `+switch-master`: the node name of the new master, when the harness could
    /// map Sentinel's address to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master: Option<String>,
}

impl SentinelEvent {
    /// The sentinel event an operation records, if it records one: an `ok` `event`
    /// of the sentinel watch carrying one. Any other record of the watch is malformed
    /// (the runner's `well-formed` row says so) and records none.
    pub fn of(op: &Op) -> Option<&SentinelEvent> {
        match (op.process, op.kind, &op.f, &op.value) {
            (Process::Sentinel, OpType::Ok, F::Event, Value::Sentinel(event)) => Some(event),
            _ => None,
        }
    }

    /// Whether it is a `+switch-master`: the sentinel moved its master.
    pub fn is_switch(&self) -> bool {
        self.event == SWITCH_MASTER
    }

    /// Whether it is about the monitored master itself (`detail` begins with
    /// `master`, as `+sdown master faultline 172.18.0.2 6379` does), rather than about
    /// a replica or another sentinel. `+switch-master` names only masters.
    pub fn about_master(&self) -> bool {
        self.is_switch() || self.detail.starts_with("master ")
    }
}

/// What an operation carries: its arguments on invocation, arguments and results on
/// completion.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Nothing (`null`).
    Nil,
    /// A number: a counter's delta or reading, a set element, a unique id.
    Int(i64),
    /// A list of numbers: a set's final read.
    List(Vec<i64>),
    /// A debit, payment or balance read; also `card-deactivated`.
    Account(AccountOp),
    /// A gateway charge.
    Charge(Charge),
    /// A monitor probe.
    Probe(Probe),
    /// The shape of the stores the system under test declared.
    Layout(LayoutShape),
    /// An account opened.
    Open(AccountSpec),
    /// An account's final state.
    Final(FinalState),
    /// A fault event.
    Fault(FaultEvent),
    /// A phase beginning.
    Phase(Phase),
    /// An event a Redis Sentinel published.
    Sentinel(SentinelEvent),
    /// A read, write or compare-and-set on one register (the `register` workload).
    Register(RegisterOp),
    /// Any other JSON.
    Json(serde_json::Value),
}

/// One operation of a history.
#[derive(Clone, Debug, PartialEq)]
pub struct Op {
    /// Position in the history; unique and ascending.
    pub index: u64,
    /// Nanoseconds since the run started, from a monotonic clock.
    pub time: u64,
    /// Who performed it.
    pub process: Process,
    /// Invocation or completion, and how it completed.
    pub kind: OpType,
    /// What it does.
    pub f: F,
    /// Its arguments and results.
    pub value: Value,
    /// Why it failed or is indeterminate, as the error said it.
    pub error: Option<String>,
}

impl Op {
    /// Whether this is a completion (`ok`, `fail` or `info`).
    pub fn is_completion(&self) -> bool {
        self.kind != OpType::Invoke
    }

    /// The account this operation concerns, if it concerns one.
    pub fn account(&self) -> Option<AccountId> {
        match &self.value {
            Value::Account(a) => Some(a.account),
            Value::Charge(c) => Some(c.account),
            Value::Open(s) => Some(s.account),
            Value::Final(s) => Some(s.account),
            _ => None,
        }
    }
}

/// A whole history held in memory. Checkers also accept a stream of operations, so
/// holding a history is a convenience for small ones and for tests.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    /// The operations, in index order.
    pub ops: Vec<Op>,
}

impl History {
    /// A history of these operations.
    pub fn new(ops: Vec<Op>) -> History {
        History { ops }
    }

    /// The operations in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Op> {
        self.ops.iter()
    }
}

impl<'a> IntoIterator for &'a History {
    type Item = &'a Op;
    type IntoIter = std::slice::Iter<'a, Op>;
    fn into_iter(self) -> Self::IntoIter {
        self.ops.iter()
    }
}

mod observed {
    //! `Observed` as JSON: a number, `null` for missing, or `{"error": "..."}`.
    use super::Observed;
    use serde::de::{self, MapAccess, Visitor};
    use serde::ser::SerializeMap;
    use serde::{Deserializer, Serializer};
    use std::fmt;

    pub fn serialize<S: Serializer>(value: &Observed, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Observed::Balance(b) => s.serialize_i64(*b),
            Observed::Missing => s.serialize_none(),
            Observed::Error(e) => {
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry("error", e)?;
                map.end()
            }
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Observed, D::Error> {
        d.deserialize_any(ObservedVisitor)
    }

    struct ObservedVisitor;

    impl<'de> Visitor<'de> for ObservedVisitor {
        type Value = Observed;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a balance (integer), null, or {\"error\": \"...\"}")
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Observed, E> {
            Ok(Observed::Balance(v))
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Observed, E> {
            i64::try_from(v).map(Observed::Balance).map_err(|_| E::custom("balance out of range"))
        }

        fn visit_unit<E: de::Error>(self) -> Result<Observed, E> {
            Ok(Observed::Missing)
        }

        fn visit_none<E: de::Error>(self) -> Result<Observed, E> {
            Ok(Observed::Missing)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Observed, D::Error> {
            d.deserialize_any(ObservedVisitor)
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Observed, A::Error> {
            let mut error = None;
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                if key == "error" {
                    error = Some(map.next_value::<String>()?);
                } else {
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
            error.map(Observed::Error).ok_or_else(|| de::Error::missing_field("error"))
        }
    }
}

mod observed_opt {
    //! An optional `Observed`: an absent field is `None`, `null` is `Some(Missing)`.
    use super::Observed;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<Observed>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => super::observed::serialize(v, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Observed>, D::Error> {
        super::observed::deserialize(d).map(Some)
    }
}
