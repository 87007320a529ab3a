//! The nemesis: faults as values, and the one interpreter that performs them on the
//! cluster and records them in the history.
//!
//! ```no_run
//! # async fn demo(
//! #     cluster: &faultline::cluster::Cluster,
//! #     recorder: workloads::recorder::Recorder,
//! # ) -> Result<(), faultline::nemesis::NemesisError> {
//! use faultline::nemesis::{Fault, Nemesis, Schedule};
//! use tokio_util::sync::CancellationToken;
//!
//! let schedule: Schedule = toml::from_str(r#"
//!     [[faults]]
//!     at = "10s"
//!     fault = "partition-replicas"
//!     duration = "8s"
//! "#).expect("a schedule");
//! let mut nemesis = Nemesis::new(cluster, recorder, 42).await?;
//! let end_of_run = CancellationToken::new(); // cancelled at the end of the run, or on Ctrl-C
//! let reach = nemesis.run(&schedule, &end_of_run).await?;
//! println!("{reach}");
//! # Ok(()) }
//! ```
//!
//! - [`fault`]: the catalogue, [`Fault`], and [`Target`]s.
//! - [`schedule`]: [`Schedule`]s written by hand or drawn from a seed ([`RandomSchedule`]).
//! - `interpreter`: [`Nemesis`]: start, heal, run a schedule, heal everything.
//! - `plan`, `targets`, `grudge`: pure choices: which nodes, which packets to drop.
//! - `net`: iptables rules, the disconnect fallback, tc netem.
//! - `process`: kill, stop, restart, pause, and Redis restarts with a bad config.
//! - `replication`: resync storms, failover, split brain.
//! - `postgres`: acknowledged commits lost to `synchronous_commit = off`.
//! - `gateway`: the card gateway's faults, judged by the charges they changed.
//! - `service_net`: the service container cut from stores and the gateway.
//! - `topology`: good configs, roles, and the final sweep.
//! - [`reach`]: whether each fault's intended effect was seen.
//!
//! **Architecture invariant:** only the interpreter touches containers (and the card
//! gateway's fault switch); faults and schedules are plain data.

pub mod dry_run;
pub mod fault;
mod gateway;
mod grudge;
mod interpreter;
mod net;
mod observe;
mod plan;
mod postgres;
mod process;
pub mod reach;
mod replication;
pub mod schedule;
mod service;
mod service_net;
mod targets;
mod topology;

pub use fault::{CATALOGUE, Fault, NodeNeeds, Selector, ServiceFault, Storm, Target};
pub use interpreter::{FaultId, Nemesis};
pub use net::PartitionMethod;
pub(crate) use net::removal_script;
pub use reach::{Reach, Reachability};
pub use schedule::{RandomSchedule, Schedule, ScheduledFault};

use crate::cluster::ClusterError;

/// Why a fault could not be started or healed.
#[derive(Debug, thiserror::Error)]
pub enum NemesisError {
    /// The cluster refused a node operation.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// A target resolved to no node, or to a node the fault cannot act on.
    #[error("no target: {0}")]
    NoTarget(String),
    /// This machine cannot perform the fault.
    #[error("{fault} is not supported here: {reason}")]
    Unsupported {
        /// The fault.
        fault: &'static str,
        /// Why, as the machine said it.
        reason: String,
    },
    /// A command inside a node failed.
    #[error("`{command}` in {node} failed (exit {code}): {detail}")]
    Command {
        /// The node.
        node: String,
        /// The command.
        command: String,
        /// Its exit code.
        code: i64,
        /// What it said.
        detail: String,
    },
    /// A node is paused, so nothing can run inside it until it is resumed.
    #[error("{0} is paused: it is healed once it is resumed")]
    Paused(String),
    /// The fault's effect did not clear within its bound.
    #[error("{fault} did not heal: {reason}")]
    NotHealed {
        /// The fault.
        fault: &'static str,
        /// What was still wrong.
        reason: String,
    },
    /// No active fault has this id.
    #[error("no active fault #{0}")]
    UnknownFault(u32),
}

impl NemesisError {
    pub(crate) fn command(node: &str, command: &str, code: i64, detail: &str) -> NemesisError {
        NemesisError::Command {
            node: node.to_string(),
            command: command.to_string(),
            code,
            detail: detail.trim().to_string(),
        }
    }
}
