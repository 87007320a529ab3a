//! Where log lines go: each run writes its own `faultline.log`, beside its history:
//! every line at `info` and above emitted during the run, by the harness, the workload
//! and the system under test (what it logged, "write failed, ignored", is evidence
//! too), and nothing of another run in the same process. The command line's console
//! shows errors only (the progress display tells the rest); `RUST_LOG` changes that.
//!
//! **How.** A run executes inside a `tracing` span of its own naming its log
//! ([`in_run`]), and the [`run_logs`] layer writes each event to the log of the run
//! span around it. Tokio does not carry a span into a task spawned from it, so the
//! tasks of a run are spawned with [`workloads::task::spawn`], which does; a billing
//! system's own tasks, spawned that way too, log into the run's log.
//!
//! **Which subscriber.** The command line installs one ([`init_cli`]): the console and
//! [`run_logs`]. A program with a subscriber of its own adds [`run_logs`] to it. With
//! none at all (a `#[tokio::test]` calling `Run::execute`), each run scopes one with
//! [`run_logs`] around itself (and its tasks carry it): a library run writes its log by
//! itself, and never installs a global subscriber a program may want to install later.

use std::fmt::{self, Write as _};
use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io::Write as _;
use std::path::Path;
use std::sync::Mutex;
use tracing::field::{Field, Visit};
use tracing::instrument::{Instrument, WithDispatch, WithSubscriber};
use tracing::span::{Attributes, Id};
use tracing::subscriber::NoSubscriber;
use tracing::{Dispatch, Event, Subscriber, dispatcher};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{EnvFilter, LevelFilter};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

/// The run span's field naming its log file.
const RUN_LOG: &str = "run_log";

/// Installs the command line's subscriber: errors (or `RUST_LOG`) on the console, and
/// each run's lines in its own log.
pub fn init_cli() {
    let console = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("error"));
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_filter(console))
        .with(run_logs())
        .init();
}

/// The layer that writes every event at `info` and above inside a run to that run's
/// `faultline.log`; add it to a subscriber of your own
/// (`tracing_subscriber::registry().with(fmt::layer()).with(run_logs())`).
pub fn run_logs<S>() -> impl Layer<S> + Send + Sync + 'static
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    RunLogs.with_filter(LevelFilter::INFO)
}

/// `run`, inside a span that sends what it logs to `log` (which exists), under the
/// current subscriber, or, when there is none, a subscriber of its own with
/// [`run_logs`].
pub fn in_run<F: Future>(log: &Path, run: F) -> WithDispatch<tracing::instrument::Instrumented<F>> {
    let dispatch = dispatcher::get_default(|current| match current.is::<NoSubscriber>() {
        true => Dispatch::new(tracing_subscriber::registry().with(run_logs())),
        false => current.clone(),
    });
    let span = dispatcher::with_default(
        &dispatch,
        || tracing::info_span!("run", run_log = %log.display()),
    );
    run.instrument(span).with_subscriber(dispatch)
}

/// Routes each event to the log of the run span around it.
struct RunLogs;

/// A run's open log, kept with its span.
struct RunLog(Mutex<File>);

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for RunLogs {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(field) = attrs.metadata().fields().field(RUN_LOG) else { return };
        let mut path = PathOf(field, None);
        attrs.record(&mut path);
        let (Some(path), Some(span)) = (path.1, ctx.span(id)) else { return };
        match OpenOptions::new().append(true).open(&path) {
            Ok(file) => span.extensions_mut().insert(RunLog(Mutex::new(file))),
            Err(e) => eprintln!("faultline: cannot write the run's log {path}: {e}"),
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(scope) = ctx.event_scope(event) else { return };
        for span in scope {
            if let Some(log) = span.extensions().get::<RunLog>() {
                let line = line(event);
                let mut file = log.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                // A line that cannot be written cannot be logged either.
                let _ = file.write_all(line.as_bytes());
                return;
            }
        }
    }
}

/// The value of the run span's `run_log` field.
struct PathOf(Field, Option<String>);

impl Visit for PathOf {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if *field == self.0 {
            self.1 = Some(format!("{value:?}"));
        }
    }
}

/// `2025-01-01T10:00:00.000000Z  WARN workloads::sut::naive: recharge failed account=7`.
fn line(event: &Event<'_>) -> String {
    let mut line = String::new();
    let _ = SystemTime.format_time(&mut Writer::new(&mut line));
    let meta = event.metadata();
    let mut fields = Fields::default();
    event.record(&mut fields);
    let _ =
        writeln!(line, " {:>5} {}: {}{}", meta.level(), meta.target(), fields.message, fields.rest);
    line
}

/// An event's message, and its other fields as `key=value`.
#[derive(Default)]
struct Fields {
    message: String,
    rest: String,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let _ = match field.name() {
            "message" => write!(self.message, "{value:?}"),
            name => write!(self.rest, " {name}={value:?}"),
        };
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message.push_str(value),
            _ => self.record_debug(field, &value),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use tokio::sync::Barrier;

    /// A fake run: logs, then waits until the other run is under way too, then logs
    /// from a task it spawns, and below `info`.
    async fn run(name: &'static str, both: Arc<Barrier>) {
        tracing::info!(run = name, "{name} starts");
        both.wait().await;
        let task = workloads::task::spawn(async move {
            tracing::warn!("{name}'s task: write failed, ignored");
        });
        task.await.unwrap();
        tracing::debug!("{name} in detail");
    }

    fn logs(dir: &Path) -> [String; 2] {
        ["first", "second"].map(|name| std::fs::read_to_string(dir.join(name)).unwrap())
    }

    async fn two_runs(dir: &Path) -> [String; 2] {
        let both = Arc::new(Barrier::new(2));
        let [first, second] = ["first", "second"].map(|name| {
            File::create(dir.join(name)).unwrap();
            in_run(&dir.join(name), run(name, both.clone()))
        });
        tokio::join!(first, second);
        logs(dir)
    }

    fn assert_apart([first, second]: &[String; 2]) {
        assert!(
            first.contains("INFO faultline::logging::tests: first starts run=\"first\""),
            "{first}"
        );
        assert!(
            first.contains("WARN faultline::logging::tests: first's task: write failed"),
            "{first}"
        );
        assert!(second.contains("second starts") && second.contains("second's task"), "{second}");
        assert!(!first.contains("second") && !second.contains("first"), "{first}\n{second}");
        assert!(!first.contains("in detail") && !second.contains("in detail"), "{first}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn without_a_subscriber_concurrent_runs_each_log_to_their_own_file_tasks_included() {
        let dir = tempfile::tempdir().unwrap();
        assert_apart(&two_runs(dir.path()).await);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_programs_own_subscriber_with_run_logs_keeps_them_apart_too() {
        let dir = tempfile::tempdir().unwrap();
        let console = tracing_subscriber::fmt::layer().with_writer(std::io::sink);
        let subscriber = tracing_subscriber::registry().with(console).with(run_logs());
        let _default = tracing::subscriber::set_default(subscriber);
        tracing::info!("outside any run");
        let logs = two_runs(dir.path()).await;
        assert_apart(&logs);
        assert!(!logs.iter().any(|log| log.contains("outside")), "{logs:?}");
    }
}
