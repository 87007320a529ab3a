use super::*;
use crate::endpoints::Endpoints;
use crate::testkit;
use crate::testkit::fake_postgres::{FakePostgres, endpoints, refused};
use checkers::history::{Op, StoreStatus};
use tokio::net::TcpListener;

fn prober(accounts: &[AccountId]) -> Prober {
    let (_, topology) = tokio::sync::watch::channel(endpoints(refused(), None));
    let keys = accounts.iter().map(|a| format!("balance:{a}")).collect();
    Prober {
        topology,
        accounts: accounts.to_vec(),
        store: Store::Redis(RedisProbe::new(keys, Duration::from_millis(50))),
        missing: BTreeSet::new(),
    }
}

#[test]
fn missing_and_restored_are_relative_to_the_previous_probe_that_read_the_keys() {
    let mut prober = prober(&[1, 2, 3]);
    assert_eq!(prober.deltas(&[true, false, true]), (vec![2], vec![]));
    assert_eq!(prober.deltas(&[true, false, false]), (vec![3], vec![]), "2 is still missing");
    assert_eq!(prober.deltas(&[false, true, false]), (vec![1], vec![2]));
    assert_eq!(prober.deltas(&[true, true, true]), (vec![], vec![1, 3]));
}

/// An address that accepts connections and never answers.
async fn silent() -> (TcpListener, std::net::SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

#[tokio::test]
async fn a_probe_is_invoked_then_completed_and_one_that_hangs_completes_unreachable() {
    let (recorder, memory) = testkit::recorder();
    let (_listener, addr) = silent().await;
    let (_keep, topology) = tokio::sync::watch::channel(endpoints(addr, None));
    let config =
        MonitorConfig { interval: Duration::from_secs(3600), timeout: Duration::from_millis(50) };
    let layout = Layout::standard();
    let monitor = Monitor::start(recorder.clone(), topology, &layout, &[1], config);
    // The first tick fires at once; stopping takes one more probe.
    monitor.stop().await;
    let ops: Vec<Op> = testkit::recorded(&recorder, &memory);
    let shape: Vec<(OpType, Value)> = ops.iter().map(|op| (op.kind, op.value.clone())).collect();
    let unreachable = Value::Probe(Probe {
        store: StoreStatus::Unreachable,
        missing: Vec::new(),
        restored: Vec::new(),
    });
    assert!(ops.iter().all(|op| op.process == Process::Monitor && op.f == F::Probe));
    assert!(shape.len() >= 2 && shape.len().is_multiple_of(2), "{shape:?}");
    for pair in shape.chunks(2) {
        assert_eq!(pair, [(OpType::Invoke, Value::Nil), (OpType::Ok, unreachable.clone())]);
    }
    assert!(ops.windows(2).all(|w| w[0].time <= w[1].time));
}

/// The completions of the probes a monitor of `layout` records over one probe and the
/// last, on `endpoints`: their type, value and error.
async fn probes(layout: &Layout, endpoints: Endpoints) -> Vec<(OpType, Value, Option<String>)> {
    let (recorder, memory) = testkit::recorder();
    let (_keep, topology) = tokio::sync::watch::channel(endpoints);
    let config =
        MonitorConfig { interval: Duration::from_secs(3600), timeout: Duration::from_millis(200) };
    Monitor::start(recorder.clone(), topology, layout, &[1, 2], config).stop().await;
    let ops: Vec<Op> = testkit::recorded(&recorder, &memory);
    assert!(ops.iter().all(|op| op.process == Process::Monitor && op.f == F::Probe));
    assert!(ops.len() >= 2, "{ops:?}");
    let completions = ops.into_iter().filter(|op| op.kind != OpType::Invoke);
    completions.map(|op| (op.kind, op.value, op.error)).collect()
}

/// A probe completed `ok`, having seen `store` and read no balance.
fn status(store: StoreStatus) -> (OpType, Value, Option<String>) {
    (OpType::Ok, Value::Probe(Probe { store, missing: Vec::new(), restored: Vec::new() }), None)
}

#[tokio::test]
async fn a_layout_without_a_redis_balance_is_probed_on_the_ledger_with_its_errors_classified() {
    let postgres = FakePostgres::refusing_logins("28P01").await;
    let seen = probes(&Layout::ledger_only(), postgres.endpoints(refused())).await;
    assert!(!seen.is_empty());
    for probe in &seen {
        assert_eq!(probe, &status(StoreStatus::Error), "Postgres's refusal, not Redis's silence");
    }
    let seen = probes(&Layout::standard(), postgres.endpoints(refused())).await;
    assert!(seen.iter().all(|p| p == &status(StoreStatus::Unreachable)), "{seen:?}");
}

#[tokio::test]
async fn a_ledger_that_refuses_connections_never_answers_or_is_absent_is_unreachable() {
    let (_listener, silent) = silent().await;
    for postgres in [Some(refused()), Some(silent), None] {
        let seen = probes(&Layout::ledger_only(), endpoints(refused(), postgres)).await;
        assert!(!seen.is_empty());
        assert!(seen.iter().all(|p| p == &status(StoreStatus::Unreachable)), "{seen:?}");
    }
}

#[tokio::test]
async fn a_ledger_refusing_new_sessions_while_it_may_serve_open_ones_is_a_probe_that_cannot_tell() {
    // 57P03, starting up or shutting down: the pool retries it until its timeout.
    let postgres = FakePostgres::refusing_logins("57P03").await;
    let seen = probes(&Layout::ledger_only(), postgres.endpoints(refused())).await;
    assert!(!seen.is_empty());
    for (kind, value, error) in &seen {
        assert_eq!((kind, value), (&OpType::Info, &Value::Nil));
        let why = error.as_deref().unwrap_or_default();
        assert!(why.starts_with("Postgres refuses new sessions (57P03: "), "{why}");
        assert!(why.ends_with("its open sessions may still be served"), "{why}");
    }
}
