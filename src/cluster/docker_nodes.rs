//! The Docker backend of [`NodeControl`]: each node a container of the run, on a bridge
//! network of the run's own, its port published on 127.0.0.1, everything labelled with
//! the run (`clean::labels`) and removed at teardown, by the drop guard on a panic, or by
//! `faultline clean` after a SIGKILL.
//!
//! A container is created through testcontainers from faultline's images, with the
//! node's configuration file copied in, `NET_ADMIN` (iptables and tc inside), and its
//! port published on a port Docker picks: a node that starts again can come back on
//! another one, so [`NodeControl::client_addr`] reads it anew.

use super::control::{Backend, NodeControl, NodeSpec};
use super::guard::RunGuard;
use super::{ClusterError, NodeKind, NodeState, ready, sentinel};
use crate::docker::{self, DockerError, ExecOutput, NODE_LABEL, RUN_LABEL};
use crate::images;
use base64::Engine;
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;
use testcontainers::bollard::Docker;
use testcontainers::bollard::models::{
    HostConfig, NetworkConnectRequest, NetworkCreateRequest, NetworkDisconnectRequest, PortBinding,
};
use testcontainers::bollard::query_parameters::{
    KillContainerOptions, RestartContainerOptions, StopContainerOptions,
};
use testcontainers::core::IntoContainerPort;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

