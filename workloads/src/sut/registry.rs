//! Systems under test by name, for the command line and scenario files.

use super::failsafe::FailSafe;
use super::naive::Naive;
use super::{Sut, SutContext};
use std::fmt;
use std::sync::Arc;

/// Builds a system under test from its context.
pub type Constructor = Arc<dyn Fn(SutContext) -> Sut + Send + Sync>;

/// The systems the harness can test, by name, in registration order.
#[derive(Clone)]
pub struct Registry {
    entries: Vec<Entry>,
}

#[derive(Clone)]
struct Entry {
    name: String,
    about: String,
    build: Constructor,
}

impl Registry {
    /// The two systems built in: `naive` and `failsafe`.
    pub fn builtin() -> Registry {
        Registry { entries: Vec::new() }
            .register("naive", Naive::ABOUT, |cx| Sut::new(Naive::new(cx)))
            .register("failsafe", FailSafe::ABOUT, |cx| Sut::new(FailSafe::new(cx)))
    }

    /// Adds (or replaces) a system named `name`, described by `about`.
    pub fn register(
        mut self,
        name: &str,
        about: &str,
        build: impl Fn(SutContext) -> Sut + Send + Sync + 'static,
    ) -> Registry {
        self.entries.retain(|e| e.name != name);
        let entry = Entry { name: name.into(), about: about.into(), build: Arc::new(build) };
        self.entries.push(entry);
        self
    }

    /// Every system's name.
    pub fn names(&self) -> Vec<&str> {
        self.entries.iter().map(|e| e.name.as_str()).collect()
    }

    /// Every system's name and description, for listing.
    pub fn list(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|e| (e.name.as_str(), e.about.as_str()))
    }

    /// The constructor of the system named `name`.
    pub fn get(&self, name: &str) -> Result<Constructor, UnknownSystem> {
        match self.entries.iter().find(|e| e.name == name) {
            Some(entry) => Ok(entry.build.clone()),
            None => Err(UnknownSystem { name: name.into(), known: self.names().join(", ") }),
        }
    }
}

/// No system of that name is registered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no system under test is named {name:?}; known: {known}")]
pub struct UnknownSystem {
    /// The name asked for.
    pub name: String,
    /// The names registered.
    pub known: String,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_systems_are_listed_and_unknown_names_are_explained() {
        let registry = Registry::builtin();
        assert_eq!(registry.names(), ["naive", "failsafe"]);
        assert!(registry.list().all(|(_, about)| !about.is_empty()));
        let err = registry.get("nave").err().expect("no such system");
        assert_eq!(
            err.to_string(),
            "no system under test is named \"nave\"; known: naive, failsafe"
        );
    }
}
