//! The billing client: each step draws a request and sends it to the system under test.
//!
//! **No payment runs concurrently with another operation on its account.** The
//! over-charge and wrongful-suspension checkers bound the balance over the window in
//! which a system may have decided a charge, which reaches back to the earliest debit
//! in flight on the account. A system may also decide in a read or a payment (the
//! fail-safe system completes a deferred recharge in whatever operation comes next on
//! the account), and a payment completing between that decision and the capture would
//! make a justified charge look unjustified. So each account has a lock that payments
//! take exclusively and debits and reads share: concurrent debits, the case that
//! matters for double charging, still race freely. The lock is taken before the
//! invocation is recorded, so it is no part of the operation.

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
    pub locks: Arc<AccountLocks>,
}

impl Client for BillingClient {
    async fn step(&mut self, process: u32, ctx: &Ctx) -> OpType {
        let request = self.generator.next().expect("the generator never ends");
        let lock = &self.locks.0[request.account() as usize];
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
