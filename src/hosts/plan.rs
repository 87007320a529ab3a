//! The commands a run would send to each host, rendered without connecting: what
//! `--dry-run` prints. They are the very scripts [`SshNodes`](super::SshNodes) runs.

use super::commands;
use super::inventory::{Host, Inventory, RoleSpec};
use super::remote::describe;
use super::switch;
use crate::cluster::ClusterError;
use crate::cluster::control::NodeSpec;

/// The steps that create `host`'s node with `config`: the configuration file written,
/// Redis's files in its data directory deleted, the server started. Fails on a role
/// [`RoleSpec::check`] refuses (an inventory built in code skips `Inventory::parse`).
pub(super) fn node_setup(
    run: &str,
    host: &Host,
    role: &RoleSpec,
    config: &str,
) -> Result<Vec<(&'static str, String)>, String> {
    role.check(host.role)?;
    let mut steps =
        vec![("writing the configuration", commands::write_file(run, &role.config, config))];
    if let Some(data) = &role.data {
        steps.push((
            "deleting Redis's files in the data directory",
            commands::clear_redis_files(data),
        ));
    }
    steps.push(("starting", commands::start(run, &host.node, &role.start)));
    Ok(steps)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::NodeKind;

    const INVENTORY: &str = r#"
        lease = "9s"
        [defaults]
        allow_faults = true
        [[hosts]]
        name = "a"
        address = "10.1.0.1"
        role = "redis"
        [[hosts]]
        name = "b"
        address = "10.1.0.2"
        role = "sentinel"
        allow_faults = false
        [roles.redis]
        start = "redis-server /etc/faultline/redis.conf"
        config = "/etc/faultline/redis.conf"
        data = "/var/lib/redis/faultline"
        [roles.sentinel]
        start = "redis-server /etc/faultline/sentinel.conf --sentinel"
        config = "/etc/faultline/sentinel.conf"
    "#;

    fn inventory(text: &str) -> Inventory {
        use std::path::Path;
        Inventory::parse(Path::new("hosts.toml"), text).expect("inventory")
    }

    fn spec(name: &str, kind: NodeKind) -> NodeSpec {
        NodeSpec { name: name.into(), kind, config: "port 6379\n".into() }
    }

    #[test]
    fn setup_arms_every_host_first_then_creates_each_node_in_order() {
        let specs = [spec("redis-0", NodeKind::Redis), spec("sentinel-0", NodeKind::Sentinel)];
        let steps = setup_commands(&inventory(INVENTORY), "r1", &specs).expect("plan");
        let hosts: Vec<&str> = steps.iter().map(|(h, _)| h.as_str()).collect();
        assert_eq!(
            hosts,
            [
                "a (10.1.0.1)",
                "b (10.1.0.2)",
                "a (10.1.0.1)",
                "a (10.1.0.1)",
                "a (10.1.0.1)",
                "b (10.1.0.2)",
                "b (10.1.0.2)"
            ]
        );
        assert!(steps[0].1.contains("echo $(( $(date +%s) + 9 ))"), "the lease: {}", steps[0].1);
        assert!(steps[0].1.contains("-j FAULTLINE"), "a host that allows faults gets the chain");
        assert!(!steps[1].1.contains("-j FAULTLINE"), "one that does not, none");
        assert!(steps[3].1.contains("rm -rf -- '/var/lib/redis/faultline'/dump.rdb"));
        assert!(steps[6].1.contains("exec redis-server /etc/faultline/sentinel.conf --sentinel"));
    }

    #[test]
    fn setup_refuses_a_node_no_host_runs_and_a_data_directory_at_the_root() {
        let unknown =
            setup_commands(&inventory(INVENTORY), "r1", &[spec("redis-1", NodeKind::Redis)]);
        assert!(matches!(unknown, Err(ClusterError::UnknownNode(n)) if n == "redis-1"));
        let mut rooted = inventory(INVENTORY);
        let redis = rooted.roles.get_mut(&crate::hosts::Role::Redis).expect("redis");
        redis.data = Some("/var/lib".into());
        let refused = setup_commands(&rooted, "r1", &[spec("redis-0", NodeKind::Redis)]);
        let message = refused.expect_err("refused").to_string();
        assert!(message.contains("[roles.redis] data = \"/var/lib\" is"), "{message}");
    }

    #[test]
    fn teardown_is_one_script_per_host() {
        let steps = teardown_commands(&inventory(INVENTORY), "r1");
        assert_eq!(steps.len(), 2);
        assert!(steps.iter().all(|(_, s)| s.contains("rm -rf /var/lib/faultline/r1\n")));
    }
}
