//! The monitor's probe of the ledger, for a layout that keeps no balance apart from it:
//! the layout's balance query for every account, on Postgres.

use crate::endpoints::Topology;
use crate::store::{Ledger, StoreSettings};
use crate::sut::Layout;
use crate::truth;
use checkers::history::{AccountId, StoreStatus};
use std::time::Duration;

/// Probes of the ledger, on a pool of one connection of the monitor's own.
pub(super) struct LedgerProbe {
    ledger: Ledger,
    layout: Layout,
}

impl LedgerProbe {
    /// Probes with `timeout` as Postgres's statement timeout and the wait for a
    /// connection (the client gives up on a statement half a second later).
    pub(super) fn new(topology: &Topology, layout: Layout, timeout: Duration) -> LedgerProbe {
        let settings =
            StoreSettings { postgres_timeout: timeout, pool_size: 1, ..StoreSettings::default() };
        LedgerProbe { ledger: Ledger::new(topology.clone(), &settings), layout }
    }

    /// The ledger's status, and whether it holds each account's balance if it answered.
    pub(super) async fn probe(&self, accounts: &[AccountId]) -> (StoreStatus, Option<Vec<bool>>) {
        match truth::ledger_balances(&self.ledger, &self.layout, accounts).await {
            Ok(held) => {
                let present = accounts.iter().map(|a| held.contains_key(a)).collect();
                (StoreStatus::Healthy, Some(present))
            }
            Err(e) => (e.kind.status(), None),
        }
    }
}
