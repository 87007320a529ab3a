//! A fake Redis node or sentinel on 127.0.0.1: a TCP server speaking just enough RESP
//! for discovery and Pub/Sub.
//!
//! It answers `CLIENT …` with `OK`, `PING` with `PONG`, `GET` with its own name (so a
//! test sees which node a client reached), `SENTINEL get-master-addr-by-name` with the
//! address it is told to give, `SENTINEL replicas` with the replicas it is told to list,
//! and `SUBSCRIBE`/`PSUBSCRIBE` (`*` matches everything) by
//! forwarding what [`FakeRedis::publish`] publishes. A silent one accepts connections
//! and never answers, as a paused node does. Tests wait on its counts of connections and
//! subscriptions, never on time.

use super::{Live, wait};
use crate::endpoints::{Endpoints, SentinelEndpoints};
use futures::StreamExt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, watch};
use tokio::task::{JoinHandle, JoinSet};

/// A fake Redis node or sentinel; killed (its connections closed) when dropped.
pub struct FakeRedis {
    addr: SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
}

/// A replica as `SENTINEL replicas` lists it: its announced address and its flags.
type Listed = ((String, u16), String);

struct State {
    name: String,
    silent: bool,
    master: Mutex<Option<(String, u16)>>,
    replicas: Mutex<Vec<Listed>>,
    published: broadcast::Sender<(String, String)>,
    connections: watch::Sender<usize>,
    subscriptions: watch::Sender<usize>,
}

impl FakeRedis {
    /// A node named `name` that answers `master` to `SENTINEL get-master-addr-by-name`.
    pub async fn start(name: &str, master: Option<(&str, u16)>) -> FakeRedis {
        FakeRedis::serve(name, master, false).await
    }

    /// A node that accepts connections and never answers.
    pub async fn silent(name: &str) -> FakeRedis {
        FakeRedis::serve(name, None, true).await
    }

    async fn serve(name: &str, master: Option<(&str, u16)>, silent: bool) -> FakeRedis {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            name: name.to_string(),
            silent,
            master: Mutex::new(master.map(|(ip, port)| (ip.to_string(), port))),
            replicas: Mutex::new(Vec::new()),
            published: broadcast::channel(64).0,
            connections: watch::Sender::new(0),
            subscriptions: watch::Sender::new(0),
        });
        let task = tokio::spawn(accept(listener, state.clone()));
        FakeRedis { addr, state, task }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// From now on answers `master` to `SENTINEL get-master-addr-by-name`.
    pub fn name_master(&self, master: Option<(&str, u16)>) {
        *self.state.master.lock().unwrap() = master.map(|(ip, port)| (ip.to_string(), port));
    }

    /// From now on lists `replicas` (announced address and flags, such as `slave` or
    /// `s_down,slave`) in answer to `SENTINEL replicas`.
    pub fn list_replicas(&self, replicas: &[((String, u16), &str)]) {
        let listed = replicas.iter().map(|(at, flags)| (at.clone(), flags.to_string()));
        *self.state.replicas.lock().unwrap() = listed.collect();
    }

    /// Publishes `message` on `channel` to its subscribers.
    pub fn publish(&self, channel: &str, message: &str) {
        let _ = self.state.published.send((channel.to_string(), message.to_string()));
    }

    /// Waits until `count` of its subscriptions are live.
    pub async fn subscribed(&self, count: usize) {
        wait(&self.state.subscriptions, |n| n == count).await;
    }

    /// Waits until `count` connections to it are open.
    pub async fn connected(&self, count: usize) {
        wait(&self.state.connections, |n| n == count).await;
    }
}

