//! `replica-reads`: `failsafe` with its balance reads offloaded to a Redis replica, as
//! real services do to spare the master. Wrong on purpose: a replica that lags, or is
//! cut from the master, answers with a balance older than writes already acknowledged.
//!
//! Everything but `balance` is failsafe's own (debits, payments, recharges, settling,
//! schema, seeding, layout). `balance` reads the account's balance from a replica
//! ([`RedisReplica`]) under failsafe's key, the standard `balance:{account}` holding
//! the balance in cents as a plain integer (its version lives under a key of its own);
//! a replica holding no balance for the account sends the read to failsafe, which
//! answers from the ledger.

use checkers::history::{AccountId, AccountSpec, Observed};
use faultline::designs::failsafe::FailSafe;
use tokio::time::Instant;
use workloads::client::{OpError, OpId};
use workloads::store::{RedisReplica, StoreError, Stores};
use workloads::sut::standard::balance_key;
use workloads::sut::{Answer, BillingSystem, Layout, SutContext};

/// For listings.
pub const ABOUT: &str = "replica-reads: failsafe, its balance reads served by a Redis replica \
     (stale while the replica lags: wrong on purpose)";

/// Failsafe reading balances from a replica.
pub struct ReplicaReads {
    failsafe: FailSafe,
    replica: RedisReplica,
}

impl ReplicaReads {
    /// The system, reaching its stores through `cx`.
    pub fn new(cx: SutContext) -> ReplicaReads {
        let replica = RedisReplica::new(cx.topology.clone(), cx.settings.redis_timeout);
        ReplicaReads { failsafe: FailSafe::new(cx), replica }
    }
}

impl BillingSystem for ReplicaReads {
    async fn debit(&self, op: OpId, account: AccountId, amount: i64) -> Answer {
        self.failsafe.debit(op, account, amount).await
    }

    async fn payment(&self, op: OpId, account: AccountId, amount: i64) -> Answer {
        self.failsafe.payment(op, account, amount).await
    }

    async fn balance(&self, op: OpId, account: AccountId) -> Answer {
        let mut get = redis::cmd("GET");
        get.arg(balance_key(account));
        match self.replica.query::<Option<i64>>(&get).await? {
            Some(cents) => Ok(Some(Observed::Balance(cents))),
            None => self.failsafe.balance(op, account).await,
        }
    }

    async fn settle(&self, deadline: Instant) -> Result<(), OpError> {
        self.failsafe.settle(deadline).await
    }

    async fn create_schema(&self, stores: &Stores) -> Result<(), StoreError> {
        self.failsafe.create_schema(stores).await
    }

    async fn seed(&self, stores: &Stores, accounts: &[AccountSpec]) -> Result<(), StoreError> {
        self.failsafe.seed(stores, accounts).await
    }

    fn layout(&self) -> Layout {
        self.failsafe.layout()
    }
}
