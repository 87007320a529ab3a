//! A service under test in any language, started and owned by the harness: the
//! harness's side of `faultline-http/1` (`docs/protocol.md`), for a process or a
//! container.
//!
//! A scenario's `[sut]` table (or `faultline run --service "CMD"`, `--service-image
//! NAME`, `--service-build DIR`) names the service, by exactly one of `command`, `image`
//! and `build`:
//!
//! ```toml
//! [sut]
//! name = "billing-py"                       # the results table's name; default: the script's
//! command = ["examples/python/.venv/bin/python", "examples/python/failsafe.py"]
//! # image = "billing-py:1.4"                # or: a container of an image on this machine
//! # build = "examples/python"               # or: a container of the image built from a Dockerfile
//! dir = "."                                 # working directory; default: faultline's own (processes)
//! env = { LOG_LEVEL = "debug" }             # added to the protocol's variables
//! start_timeout = "30s"                     # how long /v1/health may take to answer 2xx
//! # listen = "127.0.0.1:8080"               # a fixed address; default: a free port (processes)
//! ```
//!
//! [`Service`] keeps one public face over two backends, so the runner and the nemesis do
//! not care which runs: `process` spawns the command with the protocol's environment
//! (the stores' addresses as they are now, the gateway's and the control URL), in a
//! process group of its own, stdout and stderr appended to `service.stdout.log` and
//! `service.stderr.log` in the run's directory; `container` runs the image on the run's
//! own network, the stores named as the network names them (`redis-0:6379`), the
//! gateway and control URLs on the network's bridge gateway, listening on `0.0.0.0:8080`
//! inside and published on 127.0.0.1 only. Either way faultline waits for `GET
//! /v1/health` to answer `2xx`; a service that cannot start, exits, or is not healthy in
//! time is an error naming what runs it and quoting the end of its stderr.
//!
//! Nothing outlives the run: the process group is killed (after a `SIGCONT`, in case it
//! was paused) when the [`Service`] is stopped or dropped; the child is spawned with
//! `PR_SET_PDEATHSIG`, so it is killed when faultline dies, even by `SIGKILL`; and each
//! started group is recorded under the system's temporary directory with its owner, so
//! `faultline clean` kills a group whose owner died ([`clean`]). A container carries the
//! run's labels: it is removed at the end of the run, and with the run by every
//! teardown, the run's guard and `faultline clean`, like the stores.

mod container;
mod control;
mod launch;
mod process;
pub mod record;

pub use container::{PORT as CONTAINER_PORT, RunNetwork};
pub use control::{ControlServer, Snapshot};
pub use launch::{Launch, Launched, SharedService};

use crate::cluster::clean::Scope;
use crate::docker::DockerError;
use crate::images::ImageError;
use crate::store::RunDir;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;
use tokio::time::Instant;
use workloads::endpoints::{Endpoints, Topology};

/// A service under test, as a scenario's `[sut]` table or `--service` (or
/// `--service-image`, `--service-build`) describes it: exactly one of `command`,
/// `image` and `build`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// Its name in the results table and the store; default: the file stem of the
    /// command's last argument (`failsafe` for `python3 failsafe.py`), the image's
    /// repository without its path and tag, or the build directory's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The program and its arguments: a process faultline starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// An image present on this machine (never pulled): a container on the run's
    /// network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// A directory with a Dockerfile, built into an image tagged by a hash of its
    /// contents (rebuilt only when they change): a container on the run's network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<PathBuf>,
    /// Its working directory; default: faultline's. Processes only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    /// Environment variables added to the protocol's.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Where it must listen; default: a free port on 127.0.0.1. Processes only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// How long `GET /v1/health` may take to answer `2xx` after a start.
    #[serde(default = "default_start_timeout", with = "humantime_serde")]
    pub start_timeout: Duration,
}

fn default_start_timeout() -> Duration {
    Duration::from_secs(30)
}

