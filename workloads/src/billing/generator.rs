//! What billing clients ask for: a pure function of the seed.
//!
//! Each worker draws from its own stream of one ChaCha8 generator seeded with the run's
//! seed, numbered in the order workers start, so a worker's requests depend only on
//! (seed, worker), whatever the timing.
//! The accounts' opening balances come from another stream of the same seed.

use super::BillingConfig;
use checkers::history::{AccountId, AccountOp, AccountSpec, F, Observed, Value};
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

/// One client request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// Usage: debit `amount` cents.
    Debit {
        /// The account.
        account: AccountId,
        /// Cents.
        amount: i64,
    },
    /// A manual payment of `amount` cents.
    Payment {
        /// The account.
        account: AccountId,
        /// Cents.
        amount: i64,
    },
    /// A balance read.
    Read {
        /// The account.
        account: AccountId,
    },
}

impl Request {
    /// The account it concerns.
    pub fn account(&self) -> AccountId {
        match *self {
            Request::Debit { account, .. }
            | Request::Payment { account, .. }
            | Request::Read { account } => account,
        }
    }

    /// Its `f` in the history.
    pub fn f(&self) -> F {
        match self {
            Request::Debit { .. } => F::Debit,
            Request::Payment { .. } => F::Payment,
            Request::Read { .. } => F::Read,
        }
    }

    /// Its value: the arguments, and the balance reported once completed.
    pub fn value(&self, balance: Option<Observed>) -> Value {
        let amount = match *self {
            Request::Debit { amount, .. } | Request::Payment { amount, .. } => Some(amount),
            Request::Read { .. } => None,
        };
        Value::Account(AccountOp { account: self.account(), amount, balance })
    }
}

/// One worker's requests, endlessly.
pub struct Generator {
    rng: ChaCha8Rng,
    accounts: u32,
    /// Cumulative weights of debit and payment, over their total with reads.
    debit_below: f64,
    payment_below: f64,
    debit: (i64, i64),
    payment: (i64, i64),
}

impl Generator {
    /// The requests of the `worker`th worker started (from 0) under `config`.
    pub fn new(config: &BillingConfig, worker: u32) -> Generator {
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        rng.set_stream(u64::from(worker) + 1);
        let mix = &config.mix;
        let total = mix.debit + mix.payment + mix.read;
        Generator {
            rng,
            accounts: config.accounts,
            debit_below: mix.debit / total,
            payment_below: (mix.debit + mix.payment) / total,
            debit: (config.debit.min, config.debit.max),
            payment: (config.payment.min, config.payment.max),
        }
    }
}

impl Iterator for Generator {
    type Item = Request;

    fn next(&mut self) -> Option<Request> {
        let account = self.rng.random_range(0..self.accounts);
        let draw: f64 = self.rng.random();
        let request = if draw < self.debit_below {
            Request::Debit { account, amount: self.rng.random_range(self.debit.0..=self.debit.1) }
        } else if draw < self.payment_below {
            let amount = self.rng.random_range(self.payment.0..=self.payment.1);
            Request::Payment { account, amount }
        } else {
            Request::Read { account }
        };
        Some(request)
    }
}

