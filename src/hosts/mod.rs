//! Real hosts over SSH: the same scenarios, nemesis and checkers against Redis, its
//! sentinels and Postgres running as processes on hosts a team names in `hosts.toml`.
//!
//! - `inventory`: `hosts.toml`, parsed and checked.
//! - `ssh`: [`SshNodes`], node control over SSH (connect → preflight → arm → create).
//! - `remote`: one host's multiplexed session; the one function commands go through.
//! - `commands`: the scripts run on a host (node processes, heal, teardown), as text.
//! - `switch`: the dead-man switch that heals a host when the harness stops renewing.
//! - `preflight`: the checks that refuse unsuitable hosts up front.
//! - `plan`: [`setup_commands`] and [`teardown_commands`], for `--dry-run`.
//! - `cluster`: [`start_cluster`]: a scenario's cluster on the hosts, refused up front
//!   when they do not fit.
//! - `dry_run`: [`dry_run()`], `faultline run --hosts FILE --dry-run`.
//! - `clean`: [`clean()`], `faultline clean --hosts`.
//! - `fleet`: containers that act as hosts, reached only over SSH (`faultline hosts up`),
//!   with the `hosts.toml` that describes them.
//!
//! On a host, faultline keeps everything of a run in its state directory
//! ([`state_dir`]), chain `FAULTLINE` (jumped to from INPUT) and a netem root qdisc.

mod clean;
mod cluster;
mod commands;
mod dry_run;
pub mod fleet;
mod inventory;
mod plan;
mod preflight;
mod remote;
mod ssh;
mod switch;

pub use clean::{CleanReport, clean};
pub use cluster::start_cluster;
pub use commands::run_dir as state_dir;
pub use dry_run::dry_run;
pub use inventory::{
    Database, Host, HostEntry, HostSettings, Inventory, InventoryError, Role, RoleSpec,
};
pub use plan::{setup_commands, teardown_commands};
pub use ssh::SshNodes;
