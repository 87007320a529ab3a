//! The fleet: containers that act as hosts, reached only over SSH.

use crate::common;
use faultline::hosts::Role;
use faultline::hosts::fleet::{Fleet, FleetSpec, NOSUDO_USER, USER};
use std::path::PathBuf;
use std::time::Duration;

/// A directory of its own for a fleet's key and inventory, removed by the test.
fn fleet_dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("faultline-fleet-{name}-{}", std::process::id()))
}

async fn start(spec: FleetSpec, dir: &std::path::Path) -> Fleet {
    match Fleet::start(&spec, dir).await {
        Ok(fleet) => fleet,
        Err(e) => panic!("this test needs Docker, OpenSSH and faultline's images: {e}"),
    }
}

/// Runs `command` on `host` as `user` over SSH; its exit code and output.
async fn ssh(fleet: &Fleet, host: &str, user: &str, command: &str) -> (i32, String) {
    let mut ssh = fleet.ssh(host, user).unwrap_or_else(|| panic!("no host {host}"));
    let out = ssh.arg(command).stdin(std::process::Stdio::null()).output().await.expect("ssh runs");
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().expect("ssh exits"), text)
}

/// Starts `command` as root in the background on `host`, as the SSH backend starts a role.
async fn start_in_background(fleet: &Fleet, host: &str, command: &str) {
    let detached = format!(
        "sudo -n setsid sh -c '{command} >/tmp/role.log 2>&1' </dev/null >/dev/null 2>&1 &"
    );
    let (code, said) = ssh(fleet, host, USER, &detached).await;
    assert_eq!(code, 0, "starting `{command}` on {host}: {said}");
}

#[tokio::test]
async fn a_fleet_answers_over_ssh_with_sudo_for_faultline_only_and_runs_no_server_until_told() {
    let dir = fleet_dir("ssh");
    let spec = FleetSpec { redis: 2, sentinels: 1, postgres: true, nosudo: Some("redis-1".into()) };
    let fleet = start(spec, &dir).await;
    let run = fleet.run_id().to_string();
    let addresses = fleet.addresses();
    let names: Vec<_> = addresses.keys().map(String::as_str).collect();
    assert_eq!(names, ["host-postgres", "host-redis-0", "host-redis-1", "host-sentinel-0"]);
    let on_disk = faultline::hosts::Inventory::load(&fleet.inventory_path()).unwrap();
    assert_eq!(&on_disk, fleet.inventory());
    let users: Vec<_> = on_disk.resolved().into_iter().map(|h| (h.node, h.user)).collect();
    assert_eq!(users[1], ("redis-1".to_string(), Some(NOSUDO_USER.to_string())));
    for host in addresses.keys() {
        let (code, said) = ssh(&fleet, host, USER, "sudo -n true && whoami").await;
        assert_eq!((code, said.trim()), (0, USER), "{host}: {USER} has passwordless sudo");
        let (code, said) = ssh(&fleet, host, NOSUDO_USER, "whoami; sudo -n true").await;
        assert_eq!(code, 1, "{host}: {NOSUDO_USER} may log in but not sudo: {said}");
        assert!(said.starts_with(NOSUDO_USER), "{host}: {said}");
        let (code, said) = ssh(&fleet, host, USER, "pgrep -l 'redis|postgres'").await;
        assert_eq!(code, 1, "{host}: nothing runs but sshd until faultline starts it: {said}");
    }
    fleet.teardown().await.expect("teardown");
    common::assert_run_is_gone(&run).await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn the_roles_of_the_inventory_start_servers_the_harness_reaches_at_the_hosts_addresses() {
    let dir = fleet_dir("roles");
    let fleet = start(FleetSpec { redis: 1, ..FleetSpec::default() }, &dir).await;
    let run = fleet.run_id().to_string();
    let inventory = fleet.inventory().clone();
    let config = "bind 0.0.0.0\\nprotected-mode no\\nport 6379\\ndir /var/lib/redis/faultline\\n";
    // The data directory as setup makes it (`mkdir -p`): the image has only its parent.
    let write = format!(
        "sudo -n mkdir -p /var/lib/redis/faultline && \
         printf '{config}' | sudo -n tee /etc/faultline/redis.conf >/dev/null"
    );
    assert_eq!(ssh(&fleet, "host-redis-0", USER, &write).await.0, 0);
    start_in_background(&fleet, "host-redis-0", &inventory.role(Role::Redis).unwrap().start).await;
    let postgres = inventory.role(Role::Postgres).unwrap();
    let absent = format!("test ! -e {}", postgres.config.display());
    let (code, said) = ssh(&fleet, "host-postgres", USER, &absent).await;
    assert_eq!(code, 0, "no config file of someone else's where faultline writes: {said}");
    start_in_background(&fleet, "host-postgres", &postgres.start).await;

    let redis_at = std::net::SocketAddr::new(fleet.addresses()["host-redis-0"], 6379);
    let client = redis::Client::open(format!("redis://{redis_at}")).unwrap();
    let pong: String = common::eventually(Duration::from_secs(10), "Redis on host-redis-0", || {
        let client = client.clone();
        async move {
            let mut conn = client.get_multiplexed_async_connection().await.ok()?;
            redis::cmd("PING").query_async(&mut conn).await.ok()
        }
    })
    .await;
    assert_eq!(pong, "PONG");
    let db = postgres.database.clone().unwrap();
    let url = format!(
        "postgres://{}:{}@{}:5432/{}",
        db.user,
        db.password,
        fleet.addresses()["host-postgres"],
        db.name
    );
    let one: i32 = common::eventually(Duration::from_secs(20), "Postgres on host-postgres", || {
        let url = url.clone();
        async move {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&url).await.ok()?;
            sqlx::query_scalar("SELECT 1").fetch_one(&mut conn).await.ok()
        }
    })
    .await;
    assert_eq!(one, 1, "the password of the inventory logs in from the harness");
    fleet.teardown().await.expect("teardown");
    common::assert_run_is_gone(&run).await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_dropped_fleet_leaves_nothing_behind() {
    let dir = fleet_dir("drop");
    let fleet = start(FleetSpec { redis: 1, postgres: false, ..FleetSpec::default() }, &dir).await;
    let run = fleet.run_id().to_string();
    drop(fleet);
    common::assert_run_is_gone(&run).await;
    std::fs::remove_dir_all(&dir).unwrap();
}
