//! Gateway faults as data, and the ones in force: which one decides a charge, and how
//! many charges each affected (the nemesis's judgement of its effect).

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A way the card gateway misbehaves, while set ([`Gateway::set_fault`]).
///
/// [`Gateway::set_fault`]: super::Gateway::set_fault
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GatewayFault {
    /// Every charge answer is delayed this long (after the charge is decided).
    Latency(Duration),
    /// A burst of declines: every charge is declined `card-declined`, nothing captured.
    Declines,
    /// Every charge fails before capture: the caller gets an error (`500`), nothing is
    /// captured.
    ErrorsBefore,
    /// Every charge is decided as usual (captured, or declined by the card), then the
    /// caller gets an error (`500`).
    ErrorsAfter,
    /// Every charge is decided as usual, and the answer never arrives.
    LostResponse,
    /// The gateway is down: every charge is refused (`503`), nothing captured.
    Outage,
}

impl GatewayFault {
    /// Which of two faults in force decides a charge: the one that lets the least
    /// through (an outage before an error before capture, before a decline burst,
    /// before a lost answer, before an error after capture). Latency decides nothing;
    /// it only delays.
    fn rank(self) -> u8 {
        match self {
            GatewayFault::Outage => 5,
            GatewayFault::ErrorsBefore => 4,
            GatewayFault::Declines => 3,
            GatewayFault::LostResponse => 2,
            GatewayFault::ErrorsAfter => 1,
            GatewayFault::Latency(_) => 0,
        }
    }
}

/// Identifies a fault set on the gateway, to clear it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FaultToken(u64);

/// What a fault did while it was set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultEffect {
    /// The fault.
    pub fault: GatewayFault,
    /// How many charge attempts it changed: delayed (latency), or decided otherwise
    /// than a healthy gateway would have. Replays and refused keys are not attempts.
    pub affected: u64,
}

/// The faults in force, oldest first.
#[derive(Default)]
pub(super) struct Faults {
    next: u64,
    active: Vec<(FaultToken, FaultEffect)>,
}

/// What the faults in force do to one charge attempt.
pub(super) struct Applied {
    /// The fault that decides the attempt, if any.
    pub decides: Option<GatewayFault>,
    /// How long its answer is delayed.
    pub delay: Duration,
}

impl Faults {
    pub(super) fn set(&mut self, fault: GatewayFault) -> FaultToken {
        let token = FaultToken(self.next);
        self.next += 1;
        self.active.push((token, FaultEffect { fault, affected: 0 }));
        token
    }

    pub(super) fn clear(&mut self, token: FaultToken) -> Option<FaultEffect> {
        let at = self.active.iter().position(|(t, _)| *t == token)?;
        Some(self.active.remove(at).1)
    }

    pub(super) fn affected(&self, token: FaultToken) -> Option<u64> {
        self.active.iter().find(|(t, _)| *t == token).map(|(_, e)| e.affected)
    }

    /// Whether an outage is in force: nothing reaches the gateway.
    pub(super) fn outage(&self) -> bool {
        self.active.iter().any(|(_, e)| e.fault == GatewayFault::Outage)
    }

    /// What the faults do to an answer that decides nothing (a replay, a refused key):
    /// delay it, counting nothing.
    pub(super) fn delay(&self) -> Duration {
        self.active.iter().filter_map(|(_, e)| latency(e.fault)).max().unwrap_or_default()
    }

    /// What the faults do to one charge attempt, counted as affected by each fault
    /// that changes it: the deciding one, and the longest latency.
    pub(super) fn apply(&mut self) -> Applied {
        let deciding = (self.active.iter().enumerate())
            .filter(|(_, (_, e))| e.fault.rank() > 0)
            .max_by_key(|(i, (_, e))| (e.fault.rank(), usize::MAX - i))
            .map(|(i, _)| i);
        let slowest = (self.active.iter().enumerate())
            .filter_map(|(i, (_, e))| latency(e.fault).map(|d| (d, i)))
            .max_by_key(|(d, i)| (*d, usize::MAX - i));
        let mut applied = Applied { decides: None, delay: Duration::ZERO };
        if let Some(i) = deciding {
            self.active[i].1.affected += 1;
            applied.decides = Some(self.active[i].1.fault);
        }
        if let Some((delay, i)) = slowest {
            self.active[i].1.affected += 1;
            applied.delay = delay;
        }
        applied
    }
}

fn latency(fault: GatewayFault) -> Option<Duration> {
    match fault {
        GatewayFault::Latency(d) => Some(d),
        _ => None,
    }
}
