//! `ledger-only`: a Postgres-only billing design, written from `workloads`' public API
//! only. The ledger holds the only balance: it declares [`Layout::ledger_only`], so the
//! harness's monitor probes Postgres for fail-safety and the final reads skip Redis,
//! which this design never touches.
//!
//! It runs `ledger-first`'s transactions ([`sql`]) without the cache:
//!
//! - **The ledger decides.** A debit or payment is one transaction that locks the
//!   account, appends the entry and updates the balance, and, when a debit leaves the
//!   balance below the threshold with no intent outstanding, records the recharge
//!   intent keyed by that debit. Reads come from the ledger.
//! - **Charges only once the ledger just answered**: the intent is charged, under its
//!   key, right after a transaction re-checked that it is still pending and needed, so
//!   nothing is charged while the balance store is down.
//! - **A capture is always credited**, once, by the intent's key; a decline suspends the
//!   account; a charge without an outcome is looked up by its key (nothing charged after
//!   an error abandons the intent, after an outage it waits).
//! - **`settle`** completes every pending intent until none is left.

use super::ledger_first::sql::{self, Intent};
use checkers::history::{AccountId, AccountSpec, Observed};
use std::time::Duration;
use tokio::time::Instant;
use workloads::client::{OpError, OpId};
use workloads::gateway::{ChargeOutcome, Gateway, GatewayError};
use workloads::store::{Ledger, StoreError, Stores};
use workloads::sut::{Answer, BillingSystem, Layout, SutContext, standard};

/// For listings.
pub const ABOUT: &str = "ledger-only: Postgres alone, every change and recharge intent in one \
     transaction, charges keyed by the intent";

/// The ledger-only billing system.
pub struct LedgerOnly {
    ledger: Ledger,
    gateway: Gateway,
}

impl LedgerOnly {
    /// The system, reaching Postgres through `cx`.
    pub fn new(cx: SutContext) -> LedgerOnly {
        LedgerOnly {
            ledger: Ledger::new(cx.topology, &cx.settings).with_durable_commits(),
            gateway: cx.gateway,
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
        if let Some(intent) = applied.pending {
            self.complete(intent).await?;
        }
        Ok(Some(Observed::Balance(applied.state.balance)))
    }

    /// Completes `intent` if it can be now; it stays pending otherwise. Money captured
    /// but not yet credited makes the operation indeterminate.
    async fn complete(&self, intent: Intent) -> Result<(), OpError> {
        match self.try_complete(intent).await {
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

    async fn try_complete(&self, intent: Intent) -> Result<(), Pending> {
        let outcome = match self.gateway.lookup(&intent.key) {
            Some(outcome) => outcome,
            None => {
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
        match outcome {
            ChargeOutcome::Captured(id) => {
                let charge = id as i64;
                self.ledger
                    .transaction(|tx| Box::pin(sql::credit(tx, intent, charge)))
                    .await
                    .map_err(|e| Pending::Uncredited(id, e.into()))?;
            }
            ChargeOutcome::Declined(charge, _) => {
                let charge = charge as i64;
                self.ledger.transaction(|tx| Box::pin(sql::decline(tx, intent, charge))).await?;
            }
        }
        Ok(())
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

impl BillingSystem for LedgerOnly {
    async fn debit(&self, op: OpId, account: AccountId, amount: i64) -> Answer {
        self.change(op, account, "debit", -amount).await
    }

    async fn payment(&self, op: OpId, account: AccountId, amount: i64) -> Answer {
        self.change(op, account, "payment", amount).await
    }

    async fn balance(&self, _op: OpId, account: AccountId) -> Answer {
        let read = self.ledger.transaction(|tx| Box::pin(sql::read(tx, account))).await??;
        if let Some(intent) = read.pending {
            self.complete(intent).await?;
        }
        Ok(Some(Observed::Balance(read.state.balance)))
    }

    async fn settle(&self, deadline: Instant) -> Result<(), OpError> {
        loop {
            let pending = self.ledger.transaction(|tx| Box::pin(sql::pending(tx))).await;
            match pending {
                Ok(intents) if intents.is_empty() => return Ok(()),
                Ok(intents) => {
                    for intent in intents {
                        if let Err(e) = self.complete(intent).await {
                            tracing::debug!("recharge still pending: {e}");
                        }
                    }
                }
                Err(e) => tracing::debug!("pending intents not read: {e}"),
            }
            if Instant::now() >= deadline {
                return Err(OpError::Indeterminate("recharge intents still pending".into()));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn create_schema(&self, stores: &Stores) -> Result<(), StoreError> {
        standard::create_schema_with(stores, &Layout::ledger_only()).await
    }

    async fn seed(&self, stores: &Stores, accounts: &[AccountSpec]) -> Result<(), StoreError> {
        standard::seed_with(stores, &Layout::ledger_only(), accounts).await
    }

    fn layout(&self) -> Layout {
        Layout::ledger_only()
    }
}
