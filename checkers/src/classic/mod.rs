//! Jepsen's classic checkers, so faultline is useful beyond billing.
//!
//! - [`Counter`]: reads of a grow-only counter within the bounds of its adds.
//! - [`Linearizable`]: every register of a `register` history linearizable.
//! - [`SetFull`]: every added element stable, stale, lost or never read.
//! - [`UniqueIds`]: no id handed out twice.
//! - [`Stats`]: ok/fail/info per `f`; not met when some `f` never succeeds (liveness).
//! - [`Availability`]: ok fraction per `f` inside versus outside fault windows
//!   (liveness).
//! - [`Faults`]: whether the scheduled faults started, and whether any took effect.
//! - [`Reach`]: whether a billing run made the charges it is there to test (contended,
//!   during faults).
//! - [`Recovery`]: whether the system answered each `f` again once the faults healed
//!   (liveness), and when it first succeeded.
//! - [`schedule`]: the header's `schedule`, the faults a scenario scripted.

mod availability;
mod counter;
mod faults;
mod linearizable;
mod reach;
mod recovery;
pub mod schedule;
mod set_full;
mod stats;
mod unique_ids;

pub use availability::Availability;
pub use counter::Counter;
pub use faults::Faults;
pub use linearizable::Linearizable;
pub use reach::{REACH_SHAPE, Reach, ReachMinimums};
pub use recovery::Recovery;
pub use schedule::ScheduledFault;
pub use set_full::SetFull;
pub use stats::Stats;
pub use unique_ids::UniqueIds;
