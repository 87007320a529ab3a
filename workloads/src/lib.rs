//! The billing system under test as faultline meets it (the trait it implements, the
//! stores and the card gateway it uses), the clients that drive it, and the harness's
//! own observers, all recording into one history.
//!
//! - [`endpoints`]: where the system under test finds Redis and Postgres, kept current.
//! - [`recorder`]: the history, recorded as it happens.
//! - [`store`]: connections that follow the topology (the Redis master, a replica, the
//!   ledger's transactions), and what store errors mean.
//! - [`sut`]: the [`BillingSystem`](sut::BillingSystem) trait a billing service
//!   implements, and the registry of systems by name.
//! - [`gateway`]: the harness's card gateway, ground truth for every charge; its faults,
//!   Stripe's idempotency rules, and its HTTP face.
//! - [`truth`]: the harness's final read of the stores, through the system's layout.
//! - [`monitor`]: the harness's probes of the balance store, ground truth for fail-safety.
//! - [`sentinel`]: the harness's sentinel watch: Sentinel's events, ground truth, and its
//!   word on the master passed to the harness.
//! - [`client`]: client workers: concurrency, pacing, timeouts, ok/fail/info.
//! - [`billing`]: the billing workload, in phases: setup, run, finish.
//! - [`counter`], [`set`]: Jepsen's generic Redis workloads; [`register`]: reads, writes
//!   and compare-and-sets on independent keys, for the linearizability checker.
//! - [`scenarios`]: the scenario files bundled with faultline.
//! - [`task`]: spawning a task that carries the run's span, so its log lines reach the
//!   run's log.
#![deny(missing_docs)]

pub mod billing;
pub mod client;
pub mod counter;
pub mod endpoints;
pub mod gateway;
pub mod monitor;
pub mod recorder;
pub mod register;
pub mod scenarios;
pub mod sentinel;
pub mod set;
pub mod store;
pub mod sut;
pub mod task;
pub mod truth;

#[cfg(test)]
mod testkit;

/// Why a workload could not start.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    /// The settings are invalid.
    #[error("invalid workload settings: {0}")]
    Config(String),
    /// The stores could not be prepared.
    #[error("failed to set up the stores: {0}")]
    Setup(#[from] store::StoreError),
}