/// What runs a service: a process, or a container from an image or a build directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source<'a> {
    /// `command`: a process.
    Command(&'a [String]),
    /// `image`: a container from an image on this machine.
    Image(&'a str),
    /// `build`: a container from an image built from this directory.
    Build(&'a Path),
}

impl ServiceSpec {
    /// A service run by `command` (split as a shell would: `--service "python3 x.py"`).
    pub fn from_command_line(line: &str) -> Result<ServiceSpec, ServiceError> {
        let command = shlex::split(line)
            .filter(|words| !words.is_empty())
            .ok_or_else(|| ServiceError::BadCommand(line.to_string()))?;
        Ok(ServiceSpec { command, ..ServiceSpec::empty() })
    }

    /// A service run as a container of `image` (`--service-image`).
    pub fn from_image(image: &str) -> Result<ServiceSpec, ServiceError> {
        let spec = ServiceSpec { image: Some(image.to_string()), ..ServiceSpec::empty() };
        spec.check().map_err(|(_, why)| ServiceError::BadSpec(why))?;
        Ok(spec)
    }

    /// A service run as a container of the image built from `dir` (`--service-build`).
    pub fn from_build(dir: &Path) -> Result<ServiceSpec, ServiceError> {
        let spec = ServiceSpec { build: Some(dir.to_path_buf()), ..ServiceSpec::empty() };
        spec.check().map_err(|(_, why)| ServiceError::BadSpec(why))?;
        Ok(spec)
    }

    fn empty() -> ServiceSpec {
        ServiceSpec {
            name: None,
            command: Vec::new(),
            image: None,
            build: None,
            dir: None,
            env: BTreeMap::new(),
            listen: None,
            start_timeout: default_start_timeout(),
        }
    }

    /// What runs it. Panics unless the spec passed [`ServiceSpec::check`], which every
    /// scenario and command line does.
    pub fn source(&self) -> Source<'_> {
        match (&self.command[..], &self.image, &self.build) {
            (command, None, None) if !command.is_empty() => Source::Command(command),
            ([], Some(image), None) => Source::Image(image),
            ([], None, Some(dir)) => Source::Build(dir),
            _ => panic!("a service spec names exactly one of command, image and build: {self:?}"),
        }
    }

    /// Whether it runs as a container on the run's network.
    pub fn is_container(&self) -> bool {
        !matches!(self.source(), Source::Command(_))
    }

    /// `Err((key, why))` unless the spec names exactly one of `command`, `image` and
    /// `build`, with the settings that apply to it: the key is where a scenario's error
    /// points (`""`: the `[sut]` table itself).
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let given: Vec<&str> = [
            ("command", !self.command.is_empty()),
            ("image", self.image.is_some()),
            ("build", self.build.is_some()),
        ]
        .into_iter()
        .filter_map(|(key, given)| given.then_some(key))
        .collect();
        match given[..] {
            [] => {
                return Err((
                    "",
                    "[sut] names no service: give exactly one of `command = [\"program\", \
                     \"arg\"]` (a process), `image = \"name:tag\"` (a container from an image on \
                     this machine) or `build = \"path/to/dir\"` (a container built from a \
                     directory with a Dockerfile)"
                        .into(),
                ));
            }
            [_] => {}
            [_, second, ..] => {
                return Err((
                    second,
                    format!(
                        "[sut] gives {}: give exactly one (a process from `command`, or a \
                         container from `image` or `build`)",
                        given.join(" and ")
                    ),
                ));
            }
        }
        if let Some(image) = &self.image
            && (image.trim().is_empty() || image.chars().any(char::is_whitespace))
        {
            return Err(("image", format!("{image:?} is no image name: write `name:tag`")));
        }
        if let Some(dir) = &self.build
            && !dir.join("Dockerfile").is_file()
        {
            return Err((
                "build",
                format!(
                    "{} has no Dockerfile: `build` names a directory holding one (relative to \
                     where faultline runs)",
                    dir.display()
                ),
            ));
        }
        if !self.command.is_empty() {
            return Ok(());
        }
        let process_only = [("dir", self.dir.is_some()), ("listen", self.listen.is_some())];
        match process_only.into_iter().find(|(_, given)| *given) {
            Some((key, _)) => Err((
                key,
                format!(
                    "`{key}` applies to a service run by `command`; a container listens on \
                     0.0.0.0:8080 inside it and runs where its image says"
                ),
            )),
            None => Ok(()),
        }
    }

    /// Its name in the results table and the store.
    pub fn name(&self) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        let stem: Option<String> = match (self.command.last(), &self.image, &self.build) {
            (Some(last), _, _) => {
                Path::new(last).file_stem().and_then(|s| s.to_str()).map(str::to_string)
            }
            (None, Some(image), _) => {
                let repository = image.split('@').next().unwrap_or(image);
                let repository = match repository.rsplit_once(':') {
                    Some((name, tag)) if !tag.contains('/') => name,
                    _ => repository,
                };
                repository.rsplit('/').next().map(str::to_string)
            }
            (None, None, Some(dir)) => {
                let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.clone());
                dir.file_name().and_then(|s| s.to_str()).map(str::to_string)
            }
            (None, None, None) => None,
        };
        let stem = stem.filter(|s| !s.is_empty()).unwrap_or_else(|| "service".to_string());
        stem.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' }).collect()
    }

    /// The command line, as a shell would read it back (empty for a container).
    pub fn command_line(&self) -> String {
        shlex::try_join(self.command.iter().map(String::as_str))
            .unwrap_or_else(|_| self.command.join(" "))
    }

    /// What runs it, for messages: the command line, `image NAME` or `build DIR`.
    pub fn describe(&self) -> String {
        match self.source() {
            Source::Command(_) => self.command_line(),
            Source::Image(image) => format!("image {image}"),
            Source::Build(dir) => format!("build {}", dir.display()),
        }
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
    /// A service spec that names no service, or more than one way to run it.
    #[error("{0}")]
    BadSpec(String),
    /// The service's image is missing or could not be built.
    #[error(transparent)]
    Image(Box<ImageError>),
    /// Docker refused to create, start or control the service's container.
    #[error(transparent)]
    Docker(#[from] DockerError),
    /// The run's network could not be read, for a container service.
    #[error(transparent)]
    Cluster(Box<crate::cluster::ClusterError>),
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
        /// The command line (or `image NAME`, `build DIR`).
        command: String,
        /// How it exited.
        status: String,
        /// Where its stderr is kept.
        log: String,
        /// The last lines of its stderr.
        tail: String,
    },
    /// It did not answer `GET /v1/health` with `2xx` in time.
    #[error("{0}")]
    NotHealthy(Box<Unhealthy>),
    /// It started, but did not answer as the protocol asks.
    #[error("the service does not follow faultline-http/1: {0}")]
    Protocol(workloads::sut::http::ServiceError),
    /// Its log files could not be opened, or the servers it talks to could not start.
    #[error("cannot start the service's surroundings: {0}")]
    Io(#[from] io::Error),
}

/// A service that did not answer `GET /v1/health` with `2xx` in time.
#[derive(Debug, thiserror::Error)]
#[error(
    "the service `{command}` did not answer GET {url}/v1/health with 2xx within {timeout:?} \
     (last: {last}); raise [sut] start_timeout if it is slow to start. The end of its \
     stderr ({log}):\n{tail}"
)]
pub struct Unhealthy {
    /// The command line (or `image NAME`, `build DIR`).
    pub command: String,
    /// Its base URL.
    pub url: String,
    /// The start timeout.
    pub timeout: Duration,
    /// The last health check's outcome.
    pub last: String,
    /// Where its stderr is kept.
    pub log: String,
    /// The last lines of its stderr.
    pub tail: String,
}

