//! `ledger-first`: a second correct billing design, different from the built-in
//! `failsafe`, written from `workloads`' public API only.
//!
//! - **The ledger decides.** Every debit or payment is one Postgres transaction
//!   ([`sql`]) that locks the account, appends the entry (idempotency key: the
//!   operation's id), updates the balance and its version, and, when a debit leaves the
//!   balance below the threshold with no intent outstanding, records the recharge intent
//!   keyed by that debit (`recharge-op-<id>`). Nothing is charged unless the ledger
//!   recorded the intent first. Reads come from the ledger too.
//! - **Redis is a cache**, under keys of its own (`ledger-first:{account}`, declared as
//!   its [`Layout`]): written after the ledger with a set-if-newer script on the
//!   version, so concurrent writers commute, and rebuilt from the ledger whenever it is
//!   missing or behind.
//! - **Charges only while the cache is safe**: the intent's key goes to the gateway as
//!   its idempotency key, and only when the cache write just succeeded on a node that
//!   says it is the master and already held the account's balance. Otherwise the intent
//!   waits for the next operation on the account or for `settle`, which first asks the
//!   gateway whether the key was already charged and re-checks that the balance still
//!   needs it (cancelling it otherwise).
//! - **A capture is always credited**, once (by the intent's key), even if another
//!   operation cancelled the intent meanwhile; a decline suspends the account.
//! - **A charge without an outcome** (a gateway error, no answer) is looked up by its
//!   key: a capture is credited, a decline booked; nothing charged after an error
//!   abandons the intent (its key is spent: the gateway replays the error), and the
//!   next debit below the threshold records a new one; after an outage it waits.
//! - **`settle`** completes every pending intent and rebuilds every cache entry that
//!   disagrees with the ledger, until a whole pass finds nothing to do.

pub mod sql;

use checkers::history::{AccountId, AccountSpec, Observed};
use redis::Script;
use sql::{Intent, Versioned};
use std::sync::LazyLock;
use std::time::Duration;
use tokio::time::Instant;
use workloads::client::{OpError, OpId};
use workloads::gateway::{ChargeOutcome, Gateway, GatewayError};
use workloads::store::{Ledger, RedisMaster, StoreError, Stores};
use workloads::sut::{Answer, BillingSystem, Layout, SutContext, standard};

/// For listings.
pub const ABOUT: &str = "ledger-first: every change and recharge intent in one Postgres transaction, \
     Redis a versioned cache rebuilt from the ledger, charges keyed by the intent";

/// Writes the ledger's (balance, version) unless the cache holds that version or a newer
/// one. KEYS: balance, version. ARGV: balance, version. Returns 0 when the cache was
/// current, 1 when it was behind, 2 when the balance was missing.
static CACHE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "#!lua
        local present = redis.call('EXISTS', KEYS[1]) == 1
        local stored = tonumber(redis.call('GET', KEYS[2]) or '-1')
        if present and stored >= tonumber(ARGV[2]) then return 0 end
        redis.call('SET', KEYS[1], ARGV[1])
        redis.call('SET', KEYS[2], ARGV[2])
        if present then return 1 end
        return 2",
    )
});

/// The ledger-first billing system.
pub struct LedgerFirst {
    redis: RedisMaster,
    ledger: Ledger,
    gateway: Gateway,
    layout: Layout,
}

impl LedgerFirst {
    /// The system, reaching its stores through `cx`.
    pub fn new(cx: SutContext) -> LedgerFirst {
        LedgerFirst {
            redis: RedisMaster::new(cx.topology.clone(), cx.settings.redis_timeout),
            ledger: Ledger::new(cx.topology, &cx.settings).with_durable_commits(),
            gateway: cx.gateway,
            layout: Layout {
                balance_key: Some("ledger-first:{account}".into()),
                ..Layout::standard()
            },
        }
    }

    async fn change(
        &self,
        op: OpId,
        account: AccountId,
        kind: &'static str,
        amount: i64,
    ) -> Answer {
        let (key, intent) = (format!("op-{}", op.0), format!("recharge-op-{}", op.0));
        let applied = self
            .ledger
            .transaction(|tx| Box::pin(sql::apply(tx, account, kind, amount, key, intent)))
            .await??;
        let safe = self.cache(applied.state).await;
        if let Some(intent) = applied.pending {
            self.complete(intent, safe).await?;
        }
        Ok(Some(Observed::Balance(applied.state.balance)))
    }

    /// The Redis key of `account`'s cached balance, as its layout declares it.
    fn balance_key(&self, account: AccountId) -> String {
        self.layout.balance_key(account).expect("ledger-first caches balances in Redis")
    }

    /// Writes the ledger's state to the cache; true when it is safe to charge: the
    /// store took the write (or was current) and already held the balance.
    async fn cache(&self, state: Versioned) -> bool {
        let mut cache = CACHE.key(self.balance_key(state.account));
        cache.key(version_key(state.account)).arg(state.balance).arg(state.version);
        match self.redis.eval::<i64>(&cache).await {
            Ok(2) => false,
            Ok(_) => true,
            Err(e) => {
                tracing::debug!(account = state.account, "cache not written: {e}");
                false
            }
        }
    }

    /// Completes `intent` if it can be now; it stays pending otherwise. Money captured
    /// but not yet credited makes the operation indeterminate: it answers `ok` only
    /// once a read after it would see the money.
    async fn complete(&self, intent: Intent, safe: bool) -> Result<(), OpError> {
        match self.try_complete(intent, safe).await {
            Err(Pending::Uncredited(charge, e)) => Err(OpError::Indeterminate(format!(
                "charge {charge} was captured but not yet credited ({e}); settle credits it"
            ))),
            Err(Pending::NotCharged(e)) => {
                tracing::debug!("recharge left pending: {e}");
                Ok(())
            }
            Ok(()) => Ok(()),
        }
    }