impl NodeKind {
    /// The port the node's server listens on, on its own network.
    pub fn port(self) -> u16 {
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

struct Container {
    kind: NodeKind,
    name: String,
    handle: ContainerAsync<GenericImage>,
}

/// The run's containers and network.
pub(crate) struct DockerNodes {
    // Field order matters: containers drop (and are removed) before the guard sweeps
    // the network.
    containers: BTreeMap<String, Container>,
    docker: Docker,
    run: String,
    network: String,
    labels: HashMap<String, String>,
    password: String,
    guard: RunGuard,
}

impl DockerNodes {
    /// Creates the run's network; nodes come with [`NodeControl::create`]. Dropping the
    /// result (or a panic) removes everything of the run.
    pub(crate) async fn new(
        docker: Docker,
        run: &str,
        labels: HashMap<String, String>,
        password: &str,
    ) -> Result<DockerNodes, ClusterError> {
        let network = format!("faultline-{run}");
        let guard = RunGuard::new(run);
        create_network(&docker, &network, &labels).await?;
        Ok(DockerNodes {
            containers: BTreeMap::new(),
            docker,
            run: run.to_string(),
            network,
            labels,
            password: password.to_string(),
            guard,
        })
    }

    /// The run's network's name.
    pub(crate) fn network(&self) -> &str {
        &self.network
    }

    fn container(&self, node: &str) -> Result<&Container, ClusterError> {
        self.containers.get(node).ok_or_else(|| ClusterError::UnknownNode(node.into()))
    }

    fn container_name(&self, node: &str) -> String {
        format!("faultline-{}-{node}", self.run)
    }

    async fn start_container(&self, spec: NodeSpec) -> Result<Container, ClusterError> {
        let port = spec.kind.port();
        let repository = match spec.kind {
            NodeKind::Redis | NodeKind::Sentinel => images::REDIS,
            NodeKind::Postgres => images::POSTGRES,
        };
        let container_name = self.container_name(&spec.name);
        let mut request = GenericImage::new(repository, images::TAG)
            .with_exposed_port(port.tcp())
            .with_container_name(&container_name)
            .with_hostname(&spec.name)
            .with_network(&self.network)
            .with_label(RUN_LABEL, &self.run)
            .with_label(NODE_LABEL, &spec.name)
            .with_cap_add("NET_ADMIN")
            .with_copy_to(spec.kind.config_path(), spec.config.into_bytes())
            .with_host_config_modifier(move |host: &mut HostConfig| {
                publish_on_loopback(host, port)
            });
        match spec.kind {
            NodeKind::Postgres => {
                request = request.with_env_var("FAULTLINE_PG_PASSWORD", &self.password);
            }
            NodeKind::Sentinel => {
                let cmd = ["redis-server", sentinel::CONFIG_PATH, "--sentinel"];
                request = request.with_cmd(cmd);
            }
            NodeKind::Redis => {}
        }
        for (key, value) in &self.labels {
            request = request.with_label(key, value);
        }
        let handle = request
            .start()
            .await
            .map_err(|source| ClusterError::Start { node: spec.name.clone(), source })?;
        Ok(Container { kind: spec.kind, name: container_name, handle })
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

#[async_trait::async_trait]
impl NodeControl for DockerNodes {
    fn backend(&self) -> Backend {
        Backend::Docker
    }

    async fn create(&mut self, specs: Vec<NodeSpec>) -> Result<(), ClusterError> {
        let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
        let started =
            futures::future::try_join_all(specs.into_iter().map(|s| self.start_container(s)))
                .await?;
        self.containers.extend(names.into_iter().zip(started));
        Ok(())
    }

    async fn exec(&self, node: &str, cmd: &[&str]) -> Result<ExecOutput, ClusterError> {
        Ok(docker::exec(&self.docker, &self.container(node)?.name, cmd).await?)
    }

    async fn signal(&self, node: &str, signal: &str) -> Result<(), ClusterError> {
        // The server is the container's PID 1.
        let out = self.exec(node, &["kill", &format!("-{signal}"), "1"]).await?;
        match out.success() {
            true => Ok(()),
            false => Err(ClusterError::NotReady {
                node: node.to_string(),
                waited: Duration::ZERO,
                reason: format!("kill -{signal} 1 failed: {}", out.stderr.trim()),
                log: String::new(),
            }),
        }
    }

    async fn kill(&self, node: &str) -> Result<(), ClusterError> {
        let name = &self.container(node)?.name;
        let options = KillContainerOptions { signal: "SIGKILL".into() };
        self.docker
            .kill_container(name, Some(options))
            .await
            .map_err(DockerError::api(format!("kill {name}")))?;
        self.wait_stopped(name).await
    }

    async fn stop(&self, node: &str) -> Result<(), ClusterError> {
        let name = &self.container(node)?.name;
        let options = StopContainerOptions { t: Some(10), signal: None };
        self.docker
            .stop_container(name, Some(options))
            .await
            .map_err(DockerError::api(format!("stop {name}")))?;
        Ok(())
    }

    async fn start(&self, node: &str) -> Result<(), ClusterError> {
        let container = self.container(node)?;
        container
            .handle
            .start()
            .await
            .map_err(|source| ClusterError::Start { node: node.to_string(), source })
    }

    async fn restart(&self, node: &str) -> Result<(), ClusterError> {
        let name = &self.container(node)?.name;
        let options = RestartContainerOptions { t: Some(10), signal: None };
        self.docker
            .restart_container(name, Some(options))
            .await
            .map_err(DockerError::api(format!("restart {name}")))?;
        Ok(())
    }

    async fn pause(&self, node: &str) -> Result<(), ClusterError> {
        let name = &self.container(node)?.name;
        self.docker
            .pause_container(name)
            .await
            .map_err(DockerError::api(format!("pause {name}")))?;
        Ok(())
    }

    async fn unpause(&self, node: &str) -> Result<(), ClusterError> {
        let name = &self.container(node)?.name;
        self.docker
            .unpause_container(name)
            .await
            .map_err(DockerError::api(format!("unpause {name}")))?;
        Ok(())
    }

    async fn write_config(&self, node: &str, text: &str) -> Result<(), ClusterError> {
        let container = self.container(node)?;
        let encoded = base64::engine::general_purpose::STANDARD.encode(text);
        let script = format!("echo {encoded} | base64 -d > {}", container.kind.config_path());
        let out = docker::exec(&self.docker, &container.name, &["sh", "-c", &script]).await?;
        match out.success() {
            true => Ok(()),
            false => Err(ClusterError::NotReady {
                node: node.to_string(),
                waited: Duration::ZERO,
                reason: format!("writing its config failed: {}", out.stderr.trim()),
                log: String::new(),
            }),
        }
    }

    async fn logs(&self, node: &str, tail: Option<usize>) -> Result<String, ClusterError> {
        Ok(docker::logs(&self.docker, &self.container(node)?.name, tail).await?)
    }

    async fn client_addr(&self, node: &str) -> Result<SocketAddr, ClusterError> {
        let container = self.container(node)?;
        let inspect = self
            .docker
            .inspect_container(&container.name, None)
            .await
            .map_err(DockerError::api(format!("inspect {}", container.name)))?;
        let key = format!("{}/tcp", container.kind.port());
        let port = inspect
            .network_settings
            .and_then(|s| s.ports)
            .and_then(|mut ports| ports.remove(&key).flatten())
            .and_then(|bindings| {
                bindings.into_iter().find_map(|b| b.host_port?.parse::<u16>().ok())
            })
            .ok_or(ClusterError::NoAddress { node: node.to_string(), what: "published port" })?;
        Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port))
    }

    async fn peer_ip(&self, node: &str) -> Result<IpAddr, ClusterError> {
        let name = &self.container(node)?.name;
        let inspect = self
            .docker
            .inspect_container(name, None)
            .await
            .map_err(DockerError::api(format!("inspect {name}")))?;
        inspect
            .network_settings
            .and_then(|s| s.networks)
            .and_then(|mut nets| nets.remove(&self.network))
            .and_then(|endpoint| endpoint.ip_address)
            .and_then(|ip| ip.parse().ok())
            .ok_or(ClusterError::NoAddress {
                node: node.to_string(),
                what: "address on the run's network",
            })
    }

    fn peer_host(&self, node: &str) -> Result<String, ClusterError> {
        Ok(self.container_name(node))
    }

    async fn state(&self, node: &str) -> Result<NodeState, ClusterError> {
        let name = &self.container(node)?.name;
        let inspect = self
            .docker
            .inspect_container(name, None)
            .await
            .map_err(DockerError::api(format!("inspect {name}")))?;
        let state = inspect.state.unwrap_or_default();
        let connected = inspect
            .network_settings
            .and_then(|s| s.networks)
            .is_some_and(|networks| networks.contains_key(&self.network));
        Ok(NodeState {
            running: state.running.unwrap_or(false),
            paused: state.paused.unwrap_or(false),
            connected,
        })
    }

    /// The gateway of the run's network: host clients reach nodes through docker-proxy,
    /// so inside a node their connections come from this address.
    async fn clients_ip(&self) -> Result<IpAddr, ClusterError> {
        let network = self
            .docker
            .inspect_network(&self.network, None)
            .await
            .map_err(DockerError::api(format!("inspect network {}", self.network)))?;
        network
            .ipam
            .and_then(|ipam| ipam.config)
            .into_iter()
            .flatten()
            .find_map(|config| config.gateway?.parse().ok())
            .ok_or(ClusterError::NoAddress { node: self.network.clone(), what: "gateway" })
    }

    fn interface(&self, node: &str) -> Result<String, ClusterError> {
        self.container(node).map(|_| "eth0".to_string())
    }

    async fn disconnect(&self, node: &str) -> Result<(), ClusterError> {
        let container = self.container(node)?.name.clone();
        let request = NetworkDisconnectRequest { container, force: Some(true) };
        self.docker
            .disconnect_network(&self.network, request)
            .await
            .map_err(DockerError::api(format!("disconnect {node} from {}", self.network)))?;
        Ok(())
    }

    /// Docker may give the node another address on the network (it cannot pin one on a
    /// network without a configured subnet).
    async fn reconnect(&self, node: &str) -> Result<(), ClusterError> {
        let container = self.container(node)?.name.clone();
        let request = NetworkConnectRequest { container, endpoint_config: None };
        self.docker
            .connect_network(&self.network, request)
            .await
            .map_err(DockerError::api(format!("connect {node} to {}", self.network)))?;
        Ok(())
    }

    fn backstop(&self) -> Box<dyn FnOnce() -> Result<(), String> + Send> {
        let containers: Vec<String> = self.containers.values().map(|c| c.name.clone()).collect();
        Box::new(move || backstop(containers))
    }

    fn keep(self: Box<Self>) -> Result<(), ClusterError> {
        let DockerNodes { containers, guard, .. } = *self;
        guard.disarm();
        // A container handle removes its container when dropped; these must outlive us.
        containers.into_values().for_each(|c| std::mem::forget(c.handle));
        Ok(())
    }

    async fn teardown(self: Box<Self>) -> Result<(), ClusterError> {
        let DockerNodes { containers, docker, run, guard, .. } = *self;
        let removals = containers.into_values().map(|c| c.handle.rm());
        for result in futures::future::join_all(removals).await {
            if let Err(e) = result {
                tracing::warn!("removing a container of run {run}: {e}");
            }
        }
        docker::remove_run(&docker, Some(&run)).await?;
        guard.disarm();
        Ok(())
    }
}

/// Publishes `port` on 127.0.0.1 only, on a port Docker picks.
fn publish_on_loopback(host: &mut HostConfig, port: u16) {
    host.publish_all_ports = Some(false);
    let binding = PortBinding { host_ip: Some("127.0.0.1".into()), host_port: Some(String::new()) };
    host.port_bindings = Some([(format!("{port}/tcp"), Some(vec![binding]))].into());
}

/// Creates a bridge network named `name` with `labels`.
pub(crate) async fn create_network(
    docker: &Docker,
    name: &str,
    labels: &HashMap<String, String>,
) -> Result<(), DockerError> {
    let request = NetworkCreateRequest {
        name: name.to_string(),
        driver: Some("bridge".to_string()),
        labels: Some(labels.clone()),
        ..Default::default()
    };
    docker
        .create_network(request)
        .await
        .map_err(DockerError::api(format!("create network {name}")))?;
    Ok(())
}

/// Resumes every paused container and removes faultline's rules from the running ones,
/// on a runtime of its own and a Docker client of its own (the shared one may hold
/// connections driven by the runtime that is dropping the nemesis).
fn backstop(containers: Vec<String>) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let docker = testcontainers::bollard::Docker::connect_with_local_defaults()
            .map_err(|e| e.to_string())?;
        let mut errors = Vec::new();
        for container in &containers {
            let state = docker.inspect_container(container, None).await.ok().and_then(|i| i.state);
            let state = state.unwrap_or_default();
            if state.paused == Some(true)
                && let Err(e) = docker.unpause_container(container).await
            {
                errors.push(format!("{container}: {e}"));
            }
            if state.running != Some(true) {
                continue; // its rules went with its network namespace
            }
            let script = crate::nemesis::removal_script("faultline-");
            match docker::exec(&docker, container, &["sh", "-c", &script]).await {
                Ok(out) if out.stdout.trim() == "0" => {}
                Ok(out) => errors.push(format!("{container}: {} rules left", out.stdout.trim())),
                Err(e) => errors.push(format!("{container}: {e}")),
            }
        }
        match errors.is_empty() {
            true => Ok(()),
            false => Err(errors.join("; ")),
        }
    })
}
