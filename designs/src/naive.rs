//! `naive`: the billing system as it was in July 2013.
//!
//! In-flight balances live in Redis, on the master. A debit is one Lua script: it
//! decrements the balance and, when that leaves it below the threshold and no recharge
//! is pending for the account, sets a pending flag and asks for a recharge, so
//! concurrent debits never recharge twice. A recharge charges the card through the
//! gateway, then credits the balance and clears the flag (another script). The ledger
//! in Postgres records each balance change once its Redis write succeeded: double
//! bookkeeping of changes that happened. A declined card suspends the account, in the
//! ledger and in Redis, where debits check it.
//!
//! What made it fail: a debit whose Redis write fails is **logged and ignored**. The
//! debit still succeeds, and a fallback reads the balance with `GET`, where a missing
//! balance reads as 0, and recharges if that is below the threshold. On a master that
//! lost its data and refuses writes, every debit charges the card and no credit is
//! ever recorded. A charge that gets no answer, or an error, is logged and forgotten,
//! and the next debit charges again: with no idempotency key, a capture whose answer
//! was lost is charged twice.
//!
//! With healthy stores it is exactly as correct as [`failsafe`](crate::failsafe).

use checkers::history::{AccountId, ChargeId, Observed};
use redis::Script;
use sqlx::Row;
use std::collections::BTreeMap;
use std::sync::LazyLock;
use tokio::sync::OnceCell;
use workloads::client::{OpError, OpId};
use workloads::gateway::{ChargeOutcome, Gateway};
use workloads::store::{Ledger, RedisMaster, StoreError};
use workloads::sut::standard::balance_key;
use workloads::sut::{Answer, BillingSystem, SutContext};

/// Decrements the balance; asks for a recharge when it crosses below the threshold and
/// none is pending. KEYS: balance, pending flag, suspended flag. ARGV: amount,
/// threshold. Returns `{balance, 1 recharge | 0 none | -1 suspended}`.
static DEBIT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "#!lua
        if redis.call('EXISTS', KEYS[3]) == 1 then return {0, -1} end
        local balance = redis.call('DECRBY', KEYS[1], ARGV[1])
        if balance < tonumber(ARGV[2]) and redis.call('SET', KEYS[2], 1, 'NX') then
            return {balance, 1}
        end
        return {balance, 0}",
    )
});

/// Credits a recharge and clears the pending flag. KEYS: balance, pending flag. ARGV:
/// amount. Returns the balance.
static CREDIT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "#!lua
        local balance = redis.call('INCRBY', KEYS[1], ARGV[1])
        redis.call('DEL', KEYS[2])
        return balance",
    )
});

/// Suspends the account and clears the pending flag. KEYS: suspended flag, pending flag.
static SUSPEND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "#!lua
        redis.call('SET', KEYS[1], 1)
        redis.call('DEL', KEYS[2])
        return 1",
    )
});

/// An account's auto-recharge policy, as the ledger holds it.
#[derive(Clone, Copy, Debug)]
struct Policy {
    threshold: i64,
    recharge: i64,
}

/// The 2013 billing system.
pub struct Naive {
    redis: RedisMaster,
    ledger: Ledger,
    gateway: Gateway,
    policies: OnceCell<BTreeMap<AccountId, Policy>>,
}

impl Naive {
    /// A one-line description, for listings.
    pub const ABOUT: &str = "the 2013 design: balances in Redis; failed writes are logged and ignored, a missing balance reads as 0";

    /// The system, reaching its stores through `cx`.
    pub fn new(cx: SutContext) -> Naive {
        Naive {
            redis: RedisMaster::new(cx.topology.clone(), cx.settings.redis_timeout),
            ledger: Ledger::new(cx.topology, &cx.settings),
            gateway: cx.gateway,
            policies: OnceCell::new(),
        }
    }

    /// The account's policy, loaded from the ledger once for all accounts.
    async fn policy(&self, account: AccountId) -> Result<Policy, OpError> {
        let policies = self.policies.get_or_try_init(|| self.load_policies()).await?;
        policies
            .get(&account)
            .copied()
            .ok_or_else(|| OpError::Refused(format!("no account {account}")))
    }

    async fn load_policies(&self) -> Result<BTreeMap<AccountId, Policy>, StoreError> {
        let rows = self
            .ledger
            .fetch_all(sqlx::query("SELECT id, threshold, recharge FROM accounts"))
            .await?;
        let policy =
            |row: &sqlx::postgres::PgRow| Policy { threshold: row.get(1), recharge: row.get(2) };
        Ok(rows.iter().map(|row| (row.get::<i32, _>(0) as AccountId, policy(row))).collect())
    }

