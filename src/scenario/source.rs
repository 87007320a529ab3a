//! Where a scenario came from, so an error found after parsing (a target outside the
//! topology, a fault that cannot fit the time limit) points at the key or value that
//! causes it: the positions come from `toml`'s own spans ([`toml::de::DeTable`]).

use super::ScenarioError;
use std::ops::Range;
use toml::de::{DeTable, DeValue};

/// A scenario file's name and text.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Source {
    /// The file (or `<bundled>/name.toml`).
    pub file: String,
    text: String,
}

impl Source {
    /// The source `text` of `file`.
    pub fn new(file: &str, text: &str) -> Source {
        Source { file: file.to_string(), text: text.to_string() }
    }

    /// An error at the value found by following `path` (table keys, and array indices
    /// written as numbers) from the top of the file; where the path stops early (a key
    /// left to its default), at the last value found.
    pub fn error(&self, path: &[&str], message: String) -> ScenarioError {
        self.error_at(self.span(path), message)
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
}
