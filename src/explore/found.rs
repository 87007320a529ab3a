//! What exploration leaves behind, in the store's `found/` directory: one scenario file
//! per minimal failing case, and `regressions.toml`, the list the next exploration of
//! the same system replays first.

use super::Case;
use crate::scenario::Scenario;
use crate::store::Store;
use serde::{Deserialize, Serialize};
use std::io;
use std::path::{Path, PathBuf};

/// The regressions file's entries.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Regressions {
    /// Every minimal failing case recorded, oldest first.
    #[serde(default, rename = "regression")]
    pub regressions: Vec<Regression>,
}

/// One recorded minimal failing case.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Regression {
    /// The system it fails.
    pub sut: String,
    /// The exploration's seed.
    pub seed: u64,
    /// The scenario file that replays it.
    pub scenario: PathBuf,
    /// What it is, in words.
    pub case: String,
}

fn directory(store: &Store) -> PathBuf {
    store.root().join("found")
}

impl Regressions {
    /// The regressions recorded in `store` (none if there is no file yet).
    pub fn load(store: &Store) -> io::Result<Regressions> {
        match std::fs::read_to_string(directory(store).join("regressions.toml")) {
            Ok(text) => toml::from_str(&text).map_err(io::Error::other),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Regressions::default()),
            Err(e) => Err(e),
        }
    }

    /// Those of system `sut`.
    pub fn for_sut<'a>(&'a self, sut: &'a str) -> impl Iterator<Item = &'a Regression> {
        self.regressions.iter().filter(move |r| r.sut == sut)
    }

    /// Appends a minimal failing case.
    pub fn record(
        store: &Store,
        sut: &str,
        seed: u64,
        scenario: &Path,
        case: &Case,
    ) -> io::Result<()> {
        let mut all = Regressions::load(store)?;
        let entry = Regression {
            sut: sut.into(),
            seed,
            scenario: scenario.to_path_buf(),
            case: case.to_string(),
        };
        all.regressions.push(entry);
        let text = toml::to_string_pretty(&all).map_err(io::Error::other)?;
        std::fs::write(directory(store).join("regressions.toml"), text)
    }
}

impl Regression {
    /// The case its scenario file replays.
    pub fn case(&self) -> io::Result<Case> {
        let scenario =
            Scenario::load(&self.scenario.to_string_lossy()).map_err(io::Error::other)?;
        scenario.as_case().ok_or_else(|| {
            io::Error::other(format!("{} is not a billing scenario", self.scenario.display()))
        })
    }
}

/// Writes `scenario` as `found/<sut>-seed<seed>-<n>.toml` and returns its path.
pub fn write(store: &Store, sut: &str, seed: u64, scenario: &Scenario) -> io::Result<PathBuf> {
    let dir = directory(store);
    std::fs::create_dir_all(&dir)?;
    let mut n = 1;
    let mut path = dir.join(format!("{sut}-seed{seed}.toml"));
    while path.exists() {
        n += 1;
        path = dir.join(format!("{sut}-seed{seed}-{n}.toml"));
    }
    let header = format!(
        "# {}\n# replay: faultline run --scenario {} --sut {sut}\n",
        scenario.description,
        path.display()
    );
    std::fs::write(&path, header + &scenario.to_toml())?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nemesis::{Fault, ScheduledFault, Target};
    use std::time::Duration;

    #[test]
    fn a_found_case_is_written_recorded_and_read_back() {
        let store = Store::new(
            std::env::temp_dir().join(format!("faultline-found-{}", std::process::id())),
        );
        let case = Case {
            faults: vec![ScheduledFault {
                at: Duration::from_secs(3),
                duration: Some(Duration::from_secs(2)),
                fault: Fault::Kill { target: Target::master() },
            }],
            workers: 4,
            accounts: 30,
        };
        let path = write(&store, "naive", 9, &case.scenario("explored-naive", 9).unwrap()).unwrap();
        Regressions::record(&store, "naive", 9, &path, &case).unwrap();
        let regressions = Regressions::load(&store).unwrap();
        assert_eq!(regressions.for_sut("failsafe").count(), 0);
        let recorded: Vec<_> = regressions.for_sut("naive").collect();
        assert_eq!(recorded.len(), 1);
        assert_eq!(recorded[0].case().unwrap(), case);
        std::fs::remove_dir_all(store.root()).unwrap();
    }
}
