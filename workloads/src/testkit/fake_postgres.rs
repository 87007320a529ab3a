//! A fake Postgres server on 127.0.0.1: just enough of the wire protocol for a client's
//! start-up (no password), simple queries (`BEGIN`, `COMMIT`, `ROLLBACK`, `raw_sql`)
//! and pings; or one that refuses every login with a SQLSTATE
//! ([`FakePostgres::refusing_logins`]: `28P01`, a bad password, is an answer only
//! Postgres gives, so a test sees that Postgres, not Redis, was asked; `57P03`, a
//! Postgres starting up or shutting down, one sqlx's pool retries until its timeout).
//!
//! A query is answered by the first unspent rule whose text it starts with, and that
//! rule is spent; any other query completes with its first word as its command tag.
//! The transaction status moves as Postgres's does: `BEGIN` opens a transaction, an
//! error in it fails it, and `COMMIT` of a failed one answers `ROLLBACK`. Tests wait on
//! its count of open connections, never on time.

use super::{Live, wait};
use crate::endpoints::{Endpoints, PostgresEndpoint};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// How the fake answers a query.
#[derive(Clone, Copy, Debug)]
pub enum Reply {
    /// Completes with this command tag (`UPDATE 3`).
    Complete(&'static str),
    /// Fails with this SQLSTATE.
    Fail(&'static str),
    /// Never answers on this connection again, as a paused server.
    Silent,
    /// Closes the connection, as a crashed server.
    Hangup,
}

/// A fake Postgres server; its connections are closed when it is dropped.
pub struct FakePostgres {
    addr: SocketAddr,
    connections: watch::Sender<usize>,
    task: JoinHandle<()>,
}

struct State {
    rules: Mutex<Vec<(&'static str, Reply)>>,
    connections: watch::Sender<usize>,
    /// The SQLSTATE every login is refused with, if any.
    refuse: Option<&'static str>,
}

/// The message of a refused login.
pub const FAKE: &str = "the fake Postgres refuses every login";

/// The code of Postgres's request to start TLS, which the fake declines.
const SSL_REQUEST: [u8; 4] = 80_877_103u32.to_be_bytes();

impl FakePostgres {
    /// A server answering by `rules`, each used once.
    pub async fn start(rules: &[(&'static str, Reply)]) -> FakePostgres {
        FakePostgres::serving(rules, None).await
    }

    /// A server refusing every login with SQLSTATE `code` (a fatal error, [`FAKE`]).
    pub async fn refusing_logins(code: &'static str) -> FakePostgres {
        FakePostgres::serving(&[], Some(code)).await
    }

    async fn serving(
        rules: &[(&'static str, Reply)],
        refuse: Option<&'static str>,
    ) -> FakePostgres {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = watch::Sender::new(0);
        let rules = Mutex::new(rules.to_vec());
        let state = Arc::new(State { rules, connections: connections.clone(), refuse });
        let task = tokio::spawn(accept(listener, state));
        FakePostgres { addr, connections, task }
    }

    /// How a client reaches it.
    pub fn endpoint(&self) -> PostgresEndpoint {
        PostgresEndpoint {
            addr: self.addr,
            user: "faultline".into(),
            password: String::new(),
            database: "faultline".into(),
        }
    }

    /// Endpoints naming this fake as Postgres and `redis_master` as the Redis master.
    pub fn endpoints(&self, redis_master: SocketAddr) -> Endpoints {
        endpoints(redis_master, Some(self.addr))
    }

    /// Waits until `count` connections to it are open.
    pub async fn connected(&self, count: usize) {
        wait(&self.connections, |n| n == count).await;
    }
}

impl Drop for FakePostgres {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl State {
    /// The reply to `sql`: the first unspent rule it starts with, spent now.
    fn reply(&self, sql: &str) -> Option<Reply> {
        let mut rules = self.rules.lock().unwrap();
        let at = rules.iter().position(|(prefix, _)| sql.starts_with(prefix))?;
        Some(rules.remove(at).1)
    }
}

async fn accept(listener: TcpListener, state: Arc<State>) {
    let mut connections = JoinSet::new();
    loop {
        let (stream, _) = listener.accept().await.unwrap();
        connections.spawn(serve(stream, state.clone()));
    }
}

async fn serve(mut stream: TcpStream, state: Arc<State>) {
    let _live = Live::new(&state.connections);
    // The start-up message: its length, then the protocol version and parameters
    // (after a request for TLS, declined).
    loop {
        let Ok(len) = stream.read_u32().await else { return };
        let mut startup = vec![0; (len as usize).saturating_sub(4)];
        if stream.read_exact(&mut startup).await.is_err() {
            return;
        }
        if startup != SSL_REQUEST {
            break;
        }
        if stream.write_all(b"N").await.is_err() {
            return;
        }
    }
    if let Some(code) = state.refuse {
        let fields = format!("SFATAL\0VFATAL\0C{code}\0M{FAKE}\0\0");
        let _ = stream.write_all(&message(b'E', fields.as_bytes())).await;
        return;
    }
    let mut status = b'I';
    let mut out = message(b'R', &0u32.to_be_bytes());
    out.extend(message(b'K', &[0, 0, 0, 1, 0, 0, 0, 2]));
    out.extend(message(b'Z', &[status]));
    if stream.write_all(&out).await.is_err() {
        return;
    }
    while let Some((kind, body)) = read(&mut stream).await {
        let out = match kind {
            b'Q' => {
                let sql = String::from_utf8_lossy(&body).trim_end_matches('\0').to_string();
                match state.reply(&sql) {
                    Some(Reply::Silent) => return silent(stream).await,
                    Some(Reply::Hangup) => return,
                    Some(Reply::Fail(code)) => failed(&mut status, code),
                    Some(Reply::Complete(tag)) => completed(&mut status, &sql, tag),
                    None => completed(&mut status, &sql, sql.split(' ').next().unwrap()),
                }
            }
            b'S' => message(b'Z', &[status]),
            _ => return,
        };
        if stream.write_all(&out).await.is_err() {
            return;
        }
    }
}

/// Reads and ignores everything until the client closes the connection.
async fn silent(mut stream: TcpStream) {
    let mut sink = [0; 1024];
    while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
}

/// `CommandComplete` for `sql` with `tag`, then `ReadyForQuery`.
fn completed(status: &mut u8, sql: &str, tag: &str) -> Vec<u8> {
    let word = sql.split(' ').next().unwrap_or_default().to_ascii_uppercase();
    let tag = match (word.as_str(), *status) {
        ("COMMIT", b'E') => "ROLLBACK",
        _ => tag,
    };
    *status = match word.as_str() {
        "BEGIN" => b'T',
        "COMMIT" | "ROLLBACK" => b'I',
        _ => *status,
    };
    let mut out = message(b'C', format!("{tag}\0").as_bytes());
    out.extend(message(b'Z', &[*status]));
    out
}

/// `ErrorResponse` with SQLSTATE `code`, then `ReadyForQuery`.
fn failed(status: &mut u8, code: &str) -> Vec<u8> {
    if *status == b'T' {
        *status = b'E';
    }
    let fields = format!("SERROR\0VERROR\0C{code}\0Mfailed as the test asked\0\0");
    let mut out = message(b'E', fields.as_bytes());
    out.extend(message(b'Z', &[*status]));
    out
}

/// One message from the client: its type and body; `None` at the end of the stream.
async fn read(stream: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let kind = stream.read_u8().await.ok()?;
    let len = stream.read_u32().await.ok()?;
    let mut body = vec![0; (len as usize).checked_sub(4)?];
    stream.read_exact(&mut body).await.ok()?;
    Some((kind, body))
}

/// A message from the server: type, length, body.
fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![kind];
    out.extend((body.len() as u32 + 4).to_be_bytes());
    out.extend(body);
    out
}

/// Endpoints with this Redis master and Postgres, if any.
pub fn endpoints(redis_master: SocketAddr, postgres: Option<SocketAddr>) -> Endpoints {
    let postgres = postgres.map(|addr| PostgresEndpoint {
        addr,
        user: "faultline".into(),
        password: "secret".into(),
        database: "faultline".into(),
    });
    Endpoints { redis_master, redis: Default::default(), postgres, sentinel: None }
}

/// An address nothing listens on.
pub fn refused() -> SocketAddr {
    "127.0.0.1:1".parse().unwrap()
}
