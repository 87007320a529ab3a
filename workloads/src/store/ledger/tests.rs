use super::*;
use crate::endpoints::Endpoints;
use crate::testkit::fake_postgres::{FakePostgres, Reply};
use crate::testkit::fake_redis::refusing;
use std::collections::BTreeMap;
use tokio::sync::watch;

#[rustfmt::skip]
#[test]
fn sqlstates_are_refusals_or_indeterminate() {
    let cases = [
        ("23505", ErrorKind::Rejected),  // unique_violation
        ("40001", ErrorKind::Rejected),  // serialization_failure
        ("57014", ErrorKind::Rejected),  // query_canceled (statement_timeout)
        ("25006", ErrorKind::ReadOnly),  // read_only_sql_transaction
        ("57P03", ErrorKind::Loading),   // cannot_connect_now
        ("57P01", ErrorKind::Dropped),   // admin_shutdown
        ("08006", ErrorKind::Dropped),   // connection_failure
        ("XX000", ErrorKind::Unknown),   // internal_error
    ];
    for (code, kind) in cases {
        assert_eq!(sqlstate_kind(code), kind, "{code}");
    }
}

#[test]
fn a_pool_timeout_never_sent_the_request_and_a_broken_socket_may_have() {
    assert_eq!(classify(sqlx::Error::PoolTimedOut).kind, ErrorKind::Unreachable);
    let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
    assert_eq!(classify(sqlx::Error::Io(reset)).kind, ErrorKind::Dropped);
}

#[rustfmt::skip]
#[test]
fn before_commit_every_error_is_definite_and_refusals_keep_their_kind() {
    let cases = [
        (ErrorKind::ReadOnly,    ErrorKind::ReadOnly),
        (ErrorKind::Loading,     ErrorKind::Loading),
        (ErrorKind::Rejected,    ErrorKind::Rejected),
        (ErrorKind::Unreachable, ErrorKind::Unreachable),
        (ErrorKind::Timeout,     ErrorKind::Unreachable),
        (ErrorKind::Dropped,     ErrorKind::Unreachable),
        (ErrorKind::Unknown,     ErrorKind::Rejected),
    ];
    for (kind, before_commit) in cases {
        let e = rolled_back(StoreError::new(kind, "what the store said"));
        assert_eq!(e.kind, before_commit, "{kind:?}");
        assert_eq!(e.message, "rolled back: what the store said");
    }
}

#[test]
fn at_commit_a_broken_connection_or_an_unreadable_answer_may_have_committed() {
    let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
    assert_eq!(at_commit(sqlx::Error::Io(refused)).kind, ErrorKind::Dropped);
    let garbled = sqlx::Error::Protocol("unexpected message".into());
    assert_eq!(at_commit(garbled).kind, ErrorKind::Unknown);
}

/// A ledger on `postgres` with one pooled connection and a 200 ms statement timeout.
fn ledger(postgres: PostgresEndpoint) -> Ledger {
    let endpoints = Endpoints {
        redis_master: refusing(),
        redis: BTreeMap::new(),
        postgres: Some(postgres),
        sentinel: None,
    };
    let settings = StoreSettings {
        postgres_timeout: Duration::from_millis(200),
        pool_size: 1,
        ..StoreSettings::default()
    };
    Ledger::new(watch::channel(endpoints).1, &settings)
}

/// One transaction: an `UPDATE`, whose rows affected it returns.
async fn update(ledger: &Ledger) -> Result<u64, StoreError> {
    ledger
        .transaction(|tx| {
            Box::pin(async move {
                let done =
                    sqlx::raw_sql("UPDATE accounts SET balance = 0").execute(&mut **tx).await?;
                Ok(done.rows_affected())
            })
        })
        .await
}

#[tokio::test]
async fn a_committed_transaction_returns_what_its_body_returned() {
    let fake = FakePostgres::start(&[("UPDATE", Reply::Complete("UPDATE 3"))]).await;
    assert_eq!(update(&ledger(fake.endpoint())).await, Ok(3));
}

#[tokio::test]
async fn a_transaction_that_cannot_connect_never_ran() {
    let fake = FakePostgres::start(&[]).await;
    let e = update(&ledger(PostgresEndpoint { addr: refusing(), ..fake.endpoint() })).await;
    let e = e.unwrap_err();
    assert!(e.kind.is_definite(), "{e:?}");
}

#[tokio::test]
async fn a_failing_statement_rolls_the_transaction_back_and_keeps_the_connection() {
    let fake = FakePostgres::start(&[("UPDATE", Reply::Fail("23505"))]).await;
    let ledger = ledger(fake.endpoint());
    assert_eq!(update(&ledger).await.unwrap_err().kind, ErrorKind::Rejected);
    assert_eq!(update(&ledger).await, Ok(0));
    fake.connected(1).await;
}

#[tokio::test]
async fn a_statement_with_no_answer_rolled_back_and_its_connection_is_closed() {
    let fake = FakePostgres::start(&[("UPDATE", Reply::Silent)]).await;
    let ledger = ledger(fake.endpoint());
    assert_eq!(update(&ledger).await.unwrap_err().kind, ErrorKind::Unreachable);
    fake.connected(0).await;
    // The only pooled connection's permit was not leaked.
    assert_eq!(update(&ledger).await, Ok(0));
}

#[tokio::test]
async fn a_commit_with_no_answer_may_have_committed_and_its_connection_is_closed() {
    let fake = FakePostgres::start(&[("COMMIT", Reply::Silent)]).await;
    let ledger = ledger(fake.endpoint());
    assert_eq!(update(&ledger).await.unwrap_err().kind, ErrorKind::Timeout);
    fake.connected(0).await;
    assert_eq!(update(&ledger).await, Ok(0));
}

#[rustfmt::skip]
#[tokio::test]
async fn a_commit_is_judged_by_its_answer() {
    let cases = [
        (Reply::Hangup,        ErrorKind::Dropped),   // may have committed
        (Reply::Fail("40001"), ErrorKind::Rejected),  // serialization_failure: rolled back
        (Reply::Fail("08006"), ErrorKind::Dropped),   // connection_failure
    ];
    for (reply, kind) in cases {
        let fake = FakePostgres::start(&[("COMMIT", reply)]).await;
        assert_eq!(update(&ledger(fake.endpoint())).await.unwrap_err().kind, kind, "{reply:?}");
    }
}
