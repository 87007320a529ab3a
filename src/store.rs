//! The results store: one directory per run, kept after the run for `faultline check`,
//! `faultline serve` and the people reading the report.
//!
//! ```text
//! store/
//!   latest -> twilio-2013/20261127T141800.123Z-naive
//!   twilio-2013/
//!     latest -> 20261127T141800.123Z-naive
//!     20261127T141800.123Z-naive/
//!       scenario.toml   the scenario as resolved (seed and overrides applied)
//!       run.json        seed, system under test, command line, run id, timings
//!       history.jsonl   written as operations happen, flushed: survives a crash
//!       faultline.log   the harness's and the system under test's log lines
//!       results.json    every checker's verdict
//!       junit.xml       one test case per checker
//!       report.html     self-contained: verdict, anomalies, timeline, plots
//!       logs/<node>.log every node's log
//! ```

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The history file's name in a run directory.
pub const HISTORY: &str = "history.jsonl";
/// The checkers' results.
pub const RESULTS: &str = "results.json";

/// A store rooted at a directory (`store/` by default).
#[derive(Clone, Debug)]
pub struct Store {
    root: PathBuf,
}

impl Default for Store {
    fn default() -> Store {
        Store::new("store")
    }
}

impl Store {
    /// A store rooted at `root`; nothing is created until a run is.
    pub fn new(root: impl Into<PathBuf>) -> Store {
        Store { root: root.into() }
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Creates the directory of a new run of `scenario` against `sut`, and points
    /// `latest` links at it.
    pub fn create_run(&self, scenario: &str, sut: &str) -> io::Result<RunDir> {
        let scenario_dir = self.root.join(sanitize(scenario));
        fs::create_dir_all(&scenario_dir)?;
        let stamp = timestamp(SystemTime::now());
        let mut name = format!("{stamp}-{}", sanitize(sut));
        let mut n = 1;
        while scenario_dir.join(&name).exists() {
            n += 1;
            name = format!("{stamp}-{}-{n}", sanitize(sut));
        }
        let path = scenario_dir.join(&name);
        fs::create_dir_all(path.join("logs"))?;
        relink(&scenario_dir.join("latest"), Path::new(&name))?;
        relink(&self.root.join("latest"), &Path::new(&sanitize(scenario)).join(&name))?;
        Ok(RunDir { path })
    }

    /// Every run directory, newest first.
    pub fn runs(&self) -> io::Result<Vec<PathBuf>> {
        let mut runs = Vec::new();
        for scenario in read_dirs(&self.root)? {
            runs.extend(read_dirs(&scenario)?);
        }
        runs.sort_by(|a, b| b.file_name().cmp(&a.file_name()));
        Ok(runs)
    }
}

fn read_dirs(dir: &Path) -> io::Result<Vec<PathBuf>> {
    match fs::read_dir(dir) {
        Ok(entries) => Ok(entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path())
            .collect()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// One run's directory.
#[derive(Clone, Debug)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// The directory of an existing run.
    pub fn open(path: impl Into<PathBuf>) -> RunDir {
        RunDir { path: path.into() }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path of a file in the run directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Where `node`'s log goes.
    pub fn node_log(&self, node: &str) -> PathBuf {
        self.path.join("logs").join(format!("{}.log", sanitize(node)))
    }

    /// Writes `contents` to `name` in the run directory.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> io::Result<()> {
        fs::write(self.file(name), contents)
    }

    /// Writes `value` as pretty JSON to `name`.
    pub fn write_json(&self, name: &str, value: &impl serde::Serialize) -> io::Result<()> {
        let text = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
        self.write(name, text)
    }
}

/// Points the symlink `link` at `target`, replacing what was there, atomically.
fn relink(link: &Path, target: &Path) -> io::Result<()> {
    let temporary = link.with_extension(format!("tmp{}", std::process::id()));
    let _ = fs::remove_file(&temporary);
    std::os::unix::fs::symlink(target, &temporary)?;
    fs::rename(&temporary, link)
}

/// `20261127T141800.123Z`: sortable, and safe in a path.
fn timestamp(now: SystemTime) -> String {
    humantime::format_rfc3339_millis(now).to_string().replace(['-', ':'], "")
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_get_their_own_directories_and_latest_follows_them() {
        let root = std::env::temp_dir().join(format!("faultline-store-{}", std::process::id()));
        let store = Store::new(&root);
        let first = store.create_run("twilio-2013", "naive").unwrap();
        let second = store.create_run("twilio-2013", "naive").unwrap();
        assert_ne!(first.path(), second.path());
        assert!(second.path().join("logs").is_dir());
        let latest = fs::canonicalize(root.join("latest")).unwrap();
        assert_eq!(latest, fs::canonicalize(second.path()).unwrap());
        let scenario_latest = fs::canonicalize(root.join("twilio-2013/latest")).unwrap();
        assert_eq!(scenario_latest, latest);
        assert_eq!(store.runs().unwrap().len(), 2);
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn timestamps_sort_as_times_do() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_795_788_000_123);
        assert_eq!(timestamp(t), "20261127T140000.123Z");
    }
}
