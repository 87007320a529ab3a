//! The billing client: each step draws a request and sends it to the system under test.
//!
//! Payments race debits and reads on their account. With
//! [`exclusive_payments`](super::BillingConfig::exclusive_payments), each account has a
//! lock that payments take exclusively and debits and reads share, so no payment runs
//! concurrently with another operation on its account while debits still race each
//! other; the lock is taken before the invocation is recorded, so it is no part of the
//! operation. It is there to tell whether a payment racing a debit is what broke a
//! system; no checker relies on it.

use super::generator::{Generator, Request};
use crate::client::{Client, Ctx};
use crate::sut::Sut;
use checkers::history::OpType;
use std::sync::Arc;
use tokio::sync::RwLock;

/// One lock per account.
pub(crate) struct AccountLocks(Vec<RwLock<()>>);

impl AccountLocks {
    pub fn new(accounts: u32) -> AccountLocks {
        AccountLocks((0..accounts).map(|_| RwLock::new(())).collect())
    }
}

/// A billing worker.
pub(crate) struct BillingClient {
    pub generator: Generator,
    pub sut: Sut,
    /// Per-account locks, when payments are exclusive.
    pub locks: Option<Arc<AccountLocks>>,
}

impl Client for BillingClient {
    async fn step(&mut self, process: u32, ctx: &Ctx) -> OpType {
        let request = self.generator.next().expect("the generator never ends");
        let Some(locks) = &self.locks else {
            return perform(&self.sut, process, ctx, request).await;
        };
        let lock = &locks.0[request.account() as usize];
        match request {
            Request::Payment { .. } => {
                let _exclusive = lock.write().await;
                perform(&self.sut, process, ctx, request).await
            }
            _ => {
                let _shared = lock.read().await;
                perform(&self.sut, process, ctx, request).await
            }
        }
    }
}

async fn perform(sut: &Sut, process: u32, ctx: &Ctx, request: Request) -> OpType {
    ctx.perform(process, request.f(), request.value(None), |op| async move {
        let balance = match request {
            Request::Debit { account, amount } => sut.debit(op, account, amount).await?,
            Request::Payment { account, amount } => sut.payment(op, account, amount).await?,
            Request::Read { account } => sut.balance(op, account).await?,
        };
        Ok(request.value(balance))
    })
    .await
}
