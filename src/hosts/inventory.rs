//! `hosts.toml`: the hosts a run reaches over SSH, how to log in, what each runs and how.
//!
//! ```toml
//! lease = "20s"                  # the dead-man switch: faults heal this long after the
//!                                # harness stops renewing (killed, or cut off)
//!
//! [defaults]                     # every host's settings unless it sets its own
//! user = "faultline"             # the SSH user; omitted: your SSH config decides
//! key = "id_ed25519"             # relative to this file; omitted: your SSH config and agent
//! known_hosts = "known_hosts"    # relative to this file: host keys are checked against it
//!                                # and new hosts' keys added (StrictHostKeyChecking=accept-new);
//!                                # omitted: your SSH config decides (strict by default)
//! port = 22
//! sudo = true                    # commands run as root through `sudo -n`
//! interface = "eth0"             # the interface tc shapes (delay, loss)
//! allow_faults = false           # a host must opt in to faults
//!
//! [[hosts]]
//! name = "redis-a"               # for messages; nodes keep the scenario's names
//! address = "10.0.0.11"          # where SSH, the clients and the other nodes reach it
//! role = "redis"                 # redis | sentinel | postgres: one role per host
//! allow_faults = true
//!
//! [roles.redis]                  # how a role's process runs on its hosts
//! start = "redis-server /etc/faultline/redis.conf"   # in the foreground; faultline runs
//!                                # it in the background and owns its process group
//! config = "/etc/faultline/redis.conf"               # written by faultline at each start
//! data = "/var/lib/redis/faultline"                  # Redis's `dir`, emptied at setup
//!
//! [roles.postgres]
//! start = "..."
//! config = "/etc/faultline/postgresql.conf"          # the file postgresql.conf includes
//! socket = "/run/postgresql"                         # where psql finds the server
//! database = { user = "postgres", password = "...", name = "postgres" }
//! ```
//!
//! Redis nodes are named `redis-0` (the first Redis host, the master), `redis-1`, ...;
//! sentinels `sentinel-0`, ...; the Postgres host is `postgres`: the names scenarios
//! use. Every role listens on its standard port (6379, 26379, 5432).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A parsed `hosts.toml`, with relative key paths resolved against its directory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    /// How long faults outlive the harness's last renewal (the dead-man switch).
    #[serde(default = "default_lease", with = "humantime_serde")]
    pub lease: Duration,
    /// Settings every host takes unless it sets its own.
    #[serde(default)]
    pub defaults: HostSettings,
    /// The hosts, in the order nodes are named.
    pub hosts: Vec<HostEntry>,
    /// How each role's process runs.
    #[serde(default)]
    pub roles: BTreeMap<Role, RoleSpec>,
}

fn default_lease() -> Duration {
    Duration::from_secs(20)
}

/// What a host runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// redis-server: the first Redis host starts as the master, the others as replicas.
    Redis,
    /// Redis Sentinel.
    Sentinel,
    /// PostgreSQL.
    Postgres,
}

/// SSH and fault settings of a host; unset ones come from `[defaults]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostSettings {
    /// The SSH user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The private key (relative to the inventory's directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
    /// The known-hosts file (relative to the inventory's directory) that SSH checks host
    /// keys against and adds new hosts' keys to (`StrictHostKeyChecking=accept-new`);
    /// unset, host keys are checked strictly against the user's own known hosts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_hosts: Option<PathBuf>,
    /// The SSH port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Whether commands run through `sudo -n`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sudo: Option<bool>,
    /// The interface tc shapes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// Whether faults may touch this host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_faults: Option<bool>,
}

/// One `[[hosts]]` entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostEntry {
    /// The host's name, for messages.
    pub name: String,
    /// Where SSH, the clients and the other nodes reach it.
    pub address: std::net::IpAddr,
    /// What it runs.
    pub role: Role,
    /// Its own settings.
    #[serde(flatten)]
    pub settings: HostSettings,
}

/// How a role's process is run on its hosts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleSpec {
    /// The command line that runs the server in the foreground (as root; switch user in
    /// it if needed). faultline starts it in a process group of its own, in the
    /// background, with its output in the run's directory on the host.
    pub start: String,
    /// The configuration file faultline writes before every start.
    pub config: PathBuf,
    /// Redis: its `dir`, emptied at setup. Postgres: unused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<PathBuf>,
    /// Postgres: the directory of its Unix socket, for psql on the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket: Option<PathBuf>,
    /// Postgres: how the clients log in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<Database>,
}

/// How clients log in to Postgres.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Database {
    /// The user.
    pub user: String,
    /// Its password.
    pub password: String,
    /// The database.
    pub name: String,
}

/// A host with its settings resolved: what the SSH backend works with.
#[derive(Clone, Debug, PartialEq)]
pub struct Host {
    /// The node name scenarios use (`redis-0`, `sentinel-1`, `postgres`).
    pub node: String,
    /// The host's own name, for messages.
    pub name: String,
    /// Its address.
    pub address: std::net::IpAddr,
    /// What it runs.
    pub role: Role,
    /// The SSH user, if set.
    pub user: Option<String>,
    /// The private key (absolute), if set.
    pub key: Option<PathBuf>,
    /// The known-hosts file (absolute) SSH uses with `StrictHostKeyChecking=accept-new`,
    /// if set; unset, the user's SSH configuration decides.
    pub known_hosts: Option<PathBuf>,
    /// The SSH port.
    pub port: u16,
    /// Whether commands run through `sudo -n`.
    pub sudo: bool,
    /// The interface tc shapes.
    pub interface: String,
    /// Whether faults may touch it.
    pub allow_faults: bool,
}

