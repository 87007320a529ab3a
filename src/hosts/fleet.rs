//! A fleet: containers that act as hosts, for trying and testing the SSH backend
//! without machines of one's own (`faultline hosts up`).
//!
//! Each host is a container of the host image ([`images::HOST`]): sshd and nothing else
//! running, users `faultline` (passwordless sudo) and `nosudo` (no sudo), Redis and
//! Postgres installed and started by faultline over SSH. [`Fleet::start`] makes an
//! ed25519 key pair in its directory, starts the containers on a bridge network of
//! their own, waits until each accepts the key, and writes `hosts.toml` there:
//!
//! ```text
//! DIR/id_ed25519, id_ed25519.pub   the key faultline logs in with
//! DIR/known_hosts                  the hosts' keys, accepted at first contact
//! DIR/hosts.toml                   the inventory: `faultline run --hosts DIR/hosts.toml`
//! ```
//!
//! **Architecture invariant:** a fleet's hosts are reached only over SSH, at their
//! addresses on the fleet's network (this machine routes to its own bridges): nothing
//! here or in the SSH backend uses `docker exec` or publishes a port. Docker is only
//! how the hosts come and go: the containers and the network carry the run labels
//! clusters carry, so a drop guard and `faultline clean` remove a fleet like a cluster.

use super::{Database, HostEntry, HostSettings, Inventory, InventoryError, Role, RoleSpec};
use crate::cluster::{clean, guard::RunGuard};
use crate::docker::{self, DockerError, NODE_LABEL};
use crate::images::{self, ImageError};
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use testcontainers::bollard::Docker;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

/// The inventory's file name in a fleet's directory.
pub const INVENTORY: &str = "hosts.toml";
/// The private key's file name in a fleet's directory (the public key adds `.pub`).
pub const KEY: &str = "id_ed25519";
/// The known-hosts file's name in a fleet's directory.
pub const KNOWN_HOSTS: &str = "known_hosts";
/// The user with passwordless sudo on every host, the inventory's default.
pub const USER: &str = "faultline";
/// The user without sudo on every host, for tests of how faultline refuses a host.
pub const NOSUDO_USER: &str = "nosudo";
/// The Postgres role's start script in the host image.
const POSTGRES_START: &str = "/usr/local/bin/faultline-postgres";
/// How long every host has to accept the key.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// What a fleet runs: how many hosts of each role.
///
/// Defaults: three Redis hosts, no sentinels, a Postgres host, every host logged into
/// as [`USER`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FleetSpec {
    /// Redis hosts: `redis-0` (the master), `redis-1`, ... At least one.
    pub redis: usize,
    /// Sentinel hosts.
    pub sentinels: usize,
    /// Whether there is a Postgres host.
    pub postgres: bool,
    /// The node (`redis-1`, `postgres`, ...) whose host the inventory logs into as
    /// [`NOSUDO_USER`], who may not sudo: for tests of how faultline refuses a host.
    pub nosudo: Option<String>,
}

impl Default for FleetSpec {
    fn default() -> FleetSpec {
        FleetSpec { redis: 3, sentinels: 0, postgres: true, nosudo: None }
    }
}

impl FleetSpec {
    /// Host names and roles, in inventory order: Redis hosts, sentinels, Postgres.
    fn hosts(&self) -> Vec<(String, String, Role)> {
        let redis = (0..self.redis).map(|i| (format!("redis-{i}"), Role::Redis));
        let sentinels = (0..self.sentinels).map(|i| (format!("sentinel-{i}"), Role::Sentinel));
        let postgres = self.postgres.then(|| ("postgres".to_string(), Role::Postgres));
        redis
            .chain(sentinels)
            .chain(postgres)
            .map(|(node, role)| (format!("host-{node}"), node, role))
            .collect()
    }
}

