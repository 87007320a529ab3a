//! The scenario files bundled with faultline (`workloads/scenarios/*.toml`), by name.
//! The harness reads them the same way as a user's own file.

/// Every bundled scenario: its name and its TOML text.
pub const BUNDLED: &[(&str, &str)] = &[
    ("twilio-2013", include_str!("../scenarios/twilio-2013.toml")),
    ("twilio-2013-contended", include_str!("../scenarios/twilio-2013-contended.toml")),
    ("contended", include_str!("../scenarios/contended.toml")),
    ("partition-replicas", include_str!("../scenarios/partition-replicas.toml")),
    ("kill-master", include_str!("../scenarios/kill-master.toml")),
    ("pause-master", include_str!("../scenarios/pause-master.toml")),
    ("failover", include_str!("../scenarios/failover.toml")),
    ("split-brain", include_str!("../scenarios/split-brain.toml")),
    ("postgres-restart", include_str!("../scenarios/postgres-restart.toml")),
    ("random", include_str!("../scenarios/random.toml")),
    ("gateway-lost-response", include_str!("../scenarios/gateway-lost-response.toml")),
    ("gateway-flaky", include_str!("../scenarios/gateway-flaky.toml")),
    ("service-crash", include_str!("../scenarios/service-crash.toml")),
    ("sentinel-partition", include_str!("../scenarios/sentinel-partition.toml")),
    (
        "sentinel-partition-mitigated",
        include_str!("../scenarios/sentinel-partition-mitigated.toml"),
    ),
    ("sentinel-kill-master", include_str!("../scenarios/sentinel-kill-master.toml")),
    ("sentinel-flapping", include_str!("../scenarios/sentinel-flapping.toml")),
    ("register", include_str!("../scenarios/register.toml")),
    ("register-replica-reads", include_str!("../scenarios/register-replica-reads.toml")),
    ("register-failover", include_str!("../scenarios/register-failover.toml")),
    ("register-split-brain", include_str!("../scenarios/register-split-brain.toml")),
];
