use super::*;
use crate::endpoints::Endpoints;
use crate::testkit;
use checkers::history::Op;
use tokio::net::TcpListener;

fn prober(watched: &[AccountId]) -> Prober {
    let endpoints = Endpoints {
        redis_master: "127.0.0.1:1".parse().unwrap(),
        redis: Default::default(),
        postgres: None,
        sentinel: None,
    };
    let (_, topology) = tokio::sync::watch::channel(endpoints);
    Prober {
        topology,
        watched: watched.iter().map(|&a| (a, format!("balance:{a}"))).collect(),
        timeout: Duration::from_millis(50),
        conn: None,
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

/// A Redis address that accepts connections and never answers.
async fn silent_redis() -> (TcpListener, std::net::SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

#[tokio::test]
async fn a_probe_is_invoked_then_completed_and_one_that_hangs_completes_unreachable() {
    let (recorder, memory) = testkit::recorder();
    let (_listener, addr) = silent_redis().await;
    let endpoints =
        Endpoints { redis_master: addr, redis: Default::default(), postgres: None, sentinel: None };
    let (_keep, topology) = tokio::sync::watch::channel(endpoints);
    let config =
        MonitorConfig { interval: Duration::from_secs(3600), timeout: Duration::from_millis(50) };
    let monitor = Monitor::start(recorder.clone(), topology, vec![(1, "balance:1".into())], config);
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
