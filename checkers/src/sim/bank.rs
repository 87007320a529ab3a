//! The sequential model of the billing system under test.
//!
//! One balance per account (the ledger and the balance store agree, as they should),
//! changed atomically by each operation at its linearization point. A debit that leaves
//! the balance below the threshold recharges, through the gateway, inside the debit or,
//! deferred, inside the account's next operation that succeeds (if the balance is still
//! below the threshold then) or in `settle`: captured money is credited, a declined card
//! suspends the account, an unknown outcome is credited only if the gateway truly
//! captured it. The model is fail-safe: it refuses every operation that would need an
//! unsafe store, and never charges then.
//!
//! A configured [`Bug`] makes the model misbehave once, at its first opportunity, and
//! say which operation witnesses it.

use super::Bug;
use super::rng::Rng;
use crate::history::{AccountSpec, Charge, ChargeId, OpType};

/// An account of the model.
pub(super) struct Account {
    pub spec: AccountSpec,
    pub balance: i64,
    pub suspended: bool,
    pub credited: Vec<ChargeId>,
    /// The balance store lost this account's balance key.
    pub missing: bool,
    /// No indeterminate operation or charge concerned it yet.
    pub clean: bool,
    /// The balance before the last debit applied: what a stale replica would say.
    pub stale: Option<i64>,
    /// A recharge was deferred and not yet made.
    need: bool,
    recharges: u64,
}

/// What a client asks of the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Debit,
    Payment,
    Read,
}

/// One request at its linearization point.
pub(super) struct Request {
    pub kind: Kind,
    pub account: u32,
    pub amount: i64,
    /// Applied after its client gave up: no recharge any more.
    pub zombie: bool,
    /// No other client operation on the account was in flight when this one was
    /// invoked, nor invoked since: the account's bounds have not moved but by it.
    pub alone: bool,
    /// Invoked, like every operation on its account in flight, inside an unsafe window
    /// that the monitor will see again.
    pub inside_window: bool,
}

/// A charge attempt as the gateway records it.
pub(super) struct GatewayEvent {
    pub kind: OpType,
    pub charge: Charge,
    pub error: Option<&'static str>,
}

/// What applying a request did.
pub(super) struct Applied {
    /// `Ok(balance)` or `Err(error)`.
    pub outcome: Result<i64, &'static str>,
    pub charges: Vec<GatewayEvent>,
    /// The injected bug fired here; its witness is this charge (by position), or the
    /// request's completion when `None`.
    pub fired: Option<Option<usize>>,
}

/// The billing system's state, and the gateway's odds.
pub(super) struct Bank {
    pub accounts: Vec<Account>,
    pub read_only: bool,
    pub bug: Option<Bug>,
    pub decline_rate: f64,
    pub unsure_rate: f64,
    defer_rate: f64,
    next_charge: ChargeId,
}

impl Bank {
    pub(super) fn new(specs: Vec<AccountSpec>, cfg: &super::SimConfig) -> Bank {
        let accounts = specs
            .into_iter()
            .map(|spec| Account {
                balance: spec.balance,
                spec,
                suspended: false,
                credited: Vec::new(),
                missing: false,
                clean: true,
                stale: None,
                need: false,
                recharges: 0,
            })
            .collect();
        Bank {
            accounts,
            read_only: false,
            bug: cfg.bug,
            decline_rate: cfg.decline_rate,
            unsure_rate: cfg.unsure_rate,
            defer_rate: cfg.defer_rate,
            next_charge: 1,
        }
    }

    pub(super) fn is_unsafe(&self, account: u32) -> bool {
        self.read_only || self.accounts[account as usize].missing
    }

    fn take_bug(&mut self, bug: Bug) -> bool {
        let fires = self.bug == Some(bug);
        if fires {
            self.bug = None;
        }
        fires
    }

    pub(super) fn apply(&mut self, req: &Request, rng: &mut Rng) -> Applied {
        let mut applied = Applied { outcome: Err(""), charges: Vec::new(), fired: None };
        applied.outcome = match req.kind {
            Kind::Read if self.accounts[req.account as usize].missing => Err("no balance"),
            Kind::Read => Ok(0),
            Kind::Payment if self.is_unsafe(req.account) => Err(self.unsafe_error(req.account)),
            Kind::Payment => {
                self.accounts[req.account as usize].balance += req.amount;
                Ok(0)
            }
            Kind::Debit => self.debit(req, rng, &mut applied),
        };
        if req.kind != Kind::Debit && applied.outcome.is_ok() && !req.zombie {
            self.deferred(req.account, rng, &mut applied);
        }
        if let Ok(balance) = &mut applied.outcome {
            *balance = self.accounts[req.account as usize].balance;
        }
        applied
    }

    /// A deferred recharge, made if the balance still needs it and the store is safe.
    fn deferred(&mut self, account: u32, rng: &mut Rng, applied: &mut Applied) {
        let a = &self.accounts[account as usize];
        if !a.need || self.is_unsafe(account) {
            return;
        }
        let needed = !a.suspended && a.balance < a.spec.threshold;
        self.accounts[account as usize].need = false;
        if needed {
            self.recharge(account, rng, applied);
        }
    }

