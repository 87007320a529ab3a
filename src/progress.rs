//! What a run shows while it runs: its phase, elapsed time, operations per second and
//! faults active. On a terminal, one line redrawn in place (indicatif); otherwise plain
//! log lines every few seconds, so CI logs stay readable.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use workloads::recorder::Recorder;

/// A run's progress display; cheap to clone. [`Progress::quiet`] shows nothing.
#[derive(Clone)]
pub struct Progress {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    label: String,
    started: Instant,
    bar: Option<ProgressBar>,
    state: Mutex<State>,
}

struct State {
    phase: String,
    recorder: Option<Recorder>,
    last: (Instant, u64),
    ticker: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    /// Shows nothing.
    pub fn quiet() -> Progress {
        Progress { inner: None }
    }

    /// A redrawn line when stderr is a terminal, log lines otherwise; `label` names the
    /// run (e.g. `twilio-2013/naive`).
    pub fn auto(label: &str) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg}").expect("a valid template"),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        let state =
            State { phase: String::new(), recorder: None, last: (Instant::now(), 0), ticker: None };
        let inner = Inner {
            label: label.to_string(),
            started: Instant::now(),
            bar,
            state: Mutex::new(state),
        };
        Progress { inner: Some(Arc::new(inner)) }
    }

    /// Enters a phase.
    pub fn phase(&self, phase: &str) {
        let Some(inner) = &self.inner else { return };
        inner.state.lock().expect("progress lock").phase = phase.to_string();
        match &inner.bar {
            Some(_) => inner.redraw(),
            None => eprintln!(
                "[{}] {:>5.1}s {phase}",
                inner.label,
                inner.started.elapsed().as_secs_f64()
            ),
        }
    }

    /// Says something once, above the progress line.
    pub fn note(&self, text: &str) {
        let Some(inner) = &self.inner else { return };
        match &inner.bar {
            Some(bar) => bar.println(format!("[{}] {text}", inner.label)),
            None => eprintln!("[{}] {text}", inner.label),
        }
    }

    /// Starts showing operations per second and faults active, from `recorder`, on a
    /// task of the current tokio runtime: it needs one (unless the display is quiet).
    pub fn watch(&self, recorder: Recorder) {
        let Some(inner) = &self.inner else { return };
        let every =
            if inner.bar.is_some() { Duration::from_millis(250) } else { Duration::from_secs(5) };
        let ticking = inner.clone();
        let ticker = tokio::spawn(async move {
            let mut interval = tokio::time::interval(every);
            interval.tick().await;
            loop {
                interval.tick().await;
                match &ticking.bar {
                    Some(_) => ticking.redraw(),
                    None => eprintln!("[{}] {}", ticking.label, ticking.status()),
                }
            }
        });
        let mut state = inner.state.lock().expect("progress lock");
        state.recorder = Some(recorder);
        if let Some(old) = state.ticker.replace(ticker) {
            old.abort();
        }
    }

    /// Stops the display.
    pub fn done(&self) {
        let Some(inner) = &self.inner else { return };
        if let Some(ticker) = inner.state.lock().expect("progress lock").ticker.take() {
            ticker.abort();
        }
        if let Some(bar) = &inner.bar {
            bar.finish_and_clear();
        }
    }
}

impl Inner {
    fn status(&self) -> String {
        let mut state = self.state.lock().expect("progress lock");
        let elapsed = self.started.elapsed().as_secs_f64();
        let mut line = format!("{:>5.1}s {}", elapsed, state.phase);
        if let Some(recorder) = state.recorder.clone() {
            let (at, count) = state.last;
            let now = (Instant::now(), recorder.completed());
            let rate = (now.1 - count) as f64 / now.0.duration_since(at).as_secs_f64().max(1e-3);
            state.last = now;
            line.push_str(&format!(
                " | {rate:>6.0} ops/s | faults active: {}",
                recorder.faults_active()
            ));
        }
        line
    }

    fn redraw(&self) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!("[{}] {}", self.label, self.status()));
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(ticker) = self.state.get_mut().map(|s| s.ticker.take()).ok().flatten() {
            ticker.abort();
        }
    }
}