/// Errors starting a fleet.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// Docker is unreachable or refused a request.
    #[error(transparent)]
    Docker(#[from] DockerError),
    /// The host image is missing.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// The spec cannot make a fleet.
    #[error("{0}")]
    Spec(String),
    /// An OpenSSH program could not be run.
    #[error(
        "cannot run {program}: {source}; a fleet needs OpenSSH's client programs \
         (on Debian: `apt-get install openssh-client`)"
    )]
    OpenSsh {
        /// `ssh` or `ssh-keygen`.
        program: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `ssh-keygen` failed.
    #[error("ssh-keygen could not make {key}: {stderr}")]
    Keygen {
        /// The key it was asked for.
        key: PathBuf,
        /// What it said.
        stderr: String,
    },
    /// A file of the fleet's directory could not be written or removed.
    #[error("cannot write {path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A host's container did not start.
    #[error("failed to start host {host}'s container: {source}")]
    Start {
        /// The host.
        host: String,
        /// Why.
        #[source]
        source: testcontainers::TestcontainersError,
    },
    /// A host never accepted the key.
    #[error(
        "host {host} ({address}) did not accept the fleet's key over SSH within {timeout:?}; \
         ssh said: {ssh}\nthe end of its container's log:\n{log}"
    )]
    NotReady {
        /// The host.
        host: String,
        /// Its address.
        address: IpAddr,
        /// How long it had.
        timeout: Duration,
        /// What the last attempt's ssh said.
        ssh: String,
        /// The end of its container's log (sshd's).
        log: String,
    },
    /// The inventory written does not load back (a bug in the fleet).
    #[error(transparent)]
    Inventory(#[from] InventoryError),
}

/// One host of a fleet.
struct FleetHost {
    name: String,
    address: IpAddr,
    container: ContainerAsync<GenericImage>,
}

/// A running fleet. Dropping it removes its containers and network;
/// [`Fleet::teardown`] does the same and reports errors. The files in its directory
/// stay.
pub struct Fleet {
    // Field order matters: hosts drop (and are removed) before the guard sweeps the
    // network.
    hosts: Vec<FleetHost>,
    docker: Docker,
    run: String,
    dir: PathBuf,
    inventory: Inventory,
    guard: RunGuard,
}

impl Fleet {
    /// Makes a key pair in `dir` (created if missing; an earlier fleet's key, known
    /// hosts and inventory there are replaced), starts a host per node of `spec`, waits
    /// until every host accepts the key as [`USER`], and writes `dir/hosts.toml`. If it
    /// fails, or the returned future is dropped, no container or network is left.
    pub async fn start(spec: &FleetSpec, dir: &Path) -> Result<Fleet, FleetError> {
        let names = spec.hosts();
        check(spec, &names)?;
        let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        let public_key = make_key(&dir).await?;
        let docker = docker::connect().await?;
        images::ensure_present(&docker).await?;
        let run = crate::cluster::new_run_id();
        let guard = RunGuard::new(&run);
        let labels = clean::labels(&run, false);
        let network = format!("faultline-{run}");
        crate::cluster::create_network(&docker, &network, &labels).await?;
        let starts =
            names.iter().map(|(host, _, _)| start_host(&run, &network, host, &public_key, &labels));
        let hosts = futures::future::try_join_all(starts).await?;
        let password = crate::cluster::random_password();
        let addresses: Vec<IpAddr> = hosts.iter().map(|h| h.address).collect();
        let inventory = write_inventory(spec, &names, &addresses, &password, &dir)?;
        let fleet = Fleet { hosts, docker, run, dir, inventory, guard };
        let waits = fleet.inventory.resolved().into_iter().map(|h| fleet.wait_ssh(h));
        futures::future::try_join_all(waits).await?;
        Ok(fleet)
    }

    /// The run id, the value of the `faultline.run` label on the fleet's containers and
    /// network.
    pub fn run_id(&self) -> &str {
        &self.run
    }

    /// `hosts.toml` in the fleet's directory.
    pub fn inventory_path(&self) -> PathBuf {
        self.dir.join(INVENTORY)
    }

    /// The inventory, as [`Inventory::load`] reads `hosts.toml` (paths absolute).
    pub fn inventory(&self) -> &Inventory {
        &self.inventory
    }

