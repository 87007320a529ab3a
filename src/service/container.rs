//! The container backend: the service as a container on the run's own network, from an
//! image on this machine or one built from a directory (`images::service_image`).
//!
//! The container is named `faultline-<run>-service` (hostname `service`), carries the
//! run's labels (so every teardown and `faultline clean` remove it with the run), and
//! listens on `0.0.0.0:8080` inside; faultline reaches it through that port published on
//! 127.0.0.1 only, on a host port chosen at creation and kept across restarts so the
//! service's URL never changes. Its stdout and stderr are Docker's; they are copied into
//! the run's `service.stdout.log` and `service.stderr.log` whenever faultline needs them
//! (an error quoting them, a kill, the end of the run).

use super::{Health, ServiceError};
use crate::docker::{DockerError, NODE_LABEL};
use futures::StreamExt;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::{Arc, Mutex};
use testcontainers::bollard::Docker;
use testcontainers::bollard::container::LogOutput;
use testcontainers::bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
use testcontainers::bollard::query_parameters::{
    CreateContainerOptions, KillContainerOptions, LogsOptions, RemoveContainerOptions,
    StartContainerOptions,
};
use tokio::task::JoinHandle;

/// The port a service listens on inside its container.
pub const PORT: u16 = 8080;

/// The run's network, as a container service joins it.
#[derive(Clone, Debug)]
pub struct RunNetwork {
    /// The run's id.
    pub run: String,
    /// The Docker network's name.
    pub name: String,
    /// Its bridge gateway: the host's address on the network, where the gateway's HTTP
    /// face and the control server listen for a container service.
    pub gateway: IpAddr,
    /// The run's labels (id, owner, kept), put on the container.
    pub labels: HashMap<String, String>,
}

/// A service container: created, then running, killed or paused until removed.
pub(super) struct Container {
    docker: Docker,
    network: RunNetwork,
    pub(super) name: String,
    pub(super) addr: SocketAddr,
    pub(super) stdout: PathBuf,
    pub(super) stderr: PathBuf,
    exit: Arc<Mutex<Option<i64>>>,
    waiter: Option<JoinHandle<()>>,
}

