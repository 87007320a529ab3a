//! Billing systems written for the tests, from `workloads`' public API only, as a user
//! of faultline would write theirs: each is registered next to faultline's own designs
//! (`designs::builtin()`), never built in. `ledger-first` is correct; `replica-reads`
//! (failsafe reading balances from a replica) is wrong on purpose.

pub mod ledger_first;
pub mod replica_reads;

use faultline::workloads::sut::{Registry, Sut};

/// faultline's own designs and the designs written here.
pub fn registry() -> Registry {
    faultline::designs::builtin()
        .register("ledger-first", ledger_first::ABOUT, |cx| {
            Sut::new(ledger_first::LedgerFirst::new(cx))
        })
        .register("replica-reads", replica_reads::ABOUT, |cx| {
            Sut::new(replica_reads::ReplicaReads::new(cx))
        })
}
