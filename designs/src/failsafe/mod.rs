//! `failsafe`: the billing system as announced after the 2013 incident.
//!
//! - **The ledger is the source of truth, durably.** Its sessions demand
//!   `synchronous_commit = on`, so an acknowledged commit is on disk even where the
//!   server's default was turned off. Each debit or payment commits a ledger
//!   entry (idempotency key: the operation's id) and the account's new balance and
//!   version in one transaction, then publishes (balance, version) to Redis with a
//!   set-if-newer script, so concurrent writers and repairs commute.
//! - **Intent before charge.** A debit that leaves the balance below the threshold
//!   records a charge intent in the same transaction, keyed by account and recharge
//!   sequence; at most one is outstanding (pending, or charging once an operation has
//!   begun to charge it) per account, and a charging intent is never cancelled. The intent's key goes to the
//!   gateway as its idempotency key, so a concurrent or retried recharge never charges
//!   twice. After a capture the ledger credits it (idempotent by charge), then Redis.
//! - **Fail-safe.** A card is charged only when the balance was just written to Redis
//!   (so it exists and the store takes writes) and the node says it is the master;
//!   never when it is missing, unreadable or cannot be written (`READONLY`, `LOADING`,
//!   a timeout, a replica). A decline suspends the account only under the same
//!   condition. Otherwise the intent waits: the next operation on the account, or
//!   [`settle`](BillingSystem::settle), completes it, asking the gateway first whether
//!   the key was already charged, and re-checking that the balance still needs it.
//! - **Gateway failures.** A charge that gets no outcome (an error, no answer) is
//!   looked up by its key: a capture is credited, a decline booked. Nothing charged
//!   after an error means the key is spent (the gateway replays its error for ever),
//!   so the intent is renewed under a fresh key, still pending; after an outage the
//!   intent waits with its key. A capture whose answer is lost holds the operation
//!   until it times out (`info`); the next operation on the account, or settle, finds
//!   the capture by its key and credits it.
//!   An operation that captured money answers `ok` only once the ledger credited it;
//!   when the credit fails it answers indeterminate, and `settle` credits it.
//! - **Validated as it goes.** Every operation publishes the ledger's state, which
//!   repairs a Redis balance that is behind or missing; `settle` compares every
//!   account and repairs what disagrees.

mod ledger;

use checkers::history::{AccountId, ChargeId, Observed};
use ledger::Versioned;
use redis::Script;
use std::sync::LazyLock;
use std::time::Duration;
use tokio::time::Instant;
use workloads::client::{OpError, OpId};
use workloads::gateway::{ChargeOutcome, Gateway, GatewayError};
use workloads::store::{Ledger, RedisMaster, StoreError, Stores};
use workloads::sut::standard::{self, balance_key};
use workloads::sut::{Answer, BillingSystem, SutContext};

/// Publishes a ledger balance unless Redis holds that version or a newer one; a
/// balance at the same version that differs is overwritten (the ledger wins). KEYS:
/// balance, version. ARGV: balance, version. Returns 0 when Redis was current, 1 when
/// it was behind, 2 when the balance was missing.
static PUBLISH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "#!lua
        local present = redis.call('EXISTS', KEYS[1]) == 1
        local stored = tonumber(redis.call('GET', KEYS[2]) or '-1')
        local version = tonumber(ARGV[2])
        if present and (stored > version or (stored == version and redis.call('GET', KEYS[1]) == ARGV[1])) then
            return 0
        end
        redis.call('SET', KEYS[1], ARGV[1])
        redis.call('SET', KEYS[2], ARGV[2])
        if present then return 1 end
        return 2",
    )
});

/// The fail-safe billing system.
pub struct FailSafe {
    redis: RedisMaster,
    ledger: Ledger,
    gateway: Gateway,
}

impl FailSafe {
    /// A one-line description, for listings.
    pub const ABOUT: &str = "the fixed design: a durable ledger first, charge intents with idempotency keys, \
         never charge or suspend while the balance store is unsafe, repair it from the ledger";

