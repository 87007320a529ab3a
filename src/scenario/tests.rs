//! Scenario files: parsing, positions of errors, the schedule fitting the time limit.

use super::*;

const MINIMAL: &str = "name = \"t\"\ndescription = \"d\"\nworkload = \"billing\"\n[billing]\n";

#[test]
fn every_bundled_scenario_parses_and_validates() {
    let all = bundled();
    assert!(all.len() >= 8, "{:?}", all.iter().map(|(n, _)| n).collect::<Vec<_>>());
    for (name, scenario) in all {
        let scenario = scenario.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(scenario.name, name);
    }
}

/// A Sentinel failover the scenario counts on survives one failed election: when the two
/// sentinels of a majority split their votes, neither tries again for twice
/// `failover-timeout` (plus up to a second Sentinel adds to desynchronise them), so the
/// master must stay cut off or down for longer than that after `down-after-milliseconds`;
/// else one unlucky vote leaves the run without the failover it asks for (unknown).
#[test]
fn every_bundled_sentinel_scenario_holds_the_master_down_long_enough_for_a_retried_election() {
    use crate::nemesis::{Fault, Selector, Target};
    let mut checked = 0;
    for (name, scenario) in bundled() {
        let scenario = scenario.unwrap();
        let failovers = scenario.billing.as_ref().and_then(|b| b.reach).map_or(0, |r| r.failovers);
        if scenario.cluster.sentinels == 0 || failovers == 0 {
            continue;
        }
        let sentinel = &scenario.cluster.sentinel;
        let needed =
            Duration::from_millis(sentinel.down_after() + 2 * sentinel.failover_timeout() + 1000);
        let master = Target::Select(Selector::Master);
        let long_enough = scenario
            .faults
            .iter()
            .filter(|step| match &step.fault {
                Fault::IsolateMaster => true,
                Fault::Kill { target } | Fault::Stop { target } | Fault::Pause { target } => {
                    *target == master
                }
                _ => false,
            })
            .filter(|step| step.duration.is_some_and(|held| held >= needed))
            .count() as u64;
        assert!(
            long_enough >= failovers,
            "{name}: asks for {failovers} failover(s) but only {long_enough} fault(s) keep the \
             master away for {needed:?} (down-after-milliseconds + 2 x failover-timeout + 1 s)"
        );
        checked += 1;
    }
    assert!(checked >= 4, "only {checked} Sentinel scenarios ask for a failover");
}

#[test]
fn an_unknown_field_is_reported_with_file_line_and_column() {
    let text = format!("{MINIMAL}acounts = 10\n");
    let err = Scenario::parse("my.toml", &text).unwrap_err().to_string();
    assert!(err.starts_with("my.toml:5:1: unknown field `acounts`"), "{err}");
}

#[test]
fn an_unknown_fault_is_reported_where_it_is_written() {
    let text = format!("{MINIMAL}[[faults]]\nat = \"1s\"\nfault = \"meteor\"\n");
    let err = Scenario::parse("my.toml", &text).unwrap_err().to_string();
    assert!(err.starts_with("my.toml:5:1: unknown variant `meteor`"), "{err}");
}

#[test]
fn a_target_outside_the_topology_is_an_error() {
    let text =
        format!("{MINIMAL}[[faults]]\nat = \"1s\"\nfault = \"kill\"\ntarget = \"redis-7\"\n");
    let err = Scenario::parse("my.toml", &text).unwrap_err().to_string();
    assert!(err.starts_with("my.toml:8:10: fault \"kill\" targets \"redis-7\""), "{err}");
    let text = "name = \"t\"\ndescription = \"d\"\nworkload = \"counter\"\n[cluster]\nredis_replicas = 0\n[[faults]]\nat = \"1s\"\nfault = \"failover\"\n";
    let err = Scenario::parse("my.toml", text).unwrap_err().to_string();
    assert!(err.starts_with("my.toml:8:9: fault \"failover\" needs at least one"), "{err}");
}

#[test]
fn overrides_replace_seed_time_limit_and_workers() {
    let scenario = Scenario::parse("t.toml", MINIMAL).unwrap();
    let overrides = Overrides {
        seed: Some(9),
        time_limit: Some(Duration::from_secs(3)),
        concurrency: Some(2),
        recovery: Some(Duration::ZERO),
    };
    let resolved = scenario.resolve(&overrides).unwrap();
    assert_eq!(resolved.recovery, Duration::ZERO);
    let WorkloadSpec::Billing(config) = resolved.workload() else { panic!() };
    assert_eq!((resolved.seed, config.seed, config.clients.workers), (9, 9, 2));
    assert_eq!(config.clients.time_limit, Duration::from_secs(3));
    let reread = Scenario::parse("again.toml", &resolved.to_toml()).unwrap();
    assert_eq!(reread.seed, 9);
}

