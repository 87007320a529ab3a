//! Nodes and node control: the primitives the nemesis builds on.
//!
//! Every primitive acts on one node by name and leaves the cluster's endpoints current:
//! a node that starts again (after a kill, a stop or a restart) can come back on another
//! host port, so the port is read again and published to clients.

use super::config::{PostgresConfig, RedisConfig};
use super::{Cluster, ClusterError, ready, sentinel};
use crate::docker::{self, DockerError, ExecOutput, NODE_LABEL, RUN_LABEL};
use crate::images;
use base64::Engine;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Mutex;
use std::time::Duration;
use testcontainers::bollard::Docker;
use testcontainers::bollard::models::{HostConfig, PortBinding};
use testcontainers::bollard::query_parameters::{
    KillContainerOptions, RestartContainerOptions, StopContainerOptions,
};
use testcontainers::core::IntoContainerPort;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

/// What a node runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    /// redis-server.
    Redis,
    /// PostgreSQL.
    Postgres,
    /// Redis Sentinel (`redis-server --sentinel`).
    Sentinel,
}

impl NodeKind {
    fn port(self) -> u16 {
        match self {
            NodeKind::Redis => 6379,
            NodeKind::Postgres => 5432,
            NodeKind::Sentinel => sentinel::PORT,
        }
    }

    fn config_path(self) -> &'static str {
        match self {
            NodeKind::Redis => "/etc/faultline/redis.conf",
            NodeKind::Postgres => "/etc/faultline/postgresql.conf",
            NodeKind::Sentinel => sentinel::CONFIG_PATH,
        }
    }
}

/// How to create one node's container.
pub(super) struct NodeSpec {
    name: String,
    kind: NodeKind,
    container_name: String,
    config: String,
    image: ContainerRequestParts,
}

struct ContainerRequestParts {
    repository: &'static str,
    labels: Vec<(String, String)>,
    network: String,
    env: Vec<(String, String)>,
    cmd: Option<Vec<String>>,
}

impl NodeSpec {
    /// The spec with the run's `labels` on its container (its run id, owner, keep).
    pub(super) fn labelled(
        mut self,
        labels: &std::collections::HashMap<String, String>,
    ) -> NodeSpec {
        self.image.labels = labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        self
    }

    pub(super) fn redis(run: &str, network: &str, name: &str, config: RedisConfig) -> NodeSpec {
        NodeSpec::new(run, network, name, NodeKind::Redis, config.render(), Vec::new())
    }

    pub(super) fn postgres(
        run: &str,
        network: &str,
        config: &PostgresConfig,
        password: &str,
    ) -> NodeSpec {
        let env = vec![("FAULTLINE_PG_PASSWORD".to_string(), password.to_string())];
        NodeSpec::new(run, network, "postgres", NodeKind::Postgres, config.render(), env)
    }

    /// A sentinel from the Redis image, reading `config` (which it rewrites).
    pub(super) fn sentinel(run: &str, network: &str, name: &str, config: String) -> NodeSpec {
        let mut spec = NodeSpec::new(run, network, name, NodeKind::Sentinel, config, Vec::new());
        let cmd = ["redis-server", sentinel::CONFIG_PATH, "--sentinel"];
        spec.image.cmd = Some(cmd.map(String::from).to_vec());
        spec
    }

    fn new(
        run: &str,
        network: &str,
        name: &str,
        kind: NodeKind,
        config: String,
        env: Vec<(String, String)>,
    ) -> NodeSpec {
        let repository = match kind {
            NodeKind::Redis | NodeKind::Sentinel => images::REDIS,
            NodeKind::Postgres => images::POSTGRES,
        };
        NodeSpec {
            name: name.to_string(),
            kind,
            container_name: format!("faultline-{run}-{name}"),
            config,
            image: ContainerRequestParts {
                repository,
                labels: vec![(RUN_LABEL.to_string(), run.to_string())],
                network: network.into(),
                env,
                cmd: None,
            },
        }
    }
}

pub(super) struct Node {
    pub(super) name: String,
    pub(super) kind: NodeKind,
    pub(super) container_name: String,
    pub(super) container: ContainerAsync<GenericImage>,
    config: Mutex<String>,
}

impl Node {
    /// Creates and starts the container; readiness is the cluster's to probe.
    pub(super) async fn start(spec: NodeSpec) -> Result<Node, ClusterError> {
        let port = spec.kind.port();
        let parts = &spec.image;
        let mut request = GenericImage::new(parts.repository, images::TAG)
            .with_exposed_port(port.tcp())
            .with_container_name(&spec.container_name)
            .with_hostname(&spec.name)
            .with_network(&parts.network)
            .with_label(NODE_LABEL, &spec.name)
            .with_cap_add("NET_ADMIN")
            .with_copy_to(spec.kind.config_path(), spec.config.clone().into_bytes())
            .with_host_config_modifier(move |host: &mut HostConfig| {
                publish_on_loopback(host, port)
            });
        for (key, value) in &parts.env {
            request = request.with_env_var(key, value);
        }
        if let Some(cmd) = &parts.cmd {
            request = request.with_cmd(cmd);
        }
        for (key, value) in &parts.labels {
            request = request.with_label(key, value);
        }
        let container = request
            .start()
            .await
            .map_err(|source| ClusterError::Start { node: spec.name.clone(), source })?;
        Ok(Node {
            name: spec.name,
            kind: spec.kind,
            container_name: spec.container_name,
            container,
            config: Mutex::new(spec.config),
        })
    }

