//! A service under test in any language, started and owned by the harness: the process
//! side of `faultline-http/1` (`docs/protocol.md`).
//!
//! A scenario's `[sut]` table (or `faultline run --service "CMD"`) names the service:
//!
//! ```toml
//! [sut]
//! name = "billing-py"                       # the results table's name; default: the script's
//! command = ["examples/python/.venv/bin/python", "examples/python/failsafe.py"]
//! dir = "."                                 # working directory; default: faultline's own
//! env = { LOG_LEVEL = "debug" }             # added to the protocol's variables
//! start_timeout = "30s"                     # how long /v1/health may take to answer 2xx
//! # listen = "127.0.0.1:8080"               # a fixed address; default: a free port
//! ```
//!
//! [`Service::start`] spawns the command with the protocol's environment (the stores'
//! addresses as they are now, the gateway's and the control URL), in a process group of
//! its own, stdout and stderr appended to `service.stdout.log` and `service.stderr.log`
//! in the run's directory, and waits for `GET /v1/health` to answer `2xx`. A command that
//! cannot start, exits, or is not healthy in time is an error naming the command line and
//! quoting the end of its stderr.
//!
//! Nothing outlives the run: the process group is killed (after a `SIGCONT`, in case it
//! was paused) when the [`Service`] is stopped or dropped; the child is spawned with
//! `PR_SET_PDEATHSIG`, so it is killed when faultline dies, even by `SIGKILL`; and each
//! started group is recorded under the system's temporary directory with its owner, so
//! `faultline clean` kills a group whose owner died ([`clean`]).

mod control;
mod launch;
pub mod record;

pub use control::{ControlServer, Snapshot};
pub use launch::{Launch, Launched, SharedService};

use crate::cluster::clean::Scope;
use crate::store::RunDir;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;
use tokio::process::{Child, Command};
use tokio::time::Instant;
use workloads::endpoints::{Endpoints, Topology};

/// A service under test, as a scenario's `[sut]` table or `--service` describes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// Its name in the results table and the store; default: the file stem of the
    /// command's last argument (`failsafe` for `python3 failsafe.py`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The program and its arguments.
    pub command: Vec<String>,
    /// Its working directory; default: faultline's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    /// Environment variables added to the protocol's.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Where it must listen; default: a free port on 127.0.0.1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// How long `GET /v1/health` may take to answer `2xx` after a start.
    #[serde(default = "default_start_timeout", with = "humantime_serde")]
    pub start_timeout: Duration,
}

fn default_start_timeout() -> Duration {
    Duration::from_secs(30)
}

impl ServiceSpec {
    /// A service run by `command` (split as a shell would: `--service "python3 x.py"`).
    pub fn from_command_line(line: &str) -> Result<ServiceSpec, ServiceError> {
        let command = shlex::split(line)
            .filter(|words| !words.is_empty())
            .ok_or_else(|| ServiceError::BadCommand(line.to_string()))?;
        Ok(ServiceSpec {
            name: None,
            command,
            dir: None,
            env: BTreeMap::new(),
            listen: None,
            start_timeout: default_start_timeout(),
        })
    }

    /// Its name in the results table and the store.
    pub fn name(&self) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        let last = self.command.last().map(String::as_str).unwrap_or("service");
        let stem = Path::new(last).file_stem().and_then(|s| s.to_str()).unwrap_or("service");
        stem.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' }).collect()
    }

    /// The command line, as a shell would read it back.
    pub fn command_line(&self) -> String {
        shlex::try_join(self.command.iter().map(String::as_str))
            .unwrap_or_else(|_| self.command.join(" "))
    }
}

/// What the harness tells a service besides the stores' addresses.
#[derive(Clone, Debug)]
pub struct Contacts {
    /// The card gateway's base URL.
    pub gateway: String,
    /// The control URL (live topology).
    pub control: String,
    /// The run's seed.
    pub seed: u64,
    /// The run's id.
    pub run_id: String,
    /// How long a client waits for one operation.
    pub op_timeout: Duration,
}

