//! Helpers for unit tests: a recorder whose history the test can read back, a fake
//! Redis node or sentinel ([`fake_redis`]), and a fake Postgres ([`fake_postgres`]).

pub mod fake_postgres;
pub mod fake_redis;

use crate::recorder::Recorder;
use checkers::format::{Header, HistoryReader};
use checkers::history::Op;
use std::io::{self, Write};
use std::sync::{Arc, Mutex};

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
