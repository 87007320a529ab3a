//! The gateway's state and its one decision per request, made and recorded under the
//! lock with no await inside: idempotency keys first (Stripe's rules), then the faults
//! in force, then the card.

use super::card::{Card, declines_always};
use super::fault::Faults;
use super::{ChargeOutcome, Decline, GatewayFault, Reply, Shared};
use checkers::history::{
    AccountId, AccountOp, Charge, ChargeAnswer, ChargeId, F, OpType, Process, Value,
};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// Everything the gateway keeps, behind its lock.
#[derive(Default)]
pub(super) struct State {
    pub(super) next_charge: ChargeId,
    pub(super) cards: BTreeMap<AccountId, Card>,
    pub(super) keys: HashMap<String, KeyEntry>,
    pub(super) captures: u64,
    pub(super) faults: Faults,
    /// Client operations in flight through an HTTP service, per account, and how many
    /// registrations each has ([`Gateway::serving`](super::Gateway::serving)).
    pub(super) serving: HashMap<(u64, AccountId), usize>,
    /// A hold armed on the next capture ([`Gateway::hold_next_capture`](super::Gateway::hold_next_capture)).
    pub(super) hold: Option<super::HoldArm>,
}

/// What the gateway keeps of the first request made with an idempotency key.
pub(super) struct KeyEntry {
    pub(super) account: AccountId,
    pub(super) amount: i64,
    /// The first answer, replayed to every later request with the key.
    reply: Reply,
    /// What was charged with the key, as a lookup tells it.
    pub(super) outcome: Option<ChargeOutcome>,
    /// Whether the first request is still being answered (delayed, or its answer lost).
    pub(super) busy: bool,
}

/// Who a charge request claims to serve.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Claim {
    /// The client operation whose call the calling task runs (in-process systems):
    /// the harness's own knowledge.
    Known(Option<u64>),
    /// The operation a service named (`Faultline-Op`), believed only if it is in flight
    /// on the charged account.
    Claimed(Option<u64>),
}

/// One charge request.
pub(crate) struct Request<'a> {
    pub(crate) account: AccountId,
    pub(crate) amount: i64,
    pub(crate) key: Option<&'a str>,
    pub(crate) claim: Claim,
}

/// The gateway's decision on one request.
pub(crate) struct Decision {
    /// What the caller is told (or that it is told nothing).
    pub(crate) reply: Reply,
    /// Whether it is the answer saved for the request's key.
    pub(crate) replayed: bool,
    /// How long to wait before answering.
    pub(crate) delay: Duration,
    /// Whether the request's key is marked busy until the answer is given or dropped.
    pub(crate) holds_key: bool,
}

impl State {
    /// Decides `req`, records the attempt if it is one, and saves its key's answer.
    pub(super) fn decide(&mut self, shared: &Shared, req: &Request<'_>) -> Decision {
        let delay = self.faults.delay();
        let refused = |reply| Decision { reply, replayed: false, delay, holds_key: false };
        if self.faults.outage() {
            let applied = self.faults.apply();
            self.record(shared, req, None, ChargeAnswer::Unavailable);
            return Decision { delay: applied.delay, ..refused(Reply::Unavailable) };
        }
        if let Some(entry) = req.key.and_then(|k| self.keys.get(k)) {
            return match entry {
                e if (e.account, e.amount) != (req.account, req.amount) => {
                    refused(Reply::KeyReused)
                }
                e if e.busy => refused(Reply::InProgress),
                e => Decision { reply: e.reply, replayed: true, delay, holds_key: false },
            };
        }
        let applied = self.faults.apply();
        let (outcome, reply) = self.execute(shared, req, applied.decides);
        let holds_key = reply == Reply::Lost || !applied.delay.is_zero();
        if let Some(key) = req.key {
            let saved = match (reply, outcome) {
                (Reply::Lost, Some(o)) => Reply::Charged(o),
                _ => reply,
            };
            let (account, amount) = (req.account, req.amount);
            let entry = KeyEntry { account, amount, reply: saved, outcome, busy: holds_key };
            self.keys.insert(key.to_owned(), entry);
        }
        Decision { reply, replayed: false, delay: applied.delay, holds_key }
    }

