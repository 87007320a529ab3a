//! The service faults: `kill-service`, `pause-service`, `restart-service`, performed on
//! the service under test that the run started ([`crate::service::Service`]), and judged
//! by what the harness sees of it: a killed service's process is gone (with
//! `after-capture`, killed while the gateway withholds the answer to the capture it
//! made, so the kill falls between the charge and its credit), a paused one is
//! stopped (`T` in `/proc`), a restarted one answers `GET /v1/health` under a new pid.

use super::fault::ServiceFault;
use super::interpreter::Outcome;
use crate::service::SharedService;
use serde_json::json;
use std::time::Duration;
use tokio::time::Instant;
use workloads::gateway::Gateway;

/// How long `kill-service` with `after-capture` waits for the gateway's next capture.
pub(crate) const CAPTURE_WAIT: Duration = Duration::from_secs(5);

/// Performs `fault` on `service`; `gateway` tells when a capture happened.
pub(crate) async fn start(
    service: &SharedService,
    gateway: Option<&Gateway>,
    fault: ServiceFault,
) -> Outcome {
    match fault {
        ServiceFault::Kill { after_capture: false } => {
            let mut service = service.lock().await;
            let (pid, running) = (service.pid(), service.running());
            service.kill().await;
            let killed = running && !service.running();
            Outcome::unjudged(json!({ "killed_pid": pid, "killed": killed }))
                .judge(killed, "the service was not running")
        }
        ServiceFault::Kill { after_capture: true } => {
            let Some(gateway) = gateway else {
                let why = "after-capture needs the run's card gateway, and this run has none";
                return Outcome::unjudged(json!({})).judge(false, why);
            };
            // The capture is decided and recorded; its answer waits until the hold is
            // dropped, after the kill: the service dies between its charge and credit.
            let mut hold = gateway.hold_next_capture();
            let Ok(Some(charge)) = tokio::time::timeout(CAPTURE_WAIT, hold.captured()).await else {
                let why = "no capture came within 5 s to kill the service after";
                return Outcome::unjudged(json!({})).judge(false, why);
            };
            let mut service = service.lock().await;
            let (pid, running) = (service.pid(), service.running());
            service.kill().await;
            let killed = running && !service.running();
            drop(hold);
            let effect = json!({ "killed_pid": pid, "killed": killed, "after_charge": charge });
            Outcome::unjudged(effect).judge(killed, "the service was not running")
        }
        ServiceFault::Pause => {
            let service = service.lock().await;
            if let Err(e) = service.pause().await {
                let effect = json!({ "error": e.to_string() });
                return Outcome::unjudged(effect).judge(false, "the service could not be paused");
            }
            let paused = settles(|| service.paused()).await;
            let effect = json!({ "paused_pid": service.pid(), "paused": paused });
            Outcome::unjudged(effect).judge(paused, "the service is not stopped")
        }
        ServiceFault::Restart => {
            let mut service = service.lock().await;
            let before = service.pid();
            match service.restart().await {
                Ok(()) => {
                    let after = service.pid();
                    let effect = json!({ "pid_before": before, "pid_after": after });
                    // Healthy again after a kill: a process under a new pid, a container
                    // as itself.
                    let new = service.is_container() || (after.is_some() && after != before);
                    Outcome::unjudged(effect).judge(new, "no new process answered")
                }
                Err(e) => Outcome::unjudged(json!({ "error": e.to_string() }))
                    .judge(false, "the service did not come back healthy"),
            }
        }
    }
}

/// Undoes `fault`: a killed service is started again, a paused one resumed. The effect
/// says whether it answers again; a service that does not come back leaves the run's
/// recovery phase to show it.
pub(crate) async fn heal(service: &SharedService, fault: ServiceFault) -> Outcome {
    let mut service = service.lock().await;
    match fault {
        ServiceFault::Kill { .. } => match service.restart().await {
            Ok(()) => Outcome::unjudged(json!({ "started_pid": service.pid(), "healthy": true })),
            Err(e) => Outcome::unjudged(json!({ "healthy": false, "error": e.to_string() })),
        },
        ServiceFault::Pause => {
            let resumed = service.resume().await;
            let running = resumed.is_ok() && settles(|| async { !service.paused().await }).await;
            Outcome::unjudged(json!({ "resumed_pid": service.pid(), "running": running }))
        }
        ServiceFault::Restart => Outcome::unjudged(json!({})),
    }
}

/// Whether `condition` holds within a second: a signal (or a freeze) lands
/// asynchronously.
async fn settles<F: std::future::Future<Output = bool>>(condition: impl Fn() -> F) -> bool {
    let deadline = Instant::now() + Duration::from_secs(1);
    while !condition().await {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    true
}
