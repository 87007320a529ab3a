//! A service with everything it talks to: the gateway's HTTP face and the control
//! server, started before it, and the [`HttpService`] that reaches it. `faultline run`
//! and `faultline conform` launch services the same way.
//!
//! A process finds both servers on 127.0.0.1. A container finds them on the run
//! network's bridge gateway (the host's own address on that network, e.g. 172.18.0.1):
//! reachable from the run's containers, bound to no public interface.

use super::Source;
use super::{Addressing, Contacts, ControlServer, Service, ServiceError, ServiceSpec};
use crate::cluster::Cluster;
use crate::store::RunDir;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio_util::sync::{CancellationToken, DropGuard};
use workloads::gateway::Gateway;
use workloads::sut::http::HttpService;
use workloads::sut::{Constructor, Sut};

/// A service the nemesis and the runner share: faults kill, pause and restart it.
pub type SharedService = Arc<Mutex<Service>>;

/// What a run needs to know to launch a service.
#[derive(Clone, Debug)]
pub struct Launch {
    /// The service.
    pub spec: ServiceSpec,
    /// The run's seed.
    pub seed: u64,
    /// The run's id.
    pub run_id: String,
    /// How long a client waits for one operation.
    pub op_timeout: Duration,
}

/// A launched service, healthy, with its gateway face and control server running.
pub struct Launched {
    /// The service process.
    pub service: SharedService,
    /// Its base URL.
    pub url: String,
    /// The gateway's base URL, as the service was told.
    pub gateway_url: String,
    /// The gateway's HTTP face: where the service reaches it.
    pub gateway: SocketAddr,
    op_timeout: Duration,
    _control: ControlServer,
    /// Stops the gateway's HTTP face when the launch is dropped, whatever the path.
    _gateway_stop: DropGuard,
}

impl Launched {
    /// The harness's client of it, once it has said where it keeps its balances
    /// (`GET /v1/layout`).
    pub async fn connect(&self) -> Result<HttpService, ServiceError> {
        HttpService::connect(&self.url, self.op_timeout).await.map_err(ServiceError::Protocol)
    }

    /// The system under test it is, for the billing workload.
    pub fn constructor(http: HttpService) -> Constructor {
        Arc::new(move |cx| Sut::new(http.system(cx.gateway)))
    }

    /// Kills the service (removing its container) and stops the servers it talked to.
    pub async fn stop(self) {
        self.service.lock().await.shut().await;
    }
}

impl Launch {
    /// Serves `gateway` and the control URL where the service can reach them, starts
    /// the service (a process, or a container on `cluster`'s network, its image built
    /// first if the spec names a directory) and waits for its health.
    pub async fn start(
        &self,
        gateway: &Gateway,
        cluster: &Cluster,
        dir: &RunDir,
    ) -> Result<Launched, ServiceError> {
        let topology = cluster.endpoints();
        let (network, image) = match self.spec.source() {
            Source::Command(_) => (None, None),
            Source::Image(image) => {
                let docker = crate::docker::connect().await?;
                crate::images::ensure_service_image(&docker, image).await?;
                (Some(cluster.run_network().await?), Some(image.to_string()))
            }
            Source::Build(path) => {
                let image = crate::images::service_image(path, |line| {
                    tracing::info!("building the service's image: {line}");
                })
                .await?;
                (Some(cluster.run_network().await?), Some(image))
            }
        };
        let (bind, addressing) = match &network {
            None => (IpAddr::V4(Ipv4Addr::LOCALHOST), Addressing::Host),
            Some(network) => (network.gateway, Addressing::Network),
        };
        let gateway_stop = CancellationToken::new();
        let stop_guard = gateway_stop.clone().drop_guard();
        let gateway_addr = workloads::gateway::http::serve(
            gateway.clone(),
            SocketAddr::new(bind, 0),
            gateway_stop.clone(),
        )
        .await?;
        let control =
            ControlServer::start(topology.clone(), SocketAddr::new(bind, 0), addressing).await?;
        let contacts = Contacts {
            gateway: format!("http://{gateway_addr}"),
            control: control.url(),
            seed: self.seed,
            run_id: self.run_id.clone(),
            op_timeout: self.op_timeout,
        };
        let started = match (&network, &image) {
            (Some(network), Some(image)) => {
                let service =
                    Service::start_container(&self.spec, image, contacts, topology, dir, network);
                service.await
            }
            _ => Service::start(&self.spec, contacts, topology, dir).await,
        };
        let service = started?;
        Ok(Launched {
            url: service.url(),
            service: Arc::new(Mutex::new(service)),
            op_timeout: self.op_timeout,
            gateway_url: format!("http://{gateway_addr}"),
            gateway: gateway_addr,
            _control: control,
            _gateway_stop: stop_guard,
        })
    }
}
