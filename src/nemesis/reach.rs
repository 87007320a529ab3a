//! Reachability: whether each fault's intended effect was seen, so a run whose faults
//! never took effect (a partition that cut nothing, a bad restart that lost no data)
//! says so instead of passing quietly.

use serde::Serialize;
use std::fmt;

/// What became of one fault's intended effect.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Reach {
    /// It was seen.
    Observed,
    /// The fault was performed but its intended effect was not seen.
    NotObserved {
        /// What was seen instead.
        why: String,
    },
    /// Judged at the heal, which has not happened yet.
    Pending,
    /// This machine cannot perform the fault.
    Unsupported {
        /// Why, as the machine said it.
        why: String,
    },
    /// Starting or healing the fault failed.
    Failed {
        /// The error.
        why: String,
    },
}

/// One fault and its [`Reach`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FaultReach {
    /// The fault's id in the history.
    pub id: u32,
    /// Its name in the catalogue.
    pub fault: String,
    /// The nodes it acted on.
    pub targets: Vec<String>,
    /// Whether its effect was seen.
    pub reach: Reach,
}

/// Every fault of a run, in the order started.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Reachability {
    /// The faults.
    pub faults: Vec<FaultReach>,
}

impl Reachability {
    /// How many faults had their intended effect.
    pub fn took_effect(&self) -> usize {
        self.faults.iter().filter(|f| f.reach == Reach::Observed).count()
    }

    /// The faults that did not (yet) have their intended effect.
    pub fn ineffective(&self) -> Vec<&FaultReach> {
        self.faults.iter().filter(|f| f.reach != Reach::Observed).collect()
    }

    /// Whether faults were injected and not one of them took effect: such a run tested
    /// nothing.
    pub fn none_took_effect(&self) -> bool {
        !self.faults.is_empty() && self.took_effect() == 0
    }

    /// The reach of fault `id`.
    pub fn get(&self, id: u32) -> Option<&Reach> {
        self.faults.iter().find(|f| f.id == id).map(|f| &f.reach)
    }

    pub(crate) fn set(&mut self, id: u32, fault: &str, targets: &[String], reach: Reach) {
        match self.faults.iter_mut().find(|f| f.id == id) {
            Some(f) => f.reach = reach,
            None => self.faults.push(FaultReach {
                id,
                fault: fault.to_string(),
                targets: targets.to_vec(),
                reach,
            }),
        }
    }
}

impl fmt::Display for Reachability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} of {} faults took effect", self.took_effect(), self.faults.len())?;
        for fault in self.ineffective() {
            let (what, why) = match &fault.reach {
                Reach::NotObserved { why } => ("no effect", why.as_str()),
                Reach::Pending => ("not judged", "it was never healed"),
                Reach::Unsupported { why } => ("unsupported", why.as_str()),
                Reach::Failed { why } => ("failed", why.as_str()),
                Reach::Observed => continue,
            };
            let targets = fault.targets.join(", ");
            writeln!(f, "  #{} {} [{targets}]: {what}: {why}", fault.id, fault.fault)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_names_every_fault_that_did_not_take_effect() {
        let mut reach = Reachability::default();
        let targets = ["redis-0".to_string()];
        reach.set(1, "partition-replicas", &targets, Reach::Pending);
        reach.set(1, "partition-replicas", &targets, Reach::Observed);
        reach.set(2, "delay", &targets, Reach::Unsupported { why: "no netem".into() });
        reach.set(3, "restart-aof-missing", &targets, Reach::NotObserved { why: "0 keys".into() });
        assert_eq!(reach.took_effect(), 1);
        assert!(!reach.none_took_effect());
        assert_eq!(
            reach.to_string(),
            "1 of 3 faults took effect\n\
             \x20 #2 delay [redis-0]: unsupported: no netem\n\
             \x20 #3 restart-aof-missing [redis-0]: no effect: 0 keys\n"
        );
    }

    #[test]
    fn a_run_where_nothing_took_effect_is_flagged() {
        let mut reach = Reachability::default();
        assert!(!reach.none_took_effect(), "no faults is not a failed run");
        reach.set(1, "kill", &[], Reach::Failed { why: "refused".into() });
        assert!(reach.none_took_effect());
    }
}
