//! `faultline run --hosts FILE --dry-run`: every command a run would send to each host,
//! in order, without connecting to any: the setup ([`setup_commands`]), each step of the
//! schedule as the nemesis would resolve it ([`crate::nemesis::dry_run`]) turned into the
//! SSH backend's own scripts, and the teardown ([`teardown_commands`]).

use super::cluster::check_shape;
use super::commands;
use super::inventory::{Inventory, Role};
use super::plan::{setup_commands, teardown_commands};
use super::remote::describe;
use crate::cluster::ClusterError;
use crate::nemesis::dry_run::{Action, DryCluster, plan};
use crate::scenario::Scenario;
use std::collections::BTreeMap;
use std::fmt::Write;

/// The run id the dry run's commands show: a real run has a fresh one.
const RUN: &str = "RUN";

/// Every command `scenario` would send to `inventory`'s hosts, as text.
pub fn dry_run(scenario: &Scenario, inventory: &Inventory) -> Result<String, ClusterError> {
    let mut builder = scenario.cluster.builder(scenario.seed);
    check_shape(&builder, inventory)?;
    if let Some(data) = inventory.role(Role::Redis).and_then(|r| r.data.as_ref()) {
        builder = builder.redis_setting("dir", &data.display().to_string());
    }
    let hosts = inventory.resolved();
    let host = |node: &str| hosts.iter().find(|h| h.node == node);
    let master =
        host("redis-0").map(|h| h.address).ok_or(ClusterError::UnknownNode("redis-0".into()))?;
    let mut specs = builder.node_specs(&master.to_string());
    specs.extend(builder.sentinel_specs(master));
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# faultline run --dry-run: scenario {}, seed {}, on {} hosts. Every command in order, \
         as `host: script`; scripts run as root (`sudo -n sh -c` where the host says sudo). \
         The run's id shows as {RUN}. Read-only commands (INFO, the probes that judge a \
         fault) are left out; targets resolve as on the cluster as it starts.",
        scenario.name,
        scenario.seed,
        hosts.len()
    );
    let needs = scenario.schedule().needs();
    for h in hosts.iter().filter(|h| needs.nodes && !h.allow_faults) {
        let _ = writeln!(
            out,
            "# REFUSED as it stands: {} does not allow faults (the run's preflight would stop \
             here; set `allow_faults = true` in its [[hosts]] entry if faults may touch it)",
            describe(h)
        );
    }
    let _ = writeln!(
        out,
        "\n== setup: each host's dead-man switch armed (lease {}), configs written, servers started",
        humantime::format_duration(inventory.lease)
    );
    for (host, script) in setup_commands(inventory, RUN, &specs)? {
        block(&mut out, &host, &script);
    }
    let dry = DryCluster {
        redis: names(&hosts, Role::Redis),
        sentinels: names(&hosts, Role::Sentinel),
        all: {
            let mut all: Vec<String> = hosts.iter().map(|h| h.node.clone()).collect();
            all.sort();
            all
        },
        ips: hosts.iter().map(|h| (h.node.clone(), h.address)).collect(),
        clients: "<the harness's address>".into(),
        configs: specs
            .iter()
            .map(|s| (s.name.clone(), s.config.clone()))
            .collect::<BTreeMap<_, _>>(),
    };
    for step in plan(&scenario.schedule(), &dry, scenario.seed) {
        let when = match step.at {
            std::time::Duration::MAX => "at the end".to_string(),
            at => format!("at {}", humantime::format_duration(at)),
        };
        let what = if step.heal { "heal" } else { "start" };
        let _ = writeln!(out, "\n== {when}: {what} {} on {}", step.fault, step.targets.join(", "));
        for (node, action) in step.actions {
            let Some(h) = host(&node) else {
                if let Action::Harness(text) = action {
                    let _ = writeln!(out, "(harness): {text}");
                }
                continue;
            };
            let role = inventory.role(h.role).ok_or(ClusterError::UnknownNode(node.clone()))?;
            let script = match action {
                Action::Script(s) => s.replace("<interface>", &h.interface),
                Action::Kill => commands::kill(RUN, &node),
                Action::Stop => commands::stop(RUN, &node),
                Action::Start => commands::start(RUN, &node, &role.start),
                Action::Restart => {
                    format!(
                        "{}{}",
                        commands::stop(RUN, &node),
                        commands::start(RUN, &node, &role.start)
                    )
                }
                Action::Pause => commands::pause(RUN, &node),
                Action::Resume => commands::unpause(RUN, &node),
                Action::Config(text) => commands::write_file(RUN, &role.config, &text),
                Action::Signal(signal) => commands::signal(RUN, &node, signal),
                Action::Harness(text) => format!("# in the harness: {text}"),
            };
            block(&mut out, &describe(h), &script);
        }
    }
    let _ = writeln!(
        out,
        "\n== all along: each host's lease renewed every {}",
        humantime::format_duration(inventory.lease / 3)
    );
    let _ = writeln!(
        out,
        "\n== at the end, the nemesis's heal-all: every rule tagged faultline- removed \
         (the jump too), a netem qdisc removed, paused servers resumed, and any node not as \
         it started put back (its configuration rewritten and restarted, or re-pointed at \
         the master with REPLICAOF): which of these run depends on what the run did"
    );
    let _ = writeln!(out, "\n== teardown: servers stopped, rules and switches removed");
    for (host, script) in teardown_commands(inventory, RUN) {
        block(&mut out, &host, &script);
    }
    // The inventory's database password stays out of what is printed.
    match inventory.role(Role::Postgres).and_then(|r| r.database.as_ref()) {
        Some(db) if !db.password.is_empty() => Ok(out.replace(&db.password, "<password>")),
        _ => Ok(out),
    }
}

fn names(hosts: &[super::Host], role: Role) -> Vec<String> {
    let mut names: Vec<String> =
        hosts.iter().filter(|h| h.role == role).map(|h| h.node.clone()).collect();
    names.sort();
    names
}

/// `host: ` then the script, its lines indented.
fn block(out: &mut String, host: &str, script: &str) {
    let _ = writeln!(out, "{host}:");
    for line in script.trim_end().lines() {
        let _ = writeln!(out, "    {line}");
    }
}
