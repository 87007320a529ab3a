//! A case of exploration: a fault schedule and workload parameters, drawn by proptest
//! and shrunk by it. Benign choices come first everywhere, because proptest shrinks
//! towards earlier choices, smaller numbers and shorter lists: towards fewer, milder,
//! earlier and shorter faults, on fewer workers and accounts.

use crate::nemesis::{Fault, ScheduledFault, Target};
use crate::scenario::{Scenario, ScenarioError};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use std::fmt;
use std::time::Duration;

/// One schedule with its workload.
#[derive(Clone, Debug, PartialEq)]
pub struct Case {
    /// Faults, each with its start and how long it holds.
    pub faults: Vec<ScheduledFault>,
    /// Client workers.
    pub workers: u32,
    /// Accounts.
    pub accounts: u32,
}

/// The faults explored, mildest first: each is tried on the targets that make it bite.
pub fn faults() -> Vec<Fault> {
    vec![
        Fault::Pause { target: Target::replica() },
        Fault::Kill { target: Target::replica() },
        Fault::PartitionReplicas,
        Fault::Isolate { target: Target::replica() },
        Fault::PartitionClients { target: Target::Node("postgres".into()) },
        Fault::Restart { target: Target::Node("postgres".into()) },
        Fault::Kill { target: Target::Node("postgres".into()) },
        Fault::Failover { target: Target::replica() },
        Fault::Pause { target: Target::master() },
        Fault::PartitionClients { target: Target::master() },
        Fault::Kill { target: Target::master() },
        Fault::Restart { target: Target::master() },
        Fault::SplitBrain { target: Target::replica() },
        Fault::PostgresAsyncCommit,
        Fault::RestartSelfReplica { target: Target::master() },
        Fault::RestartAofMissing { target: Target::master() },
        Fault::Restart2013 { target: Target::master() },
    ]
}

/// Cases: one to four faults starting 2–10 s into the run, holding 2–6 s, on 2–8
/// workers and 20–100 accounts.
pub fn cases() -> impl Strategy<Value = Case> {
    let fault = (select(faults()), 2u64..=10, 2u64..=6).prop_map(|(fault, at, hold)| {
        ScheduledFault::at(Duration::from_secs(at), fault).lasting(Duration::from_secs(hold))
    });
    (vec(fault, 1..=4), 2u32..=8, 20u32..=100).prop_map(|(mut faults, workers, accounts)| {
        faults.sort_by_key(|f| f.at);
        Case { faults, workers, accounts }
    })
}

impl Case {
    /// How long clients run: until 4 s after the last heal, 8 s at least.
    pub fn time_limit(&self) -> Duration {
        let last = self.faults.iter().map(|f| f.at + f.duration.unwrap_or_default()).max();
        (last.unwrap_or_default() + Duration::from_secs(4)).max(Duration::from_secs(8))
    }

    /// The case as a scenario that `faultline run --scenario FILE` replays; refused as
    /// a file would be when its faults do not fit the explored cluster (a regression's
    /// file edited by hand).
    pub fn scenario(&self, name: &str, seed: u64) -> Result<Scenario, ScenarioError> {
        Scenario::builder(name)
            .description(&format!("found by faultline explore: {self}"))
            .seed(seed)
            .redis_setting("repl-backlog-size", "16kb")
            .redis_setting("save", "60 1")
            .accounts(self.accounts)
            .opening(1000..=2500)
            .workers(self.workers)
            .time_limit(self.time_limit())
            .op_timeout(Duration::from_secs(2))
            .faults(self.faults.iter().cloned())
            .build()
    }
}

impl fmt::Display for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let faults: Vec<String> = self
            .faults
            .iter()
            .map(|s| {
                let hold = s.duration.unwrap_or_default().as_secs();
                let what = [s.fault.name(), &target(&s.fault)].join(" ");
                format!("{} at {}s for {hold}s", what.trim_end(), s.at.as_secs())
            })
            .collect();
        write!(f, "[{}] on {} workers, {} accounts", faults.join("; "), self.workers, self.accounts)
    }
}

/// The fault's targets as written in a scenario file, e.g. `replica`.
fn target(fault: &Fault) -> String {
    let name = |target| match serde_json::to_value(target) {
        Ok(serde_json::Value::String(name)) => name,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    };
    fault.targets().into_iter().map(name).collect::<Vec<_>>().join(" -> ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    #[test]
    fn a_case_is_a_scenario_that_reads_back_from_its_file() {
        let mut runner = TestRunner::deterministic();
        let case = cases().new_tree(&mut runner).unwrap().current();
        let scenario = case.scenario("explore", 7).unwrap();
        let text = scenario.to_toml();
        let reread = Scenario::parse("found.toml", &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(reread.schedule().faults, case.faults);
        assert_eq!(reread.seed, 7);
    }

    #[test]
    fn shrinking_moves_towards_fewer_milder_earlier_shorter_faults() {
        let mut runner = TestRunner::deterministic();
        let mut tree = cases().new_tree(&mut runner).unwrap();
        while tree.simplify() {}
        let simplest = tree.current();
        assert_eq!(simplest.faults.len(), 1, "{simplest}");
        assert_eq!(simplest.faults[0].fault, faults()[0]);
        assert_eq!(
            (simplest.faults[0].at, simplest.faults[0].duration),
            (Duration::from_secs(2), Some(Duration::from_secs(2)))
        );
        assert_eq!((simplest.workers, simplest.accounts), (2, 20));
    }
}
