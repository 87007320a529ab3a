//! Where log lines go: the console shows errors only (the progress display tells the
//! rest), and every line at `info` and above also goes to the current run's
//! `faultline.log`, beside its history: what the system under test logged ("write
//! failed, ignored") is evidence too.
//!
//! `RUST_LOG` changes what the console shows, as usual.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::sync::Mutex;
use tracing_subscriber::filter::{EnvFilter, LevelFilter};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, fmt};

static RUN_LOG: Mutex<Option<File>> = Mutex::new(None);

/// Installs the command line's subscriber.
pub fn init_cli() {
    let console = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("error"));
    tracing_subscriber::registry()
        .with(fmt::layer().with_writer(io::stderr).with_filter(console))
        .with(fmt::layer().with_ansi(false).with_writer(RunLog).with_filter(LevelFilter::INFO))
        .init();
}

/// Sends log lines to `path` until [`close_run_log`] (a no-op unless [`init_cli`] ran).
pub fn open_run_log(path: &Path) -> io::Result<()> {
    *RUN_LOG.lock().expect("run log lock") = Some(File::create(path)?);
    Ok(())
}

/// Stops writing to the run's log.
pub fn close_run_log() {
    *RUN_LOG.lock().expect("run log lock") = None;
}

struct RunLog;

impl<'a> MakeWriter<'a> for RunLog {
    type Writer = RunLog;

    fn make_writer(&'a self) -> RunLog {
        RunLog
    }
}

impl Write for RunLog {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match RUN_LOG.lock().expect("run log lock").as_mut() {
            Some(file) => file.write(buf),
            None => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match RUN_LOG.lock().expect("run log lock").as_mut() {
            Some(file) => file.flush(),
            None => Ok(()),
        }
    }
}
