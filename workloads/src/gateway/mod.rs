//! The card gateway: owned by the harness, so what it records is ground truth.
//!
//! Every charge attempt is recorded as one operation, process `gateway`, f `charge`:
//! `ok` when captured, whatever the caller was told; `fail` when nothing was captured,
//! with why: the card's decline (`card-declined`, `card-deactivated`), or the gateway's
//! own failure (`gateway-error`: an error before capture; `gateway-unavailable`: an
//! outage). Each records what the caller was told (`answer`: `captured`, `declined`,
//! `error`, `lost`, `unavailable`). It models two behaviours of real card networks:
//!
//! - **Deactivation**, the 2013 side effect: a card captured
//!   [`deactivate_after`](GatewayConfig::deactivate_after) times within
//!   [`window`](GatewayConfig::window) is deactivated (recorded as a
//!   `card-deactivated` operation), and every later charge is declined.
//! - **Declining cards**: a seeded fraction of cards always decline, so justified
//!   suspensions happen in healthy runs too.
//!
//! **Faults** ([`GatewayFault`], set by the nemesis with [`Gateway::set_fault`]):
//! latency, decline bursts, errors before or after capture, lost answers, an outage.
//! Each counts the charge attempts it changed, which is how the nemesis judges whether
//! it took effect.
//!
//! **Idempotency keys follow Stripe's documented rules.** The first answer for a key is
//! saved once the charge is attempted, and replayed (an error too) to every later
//! request with the key and the same parameters, which charges nothing and is not
//! recorded; the same key with other parameters is refused (`400`), and so is a request
//! whose key's first request is still being answered (`409`: delayed, or its answer
//! lost). An outage saves nothing: the request never reached the gateway.
//! [`Gateway::lookup`] tells what was charged with a key, whatever the caller was told.
//! Lookups are never faulted.
//!
//! Each charge records the client operation being served when the gateway was called:
//! in process, the task's ([`client::serving`](crate::client::serving)); over HTTP
//! ([`http`]), the operation the service names, only if the harness has it in flight
//! on the charged account ([`Gateway::serving`]). A charge made outside any client
//! operation (`settle`, a task the system under test spawned) records none.
//!
//! A charge is decided and recorded under one lock with no await inside, so it is
//! atomic: a caller cancelled around it either charged or did not. Latency and lost
//! answers are waited out after that, outside the lock.

mod card;
mod fault;
pub mod http;
mod state;

pub use card::declines_always;
pub use fault::{FaultEffect, FaultToken, GatewayFault};

use crate::client::OpId;
use checkers::history::{AccountId, ChargeId};
use serde::{Deserialize, Serialize};
use state::{Claim, Decision, Request, State};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long an in-process caller whose answer is lost waits before it is told
/// [`GatewayError::Unknown`], if it has not given up (been dropped) before.
pub const LOST_HOLD: Duration = Duration::from_secs(60);

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

/// Why a charge got no outcome.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// The gateway is down: nothing was charged (`503`).
    #[error("{0}")]
    Unavailable(String),
    /// An error or no answer: the charge may have been captured (`500`, a timeout).
    /// Look the key up ([`Gateway::lookup`]) to learn which.
    #[error("{0}")]
    Unknown(String),
    /// This request did nothing because of an earlier one with the same key: `400`,
    /// the key was used with other parameters; `409`, its first request is still
    /// being answered. The earlier request may have charged.
    #[error("{0}")]
    Idempotency(String),
}

/// The gateway's answer to a charge request, as its HTTP face puts it on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// Captured (`200`) or declined (`402`).
    Charged(ChargeOutcome),
    /// An error (`500`): the charge may or may not have been captured.
    Error,
    /// The gateway is down (`503`): nothing captured.
    Unavailable,
    /// The key was used with other parameters (`400`): nothing done.
    KeyReused,
    /// The key's first request is still being answered (`409`): nothing done.
    InProgress,
    /// No answer, ever.
    Lost,
}