    /// `settle`: every deferred recharge still needed.
    pub(super) fn settle(&mut self, account: u32, rng: &mut Rng) -> Applied {
        let mut applied = Applied { outcome: Ok(0), charges: Vec::new(), fired: None };
        self.deferred(account, rng, &mut applied);
        applied
    }

    fn unsafe_error(&self, account: u32) -> &'static str {
        match self.accounts[account as usize].missing {
            true => "no balance",
            false => "READONLY You can't write against a read only replica.",
        }
    }

    fn debit(
        &mut self,
        req: &Request,
        rng: &mut Rng,
        applied: &mut Applied,
    ) -> Result<i64, &'static str> {
        let a = req.account as usize;
        if self.is_unsafe(req.account) {
            if !req.zombie && req.inside_window && self.take_bug(Bug::ChargeWhileUnsafe) {
                let charge = self.charge(req.account);
                applied.charges.push(GatewayEvent { kind: OpType::Ok, charge, error: None });
                applied.fired = Some(Some(0));
            }
            return Err(self.unsafe_error(req.account));
        }
        let account = &self.accounts[a];
        if account.suspended {
            return Err("suspended");
        }
        let below_floor =
            account.spec.floor.is_some_and(|floor| account.balance - req.amount < floor);
        if below_floor && (req.zombie || !self.take_bug(Bug::BelowFloor)) {
            return Err("insufficient funds");
        }
        if !req.zombie {
            self.accounts[a].stale = Some(self.accounts[a].balance);
        }
        self.accounts[a].balance -= req.amount;
        if below_floor {
            applied.fired = Some(None);
        } else if !req.zombie && self.accounts[a].balance < self.accounts[a].spec.threshold {
            match rng.chance(self.defer_rate) {
                true => self.accounts[a].need = true,
                false => {
                    self.accounts[a].need = false;
                    self.recharge(req.account, rng, applied);
                }
            }
        } else if !req.zombie
            && req.alone
            && self.accounts[a].clean
            && self.take_bug(Bug::RepeatedRecharge)
        {
            self.capture(req.account, applied);
            applied.fired = Some(Some(0));
        }
        Ok(self.accounts[a].balance)
    }

    fn charge(&mut self, account: u32) -> Charge {
        let a = &mut self.accounts[account as usize];
        a.recharges += 1;
        let key = Some(format!("recharge-{account}-{}", a.recharges));
        let charge = Charge {
            charge: self.next_charge,
            account,
            amount: a.spec.recharge,
            key,
            op: None,
            answer: None,
        };
        self.next_charge += 1;
        charge
    }

    /// Captures a recharge and credits it.
    fn capture(&mut self, account: u32, applied: &mut Applied) {
        let charge = self.charge(account);
        let a = &mut self.accounts[account as usize];
        a.balance += charge.amount;
        a.credited.push(charge.charge);
        applied.charges.push(GatewayEvent { kind: OpType::Ok, charge, error: None });
    }

    fn recharge(&mut self, account: u32, rng: &mut Rng, applied: &mut Applied) {
        let draw = rng.next() as f64 / u64::MAX as f64;
        if draw < self.decline_rate || self.take_bug(Bug::PhantomCredit) {
            self.decline(account, draw >= self.decline_rate, applied);
        } else if draw < self.decline_rate + self.unsure_rate {
            self.unsure(account, rng.chance(0.5), applied);
        } else if self.take_bug(Bug::UncreditedCharge) {
            let charge = self.charge(account);
            applied.charges.push(GatewayEvent { kind: OpType::Ok, charge, error: None });
            applied.fired = Some(Some(0));
        } else if self.take_bug(Bug::DuplicateOp) {
            self.capture(account, applied);
            self.capture(account, applied);
            applied.fired = Some(Some(applied.charges.len() - 1));
        } else if self.take_bug(Bug::DuplicateKey) {
            self.capture(account, applied);
            let mut again = self.charge(account);
            again.key = applied.charges.last().and_then(|c| c.charge.key.clone());
            applied.charges.push(GatewayEvent { kind: OpType::Ok, charge: again, error: None });
            applied.fired = Some(Some(applied.charges.len() - 1));
        } else {
            self.capture(account, applied);
        }
    }

    /// A declined card suspends the account; with the phantom-credit bug the model
    /// credits it anyway and does not suspend.
    fn decline(&mut self, account: u32, phantom: bool, applied: &mut Applied) {
        let charge = self.charge(account);
        let a = &mut self.accounts[account as usize];
        if phantom {
            a.balance += charge.amount;
            a.credited.push(charge.charge);
            applied.fired = Some(Some(0));
        } else {
            a.suspended = true;
        }
        applied.charges.push(GatewayEvent {
            kind: OpType::Fail,
            charge,
            error: Some("card-declined"),
        });
    }

    fn unsure(&mut self, account: u32, captured: bool, applied: &mut Applied) {
        let charge = self.charge(account);
        let a = &mut self.accounts[account as usize];
        a.clean = false;
        if captured {
            a.balance += charge.amount;
            a.credited.push(charge.charge);
        }
        applied.charges.push(GatewayEvent {
            kind: OpType::Info,
            charge,
            error: Some("gateway timeout"),
        });
    }
}
