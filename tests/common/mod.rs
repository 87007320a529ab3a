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
