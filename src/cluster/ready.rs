//! The harness's own readiness probes: PING on Redis, a replica's link to its master,
//! `SELECT 1` on Postgres. Container logs cannot tell readiness after a restart (they
//! still hold the old "ready" line), and a published port accepts connections even when
//! nothing listens behind it, so only an answer from the server counts.

use redis::AsyncConnectionConfig;
use sqlx::Connection;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::time::Instant;
use workloads::endpoints::PostgresEndpoint;

const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
const PROBE_INTERVAL: Duration = Duration::from_millis(50);

/// Polls `probe` until it succeeds or `deadline` passes; on timeout returns the last
/// error it gave.
pub(crate) async fn poll_until<F, Fut>(deadline: Instant, mut probe: F) -> Result<(), String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    loop {
        let error = match tokio::time::timeout(PROBE_TIMEOUT * 2, probe()).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => e,
            Err(_) => "no answer within 2 s".to_string(),
        };
        if Instant::now() + PROBE_INTERVAL >= deadline {
            return Err(error);
        }
        tokio::time::sleep(PROBE_INTERVAL).await;
    }
}

/// A short-lived connection to one Redis node, with tight timeouts.
pub(crate) async fn redis_connection(
    addr: SocketAddr,
) -> Result<redis::aio::MultiplexedConnection, String> {
    let client = redis::Client::open(format!("redis://{addr}")).map_err(|e| e.to_string())?;
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(PROBE_TIMEOUT))
        .set_response_timeout(Some(PROBE_TIMEOUT));
    client.get_multiplexed_async_connection_with_config(&config).await.map_err(|e| e.to_string())
}

/// The node answers PING (not `LOADING`, not hung).
pub(crate) async fn redis_ping(addr: SocketAddr) -> Result<(), String> {
    let mut conn = redis_connection(addr).await?;
    let pong: String =
        redis::cmd("PING").query_async(&mut conn).await.map_err(|e| e.to_string())?;
    if pong == "PONG" { Ok(()) } else { Err(format!("PING answered {pong}")) }
}

/// A field of `INFO <section>`.
pub(crate) async fn redis_info_field(
    addr: SocketAddr,
    section: &str,
    field: &str,
) -> Result<Option<String>, String> {
    let mut conn = redis_connection(addr).await?;
    let info: String =
        redis::cmd("INFO").arg(section).query_async(&mut conn).await.map_err(|e| e.to_string())?;
    Ok(info_field(&info, field))
}

/// The value of `field` in the text of an `INFO` reply.
pub fn info_field(info: &str, field: &str) -> Option<String> {
    info.lines()
        .filter_map(|line| line.trim_end().split_once(':'))
        .find(|(key, _)| *key == field)
        .map(|(_, value)| value.to_string())
}

/// The replica's link to its master is up.
pub(crate) async fn replica_linked(addr: SocketAddr) -> Result<(), String> {
    match redis_info_field(addr, "replication", "master_link_status").await?.as_deref() {
        Some("up") => Ok(()),
        Some(other) => Err(format!("master_link_status:{other}")),
        None => Err("not a replica (no master_link_status)".to_string()),
    }
}

/// Postgres answers `SELECT 1`.
pub(crate) async fn postgres_select_1(endpoint: &PostgresEndpoint) -> Result<(), String> {
    let mut conn = sqlx::PgConnection::connect(&endpoint.url()).await.map_err(|e| e.to_string())?;
    let one: i32 =
        sqlx::query_scalar("SELECT 1").fetch_one(&mut conn).await.map_err(|e| e.to_string())?;
    let _ = conn.close().await;
    if one == 1 { Ok(()) } else { Err(format!("SELECT 1 answered {one}")) }
}

#[cfg(test)]
mod tests {
    use super::info_field;

    #[test]
    fn info_fields_are_read_by_exact_name() {
        let info = "# Replication\r\nrole:slave\r\nmaster_link_status:up\r\nmaster_link_down_since_seconds:-1\r\n";
        assert_eq!(info_field(info, "master_link_status").as_deref(), Some("up"));
        assert_eq!(info_field(info, "role").as_deref(), Some("slave"));
        assert_eq!(info_field(info, "master_link"), None);
    }
}