/// The accounts of a run, opened with seeded balances and the configured policy.
pub fn accounts(config: &BillingConfig) -> Vec<AccountSpec> {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    (0..config.accounts)
        .map(|account| AccountSpec {
            account,
            balance: rng.random_range(config.opening.min..=config.opening.max),
            threshold: config.threshold,
            recharge: config.recharge,
            floor: None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::Amounts;

    fn first(config: &BillingConfig, worker: u32, n: usize) -> Vec<Request> {
        Generator::new(config, worker).take(n).collect()
    }

    #[test]
    fn a_worker_draws_the_same_requests_for_the_same_seed() {
        let config = BillingConfig { seed: 7, ..BillingConfig::default() };
        assert_eq!(first(&config, 3, 500), first(&config, 3, 500));
        assert_ne!(first(&config, 3, 500), first(&config, 4, 500), "workers draw apart");
        let other = BillingConfig { seed: 8, ..BillingConfig::default() };
        assert_ne!(first(&config, 3, 500), first(&other, 3, 500), "seeds draw apart");
        assert_eq!(accounts(&config), accounts(&config));
        assert_ne!(accounts(&config), accounts(&other));
    }

    #[test]
    fn requests_follow_the_mix_and_stay_within_bounds() {
        let config = BillingConfig::default();
        let requests = first(&config, 0, 20_000);
        let count = |f: F| requests.iter().filter(|r| r.f() == f).count();
        let (debits, payments, reads) = (count(F::Debit), count(F::Payment), count(F::Read));
        assert!((17_600..18_400).contains(&debits), "{debits} debits of 20,000 at 90%");
        assert!((250..550).contains(&payments), "{payments} payments of 20,000 at 2%");
        assert_eq!(debits + payments + reads, 20_000);
        for r in &requests {
            assert!(r.account() < config.accounts);
            match *r {
                Request::Debit { amount, .. } => assert!((1..=10).contains(&amount)),
                Request::Payment { amount, .. } => assert!((500..=2000).contains(&amount)),
                Request::Read { .. } => {}
            }
        }
    }

    #[test]
    fn accounts_open_within_the_configured_range_with_the_policy() {
        let config = BillingConfig::default();
        let specs = accounts(&config);
        assert_eq!(specs.len(), 100);
        assert!(specs.iter().enumerate().all(|(i, s)| s.account == i as u32));
        assert!(specs.iter().all(|s| (1000..=6000).contains(&s.balance)));
        assert!(specs.iter().all(|s| (s.threshold, s.recharge, s.floor) == (1000, 5000, None)));
    }

    #[test]
    fn a_completed_request_repeats_its_arguments_and_adds_the_balance() {
        let debit = Request::Debit { account: 4, amount: 3 };
        let value = debit.value(Some(Observed::Balance(97)));
        let op = AccountOp { account: 4, amount: Some(3), balance: Some(Observed::Balance(97)) };
        assert_eq!(value, Value::Account(op));
        let read = Request::Read { account: 4 }.value(None);
        assert_eq!(read, Value::Account(AccountOp { account: 4, amount: None, balance: None }));
    }

    /// The contended mix of the module docs of [`billing`](super): few accounts, debits
    /// large against the recharge.
    fn contended() -> BillingConfig {
        BillingConfig {
            accounts: 3,
            threshold: 1000,
            recharge: 1000,
            opening: Amounts { min: 1000, max: 1500 },
            debit: Amounts { min: 100, max: 300 },
            ..BillingConfig::default()
        }
    }

    #[test]
    fn a_contended_mix_recharges_every_few_operations_with_workers_sharing_accounts() {
        let config = contended();
        let mut balances: Vec<i64> = accounts(&config).iter().map(|a| a.balance).collect();
        let workers: Vec<Vec<Request>> = (0..8).map(|w| first(&config, w, 500)).collect();
        let (mut operations, mut recharges, mut shared_steps) = (0, 0, 0);
        for step in 0..500 {
            let on: Vec<AccountId> = workers.iter().map(|w| w[step].account()).collect();
            shared_steps +=
                usize::from((0..3).any(|a| on.iter().filter(|&&x| x == a).count() >= 2));
            for worker in &workers {
                operations += 1;
                match worker[step] {
                    Request::Debit { account, amount } => {
                        let balance = &mut balances[account as usize];
                        *balance -= amount;
                        if *balance < config.threshold {
                            *balance += config.recharge;
                            recharges += 1;
                        }
                    }
                    Request::Payment { account, amount } => balances[account as usize] += amount,
                    Request::Read { .. } => {}
                }
            }
        }
        let every = operations / recharges;
        assert!((3..=8).contains(&every), "a recharge every {every} operations ({recharges})");
        assert_eq!(shared_steps, 500, "8 workers on 3 accounts: always two on one account");
    }
}
