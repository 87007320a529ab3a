use super::*;
use std::net::TcpListener;

#[test]
fn a_command_line_splits_as_a_shell_would_and_names_the_service() {
    let spec =
        ServiceSpec::from_command_line("python3 'examples/python/fail safe.py' --port 1").unwrap();
    assert_eq!(spec.command, ["python3", "examples/python/fail safe.py", "--port", "1"]);
    assert_eq!(spec.name(), "1");
    let spec = ServiceSpec::from_command_line("python3 examples/python/failsafe.py").unwrap();
    assert_eq!(spec.name(), "failsafe");
    assert_eq!(spec.command_line(), "python3 examples/python/failsafe.py");
    assert!(matches!(ServiceSpec::from_command_line("  "), Err(ServiceError::BadCommand(_))));
    assert!(matches!(
        ServiceSpec::from_command_line("python3 'unclosed"),
        Err(ServiceError::BadCommand(_))
    ));
}

#[test]
fn the_environment_names_every_store_where_it_is_now() {
    let addr = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
    let now = Endpoints {
        redis_master: addr(7001),
        redis: [
            ("redis-0".into(), addr(7000)),
            ("redis-1".into(), addr(7001)),
            ("redis-2".into(), addr(7002)),
        ]
        .into(),
        postgres: None,
        sentinel: None,
    };
    let contacts = Contacts {
        gateway: "http://127.0.0.1:9000".into(),
        control: "http://127.0.0.1:9001".into(),
        seed: 7,
        run_id: "fl-x".into(),
        op_timeout: Duration::from_millis(1500),
    };
    let env: BTreeMap<_, _> = environment(addr(8080), &now, &contacts).into_iter().collect();
    assert_eq!(env["FAULTLINE_PROTOCOL"], "faultline-http/1");
    assert_eq!(env["FAULTLINE_LISTEN"], "127.0.0.1:8080");
    assert_eq!(env["FAULTLINE_REDIS_MASTER"], "127.0.0.1:7001");
    assert_eq!(env["FAULTLINE_REDIS_REPLICAS"], "127.0.0.1:7000,127.0.0.1:7002");
    assert_eq!(env["FAULTLINE_POSTGRES_URL"], "");
    assert_eq!(env["FAULTLINE_OP_TIMEOUT_MS"], "1500");
    assert_eq!(env.len(), 10);
}

/// A cluster of three Redis nodes (redis-1 the master) watched by two sentinels.
fn with_sentinel() -> Endpoints {
    let addr = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
    Endpoints {
        redis_master: addr(7001),
        redis: [
            ("redis-0".into(), addr(7000)),
            ("redis-1".into(), addr(7001)),
            ("redis-2".into(), addr(7002)),
        ]
        .into(),
        postgres: None,
        sentinel: Some(workloads::endpoints::SentinelEndpoints {
            master_name: "faultline".into(),
            nodes: [("sentinel-0".into(), addr(7100)), ("sentinel-1".into(), addr(7101))].into(),
            announced: [("172.18.0.2:6379".parse().unwrap(), "redis-0".into())].into(),
        }),
    }
}

#[test]
fn with_sentinel_the_environment_names_the_sentinels_as_the_service_reaches_stores() {
    let contacts = contacts();
    let now = with_sentinel();
    let listen = SocketAddr::from(([127, 0, 0, 1], 8080));
    let process: BTreeMap<_, _> = environment(listen, &now, &contacts).into_iter().collect();
    assert_eq!(process["FAULTLINE_SENTINELS"], "127.0.0.1:7100,127.0.0.1:7101");
    assert_eq!(process["FAULTLINE_SENTINEL_MASTER"], "faultline");
    assert_eq!(process["FAULTLINE_REDIS_MASTER"], "127.0.0.1:7001");
    assert_eq!(process.len(), 12);
    let container: BTreeMap<_, _> =
        container_environment(&now, &contacts, &BTreeMap::new()).into_iter().collect();
    assert_eq!(container["FAULTLINE_SENTINELS"], "sentinel-0:26379,sentinel-1:26379");
    assert_eq!(container["FAULTLINE_SENTINEL_MASTER"], "faultline");
    assert_eq!(container["FAULTLINE_REDIS_MASTER"], "redis-1:6379");
    let without = Endpoints { sentinel: None, ..now };
    let plain: BTreeMap<_, _> = environment(listen, &without, &contacts).into_iter().collect();
    assert!(!plain.contains_key("FAULTLINE_SENTINELS"));
    assert!(!plain.contains_key("FAULTLINE_SENTINEL_MASTER"));
}

