//! faultline: Jepsen-style fault injection for money-moving systems built on Redis and
//! Postgres.
//!
//! - [`explore`]: random fault schedules, shrunk to a minimal failing scenario.
//! - [`images`]: the Redis and Postgres images, built locally and tagged by content.
//! - [`docker`]: the Docker engine beyond testcontainers: exec, logs, the label sweep.
//! - [`cluster`]: a live cluster in containers, node control, owners and `clean`.
//! - [`nemesis`]: the fault catalogue, schedules, and the interpreter that performs them.
//! - [`logging`]: errors on the console; each run's lines in its own `faultline.log`.
//! - [`runner`]: one run end to end, from scenario to verdict and its results as data;
//!   [`progress`] shows it.
//! - [`scenario`]: scenarios as data: topology, workload, faults, recovery, seed; files,
//!   or a typed builder from code.
//! - [`store`]: one directory per run: history, results, report, node logs.
//! - [`report`]: `results.json`, `junit.xml` and the self-contained `report.html`.
//! - [`serve`]: browse the store over HTTP on 127.0.0.1.
//!
//! The workspace's other crates are re-exported, so one dependency on `faultline` is
//! enough: [`checkers`] (the history and the checkers), [`workloads`] (the
//! [`BillingSystem`](workloads::sut::BillingSystem) trait, the stores, the clients) and
//! [`designs`] (faultline's own designs, `naive` and `failsafe`).
#![deny(missing_docs)]

pub mod cluster;
pub mod conform;
pub mod docker;
pub mod explore;
pub mod hosts;
pub mod images;
pub mod logging;
pub mod nemesis;
pub mod progress;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod serve;
pub mod service;
pub mod store;

pub use checkers;
pub use designs;
pub use workloads;

/// Resolves on Ctrl-C or SIGTERM: how the long-running commands (`up`, `hosts up`,
/// `serve`) wait to be told to stop.
pub async fn shutdown_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}
