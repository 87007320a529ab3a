//! Redis Sentinel nodes: their configuration and their readiness.
//!
//! A cluster with sentinels starts them after the Redis nodes, from the same image
//! (`redis-server sentinel.conf --sentinel`), each monitoring the master under the name
//! [`MASTER_NAME`] by its address on the run's network (Sentinel takes an address, not
//! a name, unless told to resolve names). Sentinel rewrites its own file as it learns
//! (replicas, other sentinels, epochs, the current master), so each file is written
//! fresh for every run; a restarted sentinel keeps what it learnt, as a real one does.
//!
//! A sentinel is ready when it sees the master as a master, every replica, and every
//! other sentinel: replicas come from the master's `INFO` within milliseconds, other
//! sentinels from their hello messages every 2 s (`../shared/notes/sentinel-facts.md`
//! measured about 2.1 s), so `num-other-sentinels` is what readiness waits for.

use super::ready;
use serde::{Deserialize, Serialize};
use std::fmt::Write;
use std::net::{IpAddr, SocketAddr};

/// The name the sentinels monitor the master under.
pub const MASTER_NAME: &str = "faultline";

/// Where a sentinel's configuration lives in its container (writable: Sentinel
/// rewrites it).
pub(super) const CONFIG_PATH: &str = "/etc/faultline/sentinel.conf";

/// The port every sentinel listens on.
pub(super) const PORT: u16 = 26379;

/// How the sentinels judge and fail over the master: Sentinel's own settings, under
/// its own names. Defaults: a majority quorum, 1 s to call the master down, 3 s for a
/// failover, one replica resynced at a time.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct SentinelConfig {
    /// Sentinels that must agree the master is down before a failover (`quorum` of
    /// `sentinel monitor`); a majority of the sentinels when left out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quorum: Option<usize>,
    /// `down-after-milliseconds`: how long the master may not answer before a
    /// sentinel thinks it down (1000 when left out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub down_after_milliseconds: Option<u64>,
    /// `failover-timeout`, in milliseconds (3000 when left out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failover_timeout: Option<u64>,
    /// `parallel-syncs`: replicas repointed at once after a failover (1 when left out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parallel_syncs: Option<u32>,
}

impl SentinelConfig {
    /// The quorum for `sentinels` sentinels: the configured one, else a majority.
    pub fn quorum_of(&self, sentinels: usize) -> usize {
        self.quorum.unwrap_or(sentinels / 2 + 1)
    }

    /// `down-after-milliseconds`, defaulted.
    pub fn down_after(&self) -> u64 {
        self.down_after_milliseconds.unwrap_or(1000)
    }

    /// `failover-timeout`, defaulted. A sentinel that tried to fail over (or voted for
    /// another that did) does not try again for twice this long: a failed election, such
    /// as a split vote, delays the failover by that much.
    pub fn failover_timeout(&self) -> u64 {
        self.failover_timeout.unwrap_or(3000)
    }

    /// What is wrong with these settings for `sentinels` sentinels, if anything.
    pub fn problem(&self, sentinels: usize) -> Option<String> {
        if sentinels == 0 {
            return None;
        }
        if sentinels.is_multiple_of(2) {
            return Some(format!(
                "sentinels = {sentinels}: use an odd number, so a partition always leaves one side a majority"
            ));
        }
        let quorum = self.quorum_of(sentinels);
        if quorum == 0 || quorum > sentinels {
            return Some(format!(
                "quorum = {quorum}: it must lie between 1 and sentinels = {sentinels}"
            ));
        }
        if self.down_after_milliseconds == Some(0) || self.failover_timeout == Some(0) {
            return Some("down-after-milliseconds and failover-timeout must be above 0".into());
        }
        None
    }

    /// The sentinel's file for `sentinels` sentinels watching the master at `master`
    /// (its address on the run's network).
    pub(super) fn render(&self, sentinels: usize, master: IpAddr) -> String {
        let mut out = String::new();
        let name = MASTER_NAME;
        let lines = [
            format!("port {PORT}"),
            "bind 0.0.0.0".into(),
            "protected-mode no".into(),
            "dir /tmp".into(),
            format!("sentinel monitor {name} {master} 6379 {}", self.quorum_of(sentinels)),
            format!("sentinel down-after-milliseconds {name} {}", self.down_after()),
            format!("sentinel failover-timeout {name} {}", self.failover_timeout()),
            format!("sentinel parallel-syncs {name} {}", self.parallel_syncs.unwrap_or(1)),
        ];
        for line in lines {
            let _ = writeln!(out, "{line}");
        }
        out
    }
}

/// The sentinel at `addr` sees the master as a master, `replicas` replicas and
/// `others` other sentinels.
pub(super) async fn sentinel_ready(
    addr: SocketAddr,
    replicas: usize,
    others: usize,
) -> Result<(), String> {
    let mut conn = ready::redis_connection(addr).await?;
    let fields: Vec<String> = redis::cmd("SENTINEL")
        .arg("MASTER")
        .arg(MASTER_NAME)
        .query_async(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    let field =
        |key: &str| fields.chunks(2).find(|kv| kv[0] == key).and_then(|kv| kv.get(1)).cloned();
    let flags = field("flags").unwrap_or_default();
    let slaves = field("num-slaves").and_then(|n| n.parse::<usize>().ok()).unwrap_or(0);
    let sentinels = field("num-other-sentinels").and_then(|n| n.parse::<usize>().ok()).unwrap_or(0);
    if flags == "master" && slaves >= replicas && sentinels >= others {
        Ok(())
    } else {
        Err(format!(
            "sees the master as {flags:?} with {slaves} of {replicas} replicas and {sentinels} of {others} other sentinels"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::SentinelConfig;

    #[test]
    fn the_file_monitors_the_master_by_address_with_a_majority_quorum_by_default() {
        let config = SentinelConfig { down_after_milliseconds: Some(1500), ..Default::default() };
        let text = config.render(5, "172.18.0.2".parse().unwrap());
        assert!(text.contains("sentinel monitor faultline 172.18.0.2 6379 3\n"), "{text}");
        assert!(text.contains("sentinel down-after-milliseconds faultline 1500\n"), "{text}");
        assert!(text.contains("sentinel failover-timeout faultline 3000\n"), "{text}");
        assert!(text.contains("port 26379\n"), "{text}");
    }

    #[test]
    fn even_counts_and_impossible_quorums_are_refused() {
        let default = SentinelConfig::default();
        assert!(default.problem(0).is_none());
        assert!(default.problem(3).is_none());
        assert!(default.problem(2).unwrap().contains("odd"));
        let too_many = SentinelConfig { quorum: Some(4), ..Default::default() };
        assert!(too_many.problem(3).unwrap().contains("quorum = 4"));
    }
}
