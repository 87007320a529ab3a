//! The harness's final states, one per account: an account with two or more cannot be
//! judged from them (which one is the truth?), so it is `Unknown`, never an anomaly.

use crate::fast::{FastMap, FastSet};
use crate::history::AccountId;
use crate::verdict::Findings;

/// Keeps the final states of accounts that have exactly one; records each account
/// with more as `Unknown`, naming their operations, and returns those accounts too.
pub(crate) fn single<T>(
    finals: Vec<T>,
    at: impl Fn(&T) -> (u64, AccountId),
    findings: &mut Findings,
) -> (Vec<T>, FastSet<AccountId>) {
    let mut ops: FastMap<AccountId, Vec<u64>> = FastMap::default();
    for f in &finals {
        let (index, account) = at(f);
        ops.entry(account).or_default().push(index);
    }
    let mut repeated: Vec<(AccountId, Vec<u64>)> =
        ops.into_iter().filter(|(_, ops)| ops.len() > 1).collect();
    repeated.sort_unstable_by_key(|(_, ops)| ops[0]);
    for (account, ops) in &repeated {
        let list = ops.iter().map(u64::to_string).collect::<Vec<_>>().join(", ");
        let count = match ops.len() {
            2 => "two".to_owned(),
            n => n.to_string(),
        };
        findings.unknown(|| {
            format!(
                "account {account} has {count} final states (ops {list}), so its final balances \
                 cannot be judged; the harness reads each account once at the end"
            )
        });
    }
    let repeated: FastSet<AccountId> = repeated.into_iter().map(|(a, _)| a).collect();
    let kept = finals.into_iter().filter(|f| !repeated.contains(&at(f).1)).collect();
    (kept, repeated)
}