impl Drop for FakeRedis {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An address nothing listens on: connections to it are refused.
pub fn refusing() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// Accepts connections until aborted; aborting drops (closes) every connection too.
async fn accept(listener: TcpListener, state: Arc<State>) {
    let mut connections = JoinSet::new();
    loop {
        let (stream, _) = listener.accept().await.unwrap();
        connections.spawn(serve(stream, state.clone()));
    }
}

async fn serve(stream: TcpStream, state: Arc<State>) {
    let _live = Live::new(&state.connections);
    let (read, mut write) = stream.into_split();
    // A stream keeps a command read halfway when a published message comes first.
    let commands = futures::stream::unfold(BufReader::new(read), |mut read| async move {
        let command = command(&mut read).await?;
        Some((command, read))
    });
    tokio::pin!(commands);
    let mut subscribed = None;
    let mut pattern: Option<String> = None;
    let mut published = state.published.subscribe();
    loop {
        let command = tokio::select! {
            command = commands.next() => command,
            Ok((channel, message)) = published.recv(), if subscribed.is_some() => {
                let push = match &pattern {
                    Some(pattern) => array(&[bulk("pmessage"), bulk(pattern), bulk(&channel), bulk(&message)]),
                    None => array(&[bulk("message"), bulk(&channel), bulk(&message)]),
                };
                if write.write_all(push.as_bytes()).await.is_err() {
                    return;
                }
                continue;
            }
        };
        let Some(command) = command else { return };
        if state.silent {
            continue;
        }
        let words: Vec<String> = command.iter().map(|w| w.to_ascii_lowercase()).collect();
        let answer = match words.iter().map(String::as_str).collect::<Vec<_>>()[..] {
            ["client", ..] => "+OK\r\n".to_string(),
            ["ping"] => "+PONG\r\n".to_string(),
            ["get", _] => bulk(&state.name),
            ["sentinel", "get-master-addr-by-name", _] => match &*state.master.lock().unwrap() {
                Some((ip, port)) => array(&[bulk(ip), bulk(&port.to_string())]),
                None => "*-1\r\n".to_string(),
            },
            ["sentinel", "replicas", _] => {
                let replicas = state.replicas.lock().unwrap();
                let listed: Vec<String> = replicas.iter().map(replica).collect();
                array(&listed)
            }
            [kind @ ("subscribe" | "psubscribe"), _] => {
                if kind == "psubscribe" {
                    pattern = Some(command[1].clone());
                }
                subscribed.get_or_insert_with(|| Live::new(&state.subscriptions));
                array(&[bulk(kind), bulk(&command[1]), ":1\r\n".to_string()])
            }
            _ => "-ERR unknown command\r\n".to_string(),
        };
        if write.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// One command (an array of bulk strings), or `None` at the end of the stream.
async fn command(read: &mut BufReader<OwnedReadHalf>) -> Option<Vec<String>> {
    let count: usize = line(read).await?.strip_prefix('*')?.parse().ok()?;
    let mut words = Vec::with_capacity(count);
    for _ in 0..count {
        let len: usize = line(read).await?.strip_prefix('$')?.parse().ok()?;
        let mut word = vec![0; len + 2];
        read.read_exact(&mut word).await.ok()?;
        word.truncate(len);
        words.push(String::from_utf8(word).ok()?);
    }
    Some(words)
}

async fn line(read: &mut BufReader<OwnedReadHalf>) -> Option<String> {
    let mut line = String::new();
    match read.read_line(&mut line).await {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line.trim_end().to_string()),
    }
}

/// One replica's fields, as `SENTINEL replicas` gives them.
fn replica(((ip, port), flags): &Listed) -> String {
    let fields = [("name", format!("{ip}:{port}")), ("ip", ip.clone())];
    let fields = fields.into_iter().chain([("port", port.to_string()), ("flags", flags.clone())]);
    let words: Vec<String> = fields.flat_map(|(key, value)| [bulk(key), bulk(&value)]).collect();
    array(&words)
}

fn bulk(word: &str) -> String {
    format!("${}\r\n{word}\r\n", word.len())
}

fn array(items: &[String]) -> String {
    format!("*{}\r\n{}", items.len(), items.concat())
}

/// The address Sentinel names the Redis node `redis-<i>` by, in [`cluster`].
pub fn announced(i: u8) -> (String, u16) {
    (format!("172.18.0.{}", 10 + i), 6379)
}

/// Endpoints of a cluster with these sentinels and Redis nodes (`redis-<i>` at the i-th
/// address, announced as [`announced`]`(i)`), monitored as `faultline`; the harness's
/// master is `redis-0`.
pub fn cluster(sentinels: &[(&str, SocketAddr)], redis: &[SocketAddr]) -> Endpoints {
    let names = (0..redis.len()).map(|i| format!("redis-{i}"));
    let announced = (0..).zip(names.clone()).map(|(i, name)| {
        let (ip, port) = announced(i);
        (SocketAddr::new(ip.parse().unwrap(), port), name)
    });
    Endpoints {
        redis_master: redis[0],
        redis: names.zip(redis.iter().copied()).collect(),
        postgres: None,
        sentinel: Some(SentinelEndpoints {
            master_name: "faultline".into(),
            nodes: sentinels.iter().map(|(name, addr)| (name.to_string(), *addr)).collect(),
            announced: announced.collect(),
        }),
    }
}
