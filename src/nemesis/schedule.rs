//! Schedules: which fault, when, for how long, as data.
//!
//! Written by hand, a schedule is a list of `[[faults]]` tables:
//!
//! ```toml
//! [[faults]]
//! at = "10s"
//! fault = "partition-replicas"
//! duration = "8s"
//!
//! [[faults]]
//! at = "30s"
//! fault = "restart-2013"
//! target = "master"
//! ```
//!
//! `at` counts from the start of [`Nemesis::run`](super::Nemesis::run); a fault without
//! `duration` holds until the run ends. [`RandomSchedule::draw`] adds faults drawn from a
//! seed. The faults written are the schedule's *steps*, numbered in the order written:
//! the history's header lists them ([`Schedule::header`]) and each start of one carries
//! its step, so a checker can tell a step that never started. Drawn faults are not
//! steps: nobody promised them.

use super::fault::Fault;
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use std::time::Duration;

/// A run's faults: the steps in the order written, then the ones drawn from a seed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// The faults written: step `i` is `faults[i]`.
    #[serde(default)]
    pub faults: Vec<ScheduledFault>,
    /// Faults drawn from a seed ([`RandomSchedule::draw`]): the steps after the
    /// written ones.
    #[serde(skip)]
    pub random: Vec<ScheduledFault>,
}

/// One fault of a schedule.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScheduledFault {
    /// When it starts, from the start of the run.
    #[serde(with = "humantime_serde")]
    pub at: Duration,
    /// How long it holds before its heal; without one it holds until the run ends.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "humantime_serde")]
    pub duration: Option<Duration>,
    /// The fault.
    #[serde(flatten)]
    pub fault: Fault,
}

impl ScheduledFault {
    /// `fault` starting `at` this long into the run, holding until the run ends unless
    /// given a duration ([`lasting`](ScheduledFault::lasting)).
    pub fn at(at: Duration, fault: Fault) -> ScheduledFault {
        ScheduledFault { at, duration: None, fault }
    }

    /// The same fault, healed `duration` after it starts.
    pub fn lasting(self, duration: Duration) -> ScheduledFault {
        ScheduledFault { duration: Some(duration), ..self }
    }
}

impl<'de> Deserialize<'de> for ScheduledFault {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ScheduledFault, D::Error> {
        let mut table = Map::<String, Value>::deserialize(d)?;
        let mut take = |key| match table.remove(key) {
            Some(Value::String(text)) => humantime::parse_duration(&text).map(Some).map_err(|e| {
                D::Error::custom(format!(
                    "`{key}` = {text:?} is not a duration like \"10s\" or \"1m30s\": {e}"
                ))
            }),
            Some(other) => Err(D::Error::custom(format!("`{key}` must be a string, not {other}"))),
            None => Ok(None),
        };
        let at = take("at")?.ok_or_else(|| D::Error::missing_field("at"))?;
        let duration = take("duration")?;
        let fault = Fault::from_table(table).map_err(D::Error::custom)?;
        Ok(ScheduledFault { at, duration, fault })
    }
}

/// Reads each fault with [`Fault::from_table`].
fn fault_tables<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Fault>, D::Error> {
    let tables = Vec::<Map<String, Value>>::deserialize(d)?;
    tables.into_iter().map(|t| Fault::from_table(t).map_err(D::Error::custom)).collect()
}

/// A step of a schedule's timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Start the schedule's fault at this index.
    Start(usize),
    /// Heal it.
    Heal(usize),
}

impl Schedule {
    /// The fault at index `i` of the [`Schedule::timeline`]: the steps, then the drawn
    /// faults.
    pub(crate) fn fault(&self, i: usize) -> &ScheduledFault {
        self.faults.get(i).unwrap_or_else(|| &self.random[i - self.faults.len()])
    }

    /// The step of the fault at index `i`: every fault of the timeline is one, the
    /// drawn ones after the written ones, since the seed draws them before the run.
    pub(crate) fn step(&self, i: usize) -> Option<u32> {
        (i < self.faults.len() + self.random.len())
            .then(|| u32::try_from(i).expect("fewer than 2^32 faults"))
    }