impl Container {
    /// Creates (does not start) the container of `image` on `network` with `env`.
    pub(super) async fn create(
        docker: Docker,
        image: &str,
        network: &RunNetwork,
        env: Vec<(String, String)>,
        stdout: PathBuf,
        stderr: PathBuf,
    ) -> Result<Container, ServiceError> {
        let name = format!("faultline-{}-service", network.run);
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port();
        let mut labels = network.labels.clone();
        labels.insert(NODE_LABEL.to_string(), "service".to_string());
        let binding =
            PortBinding { host_ip: Some("127.0.0.1".into()), host_port: Some(port.to_string()) };
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            hostname: Some("service".to_string()),
            env: Some(env.into_iter().map(|(k, v)| format!("{k}={v}")).collect()),
            labels: Some(labels),
            exposed_ports: Some(vec![format!("{PORT}/tcp")]),
            host_config: Some(HostConfig {
                network_mode: Some(network.name.clone()),
                port_bindings: Some([(format!("{PORT}/tcp"), Some(vec![binding]))].into()),
                publish_all_ports: Some(false),
                ..Default::default()
            }),
            ..Default::default()
        };
        let options = CreateContainerOptions { name: Some(name.clone()), ..Default::default() };
        docker
            .create_container(Some(options), body)
            .await
            .map_err(DockerError::api(format!("create the service container {name}")))?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let exit = Arc::new(Mutex::new(None));
        let network = network.clone();
        Ok(Container { docker, network, name, addr, stdout, stderr, exit, waiter: None })
    }

    /// Starts it (again) and follows its exit.
    pub(super) async fn start(&mut self) -> Result<(), ServiceError> {
        if let Some(waiter) = self.waiter.take() {
            waiter.abort();
        }
        *self.exit.lock().expect("exit lock") = None;
        self.docker
            .start_container(&self.name, None::<StartContainerOptions>)
            .await
            .map_err(DockerError::api(format!("start {}", self.name)))?;
        let (docker, name, exit) = (self.docker.clone(), self.name.clone(), self.exit.clone());
        self.waiter = Some(workloads::task::spawn(async move {
            let code = match docker.wait_container(&name, None).next().await {
                Some(Ok(response)) => response.status_code,
                Some(Err(testcontainers::bollard::errors::Error::DockerContainerWaitError {
                    code,
                    ..
                })) => code,
                Some(Err(e)) => {
                    tracing::warn!("waiting for {name} to exit: {e}");
                    return;
                }
                None => return,
            };
            *exit.lock().expect("exit lock") = Some(code);
        }));
        Ok(())
    }

    /// `docker kill -s KILL`, then waits until it has stopped. Does nothing if it is not
    /// running.
    pub(super) async fn kill(&mut self) {
        if self.exited().is_some() {
            return;
        }
        let options = KillContainerOptions { signal: "SIGKILL".into() };
        // A paused container is killed as it is; one already stopped answers 409.
        if let Err(e) = self.docker.kill_container(&self.name, Some(options)).await {
            tracing::debug!("kill {}: {e}", self.name);
        }
        if let Some(waiter) = self.waiter.take() {
            let _ = waiter.await;
        }
    }

    /// `docker pause`: the cgroup freezer holds every process.
    pub(super) async fn pause(&self) -> Result<(), ServiceError> {
        self.docker
            .pause_container(&self.name)
            .await
            .map_err(DockerError::api(format!("pause {}", self.name)))?;
        Ok(())
    }

    /// Whether Docker says it is paused.
    pub(super) async fn paused(&self) -> bool {
        let inspect = self.docker.inspect_container(&self.name, None).await;
        inspect.ok().and_then(|i| i.state).and_then(|s| s.paused).unwrap_or(false)
    }

    /// `docker unpause`.
    pub(super) async fn resume(&self) -> Result<(), ServiceError> {
        self.docker
            .unpause_container(&self.name)
            .await
            .map_err(DockerError::api(format!("unpause {}", self.name)))?;
        Ok(())
    }

    /// How it exited, once it has: Docker's exit code, a code above 128 read as the
    /// signal that ended it (137: SIGKILL).
    pub(super) fn exited(&self) -> Option<ExitStatus> {
        let code = (*self.exit.lock().expect("exit lock"))?;
        let code = i32::try_from(code).unwrap_or(i32::MAX);
        Some(match code {
            129..=192 => ExitStatus::from_raw(code - 128),
            _ => ExitStatus::from_raw((code & 0xff) << 8),
        })
    }

    pub(super) fn health(&self) -> Health {
        match self.exited() {
            Some(status) => Health::Exited(status.to_string()),
            None => Health::Running,
        }
    }

    /// Its address on the run's network and its main process's pid on this machine,
    /// while it runs.
    pub(super) async fn inside(&self) -> Result<(IpAddr, u32), ServiceError> {
        let network = &self.network.name;
        let inspect = self
            .docker
            .inspect_container(&self.name, None)
            .await
            .map_err(DockerError::api(format!("inspect {}", self.name)))?;
        let pid = inspect.state.and_then(|s| s.pid).filter(|pid| *pid > 0);
        let ip = inspect
            .network_settings
            .and_then(|s| s.networks)
            .and_then(|mut networks| networks.remove(network.as_str()))
            .and_then(|endpoint| endpoint.ip_address)
            .and_then(|ip| ip.parse().ok());
        match (ip, pid) {
            (Some(ip), Some(pid)) => Ok((ip, pid as u32)),
            _ => Err(ServiceError::Io(std::io::Error::other(format!(
                "the service container {} is not running on {network}",
                self.name
            )))),
        }
    }

    /// Copies everything it wrote so far into the run's log files (replacing them).
    pub(super) async fn save_logs(&self) {
        for (path, stdout) in [(&self.stdout, true), (&self.stderr, false)] {
            let options =
                LogsOptions { stdout, stderr: !stdout, tail: "all".into(), ..Default::default() };
            let mut stream = self.docker.logs(&self.name, Some(options));
            let mut text = Vec::new();
            while let Some(chunk) = stream.next().await {
                match chunk {
                    Ok(LogOutput::StdOut { message } | LogOutput::StdErr { message }) => {
                        text.extend_from_slice(&message)
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!("reading the log of {}: {e}", self.name);
                        break;
                    }
                }
            }
            if let Err(e) = std::fs::write(path, text) {
                tracing::warn!("writing {}: {e}", path.display());
            }
        }
    }

    /// Saves its logs and removes it.
    pub(super) async fn remove(&mut self) {
        self.save_logs().await;
        if let Some(waiter) = self.waiter.take() {
            waiter.abort();
        }
        let options = RemoveContainerOptions { force: true, v: true, ..Default::default() };
        if let Err(e) = self.docker.remove_container(&self.name, Some(options)).await {
            tracing::warn!("removing the service container {}: {e}", self.name);
        }
    }
}