const TWO_FAULTS: &str = "name = \"t\"\ndescription = \"d\"\nworkload = \"billing\"\n\
    [billing]\nclients = { time_limit = \"10s\" }\n\
    [[faults]]\nat = \"2s\"\nfault = \"kill\"\nduration = \"30s\"\n\
    [[faults]]\nat = \"5s\"\nfault = \"pause\"\n";

#[test]
fn a_fault_starting_at_or_after_the_time_limit_is_refused_where_its_at_is_written() {
    let text = TWO_FAULTS.replace("\"5s\"", "\"10s\"");
    let err = Scenario::parse("my.toml", &text).unwrap_err().to_string();
    assert!(
        err.starts_with(
            "my.toml:11:6: fault \"pause\" (step 1) starts at 10s, but the clients stop at \
             10s (billing.clients.time_limit = 10s): it would never start"
        ),
        "{err}"
    );
}

#[test]
fn a_fault_holding_past_the_time_limit_fits_it_is_healed_at_the_end() {
    let scenario = Scenario::parse("my.toml", TWO_FAULTS).unwrap();
    assert_eq!(scenario.schedule().faults.len(), 2);
}

#[test]
fn a_time_limit_override_that_cuts_off_a_fault_is_refused_naming_it() {
    let scenario = Scenario::parse("my.toml", TWO_FAULTS).unwrap();
    let overrides =
        |s| Overrides { time_limit: Some(Duration::from_secs(s)), ..Overrides::default() };
    let err = scenario.clone().resolve(&overrides(4)).unwrap_err().to_string();
    assert!(
        err.starts_with("my.toml:11:6: fault \"pause\" (step 1) starts at 5s, but the clients stop at 4s (--time-limit 4s)"),
        "{err}"
    );
    assert!(scenario.resolve(&overrides(6)).is_ok());
}

#[test]
fn twilio_2013_with_a_4s_time_limit_is_refused_naming_the_resync_storm() {
    let overrides = Overrides { time_limit: Some(Duration::from_secs(4)), ..Overrides::default() };
    let err = Scenario::load("twilio-2013").unwrap().resolve(&overrides).unwrap_err().to_string();
    assert!(err.starts_with("<bundled>/twilio-2013.toml:"), "{err}");
    assert!(err.contains("fault \"resync-storm\" (step 0) starts at 5s"), "{err}");
}

#[test]
fn a_random_schedule_longer_than_the_time_limit_is_refused() {
    let text = format!(
        "{MINIMAL}clients = {{ time_limit = \"10s\" }}\n[random]\ninterval = \"2s\"\nhold = \"1s\"\n\
         length = \"20s\"\nfaults = [{{ fault = \"pause\" }}]\n"
    );
    let err = Scenario::parse("my.toml", &text).unwrap_err().to_string();
    assert!(err.starts_with("my.toml:9:10: the random schedule draws faults for 20s"), "{err}");
}

#[test]
fn a_random_schedule_that_draws_no_fault_is_refused() {
    let text = format!(
        "{MINIMAL}clients = {{ time_limit = \"10s\" }}\n[random]\ninterval = \"6s\"\nhold = \"1s\"\n\
         length = \"10s\"\nfaults = [{{ fault = \"pause\" }}]\n"
    );
    let err = Scenario::parse("my.toml", &text).unwrap_err().to_string();
    assert!(err.starts_with("my.toml:9:10: the random schedule draws no fault"), "{err}");
}

#[test]
fn a_workload_table_for_another_workload_points_at_the_table() {
    let text =
        "name = \"t\"\ndescription = \"d\"\nworkload = \"counter\"\n[billing]\naccounts = 3\n";
    let err = Scenario::parse("my.toml", text).unwrap_err().to_string();
    assert!(err.starts_with("my.toml:4:"), "{err}");
}