    /// Each host's name (`host-redis-0`, ...) and address on the fleet's network.
    pub fn addresses(&self) -> BTreeMap<String, IpAddr> {
        self.hosts.iter().map(|h| (h.name.clone(), h.address)).collect()
    }

    /// `ssh` logged into `host` (its name, `host-redis-0`) as `user` with the fleet's
    /// key and known hosts, and no SSH configuration of the user's: append the remote
    /// command with `.arg(..)`.
    pub fn ssh(&self, host: &str, user: &str) -> Option<tokio::process::Command> {
        let address = self.hosts.iter().find(|h| h.name == host)?.address;
        Some(ssh_command(&self.dir, user, address))
    }

    /// Removes the fleet's containers and network.
    pub async fn teardown(self) -> Result<(), FleetError> {
        let Fleet { hosts, docker, run, guard, .. } = self;
        let removals = hosts.into_iter().map(|h| h.container.rm());
        for result in futures::future::join_all(removals).await {
            if let Err(e) = result {
                tracing::warn!("removing a host of fleet {run}: {e}");
            }
        }
        docker::remove_run(&docker, Some(&run)).await?;
        guard.disarm();
        Ok(())
    }

    /// Waits until `host` accepts the key as its inventory user, for [`READY_TIMEOUT`].
    async fn wait_ssh(&self, host: super::Host) -> Result<(), FleetError> {
        let user = host.user.as_deref().unwrap_or(USER);
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let mut ssh = ssh_command(&self.dir, user, host.address);
            let output = ssh.arg("true").stdin(Stdio::null()).output().await;
            let said = match output {
                Ok(out) if out.status.success() => return Ok(()),
                Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_string(),
                Err(source) => return Err(FleetError::OpenSsh { program: "ssh", source }),
            };
            if Instant::now() >= deadline {
                return Err(self.not_ready(&host, said).await);
            }
            // sshd is not up yet: poll again shortly (ssh itself waits up to
            // ConnectTimeout for the connection).
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn not_ready(&self, host: &super::Host, ssh: String) -> FleetError {
        let container = self.hosts.iter().find(|h| h.name == host.name).map(|h| h.container.id());
        let log = match container {
            Some(id) => docker::logs(&self.docker, id, Some(20))
                .await
                .unwrap_or_else(|e| format!("(unreadable: {e})")),
            None => String::new(),
        };
        FleetError::NotReady {
            host: host.name.clone(),
            address: host.address,
            timeout: READY_TIMEOUT,
            ssh,
            log,
        }
    }
}

/// Refuses a spec that cannot make a fleet.
fn check(spec: &FleetSpec, names: &[(String, String, Role)]) -> Result<(), FleetError> {
    if spec.redis == 0 {
        return Err(FleetError::Spec("a fleet needs at least one Redis host".into()));
    }
    match &spec.nosudo {
        Some(node) if !names.iter().any(|(_, n, _)| n == node) => Err(FleetError::Spec(format!(
            "nosudo names node {node}, which the fleet does not have"
        ))),
        _ => Ok(()),
    }
}

/// Makes `dir/id_ed25519` (replacing an earlier fleet's key, known hosts and inventory)
/// and returns the public key.
async fn make_key(dir: &Path) -> Result<String, FleetError> {
    let file_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| FleetError::File { path, source }
    };
    std::fs::create_dir_all(dir).map_err(file_error(dir))?;
    let key = dir.join(KEY);
    let public = dir.join(format!("{KEY}.pub"));
    for old in [&key, &public, &dir.join(KNOWN_HOSTS), &dir.join(INVENTORY)] {
        match std::fs::remove_file(old) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(file_error(old)(e)),
            _ => {}
        }
    }
    let output = tokio::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "faultline-fleet", "-f"])
        .arg(&key)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|source| FleetError::OpenSsh { program: "ssh-keygen", source })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
        return Err(FleetError::Keygen { key, stderr });
    }
    let text = std::fs::read_to_string(&public).map_err(file_error(&public))?;
    Ok(text.trim().to_string())
}

