//! The backstop: if a run's `Cluster` (or its start) is dropped without an explicit
//! teardown — a panic, a cancelled future — this removes whatever of the run is left.
//!
//! `Drop` cannot await, and the runtime it runs on may be a current-thread one that
//! must not block, so the sweep runs on a thread of its own with its own runtime, and
//! `drop` waits for it.

use crate::docker;

pub(crate) struct RunGuard {
    run: String,
    armed: bool,
}

impl RunGuard {
    pub(crate) fn new(run: &str) -> RunGuard {
        RunGuard { run: run.to_string(), armed: true }
    }

    pub(crate) fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let run = self.run.clone();
        let sweep = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async {
                let docker = docker::connect().await?;
                docker::remove_run(&docker, Some(&run)).await
            })?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        });
        match sweep.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!(
                "faultline: could not remove run {} on drop: {e}; run `faultline clean`",
                self.run
            ),
            Err(_) => eprintln!(
                "faultline: the cleanup of run {} panicked; run `faultline clean`",
                self.run
            ),
        }
    }
}
