//! One set of bounds for all the billing checkers of a suite.
//!
//! Each billing checker can keep its own [`Bounds`] (so it works alone), but a suite
//! shares one: the checkers read it, and the [`BalanceBounds`] checker, run after them,
//! updates it once per operation. So every checker sees L and U as they were just before
//! the operation it observes, and a billing history costs one account lookup per
//! operation instead of one per checker. If the update ever panics, the bounds are
//! marked broken and every checker reading them reports `Unknown`.

use super::bounds::{Bounds, Sums};
use crate::checker::{Checker, Event, Interest};
use crate::history::AccountId;
use crate::verdict::Verdict;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

/// Bounds shared by a suite's billing checkers.
#[derive(Clone, Default)]
pub(crate) struct SharedBounds(Rc<Shared>);

#[derive(Default)]
struct Shared {
    bounds: RefCell<Bounds>,
    broken: Cell<Option<u64>>,
}

/// A checker's access to bounds: its own, or a suite's.
pub(crate) enum BoundsView {
    Own(Box<Bounds>),
    Shared(SharedBounds),
}

impl Default for BoundsView {
    fn default() -> BoundsView {
        BoundsView::Own(Box::default())
    }
}

impl BoundsView {
    /// Takes in an operation, after the checker looked at the bounds before it; shared
    /// bounds are updated by [`BalanceBounds`] instead.
    pub fn observe(&mut self, ev: &Event<'_>) {
        if let BoundsView::Own(bounds) = self {
            bounds.observe(ev);
        }
    }

    /// What the checker must observe for its bounds: what moves L and U when it owns
    /// them, nothing when they are shared.
    pub fn interest(&self) -> Interest {
        match self {
            BoundsView::Own(_) => super::bounds::INTEREST,
            BoundsView::Shared(_) => Interest::NONE,
        }
    }

    /// An opened account's bounds, now.
    pub fn get(&self, account: AccountId) -> Option<Sums> {
        match self {
            BoundsView::Own(bounds) => bounds.get(account).cloned(),
            BoundsView::Shared(shared) => shared.0.bounds.borrow().get(account).cloned(),
        }
    }

    /// Reads an opened account's bounds, now, without copying them.
    pub fn with<T>(&self, account: AccountId, f: impl FnOnce(&Sums) -> T) -> Option<T> {
        match self {
            BoundsView::Own(bounds) => bounds.get(account).map(f),
            BoundsView::Shared(shared) => shared.0.bounds.borrow().get(account).map(f),
        }
    }

    /// Whether an account's bounds overflowed, so that it is no longer judged.
    pub fn overflowed(&self, account: AccountId) -> bool {
        match self {
            BoundsView::Own(bounds) => bounds.overflowed(account),
            BoundsView::Shared(shared) => shared.0.bounds.borrow().overflowed(account),
        }
    }

    /// Every opened account, in no particular order.
    pub fn accounts(&self) -> Vec<(AccountId, Sums)> {
        let collect = |b: &Bounds| b.accounts().map(|(a, s)| (a, s.clone())).collect();
        match self {
            BoundsView::Own(bounds) => collect(bounds),
            BoundsView::Shared(shared) => collect(&shared.0.bounds.borrow()),
        }
    }

    /// What the bounds could not account for: their own problems when owned (shared
    /// bounds report theirs in their own row), or that the shared bounds broke; and,
    /// either way, the accounts whose bounds overflowed.
    pub fn verdict(&mut self) -> Verdict {
        match self {
            BoundsView::Own(bounds) => bounds.verdict(),
            BoundsView::Shared(shared) => match shared.0.broken.get() {
                None => shared.0.bounds.borrow().overflows.clone().verdict(),
                Some(index) => Verdict::Unknown(format!(
                    "the balance bounds crashed at op {index}, so this checker cannot judge the rest"
                )),
            },
        }
    }
}

impl SharedBounds {
    /// A view for one checker.
    pub fn view(&self) -> BoundsView {
        BoundsView::Shared(self.clone())
    }

    /// The checker that updates these bounds; run it after every checker reading them.
    pub fn updater(&self) -> BalanceBounds {
        BalanceBounds(self.clone())
    }
}

/// Updates a suite's shared bounds; its verdict says which operations the bounds could
/// not account for (an unopened account, a debit without an amount).
pub(crate) struct BalanceBounds(SharedBounds);

impl Checker for BalanceBounds {
    fn name(&self) -> &'static str {
        "balance-bounds"
    }

    fn observe(&mut self, ev: &Event<'_>) {
        let shared = &(self.0).0;
        if shared.broken.get().is_some() {
            return;
        }
        shared.broken.set(Some(ev.index()));
        shared.bounds.borrow_mut().observe(ev);
        shared.broken.set(None);
    }

    fn interest(&self) -> Interest {
        super::bounds::INTEREST
    }

    fn finish(&mut self) -> Verdict {
        (self.0).0.bounds.borrow_mut().verdict()
    }
}
