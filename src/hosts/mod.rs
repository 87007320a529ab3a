//! Real hosts over SSH: the same scenarios, nemesis and checkers against Redis, its
//! sentinels and Postgres running as processes on hosts a team names in `hosts.toml`.
//!
//! - `inventory`: `hosts.toml`, parsed and checked.
//! - `fleet`: containers that act as hosts, reached only over SSH (`faultline hosts up`),
//!   with the `hosts.toml` that describes them.

pub mod fleet;
mod inventory;

pub use inventory::{
    Database, Host, HostEntry, HostSettings, Inventory, InventoryError, Role, RoleSpec,
};
