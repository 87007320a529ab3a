//! The Docker engine, as faultline uses it beyond what testcontainers offers: a checked
//! connection, commands run inside containers, and the label sweep that removes what a
//! run left behind.
//!
//! Every container and network faultline creates carries the label [`RUN_LABEL`] with
//! its run id, and its owner's labels (`cluster::owner`). Removing by label is the only
//! cleanup that also covers a harness killed with SIGKILL, so `faultline clean` and
//! every teardown go through [`remove_run`].

use futures::StreamExt;
use std::collections::HashMap;
use std::time::Duration;
use testcontainers::bollard::Docker;
use testcontainers::bollard::container::LogOutput;
use testcontainers::bollard::exec::{CreateExecOptions, StartExecResults};
use testcontainers::bollard::models::{ContainerSummary, Network};
use testcontainers::bollard::query_parameters::{
    ListContainersOptions, ListNetworksOptions, LogsOptions, RemoveContainerOptions,
};

/// The label carrying a run id, on every container and network of that run.
pub const RUN_LABEL: &str = "faultline.run";
/// The label naming a container's node (`redis-0`, `postgres`).
pub const NODE_LABEL: &str = "faultline.node";

/// Errors talking to the Docker engine.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    /// The engine did not answer.
    #[error("cannot reach Docker: is the Docker daemon running? (try `docker info`): {0}")]
    Unreachable(String),
    /// The engine answered with an error.
    #[error("docker: {action}: {source}")]
    Api {
        /// What faultline was doing.
        action: String,
        /// What the engine said.
        #[source]
        source: testcontainers::bollard::errors::Error,
    },
    /// A command inside a container did not finish in time: its output stream stayed
    /// open (a hung command, or a child it left behind holding stdout).
    #[error("docker: {action}: no end within {limit:?}; stdout so far: {stdout:?}")]
    Hung {
        /// What faultline was doing.
        action: String,
        /// How long it waited.
        limit: Duration,
        /// What the command had written.
        stdout: String,
    },
}

impl DockerError {
    pub(crate) fn api(
        action: impl Into<String>,
    ) -> impl FnOnce(testcontainers::bollard::errors::Error) -> DockerError {
        let action = action.into();
        move |source| DockerError::Api { action, source }
    }
}

/// A connection to the engine that has answered a ping.
pub async fn connect() -> Result<Docker, DockerError> {
    let docker = testcontainers::core::client::docker_client_instance()
        .await
        .map_err(|e| DockerError::Unreachable(e.to_string()))?;
    match tokio::time::timeout(Duration::from_secs(10), docker.ping()).await {
        Ok(Ok(_)) => Ok(docker),
        Ok(Err(e)) => Err(DockerError::Unreachable(e.to_string())),
        Err(_) => Err(DockerError::Unreachable("no answer to a ping within 10 s".into())),
    }
}

/// What a command run inside a container did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecOutput {
    /// Its exit code.
    pub code: i64,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

impl ExecOutput {
    /// Whether it exited with 0.
    pub fn success(&self) -> bool {
        self.code == 0
    }
}

/// The longest any command faultline runs inside a container may take: each is a
/// short administrative step (iptables, redis-cli under `timeout 10`, psql, rm), so
/// one that outlives this is hung, and the caller gets an error instead of a run that
/// never ends.
pub const EXEC_LIMIT: Duration = Duration::from_secs(120);

/// Runs `cmd` as root inside `container` and waits for it to exit, at most
/// [`EXEC_LIMIT`].
pub async fn exec(
    docker: &Docker,
    container: &str,
    cmd: &[&str],
) -> Result<ExecOutput, DockerError> {
    let action = || format!("run `{}` in {container}", cmd.join(" "));
    let created = docker
        .create_exec(
            container,
            CreateExecOptions {
                cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
                user: Some("root".to_string()),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            },
        )
        .await
        .map_err(DockerError::api(action()))?;
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let run = async {
        let started =
            docker.start_exec(&created.id, None).await.map_err(DockerError::api(action()))?;
        if let StartExecResults::Attached { mut output, .. } = started {
            while let Some(chunk) = output.next().await {
                match chunk.map_err(DockerError::api(action()))? {
                    LogOutput::StdOut { message } => stdout.extend_from_slice(&message),
                    LogOutput::StdErr { message } => stderr.extend_from_slice(&message),
                    _ => {}
                }
            }
        }
        docker.inspect_exec(&created.id).await.map_err(DockerError::api(action()))
    };
    let finished = tokio::time::timeout(EXEC_LIMIT, run).await;
    let inspected = match finished {
        Ok(inspected) => inspected?,
        Err(_) => {
            return Err(DockerError::Hung {
                action: action(),
                limit: EXEC_LIMIT,
                stdout: String::from_utf8_lossy(&stdout).into_owned(),
            });
        }
    };
    Ok(ExecOutput {
        code: inspected.exit_code.unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    })
}

