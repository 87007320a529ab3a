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
//! the node the new address belongs to (absent when it is no node of the cluster). On
//! such a switch the watch calls `on_switch` with that node, so the harness moves its
//! own master: once per sentinel that announces it (every sentinel does), so the
//! callback must be idempotent. Leader-only events (`+try-failover`, `+elected-leader`,
//! …) are only seen because every sentinel is watched.
//!
//! A sentinel that is killed or restarted (perhaps on another published port) is
//! subscribed to again at its address in the topology then; a paused one keeps its
//! connection and its events arrive once it resumes. Like the monitor's probes, these
//! events belong to the harness, not to the system under test.

use crate::endpoints::Topology;
use crate::recorder::Recorder;
use crate::store::sentinel::{Published, SWITCH_MASTER, Subscription, subscribe, switched_to};
use checkers::history::{F, OpType, Process, SentinelEvent, Value};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Who records Sentinel's events.
const PROCESS: Process = Process::Sentinel;

/// How long the watch waits to connect and subscribe to a sentinel before trying again.
const TIMEOUT: Duration = Duration::from_secs(1);

/// A running sentinel watch.
pub struct SentinelWatch {
    stop: CancellationToken,
    subscriptions: Vec<JoinHandle<()>>,
    recording: JoinHandle<()>,
}

impl SentinelWatch {
    /// Starts watching every sentinel `topology` names (none: nothing to watch),
    /// recording their events into `recorder` and calling `on_switch` with the node
    /// each `+switch-master` names. Needs a tokio runtime.
    pub fn start(
        topology: Topology,
        recorder: Recorder,
        mut on_switch: impl FnMut(&str) + Send + 'static,
    ) -> SentinelWatch {
        let stop = CancellationToken::new();
        let (out, mut published) = mpsc::unbounded_channel();
        let names: Vec<String> = topology
            .borrow()
            .sentinel
            .as_ref()
            .map(|s| s.nodes.keys().cloned().collect())
            .unwrap_or_default();
        let subscriptions = names
            .into_iter()
            .map(|name| {
                let everything = Subscription::Pattern("*");
                let (topology, out, stop) = (topology.clone(), out.clone(), stop.clone());
                tokio::spawn(subscribe(name, topology, everything, TIMEOUT, out, stop))
            })
            .collect();
        drop(out);
        // Ends once every subscription has: they hold the only senders.
        let recording = tokio::spawn(async move {
            while let Some(event) = published.recv().await {
                if let Some(master) = record(&recorder, &topology, &event) {
                    on_switch(&master);
                }
            }
        });
        SentinelWatch { stop, subscriptions, recording }
    }

    /// Stops watching, once every event already received is recorded.
    pub async fn stop(mut self) {
        self.stop.cancel();
        for task in self.subscriptions.iter_mut().chain([&mut self.recording]) {
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
        self.subscriptions.iter().chain([&self.recording]).for_each(JoinHandle::abort);
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
