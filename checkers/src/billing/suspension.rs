//! *wrongful-suspension*: an account ends suspended only after a card decline that
//! came while its balance could have been below the threshold. Only the card's
//! declines count (`card-declined`, `card-deactivated`): a charge the gateway failed
//! to make (`gateway-error`, `gateway-unavailable`) says nothing about the card.

use super::shared::{BoundsView, SharedBounds};
use crate::checker::{Checker, Event, Interest};
use crate::fast::FastMap;
use crate::history::{AccountId, Charge, F, OpType, Process, Value};
use crate::verdict::{Anomaly, AnomalyKind, Findings, Subject, Verdict};

/// Checks that every suspension was justified by a card decline.
#[derive(Default)]
pub struct WrongfulSuspension {
    bounds: BoundsView,
    declines: FastMap<AccountId, Declines>,
    suspended: Vec<(u64, AccountId)>,
    findings: Findings,
}

/// An account's card declines: how many, the first and last, and the least L at any.
struct Declines {
    count: u64,
    first: u64,
    last: u64,
    lowest: i64,
}

impl WrongfulSuspension {
    /// A checker reading a suite's shared bounds.
    pub(crate) fn sharing(bounds: &SharedBounds) -> WrongfulSuspension {
        WrongfulSuspension { bounds: bounds.view(), ..WrongfulSuspension::default() }
    }
}

impl Checker for WrongfulSuspension {
    fn name(&self) -> &'static str {
        "wrongful-suspension"
    }

    fn observe(&mut self, ev: &Event<'_>) {
        match (ev.op.process, &ev.op.f, ev.kind(), &ev.op.value) {
            (Process::Gateway, F::Charge, OpType::Fail, Value::Charge(c))
                if ev.op.is_card_decline() =>
            {
                self.decline(ev.index(), c)
            }
            (Process::Harness, F::Final, _, Value::Final(s)) if s.suspended == Some(true) => {
                self.suspended.push((ev.index(), s.account));
            }
            _ => {}
        }
        self.bounds.observe(ev);
    }

    fn interest(&self) -> Interest {
        self.bounds.interest().or(Interest::GATEWAY).or(Interest::HARNESS)
    }

    fn finish(&mut self) -> Verdict {
        let suspended = std::mem::take(&mut self.suspended);
        suspended.into_iter().for_each(|(index, account)| self.check(index, account));
        self.bounds.verdict().merge(self.findings.verdict())
    }
}

impl WrongfulSuspension {
    fn decline(&mut self, index: u64, c: &Charge) {
        let account = c.account;
        let Some(low) = self.bounds.with(account, |s| s.decision_window(c.op).low) else { return };
        let d = self.declines.entry(account).or_insert(Declines {
            count: 0,
            first: index,
            last: index,
            lowest: low,
        });
        d.count += 1;
        d.last = index;
        d.lowest = d.lowest.min(low);
    }

    fn check(&mut self, index: u64, account: AccountId) {
        let Some(sums) = self.bounds.get(account) else { return };
        let threshold = sums.threshold();
        let (explanation, ops, magnitude) = match self.declines.get(&account) {
            Some(d) if d.lowest < threshold => return,
            Some(d) => (
                format!(
                    "account {account} ends suspended (final state at op {index}) although its balance was \
                     at least {} cents, not below the {threshold}-cent recharge threshold, at each of its \
                     {} card declines (ops {} to {})",
                    d.lowest, d.count, d.first, d.last
                ),
                dedup(vec![index, d.first, d.last]),
                d.lowest.saturating_sub(threshold),
            ),
            None => (
                format!(
                    "account {account} ends suspended (final state at op {index}) although its card was \
                     never declined"
                ),
                vec![index],
                sums.low().saturating_sub(threshold),
            ),
        };
        let subject = Subject::Account(account);
        self.findings.anomaly(Anomaly {
            kind: AnomalyKind::WrongfulSuspension,
            subject,
            explanation,
            ops,
            magnitude,
        });
    }
}

fn dedup(mut ops: Vec<u64>) -> Vec<u64> {
    ops.dedup();
    ops
}