/// `ssh` to `user@address` with the fleet's key and known hosts in `dir`, in batch mode,
/// reading no SSH configuration.
fn ssh_command(dir: &Path, user: &str, address: IpAddr) -> tokio::process::Command {
    let mut ssh = tokio::process::Command::new("ssh");
    ssh.args(["-F", "none", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes"])
        .args(["-o", "ConnectTimeout=5", "-o", "StrictHostKeyChecking=accept-new", "-o"])
        .arg(format!("UserKnownHostsFile={}", dir.join(KNOWN_HOSTS).display()))
        .arg("-i")
        .arg(dir.join(KEY))
        .arg(format!("{user}@{address}"))
        .kill_on_drop(true);
    ssh
}

/// Starts host `name`'s container, authorising `public_key`, and reads its address.
async fn start_host(
    run: &str,
    network: &str,
    name: &str,
    public_key: &str,
    labels: &HashMap<String, String>,
) -> Result<FleetHost, FleetError> {
    let start_error = |source| FleetError::Start { host: name.to_string(), source };
    let mut request = GenericImage::new(images::HOST, images::TAG)
        .with_container_name(format!("faultline-{run}-{name}"))
        .with_hostname(name)
        .with_network(network)
        .with_label(NODE_LABEL, name)
        .with_cap_add("NET_ADMIN")
        .with_env_var("FAULTLINE_AUTHORIZED_KEY", public_key);
    for (key, value) in labels {
        request = request.with_label(key, value);
    }
    let container = request.start().await.map_err(start_error)?;
    let address = container.get_bridge_ip_address().await.map_err(start_error)?;
    Ok(FleetHost { name: name.to_string(), address, container })
}

/// Writes `dir/hosts.toml` for the hosts `names` at `addresses` and reads it back.
fn write_inventory(
    spec: &FleetSpec,
    names: &[(String, String, Role)],
    addresses: &[IpAddr],
    password: &str,
    dir: &Path,
) -> Result<Inventory, FleetError> {
    let entries = names.iter().zip(addresses).map(|((name, node, role), address)| {
        let user = (spec.nosudo.as_ref() == Some(node)).then(|| NOSUDO_USER.to_string());
        let settings = HostSettings { user, ..HostSettings::default() };
        HostEntry { name: name.clone(), address: *address, role: *role, settings }
    });
    let roles = names.iter().map(|(_, _, role)| (*role, role_spec(*role, password)));
    let inventory = Inventory {
        lease: Duration::from_secs(20),
        defaults: HostSettings {
            user: Some(USER.into()),
            key: Some(KEY.into()),
            known_hosts: Some(KNOWN_HOSTS.into()),
            port: Some(22),
            sudo: Some(true),
            interface: Some("eth0".into()),
            allow_faults: Some(true),
        },
        hosts: entries.collect(),
        roles: roles.collect(),
    };
    let path = dir.join(INVENTORY);
    let text = toml::to_string(&inventory).expect("an inventory serialises");
    let header = "# A fleet of containers made by faultline (`faultline hosts up`):\n\
                  # its hosts go when it is torn down.\n";
    std::fs::write(&path, format!("{header}{text}"))
        .map_err(|source| FleetError::File { path: path.clone(), source })?;
    Ok(Inventory::load(&path)?)
}

/// How `role` runs on the host image.
fn role_spec(role: Role, password: &str) -> RoleSpec {
    let spec = |start: &str, config: &str| RoleSpec {
        start: start.to_string(),
        config: config.into(),
        data: None,
        socket: None,
        database: None,
    };
    match role {
        Role::Redis => RoleSpec {
            data: Some("/var/lib/redis/faultline".into()),
            ..spec("redis-server /etc/faultline/redis.conf", "/etc/faultline/redis.conf")
        },
        Role::Sentinel => spec(
            "redis-server /etc/faultline/sentinel.conf --sentinel",
            "/etc/faultline/sentinel.conf",
        ),
        Role::Postgres => RoleSpec {
            socket: Some("/run/postgresql".into()),
            database: Some(Database {
                user: "postgres".into(),
                password: password.to_string(),
                name: "postgres".into(),
            }),
            ..spec(
                &format!("env FAULTLINE_PG_PASSWORD={password} {POSTGRES_START}"),
                "/etc/faultline/postgresql.conf",
            )
        },
    }
}

/// `faultline hosts up`: starts a fleet in `dir`, says how to run a scenario on it,
/// and tears it down at Ctrl-C (or SIGTERM).
pub async fn up(spec: FleetSpec, dir: &Path) -> anyhow::Result<()> {
    use anyhow::Context;
    let fleet = tokio::select! {
        fleet = Fleet::start(&spec, dir) => fleet.context("starting the fleet")?,
        () = crate::shutdown_signal() => {
            eprintln!("interrupted while starting: every host of the fleet was removed");
            return Ok(());
        }
    };
    let inventory = fleet.inventory_path();
    println!("fleet {} is up: {}", fleet.run_id(), inventory.display());
    for host in fleet.inventory().resolved() {
        let user = host.user.as_deref().unwrap_or(USER);
        println!("  {:<10} {:<16} {user}@{}", host.node, host.name, host.address);
    }
    let (key, known) = (fleet.dir.join(KEY), fleet.dir.join(KNOWN_HOSTS));
    println!(
        "log in: ssh -i {} -o UserKnownHostsFile={} USER@ADDRESS",
        key.display(),
        known.display()
    );
    println!("run a scenario on it:");
    println!("  faultline run --hosts {} --scenario twilio-2013", inventory.display());
    println!("press Ctrl-C to tear it down");
    crate::shutdown_signal().await;
    let run = fleet.run_id().to_string();
    fleet.teardown().await.context("tearing the fleet down")?;
    println!("fleet {run} torn down");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("faultline-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn the_inventory_names_nodes_by_role_and_resolves_its_files_against_its_directory() {
        let dir = temp_dir("fleet-inventory");
        let spec = FleetSpec {
            redis: 2,
            sentinels: 1,
            nosudo: Some("redis-1".into()),
            ..FleetSpec::default()
        };
        let names = spec.hosts();
        let addresses: Vec<IpAddr> = (11..15).map(|i| IpAddr::from([10, 0, 0, i])).collect();
        let inventory = write_inventory(&spec, &names, &addresses, "secret", &dir).unwrap();
        let hosts = inventory.resolved();
        let nodes: Vec<_> =
            hosts.iter().map(|h| (h.node.as_str(), h.name.as_str(), h.user.as_deref())).collect();
        assert_eq!(
            nodes,
            [
                ("redis-0", "host-redis-0", Some(USER)),
                ("redis-1", "host-redis-1", Some(NOSUDO_USER)),
                ("sentinel-0", "host-sentinel-0", Some(USER)),
                ("postgres", "host-postgres", Some(USER)),
            ]
        );
        assert!(hosts.iter().all(|h| h.sudo && h.allow_faults && h.interface == "eth0"));
        assert!(hosts.iter().all(|h| h.key.as_deref() == Some(&*dir.join(KEY))));
        assert!(hosts.iter().all(|h| h.known_hosts.as_deref() == Some(&*dir.join(KNOWN_HOSTS))));
        let postgres = inventory.role(Role::Postgres).unwrap();
        assert_eq!(postgres.start, format!("env FAULTLINE_PG_PASSWORD=secret {POSTGRES_START}"));
        assert_eq!(postgres.database.as_ref().unwrap().password, "secret");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_spec_without_redis_or_with_an_unknown_nosudo_node_is_refused() {
        let none = FleetSpec { redis: 0, ..FleetSpec::default() };
        assert!(matches!(check(&none, &none.hosts()), Err(FleetError::Spec(_))));
        let unknown = FleetSpec { nosudo: Some("sentinel-0".into()), ..FleetSpec::default() };
        assert!(matches!(check(&unknown, &unknown.hosts()), Err(FleetError::Spec(_))));
        let fine = FleetSpec { nosudo: Some("postgres".into()), ..FleetSpec::default() };
        assert!(check(&fine, &fine.hosts()).is_ok());
    }
}