/// What is wrong with an inventory.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// The file cannot be read.
    #[error("cannot read the inventory {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file does not parse.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// toml's message, with the line and column.
        message: String,
    },
    /// It parses but cannot work.
    #[error("{path}: {problem}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong and what to do.
        problem: String,
    },
}

impl Inventory {
    /// Reads and checks `path`; relative `key` and `known_hosts` paths become relative to
    /// its directory.
    pub fn load(path: &Path) -> Result<Inventory, InventoryError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| InventoryError::Read { path: path.to_path_buf(), source })?;
        let mut inventory = Inventory::parse(path, &text)?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let absolute = |settings: &mut HostSettings| {
            for path in [&mut settings.key, &mut settings.known_hosts].into_iter().flatten() {
                if path.is_relative() {
                    *path = dir.join(&*path);
                }
            }
        };
        absolute(&mut inventory.defaults);
        inventory.hosts.iter_mut().for_each(|h| absolute(&mut h.settings));
        Ok(inventory)
    }

    /// Parses and checks `text`, read from `path` (named in errors; key and known-hosts
    /// paths stay as written).
    pub fn parse(path: &Path, text: &str) -> Result<Inventory, InventoryError> {
        let inventory: Inventory = toml::from_str(text).map_err(|e| InventoryError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let invalid =
            |problem: String| InventoryError::Invalid { path: path.to_path_buf(), problem };
        if inventory.hosts.is_empty() {
            return Err(invalid("no [[hosts]]: list at least a Redis host".into()));
        }
        let mut seen = std::collections::BTreeSet::new();
        for host in &inventory.hosts {
            if !seen.insert(host.address) {
                return Err(invalid(format!(
                    "address {} is listed twice: each host has one role",
                    host.address
                )));
            }
            let Some(spec) = inventory.roles.get(&host.role) else {
                return Err(invalid(format!(
                    "host {} has role {:?} but there is no [roles.{}]: say how it is started",
                    host.name,
                    host.role,
                    host.role.key()
                )));
            };
            if host.role == Role::Postgres && spec.database.is_none() {
                return Err(invalid(
                    "[roles.postgres] needs `database = { user, password, name }`: how the \
                     clients log in"
                        .into(),
                ));
            }
            if let Some(data) = &spec.data
                && data.starts_with(super::commands::BASE)
            {
                return Err(invalid(format!(
                    "[roles.{}] data = {:?} is inside {}, where faultline keeps its runs' \
                     state: give the data a directory of its own",
                    host.role.key(),
                    data,
                    super::commands::BASE
                )));
            }
            if host.role == Role::Redis && spec.data.is_none() {
                return Err(invalid(
                    "[roles.redis] needs `data`: the directory Redis keeps its snapshots in \
                     (faultline empties it at setup)"
                        .into(),
                ));
            }
        }
        if !inventory.hosts.iter().any(|h| h.role == Role::Redis) {
            return Err(invalid("no host has role \"redis\": a run needs a Redis master".into()));
        }
        if inventory.hosts.iter().filter(|h| h.role == Role::Postgres).count() > 1 {
            return Err(invalid("more than one Postgres host: a run uses one".into()));
        }
        if inventory.lease < Duration::from_secs(3) {
            return Err(invalid(
                "lease must be at least 3s: it is renewed every third of it".into(),
            ));
        }
        Ok(inventory)
    }

    /// Every host, with its node name and its settings resolved.
    pub fn resolved(&self) -> Vec<Host> {
        let mut counts: BTreeMap<Role, usize> = BTreeMap::new();
        self.hosts
            .iter()
            .map(|entry| {
                let i = counts.entry(entry.role).or_default();
                let node = match entry.role {
                    Role::Redis => format!("redis-{i}"),
                    Role::Sentinel => format!("sentinel-{i}"),
                    Role::Postgres => "postgres".to_string(),
                };
                *i += 1;
                let (own, all) = (&entry.settings, &self.defaults);
                Host {
                    node,
                    name: entry.name.clone(),
                    address: entry.address,
                    role: entry.role,
                    user: own.user.clone().or_else(|| all.user.clone()),
                    key: own.key.clone().or_else(|| all.key.clone()),
                    known_hosts: own.known_hosts.clone().or_else(|| all.known_hosts.clone()),
                    port: own.port.or(all.port).unwrap_or(22),
                    sudo: own.sudo.or(all.sudo).unwrap_or(false),
                    interface: own
                        .interface
                        .clone()
                        .or_else(|| all.interface.clone())
                        .unwrap_or_else(|| "eth0".into()),
                    allow_faults: own.allow_faults.or(all.allow_faults).unwrap_or(false),
                }
            })
            .collect()
    }

    /// How many hosts have `role`.
    pub fn count(&self, role: Role) -> usize {
        self.hosts.iter().filter(|h| h.role == role).count()
    }

    /// How `role` runs (present for every role a host has: checked at parse).
    pub fn role(&self, role: Role) -> Option<&RoleSpec> {
        self.roles.get(&role)
    }
}

impl Role {
    /// The role's name in `hosts.toml`.
    pub fn key(self) -> &'static str {
        match self {
            Role::Redis => "redis",
            Role::Sentinel => "sentinel",
            Role::Postgres => "postgres",
        }
    }
}
