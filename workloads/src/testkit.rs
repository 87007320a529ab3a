//! Helpers for unit tests: a recorder whose history the test can read back, a fake
//! Redis node or sentinel ([`fake_redis`]), and a fake Postgres server
//! ([`fake_postgres`]).

pub mod fake_postgres;
pub mod fake_redis;

use crate::recorder::Recorder;
use checkers::format::{Header, HistoryReader};
use checkers::history::Op;
use std::io::{self, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// How long a test waits for a count before failing (instead of hanging).
const PATIENCE: Duration = Duration::from_secs(10);

/// A `Write` whose bytes the test can read back.
#[derive(Clone, Default)]
pub struct Memory(Arc<Mutex<Vec<u8>>>);

impl Write for Memory {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().expect("memory lock").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A recorder writing into memory.
pub fn recorder() -> (Recorder, Memory) {
    let memory = Memory::default();
    let recorder = Recorder::new(&Header::new(Default::default()), memory.clone()).unwrap();
    (recorder, memory)
}

/// Finishes `recorder` and reads back what it wrote.
pub fn recorded(recorder: &Recorder, memory: &Memory) -> Vec<Op> {
    recorder.finish().unwrap();
    let bytes = memory.0.lock().unwrap().clone();
    HistoryReader::new(&bytes[..]).unwrap().map(Result::unwrap).collect()
}

/// Counts up while it lives (a fake server's open connections, its subscriptions).
pub struct Live<'a>(&'a watch::Sender<usize>);

impl<'a> Live<'a> {
    /// Counts one more in `count` until dropped.
    pub fn new(count: &'a watch::Sender<usize>) -> Live<'a> {
        count.send_modify(|n| *n += 1);
        Live(count)
    }
}

impl Drop for Live<'_> {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n -= 1);
    }
}

/// Waits until `count` is `done`; fails the test after a while instead of hanging.
pub async fn wait(count: &watch::Sender<usize>, done: impl Fn(usize) -> bool) {
    let mut counts = count.subscribe();
    let reached = tokio::time::timeout(PATIENCE, counts.wait_for(|n| done(*n))).await.is_ok();
    assert!(reached, "still {} after {PATIENCE:?}", *count.borrow());
}