impl From<ImageError> for ServiceError {
    fn from(e: ImageError) -> ServiceError {
        ServiceError::Image(Box::new(e))
    }
}

impl From<crate::cluster::ClusterError> for ServiceError {
    fn from(e: crate::cluster::ClusterError) -> ServiceError {
        ServiceError::Cluster(Box::new(e))
    }
}

/// A running (or killed, or paused) service: a process or a container, the same to
/// the runner and the nemesis.
pub struct Service {
    spec: ServiceSpec,
    contacts: Contacts,
    topology: Topology,
    backend: Backend,
}

enum Backend {
    Process(Box<process::Process>),
    Container(Box<container::Container>),
}

/// Whether a started service still runs, for the health wait.
pub(crate) enum Health {
    Running,
    Exited(String),
}

impl Service {
    /// Starts the service process described by `spec` and waits until it is healthy;
    /// its output goes into `dir`. A container service needs the run's network: it is
    /// started through [`Launch::start`].
    pub async fn start(
        spec: &ServiceSpec,
        contacts: Contacts,
        topology: Topology,
        dir: &RunDir,
    ) -> Result<Service, ServiceError> {
        if spec.is_container() {
            return Err(ServiceError::BadSpec(format!(
                "{} runs as a container on the run's network: start it through Launch",
                spec.describe()
            )));
        }
        let process = process::Process::new(
            spec,
            dir.file("service.stdout.log"),
            dir.file("service.stderr.log"),
        )?;
        let mut service = Service {
            spec: spec.clone(),
            contacts,
            topology,
            backend: Backend::Process(Box::new(process)),
        };
        service.spawn().await?;
        Ok(service)
    }

