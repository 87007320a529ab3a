//! A service with everything it talks to: the gateway's HTTP face and the control
//! server, started before it, and the [`HttpService`] that reaches it. `faultline run`
//! and `faultline conform` launch services the same way.

use super::{Contacts, ControlServer, Service, ServiceError, ServiceSpec};
use crate::store::RunDir;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use workloads::endpoints::Topology;
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
    op_timeout: Duration,
    _control: ControlServer,
    gateway_stop: CancellationToken,
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

    /// Kills the service and stops the servers it talked to.
    pub async fn stop(self) {
        self.service.lock().await.kill().await;
        self.gateway_stop.cancel();
    }
}

impl Launch {
    /// Serves `gateway` and the control URL on 127.0.0.1, starts the service and waits
    /// for its health.
    pub async fn start(
        &self,
        gateway: &Gateway,
        topology: Topology,
        dir: &RunDir,
    ) -> Result<Launched, ServiceError> {
        let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let gateway_stop = CancellationToken::new();
        let gateway_addr =
            workloads::gateway::http::serve(gateway.clone(), loopback, gateway_stop.clone())
                .await?;
        let control = ControlServer::start(topology.clone(), loopback).await?;
        let contacts = Contacts {
            gateway: format!("http://{gateway_addr}"),
            control: control.url(),
            seed: self.seed,
            run_id: self.run_id.clone(),
            op_timeout: self.op_timeout,
        };
        let gateway_url = contacts.gateway.clone();
        let service = Service::start(&self.spec, contacts, topology, dir).await?;
        Ok(Launched {
            url: service.url(),
            service: Arc::new(Mutex::new(service)),
            op_timeout: self.op_timeout,
            gateway_url,
            _control: control,
            gateway_stop,
        })
    }
}
