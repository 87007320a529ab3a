//! `synchronous_commit = off`, then `kill -9` while commits are being acknowledged: the
//! last acknowledged commits are lost.
//!
//! The nemesis measures the loss itself, so the fault's effect does not depend on a
//! workload: inside the node, psql commits numbered rows one by one into a scratch table
//! and writes an `INSERT 0 1` line for every acknowledgement; the postmaster is killed
//! while it runs, and after the restart the acknowledged rows are counted.

use super::interpreter::Outcome;
use super::topology::{Baseline, set_setting};
use super::{NemesisError, observe};
use crate::cluster::Cluster;
use serde_json::json;
use std::time::Duration;

const NODE: &str = "postgres";
const TABLE: &str = "faultline_nemesis_acks";
const ACKS: &str = "/tmp/faultline-nemesis-acks.out";
/// Acknowledgements to wait for before the kill: commits in flight, not a warm-up.
const ACKED_BEFORE_KILL: i64 = 2000;

/// Rereads the config file (SIGHUP to the postmaster).
pub(crate) async fn reload(cluster: &Cluster) -> Result<(), NemesisError> {
    Ok(cluster.signal(NODE, "HUP").await?)
}

/// Sets `synchronous_commit` in the config file, reloads, and waits until new sessions
/// see it.
async fn synchronous_commit(
    cluster: &Cluster,
    text: &str,
    value: &str,
) -> Result<(), NemesisError> {
    cluster.set_config(NODE, text).await?;
    reload(cluster).await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let now = observe::psql(cluster, "SHOW synchronous_commit").await?;
        if now == value {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            let reason = format!("synchronous_commit is {now}, not {value}, 10 s after a reload");
            return Err(NemesisError::NotHealed { fault: "postgres-async-commit", reason });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Turns `synchronous_commit` off.
pub(crate) async fn async_commit(cluster: &Cluster) -> Result<Outcome, NemesisError> {
    let text = set_setting(&cluster.config_text(NODE)?, "synchronous_commit", "off");
    synchronous_commit(cluster, &text, "off").await?;
    Ok(Outcome::unjudged(json!({ "synchronous_commit": "off" })))
}

/// Kills the postmaster while commits are acknowledged, starts it, counts the
/// acknowledged commits lost, and restores the good config.
pub(crate) async fn kill_and_restore(
    cluster: &Cluster,
    baseline: &Baseline,
) -> Result<Outcome, NemesisError> {
    observe::psql(cluster, &format!("DROP TABLE IF EXISTS {TABLE}; CREATE TABLE {TABLE} (id int)"))
        .await?;
    let psql = observe::psql_words(cluster)?
        .iter()
        .map(|w| shlex::try_quote(w).map(|q| q.into_owned()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| NemesisError::command(NODE, "psql", 0, &e.to_string()))?
        .join(" ");
    let writer = format!(
        "rm -f {ACKS}; (seq 1 10000000 | sed 's/.*/INSERT INTO {TABLE} VALUES (&);/' | \
         {psql} -X -v ON_ERROR_STOP=1 >{ACKS} 2>&1) >/dev/null 2>&1 </dev/null &"
    );
    cluster.exec(NODE, &["sh", "-c", &writer]).await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while acked(cluster).await? < ACKED_BEFORE_KILL {
        if tokio::time::Instant::now() >= deadline {
            return Err(NemesisError::command(NODE, "psql inserts", 0, "too few commits in 20 s"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cluster.kill(NODE).await?;
    cluster.start(NODE).await?;
    let acked = acked(cluster).await?;
    let kept: i64 =
        observe::psql(cluster, &format!("SELECT count(*) FROM {TABLE} WHERE id <= {acked}"))
            .await?
            .parse()
            .map_err(|_| NemesisError::command(NODE, "count", 0, "not a number"))?;
    let lost = acked - kept;
    synchronous_commit(cluster, &baseline.good_config(cluster, NODE)?, "on").await?;
    observe::psql(cluster, &format!("DROP TABLE {TABLE}")).await?;
    cluster.exec(NODE, &["rm", "-f", ACKS]).await?;
    let mut effect = json!({ "acked": acked, "lost": lost, "synchronous_commit": "on" });
    if lost <= 0 {
        effect["note"] = json!("every acknowledged commit survived the kill");
    }
    Ok(Outcome::judged(effect, lost > 0))
}

/// Commits psql has acknowledged so far.
async fn acked(cluster: &Cluster) -> Result<i64, NemesisError> {
    let out =
        cluster.exec(NODE, &["sh", "-c", &format!("grep -c '^INSERT 0 1' {ACKS} || true")]).await?;
    Ok(out.stdout.trim().parse().unwrap_or(0))
}
