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