#[test]
fn register_reads_from_replicas_need_a_replica_and_a_mix_that_makes_sense() {
    let text = |cluster: &str, table: &str| {
        format!(
            "name = \"t\"\ndescription = \"d\"\nworkload = \"register\"\n[cluster]\n{cluster}\n\
             [register]\n{table}\n"
        )
    };
    let none = text("redis_replicas = 0", "read_from = \"replicas\"");
    let err = Scenario::parse("my.toml", &none).unwrap_err().to_string();
    assert!(err.starts_with("my.toml:7:13: read_from = \"replicas\" needs a replica"), "{err}");
    let mix = text("redis_replicas = 1", "reads = 0.8\nwrites = 0.5");
    let err = Scenario::parse("my.toml", &mix).unwrap_err().to_string();
    assert!(err.contains("reads and writes fractions that sum to at most 1"), "{err}");
    let fine = text("redis_replicas = 1", "read_from = \"replicas\"");
    let WorkloadSpec::Register(config) = Scenario::parse("my.toml", &fine).unwrap().workload()
    else {
        panic!("the register workload")
    };
    assert_eq!(config.read_from, workloads::register::ReadFrom::Replicas);
}

#[test]
fn a_gateway_fault_outside_the_billing_workload_is_refused_where_it_is_written() {
    let text = "name = \"t\"\ndescription = \"d\"\nworkload = \"counter\"\n[[faults]]\nat = \"1s\"\nfault = \"gateway-outage\"\n";
    let err = Scenario::parse("my.toml", text).unwrap_err().to_string();
    assert!(
        err.starts_with(
            "my.toml:6:9: fault \"gateway-outage\" acts on the card gateway, which only the billing \
             workload has (workload = \"counter\")"
        ),
        "{err}"
    );
    let billing =
        format!("{MINIMAL}[[faults]]\nat = \"1s\"\nfault = \"gateway-latency\"\ndelay = \"1s\"\n");
    assert!(Scenario::parse("my.toml", &billing).is_ok());
}

#[test]
fn sentinel_settings_and_faults_that_fight_or_need_sentinel_are_checked() {
    let even = format!("{MINIMAL}[cluster]\nsentinels = 2\n");
    let err = Scenario::parse("my.toml", &even).unwrap_err().to_string();
    assert!(err.contains("sentinels = 2: use an odd number"), "{err}");
    let fault = |name: &str| format!("[[faults]]\nat = \"1s\"\nfault = \"{name}\"\n");
    let without = format!("name = \"t\"\ndescription = \"d\"\n{}", fault("isolate-master"));
    let err = Scenario::parse("my.toml", &without).unwrap_err().to_string();
    assert!(err.contains("set cluster.sentinels = 3"), "{err}");
    let with = format!(
        "name = \"t\"\ndescription = \"d\"\n[cluster]\nsentinels = 3\n[cluster.sentinel]\n\
         down-after-milliseconds = 2000\n{}",
        fault("failover")
    );
    let err = Scenario::parse("my.toml", &with).unwrap_err().to_string();
    assert!(err.contains("Sentinel decides who is master"), "{err}");
    let ok = with.replace("\"failover\"", "\"isolate-master\"");
    let scenario = Scenario::parse("my.toml", &ok).unwrap();
    assert_eq!(scenario.cluster.sentinel.down_after(), 2000);
    assert!(scenario.cluster.node_names().contains(&"sentinel-2".to_string()));
}

/// The message of a scenario error, wherever it points.
fn message(err: ScenarioError) -> String {
    match err {
        ScenarioError::Invalid { message, .. } | ScenarioError::Built { message, .. } => message,
        other => panic!("not a validation error: {other}"),
    }
}

#[test]
fn a_built_scenario_is_the_scenario_its_file_would_be() {
    use crate::nemesis::{Fault, RandomSchedule, Target};
    let text = "name = \"b\"\ndescription = \"d\"\nseed = 3\nrecovery = \"0s\"\nquiet = \"1s\"\n\
        [cluster]\nredis_replicas = 1\nredis = { save = \"\" }\n\
        [billing]\naccounts = 7\nopening = { min = 10, max = 20 }\ndebit = { min = 2, max = 4 }\n\
        threshold = 50\nrecharge = 300\ngateway = { deactivate_after = 9 }\n\
        clients = { workers = 2, time_limit = \"9s\", op_timeout = \"1s\" }\n\
        [checkers]\nmin_availability = 0.5\n\
        [[faults]]\nat = \"1s\"\nfault = \"kill\"\ntarget = \"redis-1\"\nduration = \"2s\"\n\
        [[faults]]\nat = \"4s\"\nfault = \"gateway-outage\"\n\
        [random]\ninterval = \"2s\"\nhold = \"1s\"\nlength = \"8s\"\nfaults = [{ fault = \"pause\" }]\n";
    let from_file =
        Scenario::parse("b.toml", text).unwrap().resolve(&Overrides::default()).unwrap();
    let secs = Duration::from_secs;
    let random = RandomSchedule {
        interval: secs(2),
        hold: secs(1),
        length: secs(8),
        faults: vec![Fault::Pause { target: Target::one() }],
    };
    let built = Scenario::builder("b")
        .description("d")
        .seed(3)
        .recovery(Duration::ZERO)
        .quiet(secs(1))
        .redis_replicas(1)
        .redis_setting("save", "")
        .accounts(7)
        .opening(10..=20)
        .debits(2..=4)
        .threshold(50)
        .recharge(300)
        .gateway(workloads::gateway::GatewayConfig { deactivate_after: 9, ..Default::default() })
        .workers(2)
        .time_limit(secs(9))
        .op_timeout(secs(1))
        .min_availability(0.5)
        .fault(
            ScheduledFault::at(secs(1), Fault::Kill { target: Target::Node("redis-1".into()) })
                .lasting(secs(2)),
        )
        .fault(ScheduledFault::at(secs(4), Fault::GatewayOutage))
        .random(random)
        .build()
        .unwrap();
    assert_eq!(built, Scenario { source: built.source.clone(), ..from_file });
}

