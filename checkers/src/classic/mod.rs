//! Jepsen's classic checkers, so faultline is useful beyond billing.
//!
//! - [`Counter`]: reads of a grow-only counter within the bounds of its adds.
//! - [`SetFull`]: every added element stable, stale, lost or never read.
//! - [`UniqueIds`]: no id handed out twice.
//! - [`Stats`]: ok/fail/info per `f`; invalid when some `f` never succeeds.
//! - [`Availability`]: ok fraction per `f` inside versus outside fault windows.
//! - [`Faults`]: whether the run's faults took effect at all.

mod availability;
mod counter;
mod faults;
mod set_full;
mod stats;
mod unique_ids;

pub use availability::Availability;
pub use counter::Counter;
pub use faults::Faults;
pub use set_full::SetFull;
pub use stats::Stats;
pub use unique_ids::UniqueIds;