    /// Performs a new attempt as the deciding fault (if any) says, and records it.
    fn execute(
        &mut self,
        shared: &Shared,
        req: &Request<'_>,
        fault: Option<GatewayFault>,
    ) -> (Option<ChargeOutcome>, Reply) {
        let charge = self.next_charge;
        let (outcome, deactivated) = match fault {
            Some(GatewayFault::ErrorsBefore) => (None, false),
            Some(GatewayFault::Declines) => {
                (Some(ChargeOutcome::Declined(charge, Decline::CardDeclined)), false)
            }
            _ => {
                let (outcome, deactivated) = self.card(shared, req.account, charge);
                (Some(outcome), deactivated)
            }
        };
        let answer = match (fault, outcome) {
            (Some(GatewayFault::ErrorsBefore | GatewayFault::ErrorsAfter), _) => {
                ChargeAnswer::Error
            }
            (Some(GatewayFault::LostResponse), _) => ChargeAnswer::Lost,
            (_, Some(ChargeOutcome::Declined(..))) => ChargeAnswer::Declined,
            _ => ChargeAnswer::Captured,
        };
        let reply = match (answer, outcome) {
            (ChargeAnswer::Error, _) => Reply::Error,
            (ChargeAnswer::Lost, _) => Reply::Lost,
            (_, Some(o)) => Reply::Charged(o),
            (_, None) => Reply::Error,
        };
        self.record(shared, req, outcome, answer);
        if deactivated {
            record_deactivation(shared, req.account);
        }
        (outcome, reply)
    }

    /// The card's own decision on a charge, and whether this capture deactivated it.
    fn card(
        &mut self,
        shared: &Shared,
        account: AccountId,
        charge: ChargeId,
    ) -> (ChargeOutcome, bool) {
        let declining = declines_always(shared.seed, account, shared.config.declining_cards);
        let now = shared.started.elapsed();
        let card = self.cards.entry(account).or_default();
        match card.charge(now, declining, &shared.config) {
            Ok(deactivated) => {
                self.captures += 1;
                (ChargeOutcome::Captured(charge), deactivated)
            }
            Err(decline) => (ChargeOutcome::Declined(charge, decline), false),
        }
    }

    /// Records one charge attempt, numbered, as ground truth: `ok` when captured, else
    /// `fail` with the decline or the gateway's own failure.
    fn record(
        &mut self,
        shared: &Shared,
        req: &Request<'_>,
        outcome: Option<ChargeOutcome>,
        answer: ChargeAnswer,
    ) {
        let charge = self.next_charge;
        self.next_charge += 1;
        let op = match req.claim {
            Claim::Known(op) => op,
            Claim::Claimed(op) => op.filter(|op| self.serving.contains_key(&(*op, req.account))),
        };
        let (kind, error) = match (outcome, answer) {
            (Some(ChargeOutcome::Captured(_)), _) => (OpType::Ok, None),
            (Some(ChargeOutcome::Declined(_, d)), _) => (OpType::Fail, Some(d.as_str())),
            (None, ChargeAnswer::Unavailable) => (OpType::Fail, Some("gateway-unavailable")),
            (None, _) => (OpType::Fail, Some("gateway-error")),
        };
        let value = Value::Charge(Charge {
            charge,
            account: req.account,
            amount: req.amount,
            key: req.key.map(Into::into),
            op,
            answer: Some(answer),
        });
        let error = error.map(str::to_owned);
        shared.recorder.record(Process::Gateway, kind, F::Charge, value, error);
    }
}

fn record_deactivation(shared: &Shared, account: AccountId) {
    let value = Value::Account(AccountOp { account, amount: None, balance: None });
    shared.recorder.record(Process::Gateway, OpType::Ok, F::CardDeactivated, value, None);
}
