//! Which service processes faultline started and who owns them, on disk, so that
//! `faultline clean` can kill a service whose faultline died without killing it.
//!
//! One JSON file per started process group, under the system's temporary directory
//! (`faultline-services/`), naming the run, the group and both processes as
//! `boot-id/pid/start-time` ([`Owner`]): a pid reused by another process does not pass
//! for either.

use crate::cluster::owner::Owner;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// One started service process group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The run that started it.
    pub run: String,
    /// The process group leader, as its owner label writes it.
    pub service: String,
    /// The faultline process that started it.
    pub owner: String,
    #[serde(skip)]
    path: PathBuf,
}

fn directory() -> PathBuf {
    std::env::temp_dir().join("faultline-services")
}

impl Record {
    /// Records group `pid` of run `run`, owned by this process; `None` (with a warning)
    /// if it cannot be written: the parent-death signal still covers the common case.
    pub fn create(run: &str, pid: u32) -> Option<Record> {
        let service = Owner::of(pid)?.to_string();
        let owner = Owner::current().to_string();
        let path = directory().join(format!("{run}-{pid}.json"));
        let record = Record { run: run.to_string(), service, owner, path };
        let written = std::fs::create_dir_all(directory()).and_then(|()| {
            std::fs::write(&record.path, serde_json::to_vec(&record).expect("plain JSON"))
        });
        match written {
            Ok(()) => Some(record),
            Err(e) => {
                tracing::warn!("could not record service {pid} for `faultline clean`: {e}");
                None
            }
        }
    }

    /// Every record on this machine.
    pub fn all() -> Vec<Record> {
        let Ok(entries) = std::fs::read_dir(directory()) else { return Vec::new() };
        entries
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let text = std::fs::read(entry.path()).ok()?;
                let record: Record = serde_json::from_slice(&text).ok()?;
                Some(Record { path: entry.path(), ..record })
            })
            .collect()
    }

    /// The process group's id.
    pub fn pgid(&self) -> u32 {
        Owner::parse(&self.service).map_or(0, |o| o.pid())
    }

    /// Whether the faultline that started it still runs.
    pub fn owner_alive(&self) -> bool {
        Owner::parse(&self.owner).is_some_and(|o| o.is_alive())
    }

    /// Whether any process of the group still runs: the leader (the same process, not
    /// a reused pid), or a process it forked, in the group and started no earlier than
    /// the leader (a service that daemonized, a shell's child).
    pub fn service_alive(&self) -> bool {
        let Some(leader) = Owner::parse(&self.service) else { return false };
        if leader.pid() <= 1 {
            return false;
        }
        leader.is_alive() || group_members_since(leader.pid(), leader.start()).next().is_some()
    }

    /// Forgets it.
    pub fn remove(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The processes in group `pgid` that started at or after `start` (clock ticks since
/// boot), read from `/proc`.
fn group_members_since(pgid: u32, start: u64) -> impl Iterator<Item = u32> {
    let entries = std::fs::read_dir("/proc").into_iter().flatten().filter_map(Result::ok);
    entries.filter_map(move |entry| {
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
        // After the name: state, ppid, pgrp (3rd), …, starttime (20th).
        let group: u32 = fields.get(2)?.parse().ok()?;
        let started: u64 = fields.get(19)?.parse().ok()?;
        (group == pgid && started >= start).then_some(pid)
    })
}
