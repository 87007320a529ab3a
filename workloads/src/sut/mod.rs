//! The billing system under test: the trait a billing service implements to be tested
//! by faultline.
//!
//! - [`BillingSystem`]: debit, payment, balance read, settle; schema set-up and
//!   seeding, with defaults over faultline's [`standard`] layout; and the [`Layout`]
//!   through which the harness reads the stores itself (ground truth is never the
//!   system's own report).
//! - [`Registry`]: systems by name, for the command line and scenario files.
//! - [`http`]: a `faultline-http/1` service in any language, behind the trait.
//!
//! faultline's own designs, `naive` (the 2013 design) and `failsafe` (the design
//! announced after it), live in the `faultline-designs` crate (`designs`), written on
//! this crate's public API: either is a starting point to copy.
//!
//! # Putting your own billing service under test
//!
//! Implement [`BillingSystem`] with a constructor taking a [`SutContext`] (the live
//! [`Topology`] to find the stores, the harness's card [`Gateway`] to charge cards
//! through), and register it (next to faultline's own with `designs::builtin()`). This
//! one keeps balances in Redis only, never recharges, and relies on the defaults for
//! everything else:
//!
//! ```
//! use checkers::history::{AccountId, Observed};
//! use workloads::client::OpId;
//! use workloads::store::{RedisMaster, StoreSettings};
//! use workloads::sut::{Answer, BillingSystem, Registry, Sut, SutContext, standard};
//!
//! struct Prepaid {
//!     redis: RedisMaster,
//! }
//!
//! impl BillingSystem for Prepaid {
//!     async fn debit(&self, _op: OpId, account: AccountId, amount: i64) -> Answer {
//!         let key = standard::balance_key(account);
//!         let balance: i64 = self.redis.query(redis::cmd("DECRBY").arg(key).arg(amount)).await?;
//!         Ok(Some(Observed::Balance(balance)))
//!     }
//!
//!     async fn payment(&self, _op: OpId, account: AccountId, amount: i64) -> Answer {
//!         let key = standard::balance_key(account);
//!         let balance: i64 = self.redis.query(redis::cmd("INCRBY").arg(key).arg(amount)).await?;
//!         Ok(Some(Observed::Balance(balance)))
//!     }
//!
//!     async fn balance(&self, _op: OpId, account: AccountId) -> Answer {
//!         let key = standard::balance_key(account);
//!         let balance: Option<i64> = self.redis.query(redis::cmd("GET").arg(key)).await?;
//!         Ok(Some(balance.map_or(Observed::Missing, Observed::Balance)))
//!     }
//! }
//!
//! let registry = Registry::new().register("prepaid", "balances in Redis only", |cx: SutContext| {
//!     let settings = StoreSettings::default();
//!     Sut::new(Prepaid { redis: RedisMaster::new(cx.topology, settings.redis_timeout) })
//! });
//! assert_eq!(registry.names(), ["prepaid"]);
//! ```
//!
//! The harness calls `create_schema` and `seed` once before any client starts,
//! `debit`/`payment`/`balance` from many workers at once, each under a timeout that
//! cancels the call (its future is dropped) and records it `info`, then, after the
//! faults healed, a recovery period of client calls and a quiet period, `settle`. It
//! then reads every account's final state itself, through [`BillingSystem::layout`].
//!
//! The gateway attributes each charge to the client operation whose call reached it
//! (a task-local the harness sets around the call): a charge made from a task the
//! system spawns is attributed to no operation, as if made by `settle`.

pub mod http;
pub mod layout;
mod registry;
pub mod standard;

pub use layout::Layout;
pub use registry::{Constructor, Registry, UnknownSystem};

use crate::client::{OpError, OpId};
use crate::endpoints::Topology;
use crate::gateway::Gateway;
use crate::store::{StoreError, StoreSettings, Stores};
use checkers::history::{AccountId, AccountSpec, Observed};
use futures::future::BoxFuture;
use std::future::Future;
use std::sync::Arc;
use tokio::time::Instant;

/// What a client operation returns: on success, the balance the system reported (if
/// it reports one); on failure, whether it certainly did not apply.
pub type Answer = Result<Option<Observed>, OpError>;

/// What a system under test is built from.
#[derive(Clone)]
pub struct SutContext {
    /// Where the stores are now; it changes on restarts and failovers.
    pub topology: Topology,
    /// The harness's card gateway: charge cards only through it.
    pub gateway: Gateway,
    /// Timeouts and pool sizes for the stores.
    pub settings: StoreSettings,
}

