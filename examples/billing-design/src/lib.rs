//! `wallet`: a billing design of a team's own, written against faultline's public API
//! only, as a user's crate would be, and tested by the harness from `#[tokio::test]`s
//! (`tests/`). Copy it as a starting point for yours.
//!
//! Its balances live in Postgres alone, in tables of its own (`wallets`,
//! `wallet_postings`, `wallet_recharges`): it declares that [`Layout`], so the harness's
//! monitor probes Postgres for fail-safety and its final reads ask Postgres only.
//!
//! - **Every change is one transaction** ([`Ledger::transaction`]: statement timeout,
//!   client timeout, a timed-out connection closed, errors judged definite or not by
//!   whether `COMMIT` was sent): it locks the wallet, appends a posting, updates the
//!   balance and, when a debit leaves it below the threshold, records a recharge
//!   intent (one pending per wallet).
//! - **A charge follows a fresh look at the ledger**: right before charging, a
//!   transaction checks the intent is still pending and the balance still below the
//!   threshold, so nothing is charged while the ledger cannot be read, and a recharge
//!   is never made for a need already met. The intent's key is the charge's
//!   idempotency key: charging again after a lost answer cannot charge twice.
//! - **A capture is credited once**, whatever became of the intent (the posting is
//!   unique per charge id); an operation whose capture could not be credited yet
//!   answers indeterminate, and [`settle`](BillingSystem::settle) credits it.
//! - **A decline freezes the wallet.**

use faultline::checkers::history::{AccountId, AccountSpec, Observed};
use faultline::workloads::client::{OpError, OpId};
use faultline::workloads::gateway::{ChargeOutcome, Gateway, GatewayError};
use faultline::workloads::store::{Ledger, StoreError, Stores};
use faultline::workloads::sut::{Answer, BillingSystem, Layout, SutContext};
use sqlx::{Postgres, Row, Transaction};
use std::time::Duration;
use tokio::time::Instant;

/// For listings.
pub const ABOUT: &str = "wallet: Postgres alone, its own tables; recharge intents charged by key";

const SCHEMA: &str = "
DROP TABLE IF EXISTS wallet_postings, wallet_recharges, wallets CASCADE;
CREATE TABLE wallets (
    id integer PRIMARY KEY,
    cents bigint NOT NULL,
    threshold bigint NOT NULL,
    topup bigint NOT NULL,
    frozen boolean NOT NULL DEFAULT false
);
CREATE TABLE wallet_postings (
    id bigserial PRIMARY KEY,
    wallet integer NOT NULL REFERENCES wallets,
    cents bigint NOT NULL,
    card_charge bigint UNIQUE
);
CREATE TABLE wallet_recharges (
    key text PRIMARY KEY,
    wallet integer NOT NULL REFERENCES wallets,
    cents bigint NOT NULL,
    state text NOT NULL
);
CREATE UNIQUE INDEX one_pending_recharge ON wallet_recharges (wallet) WHERE state = 'pending';
";

/// A recharge to make: charge `cents` to `wallet`'s card under `key`.
#[derive(Clone, Debug)]
struct Intent {
    key: String,
    wallet: AccountId,
    cents: i64,
}

/// A wallet after a change or a read, with its pending recharge.
struct Seen {
    cents: i64,
    frozen: bool,
    pending: Option<Intent>,
}

/// The wallet design.
pub struct Wallet {
    ledger: Ledger,
    gateway: Gateway,
}

impl Wallet {
    /// The design, reaching Postgres and the card gateway through `cx`.
    pub fn new(cx: SutContext) -> Wallet {
        // Commits wait for the disk, whatever the server's default: a server switched
        // to asynchronous commit cannot lose what this design saw committed.
        let ledger = Ledger::new(cx.topology, &cx.settings).with_durable_commits();
        Wallet { ledger, gateway: cx.gateway }
    }

