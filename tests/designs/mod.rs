//! Billing systems written for the tests, from `workloads`' public API only, as a user
//! of faultline would write theirs: each is registered next to faultline's own designs
//! (`designs::builtin()`), never built in.

pub mod ledger_first;

use faultline::workloads::sut::{Registry, Sut};

/// faultline's own designs and the designs written here.
pub fn registry() -> Registry {
    faultline::designs::builtin().register("ledger-first", ledger_first::ABOUT, |cx| {
        Sut::new(ledger_first::LedgerFirst::new(cx))
    })
}