    /// Starts a container of `image` on `network` for `spec` and waits until it is
    /// healthy; its output is copied into `dir`.
    pub(crate) async fn start_container(
        spec: &ServiceSpec,
        image: &str,
        contacts: Contacts,
        topology: Topology,
        dir: &RunDir,
        network: &RunNetwork,
    ) -> Result<Service, ServiceError> {
        let docker = crate::docker::connect().await?;
        let env = container_environment(&topology.borrow(), &contacts, &spec.env);
        let created = container::Container::create(
            docker,
            image,
            network,
            env,
            dir.file("service.stdout.log"),
            dir.file("service.stderr.log"),
        )
        .await?;
        let backend = Backend::Container(Box::new(created));
        let mut service = Service { spec: spec.clone(), contacts, topology, backend };
        service.spawn().await?;
        Ok(service)
    }

    /// Its base URL, as faultline reaches it (on 127.0.0.1).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    fn addr(&self) -> SocketAddr {
        match &self.backend {
            Backend::Process(p) => p.addr,
            Backend::Container(c) => c.addr,
        }
    }

    /// Its name.
    pub fn name(&self) -> String {
        self.spec.name()
    }

    /// Whether it runs as a container on the run's network.
    pub fn is_container(&self) -> bool {
        matches!(self.backend, Backend::Container(_))
    }

    /// The process group's id, while a service process runs (`None` for a container).
    pub fn pid(&self) -> Option<u32> {
        match &self.backend {
            Backend::Process(p) => p.pid(),
            Backend::Container(_) => None,
        }
    }

    /// A container service's address on the run's network and its main process's pid
    /// on this machine, while it runs: what partitions cut. `None` for a process.
    pub async fn container_endpoint(&self) -> Option<Result<(IpAddr, u32), ServiceError>> {
        match &self.backend {
            Backend::Process(_) => None,
            Backend::Container(c) => Some(c.inside().await),
        }
    }

    /// The protocol's environment, with the stores where they are now (for a
    /// container, by their names on the run's network).
    pub fn environment(&self) -> Vec<(String, String)> {
        match &self.backend {
            Backend::Process(p) => environment(p.addr, &self.topology.borrow(), &self.contacts),
            Backend::Container(_) => {
                container_environment(&self.topology.borrow(), &self.contacts, &BTreeMap::new())
            }
        }
    }

    /// Kills it: `SIGKILL` to the process group (reaped), or `docker kill -s KILL`. Does
    /// nothing if it is not running.
    pub async fn kill(&mut self) {
        match &mut self.backend {
            Backend::Process(p) => p.kill().await,
            Backend::Container(c) => {
                c.kill().await;
                c.save_logs().await;
            }
        }
    }

    /// Starts it again (killing it first if it runs) with the stores where they are
    /// now, and waits until it is healthy. A container restarts as itself (`docker
    /// kill` and `docker start`), with the environment it was created with: a
    /// container service follows the stores through the control URL.
    pub async fn restart(&mut self) -> Result<(), ServiceError> {
        self.kill().await;
        self.spawn().await
    }

    /// Stops every process of it: `SIGSTOP` to the group, or `docker pause`.
    pub async fn pause(&self) -> Result<(), ServiceError> {
        match &self.backend {
            Backend::Process(p) => {
                p.pause();
                Ok(())
            }
            Backend::Container(c) => c.pause().await,
        }
    }

    /// Lets a paused service go on: `SIGCONT`, or `docker unpause`.
    pub async fn resume(&self) -> Result<(), ServiceError> {
        match &self.backend {
            Backend::Process(p) => {
                p.resume();
                Ok(())
            }
            Backend::Container(c) => c.resume().await,
        }
    }

    /// Whether it is paused: its process stopped by a signal, or its container frozen.
    pub async fn paused(&self) -> bool {
        match &self.backend {
            Backend::Process(p) => p.stopped(),
            Backend::Container(c) => c.paused().await,
        }
    }

    /// Whether it runs now (it was started and has not exited).
    pub fn running(&mut self) -> bool {
        let started = match &self.backend {
            Backend::Process(p) => p.pid().is_some(),
            Backend::Container(_) => true,
        };
        started && self.exited().is_none()
    }

    /// Whether it has exited (or was killed), with how, if it has. A container's exit
    /// code above 128 reads as the signal that ended it.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        match &mut self.backend {
            Backend::Process(p) => p.exited(),
            Backend::Container(c) => c.exited(),
        }
    }

    /// Kills it: the end of a run. A container is removed, its output kept in the run's
    /// directory.
    pub async fn stop(mut self) {
        self.shut().await;
    }

    /// Kills it and, for a container, removes it.
    pub(crate) async fn shut(&mut self) {
        match &mut self.backend {
            Backend::Process(p) => p.kill().await,
            Backend::Container(c) => {
                c.kill().await;
                c.remove().await;
            }
        }
    }

    async fn spawn(&mut self) -> Result<(), ServiceError> {
        match &mut self.backend {
            Backend::Process(p) => {
                let env = environment(p.addr, &self.topology.borrow(), &self.contacts);
                p.spawn(&self.spec, env, &self.contacts.run_id)?;
            }
            Backend::Container(c) => c.start().await?,
        }
        self.await_health().await
    }

    fn health(&mut self) -> Health {
        match &mut self.backend {
            Backend::Process(p) => p.health(),
            Backend::Container(c) => c.health(),
        }
    }

    /// Where its stderr is kept, and its last lines (a container's are copied first).
    async fn stderr_tail(&self) -> (String, String) {
        let path = match &self.backend {
            Backend::Process(p) => &p.stderr,
            Backend::Container(c) => {
                c.save_logs().await;
                &c.stderr
            }
        };
        (path.display().to_string(), tail(path))
    }

    async fn await_health(&mut self) -> Result<(), ServiceError> {
        let client = reqwest::Client::builder().no_proxy().build().expect("a plain HTTP client");
        let url = self.url();
        let deadline = Instant::now() + self.spec.start_timeout;
        loop {
            if let Health::Exited(status) = self.health() {
                let (log, tail) = self.stderr_tail().await;
                let error =
                    ServiceError::Exited { command: self.spec.describe(), status, tail, log };
                self.shut().await;
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
                let (log, tail) = self.stderr_tail().await;
                let error = ServiceError::NotHealthy(Box::new(Unhealthy {
                    command: self.spec.describe(),
                    url,
                    timeout: self.spec.start_timeout,
                    last,
                    log,
                    tail,
                }));
                self.shut().await;
                return Err(error);
            }
            tokio::time::sleep(HEALTH_INTERVAL).await;
        }
    }
}

