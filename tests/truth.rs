//! The harness's final read of the stores (`workloads::truth`), through the standard
//! layout and through one a system declares: every balance, credit and entry sum as
//! the stores hold them, duplicates and disagreements kept for the checkers to judge.

use crate::common;
use checkers::history::Observed;
use faultline::cluster::Cluster;
use workloads::store::{StoreSettings, Stores};
use workloads::sut::{Layout, standard};
use workloads::truth;

/// Two accounts where the stores disagree with themselves: account 0 credited charge 7
/// twice, account 1 has an entry its balance never counted and no Redis balance.
const BROKEN: &str = "
CREATE TABLE credits (account integer NOT NULL, charge bigint NOT NULL);
INSERT INTO credits VALUES (0, 7), (0, 7), (1, 9);
INSERT INTO ledger_entries (account, kind, amount) VALUES (1, 'payment', 5);
UPDATE accounts SET suspended = true WHERE id = 1;
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn final_states_are_read_through_the_declared_layout_with_duplicates_and_sums_kept() {
    let cluster = common::start(Cluster::builder().redis_replicas(1).postgres()).await;
    let stores = Stores::new(cluster.endpoints(), &StoreSettings::default());
    let opened = [(0, 1500), (1, 2500)].map(|(account, balance)| checkers::history::AccountSpec {
        account,
        balance,
        threshold: 1000,
        recharge: 5000,
        floor: None,
    });
    let layout = Layout {
        balance_key: Some("mine:{account}".into()),
        credited: "SELECT account, charge FROM credits WHERE account = ANY($1)".into(),
        ..Layout::standard()
    };
    standard::create_schema(&stores).await.expect("schema");
    standard::seed_with(&stores, &layout, &opened).await.expect("seed");
    stores.ledger.batch(BROKEN).await.expect("the broken rows");
    let () = stores.redis.query(redis::cmd("DEL").arg("mine:1")).await.expect("DEL");

    let finals = truth::final_states(&stores, &layout, &[0, 1, 2]).await;
    let read: Vec<_> = finals
        .iter()
        .map(|f| {
            (
                f.account,
                f.in_flight.clone(),
                f.ledger.clone(),
                f.suspended,
                f.credited.clone(),
                f.entries.clone(),
            )
        })
        .collect();
    use Observed::{Balance, Missing};
    assert_eq!(
        read,
        [
            (0, Some(Balance(1500)), Balance(1500), Some(false), vec![7, 7], Some(Balance(1500))),
            (1, Some(Missing), Balance(2500), Some(true), vec![9], Some(Balance(2505))),
            (2, Some(Missing), Missing, None, vec![], Some(Missing)),
        ]
    );

    let standard = truth::final_states(&stores, &Layout::standard(), &[0]).await;
    assert_eq!(standard[0].in_flight, Some(Missing), "the standard layout's key was never written");
    assert_eq!(standard[0].credited, Vec::<u64>::new(), "no ledger entry credits a charge");

    cluster.stop("postgres").await.expect("stop Postgres");
    let unreadable = truth::final_states(&stores, &layout, &[0]).await;
    assert!(matches!(unreadable[0].ledger, Observed::Error(_)), "{unreadable:?}");
    assert!(matches!(unreadable[0].entries, Some(Observed::Error(_))), "{unreadable:?}");
    assert_eq!(unreadable[0].in_flight, Some(Balance(1500)), "Redis is still there");
    common::teardown_and_assert_clean(cluster).await;
}
