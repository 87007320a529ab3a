//! Verdicts and the anomalies that justify them.
//!
//! A checker ends with a [`Verdict`]: `Valid`, `Invalid` with its anomalies, or `Unknown`
//! with the reason it could not decide. Composition keeps the worst
//! ([`Verdict::merge`]: invalid over unknown over valid), as Jepsen's `valid-priorities`.
//!
//! Anomalies of one kind are kept as an [`AnomalyGroup`]: how many there were, and the
//! first, the worst and the last, so that memory stays bounded however many there are.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

mod anomaly;

pub use anomaly::{Anomaly, AnomalyGroup, AnomalyKind, Subject};

/// What a checker concluded about a history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", content = "detail", rename_all = "kebab-case")]
pub enum Verdict {
    /// Every property held.
    Valid,
    /// Some property was violated; one group per kind of anomaly.
    Invalid(Vec<AnomalyGroup>),
    /// The checker could not decide, and why.
    Unknown(String),
}

/// A verdict without its evidence, ordered from best to worst.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Validity {
    /// Every property held.
    Valid,
    /// Could not decide.
    Unknown,
    /// Some property was violated.
    Invalid,
}

impl Validity {
    /// The process exit code for this validity: 0 valid, 1 invalid, 2 unknown.
    pub fn exit_code(self) -> i32 {
        match self {
            Validity::Valid => 0,
            Validity::Invalid => 1,
            Validity::Unknown => 2,
        }
    }
}

impl fmt::Display for Validity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Validity::Valid => "valid",
            Validity::Unknown => "UNKNOWN",
            Validity::Invalid => "INVALID",
        })
    }
}

impl Verdict {
    /// The verdict without its evidence.
    pub fn validity(&self) -> Validity {
        match self {
            Verdict::Valid => Validity::Valid,
            Verdict::Invalid(_) => Validity::Invalid,
            Verdict::Unknown(_) => Validity::Unknown,
        }
    }

    /// Whether every property held.
    pub fn is_valid(&self) -> bool {
        *self == Verdict::Valid
    }

    /// The anomaly groups, empty unless invalid.
    pub fn anomalies(&self) -> &[AnomalyGroup] {
        match self {
            Verdict::Invalid(groups) => groups,
            _ => &[],
        }
    }

    /// The worst of two verdicts; two invalid verdicts pool their anomalies, two unknown
    /// verdicts their reasons.
    pub fn merge(self, other: Verdict) -> Verdict {
        match (self, other) {
            (Verdict::Invalid(a), Verdict::Invalid(b)) => {
                let mut log = AnomalyLog::default();
                a.into_iter().chain(b).for_each(|g| log.absorb(g));
                Verdict::Invalid(log.into_groups())
            }
            (Verdict::Unknown(a), Verdict::Unknown(b)) => Verdict::Unknown(format!("{a}; {b}")),
            (a, b) if b.validity() > a.validity() => b,
            (a, _) => a,
        }
    }
}

/// Collects a checker's anomalies in bounded memory.
#[derive(Clone, Debug, Default)]
pub struct AnomalyLog {
    groups: BTreeMap<AnomalyKind, AnomalyGroup>,
}

impl AnomalyLog {
    /// Records one anomaly.
    pub fn record(&mut self, a: Anomaly) {
        match self.groups.get_mut(&a.kind) {
            Some(group) => {
                group.count += 1;
                if a.magnitude > group.worst.magnitude {
                    group.worst = a.clone();
                }
                group.last = a;
            }
            None => {
                self.groups.insert(a.kind, AnomalyGroup::new(a));
            }
        }
    }