    async fn try_complete(&self, intent: Intent, safe: bool) -> Result<(), Pending> {
        let outcome = match self.gateway.lookup(&intent.key) {
            Some(outcome) => outcome,
            None => {
                if !safe || !self.redis.is_master().await? {
                    return Ok(());
                }
                let check = intent.clone();
                let needed =
                    self.ledger.transaction(|tx| Box::pin(sql::still_needed(tx, check))).await?;
                if !needed {
                    return Ok(());
                }
                match self.gateway.charge(intent.account, intent.amount, Some(&intent.key)).await {
                    Ok(outcome) => outcome,
                    Err(e) => return self.unanswered(intent, e).await,
                }
            }
        };
        self.book(intent, outcome).await
    }

    /// The charge of `intent` got no outcome: the gateway's record of its key decides.
    /// Nothing charged after an error: the key is spent (its error is replayed for
    /// ever), so the intent is abandoned, and the next debit below the threshold records
    /// a new one. Nothing charged after an outage: the intent waits, key unused.
    async fn unanswered(&self, intent: Intent, e: GatewayError) -> Result<(), Pending> {
        match (self.gateway.lookup(&intent.key), &e) {
            (Some(outcome), _) => self.book(intent, outcome).await,
            (None, GatewayError::Unavailable(_)) => {
                Err(Pending::NotCharged(OpError::Refused(e.to_string())))
            }
            (None, GatewayError::Unknown(_) | GatewayError::Idempotency(_)) => {
                let spent = intent.clone();
                self.ledger.transaction(|tx| Box::pin(sql::abandon(tx, spent))).await?;
                Err(Pending::NotCharged(OpError::Refused(format!("{e}; intent abandoned"))))
            }
        }
    }

    /// Credits a capture for `intent`, or books its decline.
    async fn book(&self, intent: Intent, outcome: ChargeOutcome) -> Result<(), Pending> {
        let state = match outcome {
            ChargeOutcome::Captured(id) => {
                let charge = id as i64;
                self.ledger
                    .transaction(|tx| Box::pin(sql::credit(tx, intent, charge)))
                    .await
                    .map_err(|e| Pending::Uncredited(id, e.into()))?
            }
            ChargeOutcome::Declined(charge, _) => {
                let charge = charge as i64;
                self.ledger.transaction(|tx| Box::pin(sql::decline(tx, intent, charge))).await?
            }
        };
        self.cache(state).await;
        Ok(())
    }

    /// One pass of settling; returns how many intents and cache entries it found to do.
    async fn settle_pass(&self) -> Result<usize, OpError> {
        let pending = self.ledger.transaction(|tx| Box::pin(sql::pending(tx))).await?;
        for intent in &pending {
            let account = intent.account;
            let read = self.ledger.transaction(|tx| Box::pin(sql::read(tx, account))).await??;
            let safe = self.cache(read.state).await;
            if let Err(e) = self.complete(intent.clone(), safe).await {
                tracing::debug!("recharge still pending: {e}");
            }
        }
        let states = self.ledger.transaction(|tx| Box::pin(sql::all(tx))).await?;
        let stores = Stores { redis: self.redis.clone(), ledger: self.ledger.clone() };
        let accounts: Vec<AccountId> = states.iter().map(|s| s.account).collect();
        let keys: Vec<String> = accounts.iter().map(|&a| self.balance_key(a)).collect();
        let cached = workloads::truth::redis_balances(&stores, &keys).await;
        let mut stale = 0;
        for (state, seen) in states.into_iter().zip(cached) {
            if seen != Observed::Balance(state.balance) {
                stale += 1;
                self.cache(state).await;
            }
        }
        Ok(pending.len() + stale)
    }
}

/// Why a recharge intent is still pending: whether money was captured for it.
enum Pending {
    /// Nothing was charged; a later operation or settle completes the intent.
    NotCharged(OpError),
    /// The gateway captured this charge, and crediting it failed.
    Uncredited(u64, OpError),
}

impl<E: Into<OpError>> From<E> for Pending {
    fn from(e: E) -> Pending {
        Pending::NotCharged(e.into())
    }
}

impl BillingSystem for LedgerFirst {
    async fn debit(&self, op: OpId, account: AccountId, amount: i64) -> Answer {
        self.change(op, account, "debit", -amount).await
    }

    async fn payment(&self, op: OpId, account: AccountId, amount: i64) -> Answer {
        self.change(op, account, "payment", amount).await
    }

    async fn balance(&self, _op: OpId, account: AccountId) -> Answer {
        let read = self.ledger.transaction(|tx| Box::pin(sql::read(tx, account))).await??;
        let safe = self.cache(read.state).await;
        if let Some(intent) = read.pending {
            self.complete(intent, safe).await?;
        }
        Ok(Some(Observed::Balance(read.state.balance)))
    }

    async fn settle(&self, deadline: Instant) -> Result<(), OpError> {
        loop {
            let found = self.settle_pass().await;
            if let Ok(0) = found {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let left = match found {
                    Ok(n) => format!("{n} intents or cache entries still unsettled"),
                    Err(e) => e.to_string(),
                };
                return Err(OpError::Indeterminate(format!("could not settle in time: {left}")));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn seed(&self, stores: &Stores, accounts: &[AccountSpec]) -> Result<(), StoreError> {
        standard::seed_with(stores, &self.layout, accounts).await
    }

    fn layout(&self) -> Layout {
        self.layout.clone()
    }
}

fn version_key(account: AccountId) -> String {
    format!("ledger-first-version:{account}")
}