/// How often readiness is polled, and how long one poll may take.
const HEALTH_INTERVAL: Duration = Duration::from_millis(50);
const HEALTH_TIMEOUT: Duration = Duration::from_secs(1);

/// How many lines of stderr an error quotes.
const TAIL_LINES: usize = 20;

/// How a service names the stores: by the addresses published on 127.0.0.1 (a
/// process), or by their names on the run's network (a container).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Addressing {
    /// `127.0.0.1:PORT`, the published ports.
    Host,
    /// `redis-0:6379`, `postgres:5432`: the run network's names.
    Network,
}

/// The stores as a service is told of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StoreNames {
    pub(crate) master: String,
    pub(crate) replicas: Vec<String>,
    pub(crate) postgres_url: String,
    /// The sentinels, in name order (empty without Sentinel).
    pub(crate) sentinels: Vec<String>,
    /// The name the sentinels monitor the master under, with Sentinel.
    pub(crate) sentinel_master: Option<String>,
}

impl StoreNames {
    pub(crate) fn of(now: &Endpoints, addressing: Addressing) -> StoreNames {
        let redis = |(name, addr): (&str, SocketAddr)| match addressing {
            Addressing::Host => addr.to_string(),
            Addressing::Network => format!("{name}:{REDIS_PORT}"),
        };
        let master = now.master_node().map_or_else(|| now.redis_master.to_string(), redis);
        let replicas = now.replicas().map(redis).collect();
        let postgres_url = match (&now.postgres, addressing) {
            (None, _) => String::new(),
            (Some(pg), Addressing::Host) => pg.url(),
            (Some(pg), Addressing::Network) => format!(
                "postgres://{}:{}@postgres:{POSTGRES_PORT}/{}",
                pg.user, pg.password, pg.database
            ),
        };
        let sentinel = now.sentinel.as_ref();
        let sentinels = sentinel
            .map(|s| {
                let named = |(name, addr): (&String, &SocketAddr)| match addressing {
                    Addressing::Host => addr.to_string(),
                    Addressing::Network => format!("{name}:{SENTINEL_PORT}"),
                };
                s.nodes.iter().map(named).collect()
            })
            .unwrap_or_default();
        let sentinel_master = sentinel.map(|s| s.master_name.clone());
        StoreNames { master, replicas, postgres_url, sentinels, sentinel_master }
    }
}

