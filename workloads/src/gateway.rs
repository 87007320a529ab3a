//! The card gateway: owned by the harness, so what it records is ground truth.
//!
//! Every charge attempt is recorded as one operation, process `gateway`, f `charge`:
//! `ok` when captured, `fail` when declined (`card-declined` or `card-deactivated`). It
//! models two behaviours of real card networks:
//!
//! - **Deactivation**, the 2013 side effect: a card captured
//!   [`deactivate_after`](GatewayConfig::deactivate_after) times within
//!   [`window`](GatewayConfig::window) is deactivated (recorded as a
//!   `card-deactivated` operation), and every later charge is declined.
//! - **Declining cards**: a seeded fraction of cards always decline, so justified
//!   suspensions happen in healthy runs too.
//!
//! A charge may carry an idempotency key. A repeated key returns the first outcome and
//! charges nothing, as a real gateway does; the replay moves no money, so it is not
//! recorded. [`Gateway::lookup`] reports the outcome of a key without charging.
//!
//! Each charge records the client operation being served when the gateway was called
//! ([`client::serving`](crate::client::serving)): the harness's own knowledge of which
//! call reached it. A charge made outside any client operation (`settle`, a task the
//! system under test spawned) records none.
//!
//! A charge is decided and recorded under one lock with no await inside, so it is
//! atomic: a caller cancelled around it either charged or did not.

use crate::recorder::Recorder;
use checkers::history::{AccountId, AccountOp, Charge, ChargeId, F, OpType, Process, Value};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The gateway's rules. Defaults: a card is deactivated by its 3rd capture within
/// 60 s, and 2% of cards always decline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// Captures within `window` that deactivate a card (K).
    pub deactivate_after: u32,
    /// The window in which `deactivate_after` captures deactivate a card.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// The fraction of cards that decline every charge, chosen by the seed.
    pub declining_cards: f64,
}

impl Default for GatewayConfig {
    fn default() -> GatewayConfig {
        GatewayConfig {
            deactivate_after: 3,
            window: Duration::from_secs(60),
            declining_cards: 0.02,
        }
    }
}

/// What became of a charge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChargeOutcome {
    /// The money was captured.
    Captured(ChargeId),
    /// The card was declined.
    Declined(ChargeId, Decline),
}

/// Why a card was declined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decline {
    /// The card declines every charge.
    CardDeclined,
    /// The gateway deactivated the card after too many captures.
    CardDeactivated,
}

impl Decline {
    /// The error recorded with the declined charge.
    pub fn as_str(self) -> &'static str {
        match self {
            Decline::CardDeclined => "card-declined",
            Decline::CardDeactivated => "card-deactivated",
        }
    }
}

/// The harness's card gateway; cheap to clone.
#[derive(Clone)]
pub struct Gateway {
    shared: Arc<Shared>,
}

struct Shared {
    config: GatewayConfig,
    seed: u64,
    recorder: Recorder,
    started: Instant,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    next_charge: ChargeId,
    cards: BTreeMap<AccountId, Card>,
    keys: HashMap<String, ChargeOutcome>,
    captures: u64,
}

impl Gateway {
    /// A gateway recording into `recorder`; `seed` picks the declining cards.
    pub fn new(config: GatewayConfig, seed: u64, recorder: Recorder) -> Gateway {
        let state = Mutex::new(State { next_charge: 1, ..State::default() });
        let shared = Shared { config, seed, recorder, started: Instant::now(), state };
        Gateway { shared: Arc::new(shared) }
    }

    /// Charges `amount` cents to `account`'s card, at most once per idempotency `key`.
    pub fn charge(&self, account: AccountId, amount: i64, key: Option<&str>) -> ChargeOutcome {
        let shared = &*self.shared;
        let mut state = shared.state.lock().expect("gateway lock");
        if let Some(outcome) = key.and_then(|k| state.keys.get(k)) {
            return *outcome;
        }
        let charge = state.next_charge;
        state.next_charge += 1;
        let op = crate::client::serving().map(|op| op.0);
        let declining = declines_always(shared.seed, account, shared.config.declining_cards);
        let now = shared.started.elapsed();
        let card = state.cards.entry(account).or_default();
        let outcome = match card.charge(now, declining, &shared.config) {
            Ok(deactivated) => {
                state.captures += 1;
                self.record(
                    OpType::Ok,
                    Charge { charge, account, amount, key: key.map(Into::into), op },
                    None,
                );
                if deactivated {
                    self.record_deactivation(account);
                }
                ChargeOutcome::Captured(charge)
            }
            Err(decline) => {
                let c = Charge { charge, account, amount, key: key.map(Into::into), op };
                self.record(OpType::Fail, c, Some(decline));
                ChargeOutcome::Declined(charge, decline)
            }
        };
        if let Some(k) = key {
            state.keys.insert(k.to_owned(), outcome);
        }
        outcome
    }

    /// The outcome of the charge made with `key`, if there was one.
    pub fn lookup(&self, key: &str) -> Option<ChargeOutcome> {
        self.shared.state.lock().expect("gateway lock").keys.get(key).copied()
    }

    /// How many charges were captured so far.
    pub fn captures(&self) -> u64 {
        self.shared.state.lock().expect("gateway lock").captures
    }

    fn record(&self, kind: OpType, charge: Charge, decline: Option<Decline>) {
        let error = decline.map(|d| d.as_str().to_owned());
        self.shared.recorder.record(
            Process::Gateway,
            kind,
            F::Charge,
            Value::Charge(charge),
            error,
        );
    }

    fn record_deactivation(&self, account: AccountId) {
        let value = Value::Account(AccountOp { account, amount: None, balance: None });
        self.shared.recorder.record(Process::Gateway, OpType::Ok, F::CardDeactivated, value, None);
    }
}

/// One card's recent captures, and whether it was deactivated.
#[derive(Default)]
struct Card {
    captures: VecDeque<Duration>,
    deactivated: bool,
}

impl Card {
    /// Captures a charge at `now`, or says why not; `Ok(true)` when this capture
    /// deactivated the card.
    fn charge(
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

#[cfg(test)]
mod tests;
