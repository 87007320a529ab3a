//! The `gateway-*` faults: set on the harness's card gateway, cleared at heal, and
//! judged by the charges they changed. A gateway fault took effect when at least one
//! charge attempt reached the gateway while it held and was changed by it (delayed,
//! declined, failed, its answer lost or replaced by an error); a fault no charge met
//! tested nothing, and its heal says so.

use super::interpreter::Outcome;
use serde_json::json;
use workloads::gateway::{FaultToken, Gateway, GatewayFault};

/// Sets `fault` on `gateway`; judged at heal.
pub(crate) fn start(gateway: &Gateway, fault: GatewayFault) -> (Outcome, FaultToken) {
    let token = gateway.set_fault(fault);
    (Outcome::unjudged(json!({ "gateway": format!("{fault:?}") })), token)
}

/// Clears the fault and judges it by the charge attempts it changed.
pub(crate) fn heal(gateway: &Gateway, token: FaultToken) -> Outcome {
    let affected = gateway.clear_fault(token).map_or(0, |effect| effect.affected);
    Outcome::unjudged(json!({ "charges_affected": affected })).judge(
        affected > 0,
        "no charge attempt reached the gateway while the fault held, so it tested nothing",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use checkers::format::Header;
    use std::time::Duration;
    use workloads::gateway::GatewayConfig;
    use workloads::recorder::Recorder;

    fn gateway() -> Gateway {
        let recorder = Recorder::new(&Header::new(Default::default()), std::io::sink()).unwrap();
        let config = GatewayConfig { declining_cards: 0.0, ..GatewayConfig::default() };
        Gateway::new(config, 1, recorder)
    }

    #[tokio::test]
    async fn each_gateway_fault_takes_effect_when_a_charge_meets_it_and_not_otherwise() {
        let faults = [
            GatewayFault::Latency(Duration::from_millis(1)),
            GatewayFault::Declines,
            GatewayFault::ErrorsBefore,
            GatewayFault::ErrorsAfter,
            GatewayFault::LostResponse,
            GatewayFault::Outage,
        ];
        for fault in faults {
            let gateway = gateway();
            let (_, idle) = start(&gateway, fault);
            let untested = heal(&gateway, idle);
            assert_eq!(untested.observed, Some(false), "{fault:?}");
            assert_eq!(untested.effect["charges_affected"], 0);
            assert!(untested.effect["note"].as_str().unwrap().contains("tested nothing"));
            let (_, token) = start(&gateway, fault);
            let attempt = gateway.charge(7, 1000, Some("k"));
            let _ = tokio::time::timeout(Duration::from_millis(50), attempt).await;
            let healed = heal(&gateway, token);
            assert_eq!(healed.observed, Some(true), "{fault:?}");
            assert_eq!(healed.effect["charges_affected"], 1, "{fault:?}");
            assert_eq!(gateway.charge(7, 1000, Some("k2")).await.map(|_| ()), Ok(()), "healed");
        }
    }
}
