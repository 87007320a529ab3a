//! Where a scenario came from, so an error found after parsing (a target outside the
//! topology, a fault that cannot fit the time limit) points at the key or value that
//! causes it: for a file, its line and column, from `toml`'s own spans
//! ([`toml::de::DeTable`]); for a scenario built or changed in code
//! ([`ScenarioBuilder`](super::ScenarioBuilder)), the key's path (`faults[1].at`),
//! since no text holds it.

use super::ScenarioError;
use std::ops::Range;
use toml::de::{DeTable, DeValue};

/// A scenario file's name and text, or the scenario's origin when code built it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Source {
    /// The file (or `<bundled>/name.toml`); for a scenario built in code, what it was
    /// built from.
    pub file: String,
    text: String,
    in_code: bool,
}

impl Source {
    /// The source `text` of `file`.
    pub fn new(file: &str, text: &str) -> Source {
        Source { file: file.to_string(), text: text.to_string(), in_code: false }
    }

    /// A scenario built in code, from `origin` (e.g. `scenario "x" built in code`):
    /// errors name the key at fault rather than a line.
    pub(super) fn code(origin: String) -> Source {
        Source { file: origin, text: String::new(), in_code: true }
    }

    /// The same scenario, changed in code: its text no longer says what it holds.
    pub(super) fn changed_in_code(&self) -> Source {
        match self.in_code {
            true => self.clone(),
            false => Source::code(format!("{} as changed in code", self.file)),
        }
    }

    /// An error at the value found by following `path` (table keys, and array indices
    /// written as numbers) from the top of the file; where the path stops early (a key
    /// left to its default), at the last value found. In code, at the key `path` names.
    pub fn error(&self, path: &[&str], message: String) -> ScenarioError {
        match self.in_code {
            true => ScenarioError::Built { origin: self.file.clone(), key: key(path), message },
            false => self.error_at(self.span(path), message),
        }
    }

    /// An error at byte `span` of the text.
    pub fn error_at(&self, span: Option<Range<usize>>, message: String) -> ScenarioError {
        let (line, column) = line_column(&self.text, span.map_or(0, |s| s.start));
        ScenarioError::Invalid { file: self.file.clone(), line, column, message }
    }

    fn span(&self, path: &[&str]) -> Option<Range<usize>> {
        let root = DeTable::parse(&self.text).ok()?;
        let (mut span, mut table, mut value) = (None, Some(root.get_ref()), None::<&DeValue>);
        for key in path {
            let found = match (table, value) {
                (Some(t), _) => t.get(*key),
                (None, Some(DeValue::Array(a))) => key.parse::<usize>().ok().and_then(|i| a.get(i)),
                _ => None,
            };
            let Some(found) = found else { break };
            span = Some(found.span());
            value = Some(found.get_ref());
            table = found.get_ref().as_table();
        }
        span
    }
}

/// A key's path as a reader writes it: `faults[1].at`, `cluster.redis_replicas`.
fn key(path: &[&str]) -> String {
    let mut key = String::new();
    for part in path {
        match part.parse::<usize>() {
            Ok(index) => key.push_str(&format!("[{index}]")),
            Err(_) if key.is_empty() => key.push_str(part),
            Err(_) => key.push_str(&format!(".{part}")),
        }
    }
    key
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(before.len(), |nl| before.len() - nl - 1) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "name = \"t\"\n[cluster]\nredis_replicas = 0\n\
                        [[faults]]\nat = \"1s\"\n[[faults]]\nfault = \"kill\"\nat = \"9s\"\n";

    fn at(path: &[&str]) -> String {
        Source::new("f.toml", TEXT).error(path, "m".into()).to_string()
    }

    #[test]
    fn a_path_points_at_its_value_and_a_missing_key_at_its_table() {
        assert_eq!(at(&["cluster", "redis_replicas"]), "f.toml:3:18: m");
        assert_eq!(at(&["faults", "1", "at"]), "f.toml:8:6: m");
        assert_eq!(at(&["faults", "0", "target"]), at(&["faults", "0"]));
        assert_eq!(at(&["nothing"]), "f.toml:1:1: m");
    }

    #[test]
    fn in_code_a_path_is_named_as_a_key() {
        let changed = Source::new("f.toml", TEXT).changed_in_code();
        let err = changed.error(&["random", "faults", "0", "fault"], "m".into()).to_string();
        assert_eq!(err, "f.toml as changed in code: random.faults[0].fault: m");
        let twice = changed.changed_in_code().error(&["cluster"], "m".into()).to_string();
        assert_eq!(twice, "f.toml as changed in code: cluster: m");
    }
}