/// A billing service under test. See the [module docs](self) for an example.
///
/// Accounts auto-recharge: when the balance falls below the account's threshold T
/// (strictly below), the service charges the recharge amount R through the
/// [`Gateway`] and credits it. A declined card suspends the account.
///
/// # What the checkers hold a system to
///
/// The checkers judge the history alone; [`checkers::billing`] defines every bound and
/// invariant, and [its contract](checkers::billing#what-a-system-must-do) lists what a
/// system must do to be judged at all. Each rule is stated below at the method it
/// concerns, with the checker that enforces it. Rules that hold for every method:
///
/// - **Charge only through the [`Gateway`], for an opened account and a positive
///   amount**, under an idempotency key that names one charge (keys are global, as
///   Stripe's are): a charge on an account never opened or of no cents is a
///   `contract-violation` ([`Contract`](checkers::billing::Contract)), two captures
///   under one key a `duplicate-recharge` ([`OverCharge`](checkers::billing::OverCharge)).
/// - **One recharge per need**: at most one capture per client operation and account,
///   and none decided before the account's previous capture; a recharge carried out
///   away from the operation that decided it (in another operation, in
///   [`settle`](Self::settle), or in a task the system spawns, which the gateway
///   attributes to no operation) re-checks that the balance is still below T
///   (`duplicate-recharge`, `over-charge`: [`OverCharge`](checkers::billing::OverCharge)).
/// - **No charge while the balance store is unsafe** (unreachable, read-only, loading,
///   or missing the account's balance), as the harness's monitor sees the store the
///   [`layout`](Self::layout) names (`unsafe-charge`:
///   [`FailSafe`](checkers::billing::FailSafe)).
/// - **Suspend only after a card decline** at a balance that could have been below T
///   (`wrongful-suspension`: [`WrongfulSuspension`](checkers::billing::WrongfulSuspension)).
/// - **An operation that captured money answers `ok` only once it is credited** in
///   every store; when the credit cannot be made now, it answers indeterminate
///   ([`OpError::Indeterminate`], recorded `info`) and a later operation or
///   [`settle`](Self::settle) credits it. Otherwise a later read sees less than the
///   history allows (`impossible-balance`, `lost-write`:
///   [`Reconciliation`](checkers::billing::Reconciliation)), and an uncredited capture
///   is a `charge-without-credit` ([`ChargeWithoutCredit`](checkers::billing::ChargeWithoutCredit)).
/// - **Every balance reported is current**: a balance an `ok` answer carries reflects
///   every operation acknowledged before this one was asked, and every capture it or an
///   earlier acknowledged operation made (before or after the operation's own change:
///   both are allowed). A lagging replica's stale read or a rollback is a `lost-write`
///   or an `impossible-balance` ([`Reconciliation`](checkers::billing::Reconciliation)).
///   An `ok` answer never carries [`Observed::Error`] (`contract-violation`).
/// - **The stores end right**: after [`settle`](Self::settle), every store the layout
///   names holds every account's balance (a cache that evicts balance keys loses them:
///   `lost-balance`), equal to each other (`stores-disagree`) and within what the
///   operations allow (`balance-out-of-bounds`); the ledger's entries sum to its
///   balance (`ledger-unbalanced`) and credit each capture once, under the gateway's
///   charge id ([`Layout::credited`]; `charge-without-credit`, `duplicate-credit`):
///   [`Reconciliation`](checkers::billing::Reconciliation),
///   [`ChargeWithoutCredit`](checkers::billing::ChargeWithoutCredit).
pub trait BillingSystem: Send + Sync + 'static {
    /// Debits `amount` cents of usage from `account`, recharging if it falls below T.
    ///
    /// May answer `ok` with the balance (then current, as above) or without one
    /// (`None`). A recharge it makes is attributed to it: one per account, credited
    /// before it answers `ok`.
    fn debit(
        &self,
        op: OpId,
        account: AccountId,
        amount: i64,
    ) -> impl Future<Output = Answer> + Send;

    /// Credits a manual payment of `amount` cents to `account`.
    ///
    /// May answer `ok` without a balance. It may carry out a recharge that is pending
    /// (re-checking the need), as any operation may.
    fn payment(
        &self,
        op: OpId,
        account: AccountId,
        amount: i64,
    ) -> impl Future<Output = Answer> + Send;

    /// Reads `account`'s balance.
    ///
    /// An `ok` read reports a balance: [`Observed::Balance`], current as above (a read
    /// answering `ok` with none is a `contract-violation`:
    /// [`Contract`](checkers::billing::Contract)). [`Observed::Missing`] for an opened
    /// account is an `impossible-balance`: a read that finds no balance answers an
    /// error instead ([`OpError`]).
    fn balance(&self, op: OpId, account: AccountId) -> impl Future<Output = Answer> + Send;

    /// Finishes background work (pending credits, repairs) before `deadline`; called
    /// once clients stopped and faults healed. The default has nothing to finish.
    ///
    /// Captures it credits must be in every store before the final reads; recharges it
    /// carries out are background ones (the need re-checked, as above).
    fn settle(&self, deadline: Instant) -> impl Future<Output = Result<(), OpError>> + Send {
        let _ = deadline;
        async { Ok(()) }
    }

    /// Creates the stores' schema, emptying them first.
    fn create_schema(
        &self,
        stores: &Stores,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        standard::create_schema(stores)
    }

    /// Opens `accounts` with their opening balances in every store.
    fn seed(
        &self,
        stores: &Stores,
        accounts: &[AccountSpec],
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        standard::seed(stores, accounts)
    }

    /// Where the system keeps each account's in-flight balance (a Redis key, or none
    /// apart from the ledger: [`Layout::ledger_only`]) and its ledger (SQL queries):
    /// the harness reads the final states through it, and its monitor probes the
    /// balance store it names (the Redis master, or the ledger). The default is the
    /// [`standard`] layout; see [`Layout`] to declare another.
    fn layout(&self) -> Layout {
        Layout::standard()
    }
}