/// Why a service could not be started or reached.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// `--service` held no command, or unbalanced quotes.
    #[error(
        "cannot read the service's command line {0:?}: give a program and its arguments, quoted as a shell would"
    )]
    BadCommand(String),
    /// The program could not be started.
    #[error("cannot start the service `{command}`: {error}{hint}")]
    Spawn {
        /// The command line.
        command: String,
        /// What the OS said.
        error: io::Error,
        /// What to do about it.
        hint: &'static str,
    },
    /// The address it must listen on is taken.
    #[error(
        "the service's address {addr} is already in use by another process: stop it, or \
         choose another `listen` in [sut] (or leave `listen` out for a free port)"
    )]
    AddressInUse {
        /// The address.
        addr: SocketAddr,
    },
    /// It exited before it was healthy.
    #[error(
        "the service `{command}` exited ({status}) before answering GET /v1/health; the end \
         of its stderr ({log}):\n{tail}"
    )]
    Exited {
        /// The command line.
        command: String,
        /// How it exited.
        status: ExitStatus,
        /// Where its stderr is kept.
        log: String,
        /// The last lines of its stderr.
        tail: String,
    },
    /// It did not answer `GET /v1/health` with `2xx` in time.
    #[error(
        "the service `{command}` did not answer GET {url}/v1/health with 2xx within {timeout:?} \
         (last: {last}); raise [sut] start_timeout if it is slow to start. The end of its \
         stderr ({log}):\n{tail}"
    )]
    NotHealthy {
        /// The command line.
        command: String,
        /// Its base URL.
        url: String,
        /// The start timeout.
        timeout: Duration,
        /// The last health check's outcome.
        last: String,
        /// Where its stderr is kept.
        log: String,
        /// The last lines of its stderr.
        tail: String,
    },
    /// It started, but did not answer as the protocol asks.
    #[error("the service does not follow faultline-http/1: {0}")]
    Protocol(workloads::sut::http::ServiceError),
    /// Its log files could not be opened, or the servers it talks to could not start.
    #[error("cannot start the service's surroundings: {0}")]
    Io(#[from] io::Error),
}

/// A running (or killed, or paused) service process.
pub struct Service {
    spec: ServiceSpec,
    contacts: Contacts,
    topology: Topology,
    addr: SocketAddr,
    stdout: PathBuf,
    stderr: PathBuf,
    child: Option<Child>,
    record: Option<record::Record>,
}

impl Service {
    /// Starts the service described by `spec` and waits until it is healthy; its output
    /// goes into `dir`.
    pub async fn start(
        spec: &ServiceSpec,
        contacts: Contacts,
        topology: Topology,
        dir: &RunDir,
    ) -> Result<Service, ServiceError> {
        let addr = match spec.listen {
            Some(addr) => {
                TcpListener::bind(addr).map_err(|e| match e.kind() {
                    io::ErrorKind::AddrInUse => ServiceError::AddressInUse { addr },
                    _ => ServiceError::Io(e),
                })?;
                addr
            }
            None => free_port()?,
        };
        let mut service = Service {
            spec: spec.clone(),
            contacts,
            topology,
            addr,
            stdout: dir.file("service.stdout.log"),
            stderr: dir.file("service.stderr.log"),
            child: None,
            record: None,
        };
        service.spawn().await?;
        Ok(service)
    }

    /// Its base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Its name.
    pub fn name(&self) -> String {
        self.spec.name()
    }

    /// The process group's id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// The protocol's environment, with the stores where they are now.
    pub fn environment(&self) -> Vec<(String, String)> {
        environment(self.addr, &self.topology.borrow(), &self.contacts)
    }

    /// Kills the process group with `SIGKILL` and reaps it. Does nothing if it is not
    /// running.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child.id() {
                signal_group(pid, libc::SIGCONT);
                signal_group(pid, libc::SIGKILL);
            }
            let _ = child.wait().await;
        }
        if let Some(record) = self.record.take() {
            record.remove();
        }
    }

    /// Starts it again (killing it first if it runs) with the stores where they are
    /// now, and waits until it is healthy.
    pub async fn restart(&mut self) -> Result<(), ServiceError> {
        self.kill().await;
        self.spawn().await
    }

    /// Stops (`SIGSTOP`) every process of the group.
    pub fn pause(&self) {
        if let Some(pid) = self.pid() {
            signal_group(pid, libc::SIGSTOP);
        }
    }

    /// Lets a paused group go on (`SIGCONT`).
    pub fn resume(&self) {
        if let Some(pid) = self.pid() {
            signal_group(pid, libc::SIGCONT);
        }
    }

    /// Whether the process has exited (or was killed), with how, if it has.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    /// Kills it: the end of a run.
    pub async fn stop(mut self) {
        self.kill().await;
    }

    async fn spawn(&mut self) -> Result<(), ServiceError> {
        let stdout = append(&self.stdout)?;
        let stderr = append(&self.stderr)?;
        let (program, args) = self.spec.command.split_first().expect("a command is never empty");
        let mut command = Command::new(program);
        command
            .args(args)
            .envs(self.environment())
            .envs(&self.spec.env)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .process_group(0)
            .kill_on_drop(true);
        if let Some(dir) = &self.spec.dir {
            command.current_dir(dir);
        }
        // SAFETY: prctl is async-signal-safe; it only sets this child's parent-death
        // signal, so the child dies with the thread that spawned it (a runtime worker,
        // which lives as long as faultline does).
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().map_err(|error| ServiceError::Spawn {
            command: self.spec.command_line(),
            hint: match error.kind() {
                io::ErrorKind::NotFound => {
                    ": no such program (is it installed, on PATH, or relative to the working directory?)"
                }
                io::ErrorKind::PermissionDenied => ": not executable (chmod +x, or name its interpreter)",
                _ => "",
            },
            error,
        })?;
        if let Some(pid) = child.id() {
            self.record = record::Record::create(&self.contacts.run_id, pid);
        }
        self.child = Some(child);
        self.await_health().await
    }

    async fn await_health(&mut self) -> Result<(), ServiceError> {
        let client = reqwest::Client::builder().no_proxy().build().expect("a plain HTTP client");
        let url = self.url();
        let deadline = Instant::now() + self.spec.start_timeout;
        loop {
            if let Some(status) = self.exited() {
                let log = self.stderr.display().to_string();
                let error = ServiceError::Exited {
                    command: self.spec.command_line(),
                    status,
                    tail: tail(&self.stderr),
                    log,
                };
                self.kill().await;
                return Err(error);
            }
            let check = client.get(format!("{url}/v1/health")).timeout(HEALTH_TIMEOUT).send();
            let last = match check.await {
                Ok(answer) if answer.status().is_success() => return Ok(()),
                Ok(answer) => format!("answered {}", answer.status()),
                Err(e) if e.is_connect() => "connection refused".to_string(),
                Err(e) => e.to_string(),
            };
            if Instant::now() >= deadline {
                let error = ServiceError::NotHealthy {
                    command: self.spec.command_line(),
                    url,
                    timeout: self.spec.start_timeout,
                    last,
                    log: self.stderr.display().to_string(),
                    tail: tail(&self.stderr),
                };
                self.kill().await;
                return Err(error);
            }
            tokio::time::sleep(HEALTH_INTERVAL).await;
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(pid) = self.pid() {
            signal_group(pid, libc::SIGCONT);
            signal_group(pid, libc::SIGKILL);
        }
        if let Some(record) = self.record.take() {
            record.remove();
        }
    }
}

