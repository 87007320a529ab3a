//! Records a run's history as it happens.
//!
//! Every part of the harness that acts — client workers, the card gateway, the monitor,
//! the nemesis — records through one [`Recorder`]. It gives each operation the next
//! index and the time since the run started, under one lock, so indices ascend with
//! time. A writer thread serialises the operations as JSON lines and flushes after
//! every batch, so what was recorded reaches the file within microseconds and survives
//! a crash of the harness; recording itself never waits on the disk.

use checkers::format::{self, Header};
use checkers::history::{F, Op, OpType, Process, Value};
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Instant;

/// Appends operations to a history; cheap to clone and share between tasks.
#[derive(Clone)]
pub struct Recorder {
    shared: Arc<Shared>,
}

struct Shared {
    started: Instant,
    sequencer: Mutex<Sequencer>,
    recorded: AtomicU64,
    completed: AtomicU64,
    faults_started: AtomicU64,
    faults_healed: AtomicU64,
    writer: Mutex<Option<JoinHandle<io::Result<()>>>>,
}

struct Sequencer {
    next: u64,
    sink: Option<mpsc::Sender<Op>>,
}

impl Recorder {
    /// Writes `header`, then records into `out` until [`Recorder::finish`].
    pub fn new(header: &Header, mut out: impl Write + Send + 'static) -> io::Result<Recorder> {
        serde_json::to_writer(&mut out, header)?;
        out.write_all(b"\n")?;
        out.flush()?;
        let (sink, ops) = mpsc::channel();
        let writer = std::thread::Builder::new()
            .name("faultline-history".into())
            .spawn(move || write_ops(ops, out))?;
        Ok(Recorder {
            shared: Arc::new(Shared {
                started: Instant::now(),
                sequencer: Mutex::new(Sequencer { next: 0, sink: Some(sink) }),
                recorded: AtomicU64::new(0),
                completed: AtomicU64::new(0),
                faults_started: AtomicU64::new(0),
                faults_healed: AtomicU64::new(0),
                writer: Mutex::new(Some(writer)),
            }),
        })
    }

    /// Records one operation and returns its index.
    pub fn record(
        &self,
        process: Process,
        kind: OpType,
        f: F,
        value: Value,
        error: Option<String>,
    ) -> u64 {
        let mut seq = self.shared.sequencer.lock().expect("recorder lock");
        let index = seq.next;
        seq.next += 1;
        let time = self.elapsed_ns();
        match (process, kind, &f) {
            (_, OpType::Invoke, _) => {}
            (Process::Client(_), ..) => {
                self.shared.completed.fetch_add(1, Ordering::Relaxed);
            }
            (Process::Nemesis, _, F::Start) => {
                self.shared.faults_started.fetch_add(1, Ordering::Relaxed);
            }
            (Process::Nemesis, _, F::Heal) => {
                self.shared.faults_healed.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
        if let Some(sink) = &seq.sink {
            // The writer outlives every sender but the one `finish` drops.
            let _ = sink.send(Op { index, time, process, kind, f, value, error });
        }
        drop(seq);
        self.shared.recorded.fetch_add(1, Ordering::Relaxed);
        index
    }

    /// Records an invocation.
    pub fn invoke(&self, process: Process, f: F, value: Value) -> u64 {
        self.record(process, OpType::Invoke, f, value, None)
    }

    /// Nanoseconds since the run started, on the clock operations are stamped with.
    pub fn elapsed_ns(&self) -> u64 {
        u64::try_from(self.shared.started.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// How many operations have been recorded.
    pub fn recorded(&self) -> u64 {
        self.shared.recorded.load(Ordering::Relaxed)
    }

    /// How many client operations have completed, for progress displays.
    pub fn completed(&self) -> u64 {
        self.shared.completed.load(Ordering::Relaxed)
    }

    /// How many faults have started and not yet healed, for progress displays.
    pub fn faults_active(&self) -> u64 {
        let started = self.shared.faults_started.load(Ordering::Relaxed);
        started.saturating_sub(self.shared.faults_healed.load(Ordering::Relaxed))
    }

    /// Stops recording, writes everything recorded so far and reports a write error,
    /// if any occurred. Later `record` calls still get indices but are not written.
    pub fn finish(&self) -> io::Result<()> {
        self.shared.sequencer.lock().expect("recorder lock").sink = None;
        let writer = self.shared.writer.lock().expect("writer lock").take();
        match writer {
            Some(handle) => {
                handle.join().unwrap_or_else(|_| Err(io::Error::other("history writer panicked")))
            }
            None => Ok(()),
        }
    }
}

fn write_ops(ops: mpsc::Receiver<Op>, mut out: impl Write) -> io::Result<()> {
    let mut line = Vec::with_capacity(256);
    while let Ok(op) = ops.recv() {
        format::write_op(&op, &mut line);
        for op in ops.try_iter() {
            format::write_op(&op, &mut line);
        }
        out.write_all(&line)?;
        out.flush()?;
        line.clear();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use checkers::format::HistoryReader;
    use checkers::history::AccountOp;

    /// A `Write` whose bytes the test can read back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn recorded_operations_are_written_in_index_and_time_order() {
        let out = Shared::default();
        let recorder = Recorder::new(&Header::new(Default::default()), out.clone()).unwrap();
        let threads: Vec<_> = (0..4u32)
            .map(|p| {
                let recorder = recorder.clone();
                std::thread::spawn(move || {
                    for account in 0..100 {
                        let value =
                            Value::Account(AccountOp { account, amount: Some(1), balance: None });
                        recorder.invoke(Process::Client(p), F::Debit, value);
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        recorder.finish().unwrap();
        let bytes = out.0.lock().unwrap().clone();
        let ops: Vec<Op> = HistoryReader::new(&bytes[..]).unwrap().map(Result::unwrap).collect();
        assert_eq!(ops.len(), 400);
        assert!(ops.iter().enumerate().all(|(i, op)| op.index == i as u64));
        assert!(ops.windows(2).all(|w| w[0].time <= w[1].time));
        assert_eq!(recorder.recorded(), 400);
    }
}