    /// Applies `cents` (negative for a debit) to `wallet` in one transaction; a debit
    /// that leaves it below the threshold records a recharge intent keyed by `op`.
    async fn change(&self, op: OpId, wallet: AccountId, cents: i64) -> Result<Seen, OpError> {
        let key = format!("topup-{}", op.0);
        let seen = self
            .ledger
            .transaction(|tx| {
                Box::pin(async move {
                    let Some(before) = lock(tx, wallet).await? else { return Ok(None) };
                    if cents < 0 && before.frozen {
                        return Ok(Some(before));
                    }
                    sqlx::query("INSERT INTO wallet_postings (wallet, cents) VALUES ($1, $2)")
                        .bind(wallet as i32)
                        .bind(cents)
                        .execute(&mut **tx)
                        .await?;
                    sqlx::query("UPDATE wallets SET cents = cents + $2 WHERE id = $1")
                        .bind(wallet as i32)
                        .bind(cents)
                        .execute(&mut **tx)
                        .await?;
                    // At most one pending intent per wallet: the index refuses another.
                    sqlx::query(
                        "INSERT INTO wallet_recharges (key, wallet, cents, state)
                         SELECT $1, id, topup, 'pending' FROM wallets
                         WHERE id = $2 AND $3 < 0 AND cents < threshold
                         ON CONFLICT DO NOTHING",
                    )
                    .bind(&key)
                    .bind(wallet as i32)
                    .bind(cents)
                    .execute(&mut **tx)
                    .await?;
                    lock(tx, wallet).await
                })
            })
            .await?;
        let seen = seen.ok_or_else(|| OpError::Refused(format!("no wallet {wallet}")))?;
        match cents < 0 && seen.frozen {
            true => Err(OpError::Refused(format!("wallet {wallet} is frozen"))),
            false => Ok(seen),
        }
    }

    /// Reads `wallet`.
    async fn read(&self, wallet: AccountId) -> Result<Seen, OpError> {
        let seen = self.ledger.transaction(|tx| Box::pin(lock(tx, wallet))).await?;
        seen.ok_or_else(|| OpError::Refused(format!("no wallet {wallet}")))
    }

    /// Carries out `intent` if it is still needed, and books what the gateway did: `Ok`
    /// once nothing is owed (charged and credited, declined and frozen, or not needed
    /// now); `Err` indeterminate when money was captured and not yet credited.
    async fn recharge(&self, intent: Intent) -> Result<Recharge, OpError> {
        let outcome = match self.gateway.lookup(&intent.key) {
            Some(outcome) => outcome,
            None => {
                if !self.still_needed(&intent).await? {
                    return Ok(Recharge::NotNeeded);
                }
                let charged = self.gateway.charge(intent.wallet, intent.cents, Some(&intent.key));
                match (charged.await, self.gateway.lookup(&intent.key)) {
                    (Ok(outcome), _) | (Err(_), Some(outcome)) => outcome,
                    // An error and nothing captured under the key: the gateway answers
                    // that key with the same error for ever, so the intent is given up
                    // and the next debit below the threshold records a fresh one.
                    (Err(e @ GatewayError::Unknown(_)), None) => {
                        self.give_up(&intent).await?;
                        return Ok(Recharge::Waiting(e.to_string()));
                    }
                    // Down, or the key's first request still out: nothing was charged
                    // yet; the intent stays pending, charged again under its key later.
                    (Err(e), None) => return Ok(Recharge::Waiting(e.to_string())),
                }
            }
        };
        self.book(intent, outcome).await
    }

    /// Marks `intent` failed: nothing was captured under its key, and nothing will be.
    async fn give_up(&self, intent: &Intent) -> Result<(), OpError> {
        let key = intent.key.clone();
        self.ledger
            .transaction(|tx| {
                Box::pin(async move {
                    sqlx::query(
                        "UPDATE wallet_recharges SET state = 'failed' \
                         WHERE key = $1 AND state = 'pending'",
                    )
                    .bind(key)
                    .execute(&mut **tx)
                    .await
                    .map(drop)
                })
            })
            .await?;
        Ok(())
    }

    /// Whether `intent` is pending and its wallet below the threshold, now.
    async fn still_needed(&self, intent: &Intent) -> Result<bool, OpError> {
        let key = intent.key.clone();
        let needed = self
            .ledger
            .transaction(|tx| {
                Box::pin(async move {
                    sqlx::query_scalar::<_, bool>(
                        "SELECT w.cents < w.threshold FROM wallet_recharges r
                         JOIN wallets w ON w.id = r.wallet
                         WHERE r.key = $1 AND r.state = 'pending' AND NOT w.frozen",
                    )
                    .bind(key)
                    .fetch_optional(&mut **tx)
                    .await
                })
            })
            .await?;
        Ok(needed == Some(true))
    }