    /// A failed Redis write is logged and ignored: the balance is read again (missing
    /// reads as 0) and recharged if it is below the threshold.
    async fn fallback(&self, account: AccountId, policy: Policy) -> Option<Observed> {
        match self.redis.query::<Option<i64>>(redis::cmd("GET").arg(balance_key(account))).await {
            Ok(balance) => {
                let mut balance = balance.unwrap_or(0);
                if balance < policy.threshold {
                    balance = self.recharge(account, policy, balance).await;
                }
                Some(Observed::Balance(balance))
            }
            Err(e) => {
                tracing::warn!(account, "balance unreadable, no recharge: {e}");
                None
            }
        }
    }

    /// Charges the card, then credits the balance; returns the balance after. A charge
    /// that got no outcome is logged and forgotten: the pending flag is cleared, so the
    /// next debit below the threshold charges again, with no idempotency key.
    async fn recharge(&self, account: AccountId, policy: Policy, balance: i64) -> i64 {
        match self.gateway.charge(account, policy.recharge, None).await {
            Err(e) => {
                tracing::warn!(account, "recharge failed, ignored: {e}");
                let clear = redis::cmd("DEL").arg(pending_key(account)).clone();
                if let Err(e) = self.redis.query::<i64>(&clear).await {
                    tracing::warn!(account, "pending recharge flag not cleared, ignored: {e}");
                }
                balance
            }
            Ok(ChargeOutcome::Captured(charge)) => {
                let mut credit = CREDIT.key(balance_key(account));
                credit.key(pending_key(account)).arg(policy.recharge);
                match self.redis.eval::<i64>(&credit).await {
                    Ok(after) => {
                        self.book(account, "recharge", policy.recharge, Some(charge)).await;
                        after
                    }
                    Err(e) => {
                        tracing::warn!(account, charge, "recharge not credited, ignored: {e}");
                        balance
                    }
                }
            }
            Ok(ChargeOutcome::Declined(charge, why)) => {
                tracing::warn!(account, charge, "card declined ({}): suspending", why.as_str());
                self.suspend(account).await;
                balance
            }
        }
    }

    async fn suspend(&self, account: AccountId) {
        let update =
            sqlx::query("UPDATE accounts SET suspended = true WHERE id = $1").bind(account as i32);
        if let Err(e) = self.ledger.execute(update).await {
            tracing::warn!(account, "suspension not recorded in the ledger, ignored: {e}");
        }
        let mut suspend = SUSPEND.key(suspended_key(account));
        suspend.key(pending_key(account));
        if let Err(e) = self.redis.eval::<i64>(&suspend).await {
            tracing::warn!(account, "suspension not written to the balance store, ignored: {e}");
        }
    }

    /// Records a balance change that happened in Redis; a failure is logged and ignored.
    async fn book(&self, account: AccountId, kind: &str, amount: i64, charge: Option<ChargeId>) {
        let entry = sqlx::query(
            "WITH entry AS (
                 INSERT INTO ledger_entries (account, kind, amount, charge_id) VALUES ($1, $2, $3, $4))
             UPDATE accounts SET balance = balance + $3, version = version + 1 WHERE id = $1",
        )
        .bind(account as i32)
        .bind(kind)
        .bind(amount)
        .bind(charge.map(|c| c as i64));
        if let Err(e) = self.ledger.execute(entry).await {
            tracing::warn!(account, kind, amount, "ledger entry not recorded, ignored: {e}");
        }
    }
}

impl BillingSystem for Naive {
    async fn debit(&self, _op: OpId, account: AccountId, amount: i64) -> Answer {
        let policy = self.policy(account).await?;
        let mut debit = DEBIT.key(balance_key(account));
        debit.key(pending_key(account)).key(suspended_key(account));
        debit.arg(amount).arg(policy.threshold);
        match self.redis.eval::<(i64, i64)>(&debit).await {
            Ok((_, -1)) => Err(OpError::Refused(format!("account {account} is suspended"))),
            Ok((mut balance, recharge)) => {
                self.book(account, "debit", -amount, None).await;
                if recharge == 1 {
                    balance = self.recharge(account, policy, balance).await;
                }
                Ok(Some(Observed::Balance(balance)))
            }
            Err(e) => {
                tracing::warn!(
                    account,
                    amount,
                    "debit not written to the balance store, ignored: {e}"
                );
                Ok(self.fallback(account, policy).await)
            }
        }
    }

    async fn payment(&self, _op: OpId, account: AccountId, amount: i64) -> Answer {
        let balance: i64 =
            self.redis.query(redis::cmd("INCRBY").arg(balance_key(account)).arg(amount)).await?;
        self.book(account, "payment", amount, None).await;
        Ok(Some(Observed::Balance(balance)))
    }

    async fn balance(&self, _op: OpId, account: AccountId) -> Answer {
        let balance: Option<i64> =
            self.redis.query(redis::cmd("GET").arg(balance_key(account))).await?;
        Ok(Some(Observed::Balance(balance.unwrap_or(0))))
    }
}

fn pending_key(account: AccountId) -> String {
    format!("recharge-pending:{account}")
}

fn suspended_key(account: AccountId) -> String {
    format!("suspended:{account}")
}
