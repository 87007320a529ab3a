//! The header's `schedule`: every fault a scenario scripted in advance, which the
//! [`Faults`](super::Faults) checker holds the run to.
//!
//! ```text
//! "schedule":[{"step":0,"fault":"restart-2013","at":15000000000,"duration":20000000000}]
//! ```
//!
//! `at` and `duration` are nanoseconds since the run started; a `null` (or absent)
//! duration lasts until the end. A nemesis `start` names the step it performs
//! (`"step":0`). Random faults are not scheduled in advance, so they are not listed.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// One scripted fault of a run's schedule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledFault {
    /// Its place in the schedule; a nemesis `start` performing it carries this `step`.
    pub step: u32,
    /// The fault's name in the catalogue, e.g. `restart-2013`.
    pub fault: String,
    /// When it is due, in nanoseconds since the run started.
    pub at: u64,
    /// How long it lasts, in nanoseconds; `None` until the end of the run.
    #[serde(default)]
    pub duration: Option<u64>,
}

impl ScheduledFault {
    /// How reports name it: `scheduled fault 0 (restart-2013 at 15s)`.
    pub fn describe(&self) -> String {
        format!("scheduled fault {} ({} at {})", self.step, self.fault, seconds(self.at))
    }
}

/// What a `schedule` must look like, for error messages.
pub const SCHEDULE_SHAPE: &str = "a list like [{\"step\":0,\"fault\":\"restart-2013\",\
     \"at\":15000000000,\"duration\":20000000000}] (at and duration in ns since the run \
     started, duration null until the end), each step listed once";

/// Reads a header's `schedule` value; the error says what is wrong with it.
pub fn parse_schedule(value: &serde_json::Value) -> Result<Vec<ScheduledFault>, String> {
    let schedule: Vec<ScheduledFault> =
        serde_json::from_value(value.clone()).map_err(|e| e.to_string())?;
    let mut steps = BTreeSet::new();
    match schedule.iter().find(|s| !steps.insert(s.step)) {
        Some(twice) => Err(format!("step {} is listed twice", twice.step)),
        None => Ok(schedule),
    }
}

/// Nanoseconds as seconds for people: `15s`, `1.5s`.
pub(crate) fn seconds(ns: u64) -> String {
    format!("{}s", ns as f64 / 1e9)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_schedule_reads_with_or_without_a_duration() {
        let value = json!([
            {"step": 0, "fault": "restart-2013", "at": 15_000_000_000u64, "duration": null},
            {"step": 1, "fault": "kill", "at": 1_500_000_000u64, "duration": 2_000_000_000u64},
        ]);
        let schedule = parse_schedule(&value).expect("a schedule");
        assert_eq!(schedule[0].describe(), "scheduled fault 0 (restart-2013 at 15s)");
        assert_eq!(schedule[1].describe(), "scheduled fault 1 (kill at 1.5s)");
        assert_eq!(schedule[1].duration, Some(2_000_000_000));
    }

    #[test]
    fn a_malformed_schedule_says_what_is_wrong() {
        let missing = parse_schedule(&json!([{"step": 0, "fault": "kill"}])).unwrap_err();
        assert_eq!(missing, "missing field `at`");
        let twice = json!([{"step": 0, "fault": "a", "at": 1}, {"step": 0, "fault": "b", "at": 2}]);
        assert_eq!(parse_schedule(&twice).unwrap_err(), "step 0 is listed twice");
        assert!(parse_schedule(&json!({"step": 0})).is_err());
    }
}