    fn absorb(&mut self, g: AnomalyGroup) {
        match self.groups.get_mut(&g.kind) {
            Some(group) => group.absorb(g),
            None => {
                self.groups.insert(g.kind, g);
            }
        }
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// The groups, by kind.
    pub fn into_groups(self) -> Vec<AnomalyGroup> {
        self.groups.into_values().collect()
    }
}

/// A checker's findings: anomalies, and reasons it could not decide some of its cases.
#[derive(Clone, Debug, Default)]
pub struct Findings {
    anomalies: AnomalyLog,
    unknowns: u64,
    first_unknown: Option<String>,
}

impl Findings {
    /// Records an anomaly.
    pub fn anomaly(&mut self, a: Anomaly) {
        self.anomalies.record(a);
    }

    /// Records that one case could not be decided, and why (only the first reason and a
    /// count are kept).
    pub fn unknown(&mut self, reason: impl FnOnce() -> String) {
        self.unknowns += 1;
        if self.first_unknown.is_none() {
            self.first_unknown = Some(reason());
        }
    }

    /// Invalid if any anomaly was recorded, else unknown if any case was undecided, else
    /// valid.
    pub fn verdict(&mut self) -> Verdict {
        if !self.anomalies.is_empty() {
            return Verdict::Invalid(std::mem::take(&mut self.anomalies).into_groups());
        }
        match (self.unknowns, self.first_unknown.take()) {
            (0, _) | (_, None) => Verdict::Valid,
            (1, Some(reason)) => Verdict::Unknown(reason),
            (n, Some(reason)) => Verdict::Unknown(format!("{reason} (and {} more)", n - 1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anomaly(kind: AnomalyKind, op: u64, magnitude: i64) -> Anomaly {
        let explanation = format!("op {op}");
        Anomaly { kind, subject: Subject::Account(1), explanation, ops: vec![op], magnitude }
    }

    #[test]
    fn a_log_keeps_count_first_worst_and_last() {
        let mut log = AnomalyLog::default();
        for (op, magnitude) in [(3, 10), (5, 90), (8, 90), (9, 1)] {
            log.record(anomaly(AnomalyKind::OverCharge, op, magnitude));
        }
        let groups = log.into_groups();
        assert_eq!(groups.len(), 1);
        let g = &groups[0];
        assert_eq!((g.count, g.first.ops[0], g.worst.ops[0], g.last.ops[0]), (4, 3, 5, 9));
    }

    #[test]
    fn merging_keeps_the_worst_verdict() {
        let invalid =
            || Verdict::Invalid(vec![AnomalyGroup::new(anomaly(AnomalyKind::BelowFloor, 1, 1))]);
        let unknown = || Verdict::Unknown("no final state".into());
        assert_eq!(Verdict::Valid.merge(unknown()), unknown());
        assert_eq!(unknown().merge(Verdict::Valid), unknown());
        assert_eq!(unknown().merge(invalid()), invalid());
        assert_eq!(invalid().merge(unknown()), invalid());
        assert_eq!(Verdict::Valid.merge(Verdict::Valid), Verdict::Valid);
        let reasons = Verdict::Unknown("a".into()).merge(Verdict::Unknown("b".into()));
        assert_eq!(reasons, Verdict::Unknown("a; b".into()));
    }

    #[test]
    fn merging_two_invalid_verdicts_pools_groups_of_one_kind() {
        let one = |op, m| {
            Verdict::Invalid(vec![AnomalyGroup::new(anomaly(AnomalyKind::OverCharge, op, m))])
        };
        let merged = one(7, 5).merge(one(2, 1));
        let g = &merged.anomalies()[0];
        assert_eq!((g.count, g.first.ops[0], g.worst.ops[0], g.last.ops[0]), (2, 2, 7, 7));
    }

    #[test]
    fn findings_prefer_anomalies_over_unknowns() {
        let mut findings = Findings::default();
        findings.unknown(|| "account 3 unreadable".into());
        findings.unknown(|| "account 4 unreadable".into());
        assert_eq!(
            findings.clone().verdict(),
            Verdict::Unknown("account 3 unreadable (and 1 more)".into())
        );
        findings.anomaly(anomaly(AnomalyKind::LostBalance, 4, 1));
        assert_eq!(findings.verdict().validity(), Validity::Invalid);
    }
}
