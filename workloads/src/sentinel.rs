//! The harness's sentinel watch: every event every sentinel publishes, recorded as
//! ground truth, and Sentinel's word on the master passed to the harness.
//!
//! It subscribes (`PSUBSCRIBE *`) on every sentinel through its published port and
//! records each `+`/`-` event as one completed operation, process `sentinel`, f
//! `event`:
//!
//! ```json
//! {"process":"sentinel","type":"ok","f":"event",
//!  "value":{"sentinel":"sentinel-1","event":"+switch-master",
//!           "detail":"faultline 172.18.0.2 6379 172.18.0.3 6379","master":"redis-1"}}
//! ```
//!
//! `detail` is the message as Sentinel sent it; `master`, on `+switch-master` only, is
//! the node the new address belongs to (absent when it is no node of the cluster).
//!
//! After each such switch the watch asks every sentinel whom it names master and calls
//! `on_switch` with the node more than half of them name, so the harness moves its own
//! master to Sentinel's word rather than to the last announcement: a failover's leader
//! announces its own switch only at `+failover-end`, which can come after a newer
//! failover (seen here: a stale switch 3.8 s late, after the next kill), and a
//! sentinel cut off with the old master names it until the heal. It may call
//! `on_switch` with the master it named before, so the callback must be idempotent.
//! Leader-only events (`+try-failover`, `+elected-leader`, …) are only seen because
//! every sentinel is watched.
//!
//! A sentinel that is killed or restarted (perhaps on another published port) is
//! subscribed to again at its address in the topology then; a paused one keeps its
//! connection and its events arrive once it resumes. Like the monitor's probes, these
//! events belong to the harness, not to the system under test.

use crate::endpoints::Topology;
use crate::recorder::Recorder;
use crate::store::sentinel::{
    Published, SWITCH_MASTER, Subscription, majority, names, subscribe, switched_to,
};
use checkers::history::{F, OpType, Process, SentinelEvent, Value};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Who records Sentinel's events.
const PROCESS: Process = Process::Sentinel;

/// How long the watch waits to connect and subscribe to a sentinel before trying again,
/// and for a sentinel's answer to whom it names master.
const TIMEOUT: Duration = Duration::from_secs(1);

/// After a `+switch-master`, how often the watch asks the sentinels until a majority
/// names one master (the others learn of a failover from its leader within a fraction
/// of a second), and how long it waits between tries.
const MAJORITY_TRIES: u32 = 10;
const MAJORITY_RETRY: Duration = Duration::from_millis(200);

/// A running sentinel watch.
pub struct SentinelWatch {
    stop: CancellationToken,
    subscriptions: Vec<JoinHandle<()>>,
    recording: JoinHandle<()>,
    following: JoinHandle<()>,
}

impl SentinelWatch {
    /// Starts watching every sentinel `topology` names (none: nothing to watch),
    /// recording their events into `recorder` and calling `on_switch` with the node a
    /// majority of them name after each `+switch-master`. Needs a tokio runtime.
    pub fn start(
        topology: Topology,
        recorder: Recorder,
        mut on_switch: impl FnMut(&str) + Send + 'static,
    ) -> SentinelWatch {
        let stop = CancellationToken::new();
        let (out, mut published) = mpsc::unbounded_channel();
        let subscriptions = names(&topology)
            .into_iter()
            .map(|name| {
                let everything = Subscription::Pattern("*");
                let (topology, out, stop) = (topology.clone(), out.clone(), stop.clone());
                crate::task::spawn(subscribe(name, topology, everything, TIMEOUT, out, stop))
            })
            .collect();
        drop(out);
        let (switched, mut switches) = watch::channel(0u64);
        // Ends once every subscription has: they hold the only senders.
        let following = topology.clone();
        let recording = crate::task::spawn(async move {
            while let Some(event) = published.recv().await {
                if record(&recorder, &topology, &event).is_some() {
                    switched.send_modify(|n| *n += 1);
                }
            }
        });
        // After each switch, the master a majority of the sentinels name; ends with the
        // recording task, which holds the only sender.
        let topology = following;
        let following = crate::task::spawn(async move {
            while switches.changed().await.is_ok() {
                for _ in 0..MAJORITY_TRIES {
                    if let Some(node) = majority(&topology, TIMEOUT).await {
                        on_switch(&node);
                        break;
                    }
                    tokio::time::sleep(MAJORITY_RETRY).await;
                }
            }
        });
        SentinelWatch { stop, subscriptions, recording, following }
    }

    /// Stops watching, once every event already received is recorded.
    pub async fn stop(mut self) {
        self.stop.cancel();
        let tasks = [&mut self.recording, &mut self.following];
        for task in self.subscriptions.iter_mut().chain(tasks) {
            if let Err(e) = task.await
                && e.is_panic()
            {
                std::panic::resume_unwind(e.into_panic());
            }
        }
    }
}

impl Drop for SentinelWatch {
    /// A watch dropped without [`SentinelWatch::stop`] (a failed run) stops too.
    fn drop(&mut self) {
        let tasks = [&self.recording, &self.following];
        self.subscriptions.iter().chain(tasks).for_each(JoinHandle::abort);
    }
}

/// Records `event` if it is one (its channel starts with `+` or `-`); returns the node
/// a `+switch-master` names as the new master.
fn record(recorder: &Recorder, topology: &Topology, event: &Published) -> Option<String> {
    if !event.channel.starts_with(['+', '-']) {
        return None;
    }
    let master = match &topology.borrow().sentinel {
        Some(sentinel) if event.channel == SWITCH_MASTER => {
            switched_to(sentinel, &event.message).map(str::to_string)
        }
        _ => None,
    };
    let value = SentinelEvent {
        sentinel: event.sentinel.clone(),
        event: event.channel.clone(),
        detail: event.message.clone(),
        master: master.clone(),
    };
    recorder.record(PROCESS, OpType::Ok, F::Event, Value::Sentinel(value), None);
    master
}

#[cfg(test)]
mod tests;
