//! Billing systems written for the tests, from `workloads`' public API only, as a user
//! of faultline would write theirs: each is registered next to the built-in ones, never
//! built in.

pub mod ledger_first;
pub mod ledger_only;

use workloads::sut::{Registry, Sut};

/// The built-in systems and the designs written here.
pub fn registry() -> Registry {
    Registry::builtin()
        .register("ledger-first", ledger_first::ABOUT, |cx| {
            Sut::new(ledger_first::LedgerFirst::new(cx))
        })
        .register("ledger-only", ledger_only::ABOUT, |cx| {
            Sut::new(ledger_only::LedgerOnly::new(cx))
        })
}
