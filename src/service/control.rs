//! The control URL: the live topology a service follows (`docs/protocol.md`, section 5).
//!
//! `GET /v1/topology` answers the stores' addresses now and a version that grows with
//! every change; `GET /v1/topology?after=N` waits (up to [`LONG_POLL`]) for a version
//! greater than N, so a service can keep one request open and hear of a failover or a
//! restarted node at once. A container service hears of the stores by their names on
//! the run's network ([`Addressing::Network`]): a failover changes the master's name, a
//! restarted node keeps its own.

use super::{Addressing, StoreNames};
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use workloads::endpoints::{Endpoints, Topology};

/// How long a long-poll waits for a change before answering the same version.
pub const LONG_POLL: Duration = Duration::from_secs(30);

/// The topology as a service reads it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Grows by one with every change.
    pub version: u64,
    /// The Redis master, `host:port`.
    pub redis_master: String,
    /// The other Redis nodes.
    pub redis_replicas: Vec<String>,
    /// The ledger's database URL (empty when there is none).
    pub postgres_url: String,
    /// The Redis Sentinel nodes, `host:port`, in name order (empty without Sentinel).
    #[serde(default)]
    pub sentinels: Vec<String>,
}

impl Snapshot {
    /// The topology `now`, as a service addressed so is told of it.
    pub fn of(version: u64, now: &Endpoints, addressing: Addressing) -> Snapshot {
        let stores = StoreNames::of(now, addressing);
        Snapshot {
            version,
            redis_master: stores.master,
            redis_replicas: stores.replicas,
            postgres_url: stores.postgres_url,
            sentinels: stores.sentinels,
        }
    }
}

/// The control server of one run; stops when dropped.
pub struct ControlServer {
    addr: SocketAddr,
    stop: CancellationToken,
}

#[derive(Deserialize)]
struct Wait {
    after: Option<u64>,
}

impl ControlServer {
    /// Serves `topology` on `bind` (a port of 0 picks a free one), the stores named as
    /// `addressing` says.
    pub async fn start(
        topology: Topology,
        bind: SocketAddr,
        addressing: Addressing,
    ) -> std::io::Result<ControlServer> {
        let stop = CancellationToken::new();
        let first = Snapshot::of(0, &topology.borrow(), addressing);
        let (versions, snapshots) = watch::channel(first);
        workloads::task::spawn(follow(topology, addressing, versions, stop.clone()));
        let app = Router::new().route("/v1/topology", get(answer)).with_state(snapshots);
        let listener = tokio::net::TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let stopped = stop.clone();
        workloads::task::spawn(async move {
            let serving =
                axum::serve(listener, app).with_graceful_shutdown(stopped.cancelled_owned());
            if let Err(e) = serving.await {
                tracing::warn!("the control server stopped: {e}");
            }
        });
        Ok(ControlServer { addr, stop })
    }

    /// Its base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Bumps the version at every change of the cluster's endpoints.
async fn follow(
    mut topology: Topology,
    addressing: Addressing,
    versions: watch::Sender<Snapshot>,
    stop: CancellationToken,
) {
    let mut version = 0;
    loop {
        tokio::select! {
            changed = topology.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            () = stop.cancelled() => return,
        }
        let snapshot = Snapshot::of(version + 1, &topology.borrow_and_update(), addressing);
        let unchanged = Snapshot { version, ..snapshot.clone() } == *versions.borrow();
        if !unchanged {
            version += 1;
            versions.send_replace(snapshot);
        }
    }
}

async fn answer(
    State(mut snapshots): State<watch::Receiver<Snapshot>>,
    Query(wait): Query<Wait>,
) -> Json<Snapshot> {
    if let Some(after) = wait.after {
        let newer = snapshots.wait_for(|s| s.version > after);
        let _ = tokio::time::timeout(LONG_POLL, newer).await;
    }
    let now = snapshots.borrow().clone();
    Json(now)
}