    /// The steps as the history's header lists them under `"schedule"`:
    /// `[{"step":0,"fault":"restart-2013","at":15000000000,"duration":null}, ...]`, times
    /// in nanoseconds from the start of the run, `duration` null until the end; the
    /// written faults, then the drawn ones, so the checkers hold a random schedule to
    /// what it drew too.
    pub fn header(&self) -> Value {
        let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let steps = self.faults.iter().chain(&self.random).enumerate().map(|(step, f)| {
            serde_json::json!({
                "step": step,
                "fault": f.fault.name(),
                "at": nanos(f.at),
                "duration": f.duration.map(nanos),
            })
        });
        Value::Array(steps.collect())
    }

    /// Every start and heal in time order; at equal times heals go first, so a fault
    /// ending when another begins is healed before it.
    /// What the schedule's faults need of the nodes ([`Fault::needs`], joined).
    pub fn needs(&self) -> super::NodeNeeds {
        let faults = self.faults.iter().chain(&self.random);
        faults.fold(super::NodeNeeds::default(), |all, f| all | f.fault.needs())
    }

    pub(crate) fn timeline(&self) -> Vec<(Duration, Step)> {
        let mut steps: Vec<(Duration, Step)> = Vec::new();
        for (i, scheduled) in self.faults.iter().chain(&self.random).enumerate() {
            steps.push((scheduled.at, Step::Start(i)));
            if let Some(hold) = scheduled.duration {
                steps.push((scheduled.at + hold, Step::Heal(i)));
            }
        }
        steps.sort_by_key(|&(at, step)| match step {
            Step::Heal(i) => (at, 0, i),
            Step::Start(i) => (at, 1, i),
        });
        steps
    }
}

/// How to draw a schedule from a seed: every `interval` one fault picked from `faults`,
/// held for `hold`, for as long as the run's `length` leaves room.
///
/// ```toml
/// interval = "20s"
/// hold = "8s"
/// length = "2m"
/// faults = [{ fault = "partition-replicas" }, { fault = "kill", target = "replica" }]
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RandomSchedule {
    /// Time between two faults' starts (plus a random delay of up to a quarter of the
    /// quiet time between them).
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// How long each fault holds; at most `interval`, so faults never overlap.
    #[serde(with = "humantime_serde")]
    pub hold: Duration,
    /// The run's length; every fault heals before it.
    #[serde(with = "humantime_serde")]
    pub length: Duration,
    /// The faults to pick from, uniformly.
    #[serde(deserialize_with = "fault_tables")]
    pub faults: Vec<Fault>,
}