    /// The system, reaching its stores through `cx`.
    pub fn new(cx: SutContext) -> FailSafe {
        FailSafe {
            redis: RedisMaster::new(cx.topology.clone(), cx.settings.redis_timeout),
            ledger: Ledger::new(cx.topology, &cx.settings).with_durable_commits(),
            gateway: cx.gateway,
        }
    }

    async fn change(&self, op: OpId, account: AccountId, kind: &str, amount: i64) -> Answer {
        let key = format!("op-{}", op.0);
        let applied = ledger::apply(&self.ledger, account, kind, amount, &key).await?;
        match applied.outcome.as_str() {
            "ok" => {}
            "suspended" => return Err(OpError::Refused(format!("account {account} is suspended"))),
            other => return Err(OpError::Refused(format!("account {account}: {other}"))),
        }
        let writable = self.publish(applied.state).await;
        if let Some(intent) = applied.pending {
            self.complete(&intent, writable).await?;
        }
        Ok(Some(Observed::Balance(applied.state.balance)))
    }

    /// Writes the ledger's state to Redis; true when the store took the write and
    /// already held a balance for the account: the condition for charging.
    async fn publish(&self, state: Versioned) -> bool {
        let mut publish = PUBLISH.key(balance_key(state.account));
        publish.key(version_key(state.account)).arg(state.balance).arg(state.version);
        match self.redis.eval::<i64>(&publish).await {
            Ok(2) => {
                tracing::info!(
                    account = state.account,
                    "balance was missing: restored from the ledger"
                );
                false
            }
            Ok(_) => true,
            Err(e) => {
                tracing::debug!(account = state.account, "balance store not updated: {e}");
                false
            }
        }
    }

    /// Tries to complete recharge intent `key`; it stays pending if it cannot be. An
    /// operation that captured money answers `ok` only once the capture is credited
    /// (the checkers' contract: a read after it must see the money), so a capture left
    /// uncredited makes the operation indeterminate; settle credits it later.
    async fn complete(&self, key: &str, writable: bool) -> Result<(), OpError> {
        match self.try_complete(key, writable).await {
            Ok(()) => Ok(()),
            Err(Pending::Uncredited(charge, e)) => Err(OpError::Indeterminate(format!(
                "charge {charge} was captured but not yet credited ({e}); settle credits it"
            ))),
            Err(Pending::NotCharged(e)) => {
                tracing::debug!(key, "recharge left pending: {e}");
                Ok(())
            }
        }
    }

    async fn try_complete(&self, key: &str, writable: bool) -> Result<(), Pending> {
        let outcome = match self.gateway.lookup(key) {
            Some(outcome) => outcome,
            None => {
                if !writable || !self.redis.is_master().await? {
                    return Ok(());
                }
                let Some(charge) = ledger::begin_charge(&self.ledger, key).await? else {
                    return Ok(());
                };
                match self.gateway.charge(charge.account, charge.amount, Some(key)).await {
                    Ok(outcome) => outcome,
                    Err(e) => return self.unanswered(key, e).await,
                }
            }
        };
        self.settled(key, outcome).await
    }

    /// Books what the gateway did with intent `key`: credits a capture, or records a
    /// decline and suspends the account where it is safe to.
    async fn settled(&self, key: &str, outcome: ChargeOutcome) -> Result<(), Pending> {
        match outcome {
            ChargeOutcome::Captured(charge) => {
                let state = ledger::credit(&self.ledger, key, charge)
                    .await
                    .map_err(|e| Pending::Uncredited(charge, e))?;
                self.publish(state).await;
            }
            ChargeOutcome::Declined(charge, _) => {
                let state = ledger::decline(&self.ledger, key, charge).await?;
                if self.publish(state).await && self.redis.is_master().await? {
                    ledger::suspend(&self.ledger, state.account).await?;
                }
            }
        }
        Ok(())
    }