    /// Credits a capture (once per charge id, whatever became of the intent), or
    /// freezes the wallet after a decline.
    async fn book(&self, intent: Intent, outcome: ChargeOutcome) -> Result<Recharge, OpError> {
        let (charge, captured) = match outcome {
            ChargeOutcome::Captured(charge) => (charge, true),
            ChargeOutcome::Declined(charge, _) => (charge, false),
        };
        let (key, wallet, cents) = (intent.key, intent.wallet as i32, intent.cents);
        let booked = self
            .ledger
            .transaction(|tx| {
                Box::pin(async move {
                    sqlx::query("SELECT 1 FROM wallets WHERE id = $1 FOR UPDATE")
                        .bind(wallet)
                        .execute(&mut **tx)
                        .await?;
                    let state = if captured { "charged" } else { "declined" };
                    sqlx::query("UPDATE wallet_recharges SET state = $2 WHERE key = $1")
                        .bind(&key)
                        .bind(state)
                        .execute(&mut **tx)
                        .await?;
                    if !captured {
                        sqlx::query("UPDATE wallets SET frozen = true WHERE id = $1")
                            .bind(wallet)
                            .execute(&mut **tx)
                            .await?;
                        return Ok(());
                    }
                    let credited = sqlx::query(
                        "INSERT INTO wallet_postings (wallet, cents, card_charge)
                         VALUES ($1, $2, $3) ON CONFLICT (card_charge) DO NOTHING",
                    )
                    .bind(wallet)
                    .bind(cents)
                    .bind(charge as i64)
                    .execute(&mut **tx)
                    .await?;
                    if credited.rows_affected() == 1 {
                        sqlx::query("UPDATE wallets SET cents = cents + $2 WHERE id = $1")
                            .bind(wallet)
                            .bind(cents)
                            .execute(&mut **tx)
                            .await?;
                    }
                    Ok(())
                })
            })
            .await;
        match (booked, captured) {
            (Ok(()), _) => Ok(Recharge::Done),
            (Err(e), true) => Err(OpError::Indeterminate(format!(
                "charge {charge} was captured but not yet credited ({e}); settle credits it"
            ))),
            (Err(e), false) => Err(e.into()),
        }
    }

    /// Carries out `seen`'s pending recharge, if any, after the operation's own change
    /// committed: one that must wait, or that failed before anything was captured, is
    /// left for a later operation or `settle`, and the operation stands. Only a capture
    /// not yet credited makes it indeterminate: never `fail` a change that committed.
    async fn after(&self, seen: &Seen) -> Result<(), OpError> {
        let Some(intent) = seen.pending.clone() else { return Ok(()) };
        match self.recharge(intent).await {
            Ok(Recharge::Done | Recharge::NotNeeded) => Ok(()),
            Ok(Recharge::Waiting(why)) => {
                tracing::debug!("recharge left pending: {why}");
                Ok(())
            }
            Err(e @ OpError::Indeterminate(_)) => Err(e),
            Err(OpError::Refused(why)) => {
                tracing::debug!("recharge left pending: {why}");
                Ok(())
            }
        }
    }
}

/// What became of a recharge intent.
enum Recharge {
    /// Charged and credited, or declined and the wallet frozen.
    Done,
    /// Its wallet is no longer below the threshold: left pending, uncharged.
    NotNeeded,
    /// The gateway could not take the charge now.
    Waiting(String),
}

/// Locks `wallet`'s row and reads it with its pending recharge.
async fn lock(
    tx: &mut Transaction<'_, Postgres>,
    wallet: AccountId,
) -> Result<Option<Seen>, sqlx::Error> {
    let row = sqlx::query("SELECT cents, frozen FROM wallets WHERE id = $1 FOR UPDATE")
        .bind(wallet as i32)
        .fetch_optional(&mut **tx)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let pending = sqlx::query(
        "SELECT key, cents FROM wallet_recharges WHERE wallet = $1 AND state = 'pending'",
    )
    .bind(wallet as i32)
    .fetch_optional(&mut **tx)
    .await?
    .map(|r| Intent { key: r.get("key"), wallet, cents: r.get("cents") });
    Ok(Some(Seen { cents: row.get("cents"), frozen: row.get("frozen"), pending }))
}

