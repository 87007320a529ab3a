//! A billing run's settings: what the `[billing]` table of a scenario file holds (see
//! the [module docs](super) for an example), validated, and the history header they
//! give.

use crate::WorkloadError;
use crate::client::ClientConfig;
use crate::gateway::GatewayConfig;
use crate::monitor::MonitorConfig;
use crate::store::StoreSettings;
use checkers::format::Header;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A billing run's settings; the defaults are those of the example in the
/// [module docs](super).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BillingConfig {
    /// Seeds the requests, the opening balances and the gateway's declining cards.
    pub seed: u64,
    /// How many accounts (N), numbered from 0.
    pub accounts: u32,
    /// Workers, rate, time limit, op timeout.
    pub clients: ClientConfig,
    /// Relative weights of debits, payments and reads.
    pub mix: Mix,
    /// Cents per usage debit.
    pub debit: Amounts,
    /// Cents per manual payment.
    pub payment: Amounts,
    /// Opening balances, in cents.
    pub opening: Amounts,
    /// A debit leaving the balance below this recharges (T), in cents.
    pub threshold: i64,
    /// What one recharge charges and credits (R), in cents.
    pub recharge: i64,
    /// The card gateway's rules.
    pub gateway: GatewayConfig,
    /// The monitor's pace and timeouts.
    pub monitor: MonitorConfig,
    /// Store timeouts and pool size, for the harness and the system under test.
    pub stores: StoreSettings,
    /// How long `settle` may take.
    #[serde(with = "humantime_serde")]
    pub settle_timeout: Duration,
    /// Whether a payment waits until no other operation is in flight on its account
    /// (and holds the others off while it runs). Off by default: payments race debits.
    /// It exists to tell, when a run fails, whether a payment racing a debit is what
    /// broke the system; the checkers do not need it.
    pub exclusive_payments: bool,
    /// What the workload must reach for the run to have tested something; absent, the
    /// figures are reported only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reach: Option<Reach>,
}

/// Minimums the workload is meant to reach in a run, written into the history's header
/// as `"reach"`: a run that reached less is judged unknown, like a fault that never
/// took effect.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Reach {
    /// Charge attempts.
    pub charges: u64,
    /// Charge attempts made while two or more client operations on the account were in
    /// flight.
    pub contended: u64,
    /// Charge attempts made while a fault was active.
    pub charges_in_faults: u64,
    /// Failovers: the most changes of master one Redis sentinel announced
    /// (`+switch-master`), a lower bound on the real ones. Left out of the header when 0, so runs without Sentinel
    /// report no such figure.
    #[serde(skip_serializing_if = "is_zero")]
    pub failovers: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Relative weights of the three requests.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mix {
    /// Usage debits.
    pub debit: f64,
    /// Manual payments.
    pub payment: f64,
    /// Balance reads.
    pub read: f64,
}

/// A range of amounts in cents, both ends included.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Amounts {
    /// The least.
    pub min: i64,
    /// The most.
    pub max: i64,
}

impl Default for BillingConfig {
    fn default() -> BillingConfig {
        BillingConfig {
            seed: 0,
            accounts: 100,
            clients: ClientConfig::default(),
            mix: Mix { debit: 0.90, payment: 0.02, read: 0.08 },
            debit: Amounts { min: 1, max: 10 },
            payment: Amounts { min: 500, max: 2000 },
            opening: Amounts { min: 1000, max: 6000 },
            threshold: 1000,
            recharge: 5000,
            gateway: GatewayConfig::default(),
            monitor: MonitorConfig::default(),
            stores: StoreSettings::default(),
            settle_timeout: Duration::from_secs(30),
            exclusive_payments: false,
            reach: None,
        }
    }
}

impl BillingConfig {
    /// Checks that the settings make sense.
    pub fn validate(&self) -> Result<(), WorkloadError> {
        let bad = |why: &str| Err(WorkloadError::Config(why.to_owned()));
        let mix = &self.mix;
        let weights = [mix.debit, mix.payment, mix.read];
        if self.accounts == 0 || self.clients.workers == 0 {
            return bad("accounts and clients.workers must be at least 1");
        }
        if weights.iter().any(|w| !w.is_finite() || *w < 0.0) || weights.iter().sum::<f64>() <= 0.0
        {
            return bad("mix weights must be non-negative and not all zero");
        }
        for (name, a) in
            [("debit", self.debit), ("payment", self.payment), ("opening", self.opening)]
        {
            if a.min > a.max || (name != "opening" && a.min <= 0) {
                return bad(&format!("{name}: min must be positive and at most max"));
            }
        }
        if self.recharge <= 0 {
            return bad("recharge must be positive: it is what one recharge credits, in cents");
        }
        Ok(())
    }

    /// The history header of a run of `system` under these settings.
    pub fn header(&self, system: &str) -> Header {
        let mut meta = serde_json::Map::new();
        meta.insert("workload".into(), "billing".into());
        meta.insert("sut".into(), system.into());
        meta.insert("seed".into(), self.seed.into());
        if let Some(reach) = &self.reach {
            let reach = serde_json::to_value(reach).expect("reach serialises");
            meta.insert("reach".into(), reach);
        }
        // The monitor's pace, in ns: how far apart two probes can see the store, which
        // bounds what fail-safe may assume held between them.
        let nanos = |d: std::time::Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let monitor = serde_json::json!({
            "interval": nanos(self.monitor.interval),
            "timeout": nanos(self.monitor.timeout),
        });
        meta.insert("monitor".into(), monitor);
        Header::new(meta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reach_and_exclusive_payments_are_settings_and_reach_and_the_monitor_go_into_the_header() {
        let text = r#"{"accounts": 3, "exclusive_payments": true,
                       "reach": {"charges": 20, "contended": 5, "charges_in_faults": 3}}"#;
        let config: BillingConfig = serde_json::from_str(text).unwrap();
        assert!(config.exclusive_payments);
        let reach = Reach { charges: 20, contended: 5, charges_in_faults: 3, failovers: 0 };
        assert_eq!(config.reach, Some(reach));
        let header = serde_json::to_value(config.header("failsafe")).unwrap();
        let expected = serde_json::json!({"charges": 20, "contended": 5, "charges_in_faults": 3});
        assert_eq!(header["reach"], expected);
        let monitor = serde_json::json!({"interval": 100_000_000, "timeout": 1_000_000_000});
        assert_eq!(header["monitor"], monitor, "the monitor's pace, in ns, for fail-safe");
        let plain = BillingConfig::default();
        assert!(!plain.exclusive_payments, "payments race debits unless asked");
        assert!(
            !serde_json::to_value(plain.header("failsafe"))
                .unwrap()
                .as_object()
                .unwrap()
                .contains_key("reach")
        );
        let typo = serde_json::from_str::<BillingConfig>(r#"{"reach": {"charge": 1}}"#);
        assert!(typo.unwrap_err().to_string().contains("unknown field `charge`"));
    }

    #[test]
    fn a_recharge_that_credits_nothing_is_refused() {
        let config = BillingConfig { recharge: 0, ..BillingConfig::default() };
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("recharge must be positive"), "{err}");
    }
}
