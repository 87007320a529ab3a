//! `faultline conform` against real services: the Python failsafe conforms; the broken
//! service (`examples/python/broken.py`) has each of its deliberate violations reported.

use crate::service::service;
use faultline::conform::{Conformance, Target, conform};
use faultline::store::Store;

async fn check(script: &str) -> Conformance {
    let root = std::env::temp_dir()
        .join(format!("faultline-test-conform-{script}-{}", std::process::id()));
    let conformance =
        conform(Target::Service(service(script, &[])), &Store::new(&root)).await.unwrap_or_else(
            |e| panic!("conform could not check (this test needs Docker and the images): {e}"),
        );
    println!("{conformance}");
    conformance
}

fn problem<'a>(conformance: &'a Conformance, check: &str) -> &'a str {
    let finding = conformance.findings.iter().find(|f| f.check.starts_with(check));
    let finding = finding.unwrap_or_else(|| panic!("no finding for {check}:\n{conformance}"));
    finding.problem.as_deref().unwrap_or_else(|| panic!("{check} passed:\n{conformance}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn conform_reports_each_deliberate_violation_of_the_broken_service() {
    let conformance = check("broken.py").await;
    let layout = problem(&conformance, "GET /v1/layout");
    assert!(layout.contains("layout is not what the protocol describes"), "{layout}");
    let setup = problem(&conformance, "POST /v1/setup");
    assert!(setup.contains("definite"), "{setup}");
    let debit = problem(&conformance, "POST /v1/debit (account 1, 100 cents)");
    assert!(debit.contains("not JSON"), "{debit}");
    let payment = problem(&conformance, "POST /v1/payment (account 1, 250 cents)");
    assert!(payment.contains("no answer by the deadline"), "{payment}");
    let read = problem(&conformance, "POST /v1/balance (account 1)");
    assert!(read.contains("no `balance`"), "{read}");
    let settle = problem(&conformance, "POST /v1/settle");
    assert!(settle.contains("answered 500"), "{settle}");
    assert!(conformance.to_string().contains("checks failed"));
    if let Some(dir) = &conformance.dir {
        let stderr = std::fs::read_to_string(dir.file("service.stderr.log")).unwrap();
        assert!(
            stderr.contains("broken service listening"),
            "the service's output is kept: {stderr}"
        );
        std::fs::remove_dir_all(dir.path().parent().unwrap().parent().unwrap()).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_python_failsafe_service_conforms() {
    let conformance = check("failsafe.py").await;
    assert_eq!(conformance.failures(), 0, "{conformance}");
    assert!(conformance.findings.len() >= 15, "{conformance}");
    let dir = conformance.dir.as_ref().expect("conform started the service");
    std::fs::remove_dir_all(dir.path().parent().unwrap().parent().unwrap()).unwrap();
}

#[test]
fn conform_with_a_command_that_does_not_exist_exits_3_and_says_so() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["conform", "--service", "no-such-billing-service --port 1", "--store"])
        .arg(
            std::env::temp_dir()
                .join(format!("faultline-test-conform-missing-{}", std::process::id())),
        )
        .output()
        .expect("faultline runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("no-such-billing-service") && stderr.contains("no such program"),
        "{stderr}"
    );
}
