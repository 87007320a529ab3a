//! The billing designs faultline puts under test, written as a user of faultline writes
//! theirs: on the public API of `workloads` and `checkers` only, so either is a starting
//! point to copy.
//!
//! - [`naive`]: the billing system as it was in July 2013: balances in Redis, failed
//!   writes logged and ignored.
//! - [`failsafe`]: the design announced after it: a durable ledger first, charge
//!   intents with idempotency keys, no charge while the balance store is unsafe.
//! - [`builtin`]: both, by name, for the command line and scenario files.
//!
//! Put your own design next to them:
//!
//! ```
//! use workloads::sut::Sut;
//!
//! let registry = designs::builtin().register("mine", "failsafe under another name", |cx| {
//!     Sut::new(designs::failsafe::FailSafe::new(cx))
//! });
//! assert_eq!(registry.names(), ["naive", "failsafe", "mine"]);
//! ```
#![deny(missing_docs)]

pub mod failsafe;
pub mod naive;

use failsafe::FailSafe;
use naive::Naive;
use workloads::sut::{Registry, Sut};

/// The designs faultline ships: `naive`, then `failsafe`.
pub fn builtin() -> Registry {
    Registry::new().register("naive", Naive::ABOUT, |cx| Sut::new(Naive::new(cx))).register(
        "failsafe",
        FailSafe::ABOUT,
        |cx| Sut::new(FailSafe::new(cx)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_designs_are_listed_and_unknown_names_are_explained() {
        let registry = builtin();
        assert_eq!(registry.names(), ["naive", "failsafe"]);
        assert!(registry.list().all(|(_, about)| !about.is_empty()));
        let err = registry.get("nave").err().expect("no such system");
        assert_eq!(
            err.to_string(),
            "no system under test is named \"nave\"; known: naive, failsafe"
        );
    }
}
