//! The commands a run would send to each host, rendered without connecting: what
//! `--dry-run` prints. They are the very scripts [`SshNodes`](super::SshNodes) runs.

use super::commands;
use super::inventory::{Host, Inventory, RoleSpec};
use super::remote::describe;
use super::switch;
use crate::cluster::ClusterError;
use crate::cluster::control::NodeSpec;
use std::path::{Component, Path};

/// The steps that create `host`'s node with `config`: the configuration file written,
/// Redis's data directory emptied, the server started. Fails on a data directory that
/// is not an absolute path below the root.
pub(super) fn node_setup(
    run: &str,
    host: &Host,
    role: &RoleSpec,
    config: &str,
) -> Result<Vec<(&'static str, String)>, String> {
    let mut steps =
        vec![("writing the configuration", commands::write_file(run, &role.config, config))];
    if let Some(data) = &role.data {
        if !data.is_absolute() || deep(data) < 2 {
            return Err(format!(
                "refusing to empty the data directory {}: give [roles.{}] data an absolute \
                 path of its own (faultline empties it at setup)",
                data.display(),
                host.role.key()
            ));
        }
        steps.push(("emptying the data directory", commands::empty_dir(data)));
    }
    steps.push(("starting", commands::start(run, &host.node, &role.start)));
    Ok(steps)
}

/// How many named components `path` has.
fn deep(path: &Path) -> usize {
    path.components().filter(|c| matches!(c, Component::Normal(_))).count()
}

/// Every command that sets up run `run` on `inventory`'s hosts, in order, as
/// `(host, script)`: each host's dead-man switch armed, then each node of `specs` (the
/// configurations the run would write) created and started.
pub fn setup_commands(
    inventory: &Inventory,
    run: &str,
    specs: &[NodeSpec],
) -> Result<Vec<(String, String)>, ClusterError> {
    let hosts = inventory.resolved();
    let mut commands: Vec<(String, String)> = hosts
        .iter()
        .map(|h| (describe(h), switch::arm(run, &h.interface, inventory.lease, h.allow_faults)))
        .collect();
    for spec in specs {
        let host = hosts
            .iter()
            .find(|h| h.node == spec.name)
            .ok_or_else(|| ClusterError::UnknownNode(spec.name.clone()))?;
        let role = inventory.role(host.role).ok_or_else(|| ClusterError::Ssh {
            host: describe(host),
            message: format!("no [roles.{}] in the inventory", host.role.key()),
        })?;
        let steps = node_setup(run, host, role, &spec.config)
            .map_err(|message| ClusterError::Ssh { host: describe(host), message })?;
        commands.extend(steps.into_iter().map(|(_, script)| (describe(host), script)));
    }
    Ok(commands)
}

/// Every command that tears run `run` down on `inventory`'s hosts, as `(host, script)`.
pub fn teardown_commands(inventory: &Inventory, run: &str) -> Vec<(String, String)> {
    inventory
        .resolved()
        .iter()
        .map(|h| (describe(h), commands::teardown(run, &h.interface)))
        .collect()
}
