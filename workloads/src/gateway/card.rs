//! One card as the gateway sees it: its recent captures, and whether the gateway
//! deactivated it; and which cards always decline.

use super::{Decline, GatewayConfig};
use checkers::history::AccountId;
use std::collections::VecDeque;
use std::time::Duration;

/// One card's recent captures, and whether it was deactivated.
#[derive(Default)]
pub(super) struct Card {
    captures: VecDeque<Duration>,
    deactivated: bool,
}

impl Card {
    /// Captures a charge at `now`, or says why not; `Ok(true)` when this capture
    /// deactivated the card.
    pub(super) fn charge(
        &mut self,
        now: Duration,
        declining: bool,
        config: &GatewayConfig,
    ) -> Result<bool, Decline> {
        if self.deactivated {
            return Err(Decline::CardDeactivated);
        }
        if declining {
            return Err(Decline::CardDeclined);
        }
        while self.captures.front().is_some_and(|&t| now.saturating_sub(t) >= config.window) {
            self.captures.pop_front();
        }
        self.captures.push_back(now);
        self.deactivated = self.captures.len() >= config.deactivate_after as usize;
        Ok(self.deactivated)
    }
}

/// Whether `account`'s card declines every charge: a pure function of the seed.
pub fn declines_always(seed: u64, account: AccountId, fraction: f64) -> bool {
    let mut x = seed ^ (u64::from(account).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    ((x >> 11) as f64 / (1u64 << 53) as f64) < fraction
}