/// How often readiness is polled, and how long one poll may take.
const HEALTH_INTERVAL: Duration = Duration::from_millis(50);
const HEALTH_TIMEOUT: Duration = Duration::from_secs(1);

/// How many lines of stderr an error quotes.
const TAIL_LINES: usize = 20;

/// The protocol's environment variables (docs/protocol.md, section 1).
pub fn environment(
    listen: SocketAddr,
    now: &Endpoints,
    contacts: &Contacts,
) -> Vec<(String, String)> {
    let replicas: Vec<String> = now
        .redis
        .values()
        .filter(|addr| **addr != now.redis_master)
        .map(ToString::to_string)
        .collect();
    let postgres = now.postgres.as_ref().map(|p| p.url()).unwrap_or_default();
    [
        ("FAULTLINE_PROTOCOL", workloads::sut::http::PROTOCOL.to_string()),
        ("FAULTLINE_LISTEN", listen.to_string()),
        ("FAULTLINE_REDIS_MASTER", now.redis_master.to_string()),
        ("FAULTLINE_REDIS_REPLICAS", replicas.join(",")),
        ("FAULTLINE_POSTGRES_URL", postgres),
        ("FAULTLINE_GATEWAY_URL", contacts.gateway.clone()),
        ("FAULTLINE_CONTROL_URL", contacts.control.clone()),
        ("FAULTLINE_SEED", contacts.seed.to_string()),
        ("FAULTLINE_RUN_ID", contacts.run_id.clone()),
        ("FAULTLINE_OP_TIMEOUT_MS", contacts.op_timeout.as_millis().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// A port on 127.0.0.1 nobody listens on now.
fn free_port() -> io::Result<SocketAddr> {
    TcpListener::bind("127.0.0.1:0")?.local_addr()
}

fn append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// The last lines of a log file.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(TAIL_LINES);
    match &lines[start..] {
        [] => "  (nothing)".to_string(),
        tail => tail.iter().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n"),
    }
}

/// Sends `signal` to process group `pgid`; a group that is gone is fine.
fn signal_group(pgid: u32, signal: libc::c_int) {
    // SAFETY: kill(2) with a negative pid signals a process group; no memory is shared.
    unsafe {
        libc::kill(-(pgid as libc::pid_t), signal);
    }
}

/// Kills the process groups of the services `scope` names: those whose faultline died
/// (killed by `SIGKILL` while its child outlived it; the parent-death signal makes
/// that rare), one run's, or all; returns the records of the groups killed.
pub fn clean(scope: &Scope) -> Vec<record::Record> {
    let mut killed = Vec::new();
    for record in record::Record::all() {
        let named = match scope {
            Scope::Dead => !record.owner_alive(),
            Scope::Run(run) => record.run == *run,
            Scope::All => true,
        };
        if !named {
            continue;
        }
        if record.service_alive() {
            signal_group(record.pgid(), libc::SIGCONT);
            signal_group(record.pgid(), libc::SIGKILL);
            killed.push(record.clone());
        }
        record.remove();
    }
    killed
}

#[cfg(test)]
mod tests;
