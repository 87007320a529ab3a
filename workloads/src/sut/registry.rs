//! Systems under test by name, for the command line and scenario files.

use super::{Sut, SutContext};
use std::fmt;
use std::sync::Arc;

/// Builds a system under test from its context.
pub type Constructor = Arc<dyn Fn(SutContext) -> Sut + Send + Sync>;

/// The systems the harness can test, by name, in registration order. faultline's own
/// designs are registered by `designs::builtin()`, in the `faultline-designs` crate.
#[derive(Clone, Default)]
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
    /// A registry with no system.
    pub fn new() -> Registry {
        Registry::default()
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
    use crate::client::OpId;
    use crate::sut::{Answer, BillingSystem};
    use checkers::history::AccountId;

    /// A system that answers every operation with no balance.
    struct Mute;

    impl BillingSystem for Mute {
        async fn debit(&self, _: OpId, _: AccountId, _: i64) -> Answer {
            Ok(None)
        }

        async fn payment(&self, _: OpId, _: AccountId, _: i64) -> Answer {
            Ok(None)
        }

        async fn balance(&self, _: OpId, _: AccountId) -> Answer {
            Ok(None)
        }
    }

    #[test]
    fn systems_are_listed_in_registration_order_and_unknown_names_are_explained() {
        let registry = Registry::new()
            .register("first", "one", |_| Sut::new(Mute))
            .register("second", "two", |_| Sut::new(Mute))
            .register("first", "one, again", |_| Sut::new(Mute));
        let listed: Vec<_> = registry.list().collect();
        assert_eq!(listed, [("second", "two"), ("first", "one, again")]);
        let err = registry.get("frist").err().expect("no such system");
        assert_eq!(
            err.to_string(),
            "no system under test is named \"frist\"; known: second, first"
        );
        assert!(Registry::new().names().is_empty());
    }
}