impl Reply {
    /// The answer as an in-process caller gets it.
    pub fn into_result(self) -> Result<ChargeOutcome, GatewayError> {
        let text = |s: &str| s.to_owned();
        match self {
            Reply::Charged(outcome) => Ok(outcome),
            Reply::Error => Err(GatewayError::Unknown(text(
                "the gateway answered an error (500): the charge may have been captured",
            ))),
            Reply::Lost => Err(GatewayError::Unknown(text(
                "no answer from the gateway: the charge may have been captured",
            ))),
            Reply::Unavailable => Err(GatewayError::Unavailable(text(
                "the gateway is unavailable (503): nothing was charged",
            ))),
            Reply::KeyReused => Err(GatewayError::Idempotency(text(
                "the idempotency key was used before with other parameters (400)",
            ))),
            Reply::InProgress => Err(GatewayError::Idempotency(text(
                "a request with this idempotency key is still being processed (409)",
            ))),
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
    recorder: crate::recorder::Recorder,
    started: Instant,
    state: Mutex<State>,
}

impl Gateway {
    /// A gateway recording into `recorder`; `seed` picks the declining cards.
    pub fn new(config: GatewayConfig, seed: u64, recorder: crate::recorder::Recorder) -> Gateway {
        let state = Mutex::new(State { next_charge: 1, ..State::default() });
        let shared = Shared { config, seed, recorder, started: Instant::now(), state };
        Gateway { shared: Arc::new(shared) }
    }

    /// Charges `amount` cents to `account`'s card, at most once per idempotency `key`,
    /// attributed to the client operation the calling task serves. Waits out the
    /// faults' latency; a lost answer holds the caller for [`LOST_HOLD`] (or until it
    /// gives up) and then is [`GatewayError::Unknown`].
    pub async fn charge(
        &self,
        account: AccountId,
        amount: i64,
        key: Option<&str>,
    ) -> Result<ChargeOutcome, GatewayError> {
        let claim = Claim::Known(crate::client::serving().map(|op| op.0));
        let mut answer = self.request(&Request { account, amount, key, claim });
        if !answer.delay().is_zero() {
            tokio::time::sleep(answer.delay()).await;
        }
        answer.released().await;
        if answer.reply() == Reply::Lost {
            tokio::time::sleep(LOST_HOLD).await;
        }
        answer.reply().into_result()
    }

    /// Decides a request now; the answer is given after its delay and, if it made the
    /// capture a hold was armed on, once the hold is released.
    fn request(&self, req: &Request<'_>) -> Answer {
        let (decision, held) = {
            let mut state = self.lock();
            let captures = state.captures;
            let decision = state.decide(&self.shared, req);
            let held = match state.captures > captures {
                true => state.hold.take().map(|arm| {
                    let _ = arm.captured.send(state.next_charge - 1);
                    arm.release
                }),
                false => None,
            };
            (decision, held)
        };
        let key = req
            .key
            .filter(|_| decision.holds_key)
            .map(|k| BusyKey { gateway: self.clone(), key: k.to_owned() });
        Answer { decision, _busy: key, held }
    }

    /// Arms a hold on the next capture: that charge is decided and recorded as usual,
    /// and its answer withheld until the returned [`CaptureHold`] is dropped. The
    /// nemesis uses it to act between a capture and its caller hearing of it (a service
    /// killed between charge and credit). Arming again replaces an unused hold.
    pub fn hold_next_capture(&self) -> CaptureHold {
        let (captured_tx, captured) = tokio::sync::oneshot::channel();
        let (release_tx, release) = tokio::sync::watch::channel(());
        self.lock().hold = Some(HoldArm { captured: captured_tx, release });
        CaptureHold { gateway: self.clone(), captured, _release: release_tx }
    }

    /// The outcome of the charge made with `key`, if anything was charged with it.
    pub fn lookup(&self, key: &str) -> Option<ChargeOutcome> {
        self.lock().keys.get(key).and_then(|e| e.outcome)
    }

    /// The charge made with `key`, with its account and amount.
    fn lookup_charge(&self, key: &str) -> Option<(ChargeOutcome, AccountId, i64)> {
        let state = self.lock();
        let entry = state.keys.get(key)?;
        Some((entry.outcome?, entry.account, entry.amount))
    }

    /// How many charges were captured so far.
    pub fn captures(&self) -> u64 {
        self.lock().captures
    }

    /// Registers client operation `op` on `account` as in flight through a service,
    /// until the guard is dropped: a charge over HTTP naming `op` is attributed to it
    /// only meanwhile, and only on `account`.
    pub fn serving(&self, op: OpId, account: AccountId) -> Serving {
        *self.lock().serving.entry((op.0, account)).or_default() += 1;
        Serving { gateway: self.clone(), entry: (op.0, account) }
    }

    /// Puts `fault` in force until [`Gateway::clear_fault`] with the token.
    pub fn set_fault(&self, fault: GatewayFault) -> FaultToken {
        self.lock().faults.set(fault)
    }

    /// Ends the fault, and says what it did; `None` if it was not in force.
    pub fn clear_fault(&self, token: FaultToken) -> Option<FaultEffect> {
        self.lock().faults.clear(token)
    }

    /// How many charge attempts the fault changed so far; `None` if it is not in force.
    pub fn fault_affected(&self, token: FaultToken) -> Option<u64> {
        self.lock().faults.affected(token)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().expect("gateway lock")
    }
}

/// A decided request, answered once its wait is over.
pub(crate) struct Answer {
    decision: Decision,
    _busy: Option<BusyKey>,
    /// Released when the hold on this capture is dropped.
    held: Option<tokio::sync::watch::Receiver<()>>,
}

impl Answer {
    /// Waits until the answer may go: at once, unless a hold is on its capture.
    pub(crate) async fn released(&mut self) {
        if let Some(release) = &mut self.held {
            // The hold never sends: `changed` returns once its sender is dropped.
            let _ = release.changed().await;
        }
    }

    /// What the caller is told.
    pub(crate) fn reply(&self) -> Reply {
        self.decision.reply
    }

    /// Whether it replays the first answer for its key.
    pub(crate) fn replayed(&self) -> bool {
        self.decision.replayed
    }

    /// How long the answer is delayed (latency).
    pub(crate) fn delay(&self) -> Duration {
        self.decision.delay
    }
}

/// A hold armed on the next capture, as the gateway keeps it.
pub(crate) struct HoldArm {
    captured: tokio::sync::oneshot::Sender<ChargeId>,
    release: tokio::sync::watch::Receiver<()>,
}

/// The nemesis's side of a hold on the next capture ([`Gateway::hold_next_capture`]):
/// dropping it releases the held answer, or disarms the hold if no capture came.
pub struct CaptureHold {
    gateway: Gateway,
    captured: tokio::sync::oneshot::Receiver<ChargeId>,
    _release: tokio::sync::watch::Sender<()>,
}

impl CaptureHold {
    /// Waits for the held capture, and says which charge it was.
    pub async fn captured(&mut self) -> Option<ChargeId> {
        (&mut self.captured).await.ok()
    }
}

impl Drop for CaptureHold {
    fn drop(&mut self) {
        let mut state = self.gateway.lock();
        if state.hold.as_ref().is_some_and(|arm| arm.captured.is_closed()) {
            state.hold = None;
        }
    }
}

/// Marks a key busy while its first request is being answered.
struct BusyKey {
    gateway: Gateway,
    key: String,
}

impl Drop for BusyKey {
    fn drop(&mut self) {
        if let Some(entry) = self.gateway.lock().keys.get_mut(&self.key) {
            entry.busy = false;
        }
    }
}

/// A client operation registered as in flight through a service
/// ([`Gateway::serving`]); dropping it ends the registration.
#[must_use = "the operation counts as in flight only while the guard lives"]
pub struct Serving {
    gateway: Gateway,
    entry: (u64, AccountId),
}

impl Drop for Serving {
    fn drop(&mut self) {
        let mut state = self.gateway.lock();
        if let Some(count) = state.serving.get_mut(&self.entry) {
            *count -= 1;
            if *count == 0 {
                state.serving.remove(&self.entry);
            }
        }
    }
}

#[cfg(test)]
mod tests;
