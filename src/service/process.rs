//! The process backend: a command faultline spawns in a process group of its own, with
//! stdout and stderr appended to the run's `service.stdout.log` and `service.stderr.log`.

use super::{Health, ServiceError, ServiceSpec, record};
use std::fs::{File, OpenOptions};
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use tokio::process::{Child, Command};

/// A service process: running, killed, or paused.
pub(super) struct Process {
    pub(super) addr: SocketAddr,
    pub(super) stdout: PathBuf,
    pub(super) stderr: PathBuf,
    child: Option<Child>,
    record: Option<record::Record>,
}

impl Process {
    /// Where it will listen and log; nothing runs yet.
    pub(super) fn new(
        spec: &ServiceSpec,
        stdout: PathBuf,
        stderr: PathBuf,
    ) -> Result<Process, ServiceError> {
        let addr = match spec.listen {
            Some(addr) => {
                TcpListener::bind(addr).map_err(|e| match e.kind() {
                    io::ErrorKind::AddrInUse => ServiceError::AddressInUse { addr },
                    _ => ServiceError::Io(e),
                })?;
                addr
            }
            None => TcpListener::bind("127.0.0.1:0")?.local_addr()?,
        };
        Ok(Process { addr, stdout, stderr, child: None, record: None })
    }

    /// The process group's id, while it runs.
    pub(super) fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// Spawns `spec`'s command with `env`.
    pub(super) fn spawn(
        &mut self,
        spec: &ServiceSpec,
        env: Vec<(String, String)>,
        run_id: &str,
    ) -> Result<(), ServiceError> {
        let stdout = append(&self.stdout)?;
        let stderr = append(&self.stderr)?;
        let (program, args) = spec.command.split_first().expect("a command is never empty");
        let mut command = Command::new(program);
        command
            .args(args)
            .envs(env)
            .envs(&spec.env)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .process_group(0)
            .kill_on_drop(true);
        if let Some(dir) = &spec.dir {
            command.current_dir(dir);
        }
        // SAFETY: prctl is async-signal-safe; it only sets this child's parent-death
        // signal, so the child dies with the thread that spawned it (a runtime worker,
        // which lives as long as faultline does).
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().map_err(|error| ServiceError::Spawn {
            command: spec.command_line(),
            hint: match error.kind() {
                io::ErrorKind::NotFound => {
                    ": no such program (is it installed, on PATH, or relative to the working directory?)"
                }
                io::ErrorKind::PermissionDenied => ": not executable (chmod +x, or name its interpreter)",
                _ => "",
            },
            error,
        })?;
        if let Some(pid) = child.id() {
            self.record = record::Record::create(run_id, pid);
        }
        self.child = Some(child);
        Ok(())
    }

    /// Kills the process group with `SIGKILL` and reaps it.
    pub(super) async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child.id() {
                signal_group(pid, libc::SIGCONT);
                signal_group(pid, libc::SIGKILL);
            }
            let _ = child.wait().await;
        }
        if let Some(record) = self.record.take() {
            record.remove();
        }
    }

    pub(super) fn pause(&self) {
        if let Some(pid) = self.pid() {
            signal_group(pid, libc::SIGSTOP);
        }
    }

    pub(super) fn resume(&self) {
        if let Some(pid) = self.pid() {
            signal_group(pid, libc::SIGCONT);
        }
    }

    pub(super) fn exited(&mut self) -> Option<ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    pub(super) fn health(&mut self) -> Health {
        match self.exited() {
            Some(status) => Health::Exited(status.to_string()),
            None => Health::Running,
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(pid) = self.pid() {
            signal_group(pid, libc::SIGCONT);
            signal_group(pid, libc::SIGKILL);
        }
        if let Some(record) = self.record.take() {
            record.remove();
        }
    }
}

fn append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// Sends `signal` to process group `pgid`; a group that is gone is fine.
pub(super) fn signal_group(pgid: u32, signal: libc::c_int) {
    // SAFETY: kill(2) with a negative pid signals a process group; no memory is shared.
    unsafe {
        libc::kill(-(pgid as libc::pid_t), signal);
    }
}
