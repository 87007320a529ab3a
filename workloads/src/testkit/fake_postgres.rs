//! A fake Postgres on 127.0.0.1 that refuses every login with SQLSTATE `28P01` (a bad
//! password): an answer only Postgres gives, which the store module classifies as a
//! refusal (`Rejected`), so a test sees that Postgres, not Redis, was asked.

use crate::endpoints::{Endpoints, PostgresEndpoint};
use std::io;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The message of its refusal.
pub const FAKE: &str = "the fake Postgres refuses every login";

/// The code of Postgres's request to start TLS, which the fake declines.
const SSL_REQUEST: u32 = 80_877_103;

/// The fake; it stops serving when dropped.
pub struct RefusingPostgres {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl RefusingPostgres {
    /// Starts serving on a port of its own.
    pub async fn start() -> RefusingPostgres {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move { refuse_login(&mut socket).await });
            }
        });
        RefusingPostgres { addr, task }
    }

    /// Endpoints naming this fake as Postgres and `redis_master` as the Redis master.
    pub fn endpoints(&self, redis_master: SocketAddr) -> Endpoints {
        endpoints(redis_master, Some(self.addr))
    }
}

impl Drop for RefusingPostgres {
    fn drop(&mut self) {
        self.task.abort();
    }
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

/// Reads the startup packets (declining TLS), then answers a fatal `28P01`.
async fn refuse_login(socket: &mut TcpStream) -> io::Result<()> {
    loop {
        let len = socket.read_u32().await? as usize;
        let mut body = vec![0; len.saturating_sub(4)];
        socket.read_exact(&mut body).await?;
        if body[..] == SSL_REQUEST.to_be_bytes() {
            socket.write_all(b"N").await?;
            continue;
        }
        let mut fields = Vec::new();
        for (tag, text) in [(b'S', "FATAL"), (b'V', "FATAL"), (b'C', "28P01"), (b'M', FAKE)] {
            fields.push(tag);
            fields.extend_from_slice(text.as_bytes());
            fields.push(0);
        }
        fields.push(0);
        socket.write_all(b"E").await?;
        socket.write_u32(fields.len() as u32 + 4).await?;
        socket.write_all(&fields).await?;
        return socket.flush().await;
    }
}