impl BillingSystem for Wallet {
    async fn debit(&self, op: OpId, account: AccountId, amount: i64) -> Answer {
        let seen = self.change(op, account, -amount).await?;
        self.after(&seen).await?;
        Ok(Some(Observed::Balance(seen.cents)))
    }

    async fn payment(&self, op: OpId, account: AccountId, amount: i64) -> Answer {
        let seen = self.change(op, account, amount).await?;
        self.after(&seen).await?;
        Ok(Some(Observed::Balance(seen.cents)))
    }

    async fn balance(&self, _op: OpId, account: AccountId) -> Answer {
        let seen = self.read(account).await?;
        self.after(&seen).await?;
        Ok(Some(Observed::Balance(seen.cents)))
    }

    async fn settle(&self, deadline: Instant) -> Result<(), OpError> {
        loop {
            let owed = self.settle_pass().await;
            match owed {
                Ok(0) => return Ok(()),
                Ok(n) if Instant::now() >= deadline => {
                    return Err(OpError::Indeterminate(format!("{n} recharges still owed")));
                }
                Err(e) if Instant::now() >= deadline => return Err(e),
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    async fn create_schema(&self, stores: &Stores) -> Result<(), StoreError> {
        stores.ledger.batch(SCHEMA).await
    }

    async fn seed(&self, stores: &Stores, accounts: &[AccountSpec]) -> Result<(), StoreError> {
        for a in accounts {
            let (id, cents, threshold, topup) =
                (a.account as i32, a.balance, a.threshold, a.recharge);
            stores
                .ledger
                .transaction(|tx| {
                    Box::pin(async move {
                        sqlx::query(
                            "INSERT INTO wallets (id, cents, threshold, topup) VALUES ($1, $2, $3, $4)",
                        )
                        .bind(id)
                        .bind(cents)
                        .bind(threshold)
                        .bind(topup)
                        .execute(&mut **tx)
                        .await?;
                        sqlx::query("INSERT INTO wallet_postings (wallet, cents) VALUES ($1, $2)")
                            .bind(id)
                            .bind(cents)
                            .execute(&mut **tx)
                            .await?;
                        Ok(())
                    })
                })
                .await?;
        }
        Ok(())
    }

    fn layout(&self) -> Layout {
        Layout {
            balance_key: None,
            ledger_balance: "SELECT id, cents FROM wallets WHERE id = ANY($1)".into(),
            suspended: "SELECT id, frozen FROM wallets WHERE id = ANY($1)".into(),
            credited: "SELECT wallet, card_charge FROM wallet_postings
                       WHERE card_charge IS NOT NULL AND wallet = ANY($1)"
                .into(),
            entries: Some(
                "SELECT wallet, SUM(cents)::bigint FROM wallet_postings
                 WHERE wallet = ANY($1) GROUP BY wallet"
                    .into(),
            ),
        }
    }
}

impl Wallet {
    /// One pass over the pending recharges: the number still owed (captured and not
    /// credited, or needed and not yet charged).
    async fn settle_pass(&self) -> Result<usize, OpError> {
        let pending = self
            .ledger
            .transaction(|tx| {
                Box::pin(async move {
                    let rows = sqlx::query(
                        "SELECT key, wallet, cents FROM wallet_recharges WHERE state = 'pending'",
                    )
                    .fetch_all(&mut **tx)
                    .await?;
                    Ok(rows
                        .iter()
                        .map(|r| Intent {
                            key: r.get("key"),
                            wallet: r.get::<i32, _>("wallet") as AccountId,
                            cents: r.get("cents"),
                        })
                        .collect::<Vec<_>>())
                })
            })
            .await?;
        let mut owed = 0;
        for intent in pending {
            match self.recharge(intent).await {
                Ok(Recharge::Done | Recharge::NotNeeded) => {}
                Ok(Recharge::Waiting(_)) | Err(_) => owed += 1,
            }
        }
        Ok(owed)
    }
}
