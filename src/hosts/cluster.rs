//! A cluster on hosts: the scenario's topology checked against the inventory, every host
//! reached and checked before anything changes on any of them, the dead-man switches
//! armed, then the nodes created through the same [`ClusterBuilder`] as on containers.

use super::inventory::{Inventory, Role};
use super::ssh::SshNodes;
use crate::cluster::{Cluster, ClusterBuilder, ClusterError, PostgresLogin, new_run_id};
use crate::nemesis::NodeNeeds;

/// Starts `builder`'s cluster on `inventory`'s hosts, refusing before any change when the
/// hosts do not match the topology or cannot take what `needs` says the faults need.
pub async fn start_cluster(
    builder: ClusterBuilder,
    inventory: &Inventory,
    needs: NodeNeeds,
) -> Result<Cluster, ClusterError> {
    check_shape(&builder, inventory)?;
    let run = new_run_id();
    let mut nodes = SshNodes::connect(inventory, &run).await?;
    nodes.preflight(&needs).await?;
    nodes.arm().await?;
    let mut builder = builder;
    if let Some(data) = inventory.role(Role::Redis).and_then(|r| r.data.as_ref()) {
        builder = builder.redis_setting("dir", &data.display().to_string());
    }
    let login = match inventory.role(Role::Postgres).and_then(|r| r.database.clone()) {
        Some(db) => PostgresLogin { user: db.user, password: db.password, database: db.name },
        None => {
            PostgresLogin { user: String::new(), password: String::new(), database: String::new() }
        }
    };
    builder.launch(Box::new(nodes), run, login).await
}

/// Refuses an inventory whose hosts are not the nodes the scenario asks for.
pub(super) fn check_shape(
    builder: &ClusterBuilder,
    inventory: &Inventory,
) -> Result<(), ClusterError> {
    let (replicas, sentinels, postgres) = builder.shape();
    let mut problems = Vec::new();
    let mut want = |role: Role, n: usize, what: String| {
        let have = inventory.count(role);
        if have != n {
            problems.push(format!(
                "the scenario needs {what}; the inventory lists {have} host(s) with role \"{}\"",
                role.key()
            ));
        }
    };
    want(
        Role::Redis,
        replicas + 1,
        format!("{} Redis nodes (a master and {replicas} replicas)", replicas + 1),
    );
    want(Role::Sentinel, sentinels, format!("{sentinels} sentinel(s)"));
    want(
        Role::Postgres,
        usize::from(postgres),
        format!("{} Postgres host(s)", usize::from(postgres)),
    );
    match problems.is_empty() {
        true => Ok(()),
        false => Err(ClusterError::Unsuitable(problems.join("\n"))),
    }
}
