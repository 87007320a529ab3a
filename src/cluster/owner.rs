//! Who owns a run's containers, so `faultline clean` can tell a live run from one a
//! dead process left behind.
//!
//! Every container and network of a run is labelled with its owner: the process that
//! started it, as `boot-id/pid/start-time` (the kernel's boot id, and the process's
//! start time in clock ticks since boot, field 22 of `/proc/PID/stat`, so a pid reused
//! after a reboot or by another process does not pass for the owner). A run started to
//! be kept (`faultline run --keep`) is labelled so from its start: it outlives its owner
//! on purpose.

use std::fmt;

/// The label naming the process that owns a run.
pub const OWNER_LABEL: &str = "faultline.owner";
/// The label marking a run kept on purpose after its process exits.
pub const KEEP_LABEL: &str = "faultline.keep";

/// A process, as its label writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    boot: String,
    pid: u32,
    start: u64,
}

impl Owner {
    /// This process.
    pub fn current() -> Owner {
        let pid = std::process::id();
        Owner { boot: boot_id(), pid, start: start_time(pid).unwrap_or(0) }
    }

    /// The process `pid`, if it runs.
    pub fn of(pid: u32) -> Option<Owner> {
        Some(Owner { boot: boot_id(), pid, start: start_time(pid)? })
    }

    /// An owner read back from its label; `None` if the label is not one.
    pub fn parse(label: &str) -> Option<Owner> {
        let mut parts = label.rsplitn(3, '/');
        let start = parts.next()?.parse().ok()?;
        let pid = parts.next()?.parse().ok()?;
        Some(Owner { boot: parts.next()?.to_string(), pid, start })
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// When it started, in clock ticks since boot.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// Whether the process still runs: same boot, and a process of that pid that
    /// started at the same time.
    pub fn is_alive(&self) -> bool {
        self.boot == boot_id() && start_time(self.pid) == Some(self.start)
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.boot, self.pid, self.start)
    }
}

fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map_or_else(|_| "unknown-boot".to_string(), |id| id.trim().to_string())
}

/// Field 22 of `/proc/PID/stat`; the fields are counted after the command name, which
/// is in parentheses and may itself hold spaces.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_reads_back_from_its_label() {
        let me = Owner::current();
        assert!(me.is_alive());
        assert_eq!(Owner::parse(&me.to_string()), Some(me.clone()));
        assert_ne!(me.start, 0, "a start time from /proc");
    }

    #[test]
    fn a_reused_pid_another_boot_or_no_such_process_is_dead() {
        let me = Owner::current();
        assert!(!Owner { start: me.start + 1, ..me.clone() }.is_alive(), "pid reused");
        assert!(!Owner { boot: "another-boot".into(), ..me.clone() }.is_alive());
        assert!(!Owner { pid: u32::MAX - 1, ..me }.is_alive());
        assert_eq!(Owner::parse("not an owner"), None);
    }
}