impl RandomSchedule {
    /// The schedule this seed draws, as [`Schedule::random`] faults: the same seed
    /// always draws the same schedule.
    /// Targets stay as written: the nemesis resolves them, from its own seeded
    /// generator, when each fault starts.
    pub fn draw(&self, seed: u64) -> Schedule {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let hold = self.hold.min(self.interval);
        let quiet = self.interval - hold;
        let mut faults = Vec::new();
        let mut slot = self.interval;
        while !self.faults.is_empty() && slot + self.interval <= self.length {
            let jitter_ms = u64::try_from(quiet.as_millis() / 4).unwrap_or(u64::MAX);
            let at = slot + Duration::from_millis(rng.random_range(0..=jitter_ms));
            let fault = self.faults[rng.random_range(0..self.faults.len())].clone();
            faults.push(ScheduledFault { at, duration: Some(hold), fault });
            slot += self.interval;
        }
        Schedule { faults: Vec::new(), random: faults }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nemesis::fault::Target;

    #[test]
    fn a_hand_written_schedule_reads_from_toml() {
        let text = r#"
            [[faults]]
            at = "10s"
            fault = "partition-replicas"
            duration = "5s"

            [[faults]]
            at = "1m"
            fault = "kill"
            target = "redis-2"
        "#;
        let schedule: Schedule = toml::from_str(text).unwrap();
        assert_eq!(
            schedule.faults,
            [
                ScheduledFault {
                    at: Duration::from_secs(10),
                    duration: Some(Duration::from_secs(5)),
                    fault: Fault::PartitionReplicas,
                },
                ScheduledFault {
                    at: Duration::from_secs(60),
                    duration: None,
                    fault: Fault::Kill { target: Target::Node("redis-2".into()) },
                },
            ]
        );
        let again: Schedule = toml::from_str(&toml::to_string(&schedule).unwrap()).unwrap();
        assert_eq!(again, schedule);
    }

    #[test]
    fn a_schedule_with_a_misspelt_or_misplaced_key_is_refused() {
        let refused = |table: &str| {
            let text = format!("[[faults]]\nat = \"1s\"\n{table}\n");
            toml::from_str::<Schedule>(&text).unwrap_err().to_string()
        };
        let err = refused("fault = \"kill\"\ndurration = \"5s\"");
        assert!(err.contains("durration"), "{err}");
        let err = refused("fault = \"partition-replicas\"\ntarget = \"master\"");
        assert!(err.contains("partition-replicas takes no `target`"), "{err}");
        let err = refused("fault = \"kill\"\nduration = \"soon\"");
        assert!(err.contains("soon"), "{err}");
        let err = toml::from_str::<Schedule>("[[faults]]\nfault = \"kill\"\n").unwrap_err();
        assert!(err.to_string().contains("at"), "{err}");
        let text = "interval = \"1s\"\nhold = \"1s\"\nlength = \"1s\"\n\
                    faults = [{ fault = \"partition-halves\", target = \"all\" }]";
        assert!(toml::from_str::<RandomSchedule>(text).is_err());
    }

    #[test]
    fn the_header_lists_the_steps_written_then_the_drawn_faults() {
        let text = "[[faults]]\nat = \"15s\"\nfault = \"restart-2013\"\n\
                    [[faults]]\nat = \"5s\"\nfault = \"resync-storm\"\nduration = \"7s\"\n";
        let mut schedule: Schedule = toml::from_str(text).unwrap();
        schedule.random = vec![ScheduledFault {
            at: Duration::from_secs(1),
            duration: None,
            fault: Fault::PartitionReplicas,
        }];
        assert_eq!(
            schedule.header(),
            serde_json::json!([
                {"step": 0, "fault": "restart-2013", "at": 15_000_000_000u64, "duration": null},
                {"step": 1, "fault": "resync-storm", "at": 5_000_000_000u64, "duration": 7_000_000_000u64},
                {"step": 2, "fault": "partition-replicas", "at": 1_000_000_000u64, "duration": null},
            ])
        );
        assert_eq!(
            (schedule.step(1), schedule.step(2), schedule.step(3)),
            (Some(1), Some(2), None)
        );
        assert_eq!(schedule.fault(2).fault, Fault::PartitionReplicas);
    }

    #[test]
    fn the_timeline_heals_before_it_starts_at_the_same_instant() {
        let at = |s| Duration::from_secs(s);
        let schedule = Schedule {
            faults: vec![
                ScheduledFault { at: at(5), duration: Some(at(5)), fault: Fault::PartitionHalves },
                ScheduledFault { at: at(10), duration: None, fault: Fault::PartitionBridge },
                ScheduledFault {
                    at: at(1),
                    duration: Some(at(20)),
                    fault: Fault::PartitionReplicas,
                },
            ],
            random: vec![],
        };
        assert_eq!(
            schedule.timeline(),
            [
                (at(1), Step::Start(2)),
                (at(5), Step::Start(0)),
                (at(10), Step::Heal(0)),
                (at(10), Step::Start(1)),
                (at(21), Step::Heal(2)),
            ]
        );
    }

    #[test]
    fn a_seed_draws_the_same_non_overlapping_schedule_every_time() {
        let spec = RandomSchedule {
            interval: Duration::from_secs(10),
            hold: Duration::from_secs(4),
            length: Duration::from_secs(60),
            faults: vec![Fault::PartitionReplicas, Fault::Kill { target: Target::one() }],
        };
        let schedule = spec.draw(7);
        assert_eq!(schedule, spec.draw(7));
        assert_ne!(schedule, spec.draw(8));
        assert_eq!((schedule.faults.len(), schedule.random.len()), (0, 5));
        for pair in schedule.random.windows(2) {
            assert!(pair[0].at + pair[0].duration.unwrap() <= pair[1].at, "{pair:?}");
        }
        let last = schedule.random.last().unwrap();
        assert!(last.at + last.duration.unwrap() <= spec.length);
        let drawn: std::collections::BTreeSet<_> =
            (0..20).flat_map(|s| spec.draw(s).random).map(|f| f.fault.name()).collect();
        assert_eq!(drawn.len(), 2, "both faults get drawn: {drawn:?}");
    }

    #[test]
    fn a_random_schedule_reads_from_toml() {
        let text = r#"
            interval = "20s"
            hold = "8s"
            length = "2m"
            faults = [{ fault = "partition-replicas" }, { fault = "kill", target = "replica" }]
        "#;
        let spec: RandomSchedule = toml::from_str(text).unwrap();
        assert_eq!(spec.faults[1], Fault::Kill { target: Target::replica() });
        assert_eq!(spec.draw(1).random.len(), 5);
    }
}
