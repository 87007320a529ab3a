//! faultline as a library: what a `#[tokio::test]` in your own crate does to prove
//! that your billing service survives the 2013 incident.
//!
//! In your crate (with `faultline` and `tokio` as dev-dependencies):
//!
//! ```ignore
//! #[tokio::test(flavor = "multi_thread")]
//! async fn my_billing_survives_the_2013_incident() {
//!     let verdict = survives("twilio-2013", "mine", registry()).await;
//!     assert!(verdict.is_ok(), "{}", verdict.unwrap_err());
//! }
//! ```
//!
//! where `registry()` registers your `BillingSystem` implementation next to faultline's
//! own designs (see `workloads::sut` for the trait and a complete example). Here
//! faultline's `failsafe` stands in for yours:
//!
//!     cargo run --example in_your_tests -- failsafe     # exits 0: valid
//!     cargo run --example in_your_tests -- naive        # exits 1: the report says why

use faultline::runner::{Run, RunOptions};
use faultline::scenario::{Overrides, Scenario};
use faultline::workloads::sut::Registry;

/// Runs `scenario` against the system `sut` of `registry`; `Err` with the whole report
/// unless every invariant held.
async fn survives(scenario: &str, sut: &str, registry: Registry) -> Result<(), String> {
    let scenario = Scenario::load(scenario)
        .and_then(|s| s.resolve(&Overrides::default()))
        .map_err(|e| e.to_string())?;
    let options = RunOptions { registry, ..RunOptions::default() };
    let outcome = Run::new(scenario, sut, options).execute().await.map_err(|e| e.to_string())?;
    match outcome.report.verdict().is_valid() {
        true => Ok(()),
        false => {
            Err(format!("{}\nreport: {}/report.html", outcome.report, outcome.dir.path().display()))
        }
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let sut = std::env::args().nth(1).unwrap_or_else(|| "failsafe".to_string());
    match survives("twilio-2013", &sut, faultline::designs::builtin()).await {
        Ok(()) => {
            println!("{sut} survives twilio-2013: every invariant held");
            std::process::ExitCode::SUCCESS
        }
        Err(report) => {
            println!("{sut} does not survive twilio-2013:\n{report}");
            std::process::ExitCode::FAILURE
        }
    }
}