/// A system under test behind a pointer, whatever its type; cheap to clone.
#[derive(Clone)]
pub struct Sut(Arc<dyn Erased>);

impl Sut {
    /// Wraps a billing system.
    pub fn new(system: impl BillingSystem) -> Sut {
        Sut(Arc::new(system))
    }

    /// See [`BillingSystem::debit`].
    pub async fn debit(&self, op: OpId, account: AccountId, amount: i64) -> Answer {
        self.0.debit(op, account, amount).await
    }

    /// See [`BillingSystem::payment`].
    pub async fn payment(&self, op: OpId, account: AccountId, amount: i64) -> Answer {
        self.0.payment(op, account, amount).await
    }

    /// See [`BillingSystem::balance`].
    pub async fn balance(&self, op: OpId, account: AccountId) -> Answer {
        self.0.balance(op, account).await
    }

    /// See [`BillingSystem::settle`].
    pub async fn settle(&self, deadline: Instant) -> Result<(), OpError> {
        self.0.settle(deadline).await
    }

    /// See [`BillingSystem::create_schema`].
    pub async fn create_schema(&self, stores: &Stores) -> Result<(), StoreError> {
        self.0.create_schema(stores).await
    }

    /// See [`BillingSystem::seed`].
    pub async fn seed(&self, stores: &Stores, accounts: &[AccountSpec]) -> Result<(), StoreError> {
        self.0.seed(stores, accounts).await
    }

    /// See [`BillingSystem::layout`].
    pub fn layout(&self) -> Layout {
        self.0.layout()
    }
}

/// [`BillingSystem`] with boxed futures, so systems of any type fit behind one pointer.
trait Erased: Send + Sync {
    fn debit(&self, op: OpId, account: AccountId, amount: i64) -> BoxFuture<'_, Answer>;
    fn payment(&self, op: OpId, account: AccountId, amount: i64) -> BoxFuture<'_, Answer>;
    fn balance(&self, op: OpId, account: AccountId) -> BoxFuture<'_, Answer>;
    fn settle(&self, deadline: Instant) -> BoxFuture<'_, Result<(), OpError>>;
    fn create_schema<'a>(&'a self, stores: &'a Stores) -> BoxFuture<'a, Result<(), StoreError>>;
    fn seed<'a>(
        &'a self,
        stores: &'a Stores,
        accounts: &'a [AccountSpec],
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    fn layout(&self) -> Layout;
}

impl<B: BillingSystem> Erased for B {
    fn debit(&self, op: OpId, account: AccountId, amount: i64) -> BoxFuture<'_, Answer> {
        Box::pin(BillingSystem::debit(self, op, account, amount))
    }

    fn payment(&self, op: OpId, account: AccountId, amount: i64) -> BoxFuture<'_, Answer> {
        Box::pin(BillingSystem::payment(self, op, account, amount))
    }

    fn balance(&self, op: OpId, account: AccountId) -> BoxFuture<'_, Answer> {
        Box::pin(BillingSystem::balance(self, op, account))
    }

    fn settle(&self, deadline: Instant) -> BoxFuture<'_, Result<(), OpError>> {
        Box::pin(BillingSystem::settle(self, deadline))
    }

    fn create_schema<'a>(&'a self, stores: &'a Stores) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(BillingSystem::create_schema(self, stores))
    }

    fn seed<'a>(
        &'a self,
        stores: &'a Stores,
        accounts: &'a [AccountSpec],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(BillingSystem::seed(self, stores, accounts))
    }

    fn layout(&self) -> Layout {
        BillingSystem::layout(self)
    }
}