#[test]
fn the_control_snapshot_lists_the_sentinels_as_the_service_reaches_them() {
    let now = with_sentinel();
    let host = serde_json::to_value(Snapshot::of(3, &now, Addressing::Host)).unwrap();
    assert_eq!(
        host,
        serde_json::json!({
            "version": 3,
            "redis_master": "127.0.0.1:7001",
            "redis_replicas": ["127.0.0.1:7000", "127.0.0.1:7002"],
            "postgres_url": "",
            "sentinels": ["127.0.0.1:7100", "127.0.0.1:7101"],
        })
    );
    let network = Snapshot::of(3, &now, Addressing::Network);
    assert_eq!(network.sentinels, ["sentinel-0:26379", "sentinel-1:26379"]);
    assert_eq!(network.redis_master, "redis-1:6379");
    let without = Snapshot::of(3, &Endpoints { sentinel: None, ..now }, Addressing::Host);
    assert!(without.sentinels.is_empty());
    let older: Snapshot = serde_json::from_value(serde_json::json!({
        "version": 1, "redis_master": "127.0.0.1:1", "redis_replicas": [], "postgres_url": ""
    }))
    .unwrap();
    assert!(older.sentinels.is_empty(), "a snapshot without sentinels reads as none");
}

fn contacts() -> Contacts {
    Contacts {
        gateway: "http://127.0.0.1:9".into(),
        control: "http://127.0.0.1:9".into(),
        seed: 1,
        run_id: format!("fl-test-{}", std::process::id()),
        op_timeout: Duration::from_secs(1),
    }
}

fn topology() -> Topology {
    let addr = SocketAddr::from(([127, 0, 0, 1], 6379));
    let now = Endpoints {
        redis_master: addr,
        redis: [("redis-0".into(), addr)].into(),
        postgres: None,
        sentinel: None,
    };
    tokio::sync::watch::channel(now).1
}

