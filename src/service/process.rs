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
    /// The process group, from the spawn until it is killed: its leader may exit (and
    /// be reaped) while processes it forked live on in the group.
    pgid: Option<u32>,
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
        Ok(Process { addr, stdout, stderr, child: None, pgid: None, record: None })
    }

    /// The process group's id (its leader's pid), from the spawn until it is killed.
    pub(super) fn pid(&self) -> Option<u32> {
        self.pgid
    }

    /// Whether its leader is stopped by a signal (`T` in `/proc/PID/stat`).
    pub(super) fn stopped(&self) -> bool {
        let Some(pid) = self.pgid else { return false };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
        stat.rfind(')').is_some_and(|end| stat[end + 1..].trim_start().starts_with('T'))
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
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: prctl and getppid are async-signal-safe; the child only sets its
        // parent-death signal, so it dies with the thread that spawned it (a runtime
        // worker, which lives as long as faultline does), and gives up if faultline
        // died between the fork and the prctl.
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(io::Error::last_os_error());
                }
                if libc::getppid() != parent {
                    return Err(io::Error::other("faultline exited while starting the service"));
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
        self.pgid = child.id();
        if let Some(pid) = self.pgid {
            self.record = record::Record::create(run_id, pid);
        }
        self.child = Some(child);
        Ok(())
    }

    /// Kills the process group with `SIGKILL` (every process in it, the leader gone
    /// or not) and reaps the leader.
    pub(super) async fn kill(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            signal_group(pgid, libc::SIGCONT);
            signal_group(pgid, libc::SIGKILL);
        }
        if let Some(mut child) = self.child.take() {
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
        if let Some(pid) = self.pgid {
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
