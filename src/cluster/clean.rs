//! `faultline clean`: removes what runs left behind, and leaves alone what is still
//! wanted: a run whose owner process still runs, and a run kept on purpose (`--keep`),
//! unless asked by its id or with `--all`.

use super::owner::{KEEP_LABEL, OWNER_LABEL, Owner};
use crate::docker::{self, DockerError, Removed};
use std::collections::HashMap;

/// Which runs to remove.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Runs whose owner process is gone, except kept ones.
    Dead,
    /// This run, whatever its state.
    Run(String),
    /// Every run, live and kept ones too.
    All,
}

/// Why a run was left alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Left {
    /// Its owner process (this pid) still runs.
    Live(u32),
    /// It was kept on purpose (`faultline run --keep`).
    Kept,
    /// It is not the run asked for.
    NotAsked,
}

/// What a clean did, run by run.
#[derive(Debug, Default)]
pub struct Cleaned {
    /// The runs removed, with what was removed of each.
    pub removed: Vec<(String, Removed)>,
    /// The runs left alone, and why.
    pub left: Vec<(String, Left)>,
}

/// Whether `scope` removes run `run` with these labels: `Ok` to remove, or why not.
/// A run without an owner label (from an older faultline) counts as dead.
pub fn decide(scope: &Scope, run: &str, labels: &HashMap<String, String>) -> Result<(), Left> {
    match scope {
        Scope::All => Ok(()),
        Scope::Run(asked) if asked == run => Ok(()),
        Scope::Run(_) => Err(Left::NotAsked),
        Scope::Dead => {
            let owner = labels.get(OWNER_LABEL).and_then(|o| Owner::parse(o));
            match owner {
                Some(owner) if owner.is_alive() => Err(Left::Live(owner.pid())),
                _ if labels.get(KEEP_LABEL).is_some_and(|k| k == "true") => Err(Left::Kept),
                _ => Ok(()),
            }
        }
    }
}

/// Removes the runs `scope` names.
pub async fn clean(scope: &Scope) -> Result<Cleaned, DockerError> {
    let docker = docker::connect().await?;
    let mut cleaned = Cleaned::default();
    for (run, labels) in docker::runs(&docker).await? {
        match decide(scope, &run, &labels) {
            Ok(()) => {
                let removed = docker::remove_run(&docker, Some(&run)).await?;
                cleaned.removed.push((run, removed));
            }
            Err(Left::NotAsked) => {}
            Err(why) => cleaned.left.push((run, why)),
        }
    }
    Ok(cleaned)
}

/// The labels every container and network of run `run` carries: its id, its owner
/// (this process), and whether it is kept.
pub(crate) fn labels(run: &str, keep: bool) -> HashMap<String, String> {
    let mut labels = HashMap::from([
        (docker::RUN_LABEL.to_string(), run.to_string()),
        (OWNER_LABEL.to_string(), Owner::current().to_string()),
    ]);
    if keep {
        labels.insert(KEEP_LABEL.to_string(), "true".to_string());
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dead_owner() -> String {
        format!("another-boot/{}/1", std::process::id())
    }

    #[test]
    fn a_live_run_is_left_alone_unless_asked_by_id_or_all() {
        let live = labels("a", false);
        let me = std::process::id();
        assert_eq!(decide(&Scope::Dead, "a", &live), Err(Left::Live(me)));
        assert_eq!(decide(&Scope::Run("a".into()), "a", &live), Ok(()));
        assert_eq!(decide(&Scope::Run("b".into()), "a", &live), Err(Left::NotAsked));
        assert_eq!(decide(&Scope::All, "a", &live), Ok(()));
    }

    #[test]
    fn a_dead_run_goes_and_a_kept_one_stays_unless_asked() {
        let mut dead = labels("a", false);
        dead.insert(OWNER_LABEL.into(), dead_owner());
        assert_eq!(decide(&Scope::Dead, "a", &dead), Ok(()));
        let mut kept = labels("a", true);
        kept.insert(OWNER_LABEL.into(), dead_owner());
        assert_eq!(decide(&Scope::Dead, "a", &kept), Err(Left::Kept));
        assert_eq!(decide(&Scope::Run("a".into()), "a", &kept), Ok(()));
        assert_eq!(decide(&Scope::All, "a", &kept), Ok(()));
        let legacy = HashMap::from([(docker::RUN_LABEL.to_string(), "a".to_string())]);
        assert_eq!(decide(&Scope::Dead, "a", &legacy), Ok(()), "no owner label: an older run");
    }
}
