//! Server configuration files, as ordered `key value` lists a run can override.

use std::fmt::Write;

/// Ordered `key → value` pairs, one value per key; setting a key again replaces its
/// value in place.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Settings(Vec<(String, String)>);

impl Settings {
    fn set(&mut self, key: &str, value: &str) {
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value.to_string(),
            None => self.0.push((key.to_string(), value.to_string())),
        }
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    fn render(&self, line: impl Fn(&str, &str) -> String) -> String {
        self.0.iter().fold(String::new(), |mut out, (k, v)| {
            let _ = writeln!(out, "{}", line(k, v));
            out
        })
    }
}

/// A `redis.conf`: directives in order, one value each.
///
/// The defaults make a node that a harness can reason about:
///
/// | directive | default | why |
/// |---|---|---|
/// | `bind`, `protected-mode`, `port` | `0.0.0.0`, `no`, `6379` | reachable from the run's network |
/// | `dir`, `dbfilename` | `/var/lib/redis`, `dump.rdb` | a stable place for snapshots |
/// | `save`, `appendonly` | `""`, `no` | no persistence unless a scenario asks |
/// | `repl-timeout`, `repl-ping-replica-period` | `5`, `1` | a cut link shows as down in ~5 s, and an idle link never flaps |
/// | `repl-diskless-sync-delay` | `0` | replicas sync at once, so a cluster is ready fast |
/// | `enable-debug-command` | `local` | `DEBUG SLEEP`/`POPULATE` from inside the node |
/// | `latency-monitor-threshold` | `5` | `LATENCY LATEST` records spikes of 5 ms and more |
/// | `shutdown-timeout` | `1` | a clean stop does not wait 10 s for replicas |
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisConfig {
    directives: Settings,
}

impl Default for RedisConfig {
    fn default() -> RedisConfig {
        let mut config = RedisConfig { directives: Settings::default() };
        for (key, value) in [
            ("bind", "0.0.0.0"),
            ("protected-mode", "no"),
            ("port", "6379"),
            ("dir", "/var/lib/redis"),
            ("dbfilename", "dump.rdb"),
            ("save", "\"\""),
            ("appendonly", "no"),
            ("repl-timeout", "5"),
            ("repl-ping-replica-period", "1"),
            ("repl-diskless-sync-delay", "0"),
            ("enable-debug-command", "local"),
            ("latency-monitor-threshold", "5"),
            ("shutdown-timeout", "1"),
        ] {
            config.set(key, value);
        }
        config
    }
}

impl RedisConfig {
    /// Sets `key` to `value`, replacing an earlier value and keeping its position.
    pub fn set(&mut self, key: &str, value: &str) -> &mut RedisConfig {
        self.directives.set(key, value);
        self
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: &str) -> &mut RedisConfig {
        self.directives.0.retain(|(k, _)| k != key);
        self
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.directives.get(key)
    }

    /// The file's text.
    pub fn render(&self) -> String {
        self.directives.render(|k, v| format!("{k} {v}"))
    }
}

/// Settings for `postgresql.conf`, written as `key = 'value'` lines.
///
/// Defaults: `synchronous_commit = on`, `fsync = on` (durable commits: a fault flips
/// them), and `max_connections = 200` (room for many pooled clients).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostgresConfig {
    settings: Settings,
}

impl Default for PostgresConfig {
    fn default() -> PostgresConfig {
        let mut config = PostgresConfig { settings: Settings::default() };
        config.set("synchronous_commit", "on").set("fsync", "on").set("max_connections", "200");
        config
    }
}

impl PostgresConfig {
    /// Sets `key` to `value`.
    pub fn set(&mut self, key: &str, value: &str) -> &mut PostgresConfig {
        self.settings.set(key, value);
        self
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.settings.get(key)
    }

    /// The file's text.
    pub fn render(&self) -> String {
        self.settings.render(|k, v| format!("{k} = '{}'", v.replace('\'', "''")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setting_a_redis_directive_replaces_it_in_place() {
        let mut config = RedisConfig::default();
        config.set("appendonly", "yes").set("replicaof", "redis-0 6379");
        let text = config.render();
        assert!(text.contains("\nappendonly yes\n"), "{text}");
        assert!(!text.contains("appendonly no"), "{text}");
        assert!(text.ends_with("replicaof redis-0 6379\n"), "{text}");
        config.remove("replicaof");
        assert_eq!(config.get("replicaof"), None);
    }

    #[test]
    fn postgres_settings_are_quoted() {
        let mut config = PostgresConfig::default();
        config.set("synchronous_commit", "off").set("application_name", "it's");
        let text = config.render();
        assert!(text.starts_with("synchronous_commit = 'off'\n"), "{text}");
        assert!(text.contains("application_name = 'it''s'"), "{text}");
    }
}