    /// The charge with `key` got no outcome: asks the gateway what it charged with the
    /// key and goes on from there. Nothing charged after an error (a `500` is saved
    /// for the key and replayed for ever, as Stripe does) means the key can never
    /// charge: the intent is replaced by a fresh one, still pending. Nothing charged
    /// after an outage leaves the intent pending with its key, which the outage never
    /// reached.
    async fn unanswered(&self, key: &str, e: GatewayError) -> Result<(), Pending> {
        match (self.gateway.lookup(key), &e) {
            (Some(outcome), _) => self.settled(key, outcome).await,
            (None, GatewayError::Unavailable(_)) => Err(Pending::NotCharged(e.to_string())),
            (None, GatewayError::Unknown(_) | GatewayError::Idempotency(_)) => {
                ledger::renew(&self.ledger, key).await?;
                Err(Pending::NotCharged(format!("{e}; nothing was charged, intent renewed")))
            }
        }
    }

    /// Publishes one account's ledger state; true when it is safe to charge.
    async fn sync(&self, account: AccountId) -> Result<bool, StoreError> {
        let read = ledger::read(&self.ledger, account).await?;
        Ok(self.publish(read.state).await)
    }

    /// One pass of settling: completes pending intents and repairs every balance that
    /// disagrees with the ledger; returns how many things it found to do.
    async fn settle_pass(&self) -> Result<usize, StoreError> {
        let pending = ledger::pending(&self.ledger).await?;
        for (key, account) in &pending {
            let writable = self.sync(*account).await?;
            if let Err(e) = self.complete(key, writable).await {
                tracing::debug!(key, "recharge still pending: {e}");
            }
        }
        let states = ledger::all(&self.ledger).await?;
        let accounts: Vec<AccountId> = states.iter().map(|s| s.account).collect();
        let stores = Stores { redis: self.redis.clone(), ledger: self.ledger.clone() };
        let in_flight = standard::in_flight_balances(&stores, &accounts).await;
        let mut disagreeing = 0;
        for (state, seen) in states.into_iter().zip(in_flight) {
            if seen != Observed::Balance(state.balance) {
                disagreeing += 1;
                self.publish(state).await;
            }
        }
        Ok(pending.len() + disagreeing)
    }
}

/// Why a recharge intent is still pending: whether money was captured for it.
enum Pending {
    /// Nothing was charged (the store was unsafe, the ledger unreachable, the gateway
    /// failing, a decline not yet recorded): the intent waits for a later operation or
    /// settle.
    NotCharged(String),
    /// The gateway captured this charge, and crediting it failed.
    Uncredited(ChargeId, StoreError),
}

impl From<StoreError> for Pending {
    fn from(e: StoreError) -> Pending {
        Pending::NotCharged(e.to_string())
    }
}

impl BillingSystem for FailSafe {
    async fn debit(&self, op: OpId, account: AccountId, amount: i64) -> Answer {
        self.change(op, account, "debit", -amount).await
    }

    async fn payment(&self, op: OpId, account: AccountId, amount: i64) -> Answer {
        self.change(op, account, "payment", amount).await
    }

    async fn balance(&self, _op: OpId, account: AccountId) -> Answer {
        let read = ledger::read(&self.ledger, account).await?;
        let writable = self.publish(read.state).await;
        if let Some(intent) = read.pending {
            self.complete(&intent, writable).await?;
        }
        Ok(Some(Observed::Balance(read.state.balance)))
    }

    /// Settles until a whole pass finds no pending intent and no disagreeing balance.
    async fn settle(&self, deadline: Instant) -> Result<(), OpError> {
        loop {
            let found = self.settle_pass().await;
            if let Ok(0) = found {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let left = match found {
                    Ok(n) => format!("{n} intents or balances still unsettled"),
                    Err(e) => e.to_string(),
                };
                return Err(OpError::Indeterminate(format!("could not settle in time: {left}")));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn create_schema(&self, stores: &Stores) -> Result<(), StoreError> {
        standard::create_schema(stores).await?;
        stores.ledger.batch(ledger::FUNCTIONS).await
    }
}

fn version_key(account: AccountId) -> String {
    format!("balance-version:{account}")
}