fn run_dir(name: &str) -> RunDir {
    let path =
        std::env::temp_dir().join(format!("faultline-service-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&path);
    std::fs::create_dir_all(&path).unwrap();
    RunDir::open(path)
}

fn spec(script: &str, start_timeout: Duration) -> ServiceSpec {
    ServiceSpec {
        command: vec!["python3".into(), "-c".into(), script.into()],
        start_timeout,
        ..ServiceSpec::from_command_line("x").unwrap()
    }
}

/// A healthy service: answers 200 to GET /v1/health on FAULTLINE_LISTEN.
const HEALTHY: &str = r#"
import os, http.server
host, port = os.environ["FAULTLINE_LISTEN"].rsplit(":", 1)
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *a): pass
print("listening", flush=True)
http.server.HTTPServer((host, int(port)), H).serve_forever()
"#;

fn alive(pid: u32) -> bool {
    // A zombie still has /proc/PID; its state is Z.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| !stat[stat.rfind(')').unwrap() + 2..].starts_with('Z'))
}

#[tokio::test]
async fn a_healthy_service_starts_keeps_its_output_and_is_killed_with_its_group() {
    let dir = run_dir("healthy");
    let mut service =
        Service::start(&spec(HEALTHY, Duration::from_secs(20)), contacts(), topology(), &dir)
            .await
            .expect("healthy");
    let pid = service.pid().expect("running");
    assert!(alive(pid));
    let record =
        record::Record::all().into_iter().find(|r| r.pgid() == pid).expect("recorded for clean");
    assert!(record.owner_alive() && record.service_alive());
    service.pause().await.expect("paused");
    service.restart().await.expect("restarted even while paused");
    let again = service.pid().expect("running again");
    assert_ne!(pid, again);
    assert!(!alive(pid), "the old process is gone");
    service.stop().await;
    assert!(!alive(again), "the service is killed at the end");
    assert!(record::Record::all().iter().all(|r| r.pgid() != again), "its record is removed");
    let out = std::fs::read_to_string(dir.file("service.stdout.log")).unwrap();
    assert_eq!(out.matches("listening").count(), 2, "both starts' output kept: {out}");
}

#[tokio::test]
async fn a_command_that_does_not_exist_says_so() {
    let dir = run_dir("missing");
    let spec = ServiceSpec::from_command_line("no-such-program-faultline --x").unwrap();
    let Err(e) = Service::start(&spec, contacts(), topology(), &dir).await else {
        panic!("started")
    };
    let text = e.to_string();
    assert!(
        text.contains("no-such-program-faultline --x") && text.contains("no such program"),
        "{text}"
    );
}

#[tokio::test]
async fn a_service_that_exits_before_it_is_healthy_shows_its_stderr() {
    let dir = run_dir("exits");
    let script = "import sys; print('cannot connect to redis: boom', file=sys.stderr); sys.exit(4)";
    let Err(e) =
        Service::start(&spec(script, Duration::from_secs(20)), contacts(), topology(), &dir).await
    else {
        panic!("started")
    };
    let text = e.to_string();
    assert!(matches!(e, ServiceError::Exited { .. }), "{text}");
    assert!(
        text.contains("cannot connect to redis: boom") && text.contains("python3 -c"),
        "{text}"
    );
}

#[tokio::test]
async fn a_service_that_never_becomes_healthy_is_killed_and_explained() {
    let dir = run_dir("hangs");
    let script =
        "import sys, time; print('warming up', file=sys.stderr, flush=True); time.sleep(600)";
    // A run id of its own: other tests' services run under the shared one meanwhile.
    let contacts =
        Contacts { run_id: format!("fl-test-hangs-{}", std::process::id()), ..contacts() };
    let run = contacts.run_id.clone();
    let Err(e) =
        Service::start(&spec(script, Duration::from_millis(1500)), contacts, topology(), &dir)
            .await
    else {
        panic!("started")
    };
    let text = e.to_string();
    assert!(matches!(e, ServiceError::NotHealthy { .. }), "{text}");
    assert!(text.contains("warming up") && text.contains("start_timeout"), "{text}");
    assert!(
        record::Record::all().iter().all(|r| r.run != run || !r.service_alive()),
        "nothing left running"
    );
}

#[tokio::test]
async fn an_address_in_use_is_refused_before_anything_starts() {
    let dir = run_dir("in-use");
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let spec = ServiceSpec { listen: Some(addr), ..spec(HEALTHY, Duration::from_secs(5)) };
    let Err(e) = Service::start(&spec, contacts(), topology(), &dir).await else {
        panic!("started")
    };
    assert!(matches!(e, ServiceError::AddressInUse { .. }), "{e}");
    assert!(e.to_string().contains(&addr.to_string()));
}

#[tokio::test]
async fn clean_kills_a_service_whose_faultline_died_and_leaves_a_live_ones() {
    use std::os::unix::process::CommandExt;
    // A service group whose owner is a faultline that no longer runs: a record written
    // as a dead owner's would be.
    let mut orphan = std::process::Command::new("sleep");
    orphan.arg("600").process_group(0);
    let mut orphan = orphan.spawn().unwrap();
    let pid = orphan.id();
    let dead_owner = "another-boot/1/1";
    let run = format!("fl-clean-test-{}", std::process::id());
    let live = record::Record::create(&run, pid).expect("recorded");
    let mut orphaned = serde_json::to_value(&live).unwrap();
    orphaned["owner"] = dead_owner.into();
    let path = std::env::temp_dir().join("faultline-services").join(format!("{run}-{pid}.json"));
    std::fs::write(path, serde_json::to_vec(&orphaned).unwrap()).unwrap();
    // A live run's service stays.
    let dir = run_dir("clean-live");
    let mut service =
        Service::start(&spec(HEALTHY, Duration::from_secs(20)), contacts(), topology(), &dir)
            .await
            .expect("healthy");
    let killed = clean(&Scope::Dead);
    assert!(killed.iter().any(|r| r.pgid() == pid), "the orphan was killed: {killed:?}");
    assert!(killed.iter().all(|r| Some(r.pgid()) != service.pid()), "the live service stays");
    assert!(orphan.wait().unwrap().code().is_none(), "killed by a signal");
    assert!(record::Record::all().iter().all(|r| r.pgid() != pid), "the orphan's record is gone");
    assert!(alive(service.pid().unwrap()));
    service.kill().await;
}

#[tokio::test]
async fn a_service_whose_leader_exits_leaves_no_forked_process_behind() {
    let dir = run_dir("daemonizes");
    let script = "import os, sys, time\n\
                  child = os.fork()\n\
                  if child == 0:\n    time.sleep(600)\n\
                  print(child, flush=True)\n\
                  sys.exit(3)";
    let Err(e) =
        Service::start(&spec(script, Duration::from_secs(20)), contacts(), topology(), &dir).await
    else {
        panic!("started")
    };
    assert!(matches!(e, ServiceError::Exited { .. }), "{e}");
    let out = std::fs::read_to_string(dir.file("service.stdout.log")).unwrap();
    let child: u32 = out.trim().parse().expect("the forked child's pid");
    // SIGKILL lands when the child is next scheduled; it is not ours to wait for.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while alive(child) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!alive(child), "the forked child {child} was killed with the group");
}