    /// The address of the node's published port on 127.0.0.1, as it is now.
    pub(super) async fn host_addr(&self, docker: &Docker) -> Result<SocketAddr, ClusterError> {
        let inspect = docker
            .inspect_container(&self.container_name, None)
            .await
            .map_err(DockerError::api(format!("inspect {}", self.container_name)))?;
        let key = format!("{}/tcp", self.kind.port());
        let port = inspect
            .network_settings
            .and_then(|s| s.ports)
            .and_then(|mut ports| ports.remove(&key).flatten())
            .and_then(|bindings| {
                bindings.into_iter().find_map(|b| b.host_port?.parse::<u16>().ok())
            })
            .ok_or(ClusterError::NoAddress { node: self.name.clone(), what: "published port" })?;
        Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port))
    }

    pub(super) fn expect_kind(
        &self,
        kind: NodeKind,
        operation: &'static str,
    ) -> Result<(), ClusterError> {
        if self.kind == kind {
            Ok(())
        } else {
            Err(ClusterError::WrongKind { operation, node: self.name.clone(), kind: self.kind })
        }
    }
}

/// Publishes `port` on 127.0.0.1 only, on a port Docker picks.
fn publish_on_loopback(host: &mut HostConfig, port: u16) {
    host.publish_all_ports = Some(false);
    let binding = PortBinding { host_ip: Some("127.0.0.1".into()), host_port: Some(String::new()) };
    host.port_bindings = Some([(format!("{port}/tcp"), Some(vec![binding]))].into());
}

impl Cluster {
    /// Runs `cmd` as root inside `node`.
    pub async fn exec(&self, node: &str, cmd: &[&str]) -> Result<ExecOutput, ClusterError> {
        Ok(docker::exec(&self.docker, &self.node(node)?.container_name, cmd).await?)
    }

    /// The last `tail` lines of `node`'s log (all of it with `None`).
    pub async fn logs(&self, node: &str, tail: Option<usize>) -> Result<String, ClusterError> {
        Ok(docker::logs(&self.docker, &self.node(node)?.container_name, tail).await?)
    }

    /// Kills `node`'s server process with SIGKILL; the container stops with it.
    pub async fn kill(&self, node: &str) -> Result<(), ClusterError> {
        let name = &self.node(node)?.container_name;
        let options = KillContainerOptions { signal: "SIGKILL".into() };
        self.docker
            .kill_container(name, Some(options))
            .await
            .map_err(DockerError::api(format!("kill {name}")))?;
        self.wait_stopped(name).await
    }

    /// Stops `node` cleanly (SIGTERM, then SIGKILL after 10 s).
    pub async fn stop(&self, node: &str) -> Result<(), ClusterError> {
        let name = &self.node(node)?.container_name;
        let options = StopContainerOptions { t: Some(10), signal: None };
        self.docker
            .stop_container(name, Some(options))
            .await
            .map_err(DockerError::api(format!("stop {name}")))?;
        Ok(())
    }

    /// Starts a stopped `node` and waits until it answers; its new address is published.
    pub async fn start(&self, node: &str) -> Result<(), ClusterError> {
        let n = self.node(node)?;
        n.container
            .start()
            .await
            .map_err(|source| ClusterError::Start { node: n.name.clone(), source })?;
        self.node_restarted(n).await
    }

    /// Freezes every process of `node` (the cgroup freezer).
    pub async fn pause(&self, node: &str) -> Result<(), ClusterError> {
        let name = &self.node(node)?.container_name;
        self.docker
            .pause_container(name)
            .await
            .map_err(DockerError::api(format!("pause {name}")))?;
        Ok(())
    }

    /// Thaws a paused `node`.
    pub async fn unpause(&self, node: &str) -> Result<(), ClusterError> {
        let name = &self.node(node)?.container_name;
        self.docker
            .unpause_container(name)
            .await
            .map_err(DockerError::api(format!("unpause {name}")))?;
        Ok(())
    }

    /// The configuration file `node` was last started with.
    pub fn config_text(&self, node: &str) -> Result<String, ClusterError> {
        Ok(self.node(node)?.config.lock().expect("config lock").clone())
    }

    /// Replaces `node`'s configuration file with `text` (a whole `redis.conf`, or the
    /// settings included by `postgresql.conf`) and restarts it: SIGTERM, so Redis saves
    /// a snapshot first if its old configuration says so. Waits until it answers again.
    pub async fn restart_with_config(&self, node: &str, text: &str) -> Result<(), ClusterError> {
        self.write_config(self.node(node)?, text).await?;
        self.restart(node).await
    }

