//! Resolving a [`Target`] to node names, from the cluster's roles as they are and the
//! nemesis's seeded generator.

use super::NemesisError;
use super::fault::{Selector, Target};
use rand::rngs::ChaCha8Rng;
use rand::seq::SliceRandom;

/// The cluster as targets see it when a fault starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct View {
    /// The current master.
    pub(crate) master: String,
    /// Every Redis node, sorted.
    pub(crate) redis: Vec<String>,
    /// Every node, Postgres and sentinels included, sorted.
    pub(crate) all: Vec<String>,
    /// The Sentinel nodes, sorted (none without Sentinel).
    pub(crate) sentinels: Vec<String>,
}

impl View {
    pub(crate) fn replicas(&self) -> Vec<String> {
        self.redis.iter().filter(|n| **n != self.master).cloned().collect()
    }

    /// The nodes `target` names, sorted; random choices are drawn from `rng`.
    pub(crate) fn resolve(
        &self,
        target: &Target,
        rng: &mut ChaCha8Rng,
    ) -> Result<Vec<String>, NemesisError> {
        let mut nodes = match target {
            Target::Select(selector) => self.select(*selector, rng),
            Target::Node(name) => vec![self.known(name)?],
            Target::Nodes(names) => {
                names.iter().map(|n| self.known(n)).collect::<Result<Vec<_>, _>>()?
            }
        };
        nodes.sort();
        nodes.dedup();
        if nodes.is_empty() {
            return Err(NemesisError::NoTarget(format!(
                "{target:?} names no node among {:?}",
                self.redis
            )));
        }
        Ok(nodes)
    }

    /// Like [`View::resolve`], but every node must be a Redis node.
    pub(crate) fn resolve_redis(
        &self,
        target: &Target,
        rng: &mut ChaCha8Rng,
    ) -> Result<Vec<String>, NemesisError> {
        let nodes = self.resolve(target, rng)?;
        match nodes.iter().find(|n| !self.redis.contains(n)) {
            Some(n) => Err(NemesisError::NoTarget(format!("{n} is not a Redis node"))),
            None => Ok(nodes),
        }
    }

    fn known(&self, name: &str) -> Result<String, NemesisError> {
        match self.all.iter().find(|n| *n == name) {
            Some(n) => Ok(n.clone()),
            None => Err(NemesisError::NoTarget(format!("no node named {name}"))),
        }
    }

    fn select(&self, selector: Selector, rng: &mut ChaCha8Rng) -> Vec<String> {
        let n = self.redis.len();
        let pick = |pool: Vec<String>, k: usize, rng: &mut ChaCha8Rng| {
            let mut pool = pool;
            pool.shuffle(rng);
            pool.truncate(k);
            pool
        };
        match selector {
            Selector::One => pick(self.redis.clone(), 1, rng),
            Selector::Replica => pick(self.replicas(), 1, rng),
            Selector::Master => vec![self.master.clone()],
            Selector::Replicas => self.replicas(),
            Selector::All => self.redis.clone(),
            Selector::Minority => pick(self.redis.clone(), n.saturating_sub(1) / 2, rng),
            Selector::Majority => pick(self.redis.clone(), n / 2 + 1, rng),
        }
    }

    /// The nodes partitions between nodes act on: the Redis nodes and the sentinels.
    pub(crate) fn peers(&self) -> Vec<String> {
        self.redis.iter().chain(&self.sentinels).cloned().collect()
    }

    /// Like [`View::resolve`], but every node must be a Redis node or a sentinel.
    pub(crate) fn resolve_peers(
        &self,
        target: &Target,
        rng: &mut ChaCha8Rng,
    ) -> Result<Vec<String>, NemesisError> {
        let nodes = self.resolve(target, rng)?;
        match nodes.iter().find(|n| !self.redis.contains(n) && !self.sentinels.contains(n)) {
            Some(n) => Err(NemesisError::NoTarget(format!("{n} is neither Redis nor a sentinel"))),
            None => Ok(nodes),
        }
    }

    /// The Redis nodes and sentinels in a random order, for random partitions.
    pub(crate) fn shuffled_peers(&self, rng: &mut ChaCha8Rng) -> Vec<String> {
        let mut nodes = self.peers();
        nodes.shuffle(rng);
        nodes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn view(n: usize) -> View {
        let redis: Vec<String> = (0..n).map(|i| format!("redis-{i}")).collect();
        let mut all = redis.clone();
        all.push("postgres".into());
        View { master: "redis-0".into(), redis, all, sentinels: vec![] }
    }

    fn resolve(view: &View, target: Target) -> Result<Vec<String>, NemesisError> {
        view.resolve(&target, &mut ChaCha8Rng::seed_from_u64(3))
    }

    #[test]
    fn role_selectors_follow_the_current_master() {
        let mut v = view(3);
        assert_eq!(resolve(&v, Target::master()).unwrap(), ["redis-0"]);
        assert_eq!(resolve(&v, Target::replicas()).unwrap(), ["redis-1", "redis-2"]);
        v.master = "redis-2".into();
        assert_eq!(resolve(&v, Target::replicas()).unwrap(), ["redis-0", "redis-1"]);
        let replica = resolve(&v, Target::replica()).unwrap();
        assert!(replica.len() == 1 && replica[0] != "redis-2", "{replica:?}");
    }

    #[test]
    fn minorities_and_majorities_are_sized_from_the_redis_nodes() {
        for (n, minority, majority) in [(3, 1, 2), (5, 2, 3), (4, 1, 3)] {
            let v = view(n);
            assert_eq!(resolve(&v, Target::minority()).unwrap().len(), minority, "n={n}");
            let majority_target = Target::Select(Selector::Majority);
            assert_eq!(resolve(&v, majority_target).unwrap().len(), majority, "n={n}");
        }
        assert!(matches!(resolve(&view(2), Target::minority()), Err(NemesisError::NoTarget(_))));
    }

    #[test]
    fn random_choices_are_fixed_by_the_seed() {
        let v = view(5);
        let draw = |seed| v.resolve(&Target::one(), &mut ChaCha8Rng::seed_from_u64(seed)).unwrap();
        assert_eq!(draw(1), draw(1));
        let seen: std::collections::BTreeSet<_> = (0..50).map(draw).collect();
        assert_eq!(seen.len(), 5, "every node gets picked: {seen:?}");
    }

    #[test]
    fn names_must_exist_and_postgres_is_only_reached_by_name() {
        let v = view(3);
        assert_eq!(resolve(&v, Target::Node("postgres".into())).unwrap(), ["postgres"]);
        assert!(!resolve(&v, Target::all()).unwrap().contains(&"postgres".to_string()));
        assert!(resolve(&v, Target::nodes(["redis-1", "redis-9"])).is_err());
        let pg = Target::Node("postgres".into());
        assert!(v.resolve_redis(&pg, &mut ChaCha8Rng::seed_from_u64(1)).is_err());
    }
}
