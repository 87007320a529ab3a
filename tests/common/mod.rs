//! Shared fixtures for tests on real containers.

use faultline::cluster::{Cluster, ClusterBuilder};
use faultline::docker;
use std::future::Future;
use std::time::Duration;

/// Starts a cluster, failing the test with the harness's own explanation when Docker is
/// down or the images are missing.
pub async fn start(builder: ClusterBuilder) -> Cluster {
    match builder.start().await {
        Ok(cluster) => cluster,
        Err(e) => panic!("this test needs Docker and faultline's images: {e}"),
    }
}

/// Tears `cluster` down and asserts that nothing of its run is left.
pub async fn teardown_and_assert_clean(cluster: Cluster) {
    let run = cluster.run_id().to_string();
    cluster.teardown().await.expect("teardown");
    assert_run_is_gone(&run).await;
}

/// Asserts, through the Docker API, that no container or network of `run` exists.
pub async fn assert_run_is_gone(run: &str) {
    let docker = docker::connect().await.expect("Docker");
    let left = docker::leftovers(&docker, run).await.expect("list leftovers");
    assert!(left.is_empty(), "run {run} left behind: {left:?}");
}

/// Polls `check` every 50 ms until it returns `Some`, failing the test after `timeout`
/// with `what`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A Redis connection to `addr` with 2 s timeouts.
pub async fn redis(addr: std::net::SocketAddr) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(format!("redis://{addr}")).expect("redis url");
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(2)));
    client.get_multiplexed_async_connection_with_config(&config).await.expect("redis connection")
}

/// Removes the run's store once the test has what it needs (a failing test keeps it).
pub fn remove_store(outcome: &faultline::runner::RunOutcome) {
    let store = outcome.dir.path().parent().and_then(|scenario| scenario.parent());
    std::fs::remove_dir_all(store.expect("a run directory lies two levels under its store"))
        .unwrap();
}

/// Asserts the run's safety verdict is valid, showing the report and its directory if not.
pub fn assert_valid(outcome: &faultline::runner::RunOutcome) {
    assert_eq!(
        outcome.report.validity(),
        checkers::Validity::Valid,
        "{}\nrun directory: {}",
        outcome.report,
        outcome.dir.path().display()
    );
}

/// A history written to memory.
#[derive(Clone, Default)]
pub struct Buffer(pub std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Awaits a run, failing the test after `limit` with what the run left in `store` so
/// far (the tail of each run's log and history): a hung run is a failure that says
/// where it stopped, never a test binary that runs until CI kills it.
pub async fn within<T>(
    limit: Duration,
    store: &std::path::Path,
    run: impl Future<Output = T>,
) -> T {
    match tokio::time::timeout(limit, run).await {
        Ok(value) => value,
        Err(_) => panic!("the run did not finish within {limit:?}\n{}", tails(store)),
    }
}

/// The last lines of every `faultline.log` and `history.jsonl` under `dir`.
fn tails(dir: &std::path::Path) -> String {
    let mut out = String::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return format!("(nothing under {})", dir.display());
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.push_str(&tails(&path));
        } else if path.file_name().is_some_and(|n| n == "faultline.log" || n == "history.jsonl") {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(30)..].join("\n");
            out.push_str(&format!("--- {} (last 30 lines)\n{tail}\n", path.display()));
        }
    }
    out
}

/// Runs `run`, whose store lies at `store`, to a verdict: the outcome, or the test fails
/// with why not (the run's error, or where a hung run stopped, after ten minutes: every
/// bundled scenario ends in about two).
pub async fn verdict_of(
    run: faultline::runner::Run,
    store: &std::path::Path,
) -> faultline::runner::RunOutcome {
    match within(Duration::from_secs(600), store, run.execute()).await {
        Ok(outcome) => outcome,
        Err(e) => panic!(
            "the run did not reach a verdict (this test needs Docker and faultline's images): {e}"
        ),
    }
}