    /// Restarts `node` cleanly with the file it has now (a sentinel's, as Sentinel
    /// rewrote it) and waits until it answers again.
    pub async fn restart(&self, node: &str) -> Result<(), ClusterError> {
        let n = self.node(node)?;
        let name = &n.container_name;
        let options = RestartContainerOptions { t: Some(10), signal: None };
        self.docker
            .restart_container(name, Some(options))
            .await
            .map_err(DockerError::api(format!("restart {name}")))?;
        self.node_restarted(n).await
    }

    /// Replaces `node`'s configuration file with `text` without restarting it: the
    /// node reads it at its next start (or, for Postgres, at its next reload).
    pub async fn set_config(&self, node: &str, text: &str) -> Result<(), ClusterError> {
        self.write_config(self.node(node)?, text).await
    }

    async fn write_config(&self, node: &Node, text: &str) -> Result<(), ClusterError> {
        let encoded = base64::engine::general_purpose::STANDARD.encode(text);
        let script = format!("echo {encoded} | base64 -d > {}", node.kind.config_path());
        let out = docker::exec(&self.docker, &node.container_name, &["sh", "-c", &script]).await?;
        if !out.success() {
            return Err(self
                .not_ready(
                    node,
                    Duration::ZERO,
                    format!("writing its config failed: {}", out.stderr),
                )
                .await);
        }
        *node.config.lock().expect("config lock") = text.to_string();
        Ok(())
    }

    /// The node's address on the run's network, for rules between nodes.
    pub async fn ip(&self, node: &str) -> Result<IpAddr, ClusterError> {
        let n = self.node(node)?;
        let inspect = self
            .docker
            .inspect_container(&n.container_name, None)
            .await
            .map_err(DockerError::api(format!("inspect {}", n.container_name)))?;
        inspect
            .network_settings
            .and_then(|s| s.networks)
            .and_then(|mut nets| nets.remove(&self.network))
            .and_then(|endpoint| endpoint.ip_address)
            .and_then(|ip| ip.parse().ok())
            .ok_or(ClusterError::NoAddress {
                node: n.name.clone(),
                what: "address on the run's network",
            })
    }

    pub(super) async fn node_restarted(&self, node: &Node) -> Result<(), ClusterError> {
        let addr = node.host_addr(&self.docker).await?;
        match node.kind {
            NodeKind::Redis => self.endpoints.send_modify(|e| {
                e.redis.insert(node.name.clone(), addr);
                if *self.master.lock().expect("master lock") == node.name {
                    e.redis_master = addr;
                }
            }),
            NodeKind::Postgres => self.endpoints.send_modify(|e| {
                if let Some(pg) = e.postgres.as_mut() {
                    pg.addr = addr;
                }
            }),
            NodeKind::Sentinel => self.endpoints.send_modify(|e| {
                if let Some(sentinel) = e.sentinel.as_mut() {
                    sentinel.nodes.insert(node.name.clone(), addr);
                }
            }),
        }
        if node.kind == NodeKind::Redis && self.endpoints.borrow().sentinel.is_some() {
            let announced = SocketAddr::new(self.ip(&node.name).await?, 6379);
            self.endpoints.send_modify(|e| {
                if let Some(sentinel) = e.sentinel.as_mut() {
                    sentinel.announced.retain(|_, name| *name != node.name);
                    sentinel.announced.insert(announced, node.name.clone());
                }
            });
        }
        self.wait_node_ready(node, tokio::time::Instant::now() + Duration::from_secs(30)).await
    }

    pub(super) async fn wait_node_ready(
        &self,
        node: &Node,
        deadline: tokio::time::Instant,
    ) -> Result<(), ClusterError> {
        let started = tokio::time::Instant::now();
        let result = match node.kind {
            NodeKind::Redis => {
                let addr = self.endpoints.borrow().redis[&node.name];
                ready::poll_until(deadline, || ready::redis_ping(addr)).await
            }
            NodeKind::Postgres => {
                let endpoint = self
                    .endpoints
                    .borrow()
                    .postgres
                    .clone()
                    .expect("a postgres node has an endpoint");
                ready::poll_until(deadline, || ready::postgres_select_1(&endpoint)).await
            }
            NodeKind::Sentinel => {
                let addr = self.sentinel_addr(&node.name)?;
                ready::poll_until(deadline, || ready::redis_ping(addr)).await
            }
        };
        match result {
            Ok(()) => Ok(()),
            Err(reason) => Err(self.not_ready(node, started.elapsed(), reason).await),
        }
    }

    async fn wait_stopped(&self, container: &str) -> Result<(), ClusterError> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let stopped = ready::poll_until(deadline, || async {
            let inspect =
                self.docker.inspect_container(container, None).await.map_err(|e| e.to_string())?;
            match inspect.state.and_then(|s| s.running) {
                Some(false) => Ok(()),
                _ => Err(format!("{container} is still running")),
            }
        });
        stopped.await.map_err(|reason| ClusterError::NotReady {
            node: container.to_string(),
            waited: Duration::from_secs(10),
            reason,
            log: String::new(),
        })
    }
}
