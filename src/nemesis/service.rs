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
            let pid = service.pid();
            service.kill().await;
            Outcome::unjudged(json!({ "killed_pid": pid }))
                .judge(pid.is_some(), "the service was not running")
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
            let pid = service.pid();
            service.kill().await;
            drop(hold);
            let effect = json!({ "killed_pid": pid, "after_charge": charge });
            Outcome::unjudged(effect).judge(pid.is_some(), "the service was not running")
        }
        ServiceFault::Pause => {
            let service = service.lock().await;
            service.pause();
            let pid = service.pid();
            let stopped = match pid {
                Some(pid) => settles(|| stopped(pid)).await,
                None => false,
            };
            let effect = json!({ "paused_pid": pid });
            Outcome::unjudged(effect).judge(stopped, "the service's process is not stopped")
        }
        ServiceFault::Restart => {
            let mut service = service.lock().await;
            let before = service.pid();
            match service.restart().await {
                Ok(()) => {
                    let after = service.pid();
                    let effect = json!({ "pid_before": before, "pid_after": after });
                    Outcome::unjudged(effect)
                        .judge(after.is_some() && after != before, "no new process answered")
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
            service.resume();
            let running = match service.pid() {
                Some(pid) => settles(|| !stopped(pid)).await,
                None => false,
            };
            Outcome::unjudged(json!({ "resumed_pid": service.pid(), "running": running }))
        }
        ServiceFault::Restart => Outcome::unjudged(json!({})),
    }
}

/// Whether `condition` holds within a second: a signal is delivered asynchronously.
async fn settles(condition: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(1);
    while !condition() {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    true
}

/// Whether process `pid` is stopped by a signal (state `T` in `/proc/PID/stat`).
fn stopped(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    stat.rfind(')').is_some_and(|end| stat[end + 1..].trim_start().starts_with('T'))
}
