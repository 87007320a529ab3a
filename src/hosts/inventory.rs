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
//! data = "/var/lib/redis/faultline"                  # Redis's `dir`: its files deleted at setup
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

/// The longest lease: how long faults may outlive a harness that is gone.
pub const MAX_LEASE: Duration = Duration::from_secs(10 * 60);

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
    /// Redis: its `dir`, made at setup and rid of Redis's own files (`dump.rdb`,
    /// `appendonlydir`, `appendonly.aof`, `temp-*.rdb`); nothing else in it is touched.
    /// Postgres: unused.
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
        for (role, spec) in &inventory.roles {
            spec.check(*role).map_err(invalid)?;
        }
        let mut seen = std::collections::BTreeSet::new();
        for host in &inventory.hosts {
            if host.address.is_ipv6() {
                return Err(invalid(format!(
                    "host {} has the IPv6 address {}: faultline's partitions are IPv4 iptables \
                     rules, so give it the host's IPv4 address",
                    host.name, host.address
                )));
            }
            let interface =
                host.settings.interface.as_ref().or(inventory.defaults.interface.as_ref());
            if let Some(interface) = interface
                && !valid_interface(interface)
            {
                return Err(invalid(format!(
                    "host {} has interface {interface:?}, which is not an interface name (1 to 15 \
                     of letters, digits and _ . : @ -): set `interface` to the name `ip link` shows",
                    host.name
                )));
            }
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
            if host.role == Role::Redis && spec.data.is_none() {
                return Err(invalid(
                    "[roles.redis] needs `data`: the directory Redis keeps its snapshots in \
                     (faultline deletes Redis's files in it at setup)"
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
        if inventory.lease > MAX_LEASE {
            return Err(invalid(format!(
                "lease = {:?} is longer than {}: faults would outlive a lost harness that long; \
                 set a shorter lease",
                humantime::format_duration(inventory.lease).to_string(),
                humantime::format_duration(MAX_LEASE)
            )));
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

impl RoleSpec {
    /// Whether this spec of `role` can be run safely, or what is wrong and what to do:
    /// `config` and `data` must be absolute paths without `.` or `..` that are neither
    /// faultline's state base, nor inside it, nor one of its ancestors (setup writes the
    /// one and deletes Redis's files in the other); `start` must be a simple command,
    /// which faultline `exec`s so that the server leads its process group.
    pub fn check(&self, role: Role) -> Result<(), String> {
        let r = role.key();
        let paths = [("config", Some(&self.config)), ("data", self.data.as_ref())];
        for (field, path) in paths {
            if let Some(path) = path
                && let Err(why) = own_path(path)
            {
                return Err(format!(
                    "[roles.{r}] {field} = {:?} {why}",
                    path.display().to_string()
                ));
            }
        }
        if let Some(what) = compound(&self.start) {
            return Err(format!(
                "[roles.{r}] start = {:?} is not a simple command ({what}): faultline execs it as \
                 its process group's leader so that signals reach the server: wrap it in a script \
                 that ends with `exec` (`env NAME=value PROGRAM ...` sets variables)",
                self.start
            ));
        }
        Ok(())
    }
}

/// Why `path` cannot be a file or directory faultline writes or empties, if it cannot.
fn own_path(path: &Path) -> Result<(), String> {
    let text = path.to_string_lossy();
    if !path.is_absolute() {
        return Err("is relative: give an absolute path".into());
    }
    if text.split('/').any(|part| part == "." || part == "..") {
        return Err("has `.` or `..` in it: give the path without them".into());
    }
    let base = Path::new(super::commands::BASE);
    if path.starts_with(base) || base.starts_with(path) {
        return Err(format!(
            "is {} or inside or above it, where faultline keeps its runs' state: give it a \
             path of its own",
            super::commands::BASE
        ));
    }
    Ok(())
}

/// What makes `command` more than one simple command, if anything does: a shell
/// operator, a command substitution, or a leading `NAME=value`.
fn compound(command: &str) -> Option<&'static str> {
    let operators = [
        (";", "`;`"),
        ("\n", "a line break"),
        ("|", "a pipe or `||`"),
        ("&", "`&` or `&&`"),
        ("`", "a backquote"),
        ("$(", "`$(`"),
    ];
    if let Some((_, what)) = operators.iter().find(|(op, _)| command.contains(op)) {
        return Some(what);
    }
    let first = command.split_whitespace().next().unwrap_or("");
    let assignment = first.split_once('=').is_some_and(|(name, _)| {
        !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    });
    assignment.then_some("it starts with NAME=value")
}

/// Whether `name` can be a Linux interface name: 1 to 15 of letters, digits, `_.:@-`.
fn valid_interface(name: &str) -> bool {
    (1..=15).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.:@-".contains(&b))
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

#[cfg(test)]
mod tests {
    use super::*;

    const INVENTORY: &str = r#"
        lease = "20s"
        [[hosts]]
        name = "a"
        address = "10.1.0.1"
        role = "redis"
        [roles.redis]
        start = "redis-server /etc/faultline/redis.conf"
        config = "/etc/faultline/redis.conf"
        data = "/var/lib/redis/faultline"
    "#;

    fn problem(text: &str) -> String {
        match Inventory::parse(Path::new("hosts.toml"), text) {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn the_example_parses() {
        Inventory::parse(Path::new("hosts.toml"), INVENTORY).expect("parses");
    }

    #[test]
    fn data_and_config_must_be_absolute_plain_and_clear_of_the_state_base() {
        for data in [
            "/srv/x/../..",
            "/srv/./x",
            "srv/x",
            "/var/lib",
            "/",
            "/var/lib/faultline",
            "/var/lib/faultline/redis",
        ] {
            let text = INVENTORY.replace("/var/lib/redis/faultline", data);
            let message = problem(&text);
            assert!(message.contains(&format!("[roles.redis] data = {data:?}")), "{message}");
        }
        let text =
            INVENTORY.replace("/etc/faultline/redis.conf\"\n", "/var/lib/faultline/r.conf\"\n");
        assert!(problem(&text).contains("[roles.redis] config = \"/var/lib/faultline/r.conf\""));
        let fine = INVENTORY.replace("/var/lib/redis/faultline", "/var/lib/faultline-redis");
        Inventory::parse(Path::new("hosts.toml"), &fine).expect("a sibling of the base is fine");
    }

    #[test]
    fn a_start_command_must_be_one_simple_command() {
        let start = "redis-server /etc/faultline/redis.conf";
        for bad in [
            "redis-server a; sleep 1",
            "cd /x && redis-server",
            "redis-server || true",
            "redis-server | tee log",
            "redis-server &",
            "redis-server `cat f`",
            "redis-server $(cat f)",
            "FOO=1 redis-server",
        ] {
            let message = problem(&INVENTORY.replace(start, bad));
            assert!(message.contains("wrap it in a script that ends with `exec`"), "{message}");
        }
        let env = INVENTORY.replace(start, "env FAULTLINE_PG_PASSWORD=x /usr/local/bin/start");
        Inventory::parse(Path::new("hosts.toml"), &env).expect("env is a program");
    }

    #[test]
    fn interfaces_ipv6_addresses_and_long_leases_are_refused_naming_the_host() {
        let text =
            INVENTORY.replace("role = \"redis\"", "role = \"redis\"\ninterface = \"eth0; reboot\"");
        let message = problem(&text);
        assert!(message.contains("host a has interface \"eth0; reboot\""), "{message}");
        let long = INVENTORY
            .replace("role = \"redis\"", "role = \"redis\"\ninterface = \"abcdefghijklmnop\"");
        assert!(problem(&long).contains("is not an interface name"));
        let fine =
            INVENTORY.replace("role = \"redis\"", "role = \"redis\"\ninterface = \"br-1.2@x:y_z\"");
        Inventory::parse(Path::new("hosts.toml"), &fine).expect("a valid interface");
        let message = problem(&INVENTORY.replace("10.1.0.1", "fd00::1"));
        assert!(message.contains("host a has the IPv6 address fd00::1"), "{message}");
        let message = problem(&INVENTORY.replace("\"20s\"", "\"11m\""));
        assert!(message.contains("lease = \"11m\" is longer than 10m"), "{message}");
    }
}