const REDIS_PORT: u16 = 6379;
const SENTINEL_PORT: u16 = 26379;
const POSTGRES_PORT: u16 = 5432;

/// The protocol's environment variables (docs/protocol.md, section 1) for a process
/// listening on `listen`.
pub fn environment(
    listen: SocketAddr,
    now: &Endpoints,
    contacts: &Contacts,
) -> Vec<(String, String)> {
    variables(&listen.to_string(), &StoreNames::of(now, Addressing::Host), contacts)
}

/// The protocol's environment for a container (the stores by their names on the run's
/// network, listening on `0.0.0.0:8080`), then the spec's own variables.
fn container_environment(
    now: &Endpoints,
    contacts: &Contacts,
    extra: &BTreeMap<String, String>,
) -> Vec<(String, String)> {
    let listen = format!("0.0.0.0:{}", container::PORT);
    let mut env = variables(&listen, &StoreNames::of(now, Addressing::Network), contacts);
    env.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
    env
}

fn variables(listen: &str, stores: &StoreNames, contacts: &Contacts) -> Vec<(String, String)> {
    let sentinel = stores.sentinel_master.as_ref().map(|master| {
        [
            ("FAULTLINE_SENTINELS", stores.sentinels.join(",")),
            ("FAULTLINE_SENTINEL_MASTER", master.clone()),
        ]
    });
    [
        ("FAULTLINE_PROTOCOL", workloads::sut::http::PROTOCOL.to_string()),
        ("FAULTLINE_LISTEN", listen.to_string()),
        ("FAULTLINE_REDIS_MASTER", stores.master.clone()),
        ("FAULTLINE_REDIS_REPLICAS", stores.replicas.join(",")),
        ("FAULTLINE_POSTGRES_URL", stores.postgres_url.clone()),
        ("FAULTLINE_GATEWAY_URL", contacts.gateway.clone()),
        ("FAULTLINE_CONTROL_URL", contacts.control.clone()),
        ("FAULTLINE_SEED", contacts.seed.to_string()),
        ("FAULTLINE_RUN_ID", contacts.run_id.clone()),
        ("FAULTLINE_OP_TIMEOUT_MS", contacts.op_timeout.as_millis().to_string()),
    ]
    .into_iter()
    .chain(sentinel.into_iter().flatten())
    .map(|(k, v)| (k.to_string(), v))
    .collect()
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
            process::signal_group(record.pgid(), libc::SIGCONT);
            process::signal_group(record.pgid(), libc::SIGKILL);
            killed.push(record.clone());
        }
        record.remove();
    }
    killed
}

#[cfg(test)]
mod tests;