#[test]
fn a_bundled_scenario_changed_in_code_keeps_what_was_not_changed() {
    let loaded = Scenario::load("twilio-2013").unwrap();
    let changed = loaded.clone().into_builder().accounts(3).seed(5).build().unwrap();
    let WorkloadSpec::Billing(config) = changed.workload() else { panic!("a billing scenario") };
    assert_eq!((config.accounts, config.seed, changed.seed), (3, 5, 5));
    let mut expected =
        loaded.resolve(&Overrides { seed: Some(5), ..Overrides::default() }).unwrap();
    expected.billing.as_mut().unwrap().accounts = 3;
    assert_eq!(changed, Scenario { source: changed.source.clone(), ..expected });
}

#[test]
fn a_built_scenario_is_refused_with_the_files_message_naming_the_key() {
    use crate::nemesis::{Fault, Target};
    let file =
        format!("{MINIMAL}[[faults]]\nat = \"1s\"\nfault = \"kill\"\ntarget = \"redis-7\"\n");
    let from_file = message(Scenario::parse("my.toml", &file).unwrap_err());
    let kill = Fault::Kill { target: Target::Node("redis-7".into()) };
    let built = Scenario::builder("t").fault(ScheduledFault::at(Duration::from_secs(1), kill));
    let err = built.build().unwrap_err();
    assert!(
        err.to_string().starts_with("scenario \"t\" built in code: faults[0].target: "),
        "{err}"
    );
    assert_eq!(message(err), from_file);
    let changed =
        Scenario::load("twilio-2013").unwrap().into_builder().time_limit(Duration::from_secs(4));
    let err = changed.build().unwrap_err().to_string();
    assert!(
        err.starts_with(
            "<bundled>/twilio-2013.toml as changed in code: faults[0].at: fault \"resync-storm\" \
             (step 0) starts at 5s, but the clients stop at 4s (billing.clients.time_limit = 4s)"
        ),
        "{err}"
    );
}

#[test]
fn billing_settings_given_to_another_workload_are_refused_as_its_table_would_be() {
    let err =
        Scenario::builder("t").workload(WorkloadKind::Counter).accounts(3).build().unwrap_err();
    assert_eq!(
        err.to_string(),
        "scenario \"t\" built in code: billing: a [billing] table is given, but workload = \"counter\""
    );
}

#[test]
fn switching_the_workload_keeps_the_clients_and_drops_the_other_settings() {
    let scenario = Scenario::builder("t")
        .accounts(3)
        .workers(2)
        .time_limit(Duration::from_secs(4))
        .workload(WorkloadKind::Counter)
        .seed(8)
        .build()
        .unwrap();
    assert_eq!(scenario.billing, None);
    let WorkloadSpec::Counter(config) = scenario.workload() else { panic!("the counter") };
    assert_eq!((config.clients.workers, config.clients.time_limit), (2, Duration::from_secs(4)));
    assert_eq!(config.seed, 8);
}

#[test]
fn billing_settings_that_make_no_sense_are_refused_before_any_cluster_starts() {
    let err = Scenario::parse("my.toml", &format!("{MINIMAL}accounts = 0\n")).unwrap_err();
    assert_eq!(err.to_string(), "my.toml:4:1: accounts and clients.workers must be at least 1");
    let err = Scenario::builder("t").debits(0..=5).build().unwrap_err();
    assert_eq!(
        err.to_string(),
        "scenario \"t\" built in code: billing: debit: min must be positive and at most max"
    );
}