/// The last `tail` lines a container wrote to stdout and stderr.
pub async fn logs(
    docker: &Docker,
    container: &str,
    tail: Option<usize>,
) -> Result<String, DockerError> {
    let options = LogsOptions {
        stdout: true,
        stderr: true,
        tail: tail.map_or_else(|| "all".to_string(), |n| n.to_string()),
        ..Default::default()
    };
    let mut stream = docker.logs(container, Some(options));
    let mut text = Vec::new();
    while let Some(chunk) = stream.next().await {
        text.extend_from_slice(
            &chunk.map_err(DockerError::api(format!("read logs of {container}")))?.into_bytes(),
        );
    }
    Ok(String::from_utf8_lossy(&text).into_owned())
}

/// What a sweep removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Removed {
    /// Names of removed containers.
    pub containers: Vec<String>,
    /// Names of removed networks.
    pub networks: Vec<String>,
}

/// The containers (id, name) and networks (name) labelled with run `run`, or with any
/// faultline run when `run` is `None`.
async fn labelled(
    docker: &Docker,
    run: Option<&str>,
) -> Result<(Vec<(String, String)>, Vec<String>), DockerError> {
    let label = run.map_or_else(|| RUN_LABEL.to_string(), |r| format!("{RUN_LABEL}={r}"));
    let (containers, networks) = list(docker, label).await?;
    let containers = containers
        .into_iter()
        .filter_map(|c| {
            let name = c
                .names
                .unwrap_or_default()
                .first()
                .map_or_else(String::new, |n| n.trim_start_matches('/').to_string());
            Some((c.id?, name))
        })
        .collect();
    Ok((containers, networks.into_iter().filter_map(|n| n.name).collect()))
}

/// Every container (running or not) and network carrying `label` (`key` or `key=value`).
async fn list(
    docker: &Docker,
    label: String,
) -> Result<(Vec<ContainerSummary>, Vec<Network>), DockerError> {
    let filters = HashMap::from([("label".to_string(), vec![label])]);
    let options =
        ListContainersOptions { all: true, filters: Some(filters.clone()), ..Default::default() };
    let containers = docker
        .list_containers(Some(options))
        .await
        .map_err(DockerError::api("list faultline containers"))?;
    let networks = docker
        .list_networks(Some(ListNetworksOptions { filters: Some(filters) }))
        .await
        .map_err(DockerError::api("list faultline networks"))?;
    Ok((containers, networks))
}

/// Whether a removal failed only because the object is already gone.
fn gone(
    result: Result<(), testcontainers::bollard::errors::Error>,
) -> Result<(), testcontainers::bollard::errors::Error> {
    match result {
        Err(testcontainers::bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }) => Ok(()),
        other => other,
    }
}

/// Removes every container and network of run `run`, or of every faultline run when
/// `run` is `None`. Containers go first, so the networks are free to go.
pub async fn remove_run(docker: &Docker, run: Option<&str>) -> Result<Removed, DockerError> {
    let (containers, networks) = labelled(docker, run).await?;
    let removals = containers.iter().map(|(id, name)| async move {
        let force = RemoveContainerOptions { force: true, v: true, ..Default::default() };
        gone(docker.remove_container(id, Some(force)).await)
            .map_err(DockerError::api(format!("remove container {name}")))
    });
    for result in futures::future::join_all(removals).await {
        result?;
    }
    for network in &networks {
        gone(docker.remove_network(network).await)
            .map_err(DockerError::api(format!("remove network {network}")))?;
    }
    Ok(Removed { containers: containers.into_iter().map(|(_, name)| name).collect(), networks })
}

/// Every faultline run with an object left, and the labels of its objects (merged:
/// a run's objects carry the same run-level labels).
pub async fn runs(
    docker: &Docker,
) -> Result<std::collections::BTreeMap<String, HashMap<String, String>>, DockerError> {
    let (containers, networks) = list(docker, RUN_LABEL.to_string()).await?;
    let labels = containers.into_iter().filter_map(|c| c.labels);
    let labels = labels.chain(networks.into_iter().filter_map(|n| n.labels));
    let mut runs = std::collections::BTreeMap::<String, HashMap<String, String>>::new();
    for labels in labels {
        if let Some(run) = labels.get(RUN_LABEL).cloned() {
            runs.entry(run).or_default().extend(labels);
        }
    }
    Ok(runs)
}

/// Names of the containers and networks that still carry run `run`'s label.
pub async fn leftovers(docker: &Docker, run: &str) -> Result<Vec<String>, DockerError> {
    let (containers, networks) = labelled(docker, Some(run)).await?;
    Ok(containers.into_iter().map(|(_, name)| name).chain(networks).collect())
}
