//! `faultline conform`: checks a service against `faultline-http/1` before a run is
//! spent on it, and says, one line per finding, what it answered and what the protocol
//! expects.
//!
//! With `--service "CMD"` faultline starts a small cluster (a Redis master and
//! Postgres), its gateway and control URL, and the service, as `faultline run` would;
//! then, with no fault:
//!
//! 1. readiness (`GET /v1/health`) and the layout (`GET /v1/layout`);
//! 2. set-up of a few accounts (`POST /v1/setup`, or the standard one on `404`);
//! 3. reads, a debit, a payment, each answer's balance exact (nothing else is running);
//! 4. a debit that crosses the threshold: one capture at the gateway, attributed to the
//!    debit (the service copied `Faultline-Op`), made with an `Idempotency-Key`, and
//!    credited in the answer's balance;
//! 5. what a service must refuse: a read of an account never opened, a body that is not
//!    JSON, a debit without an amount (each a `4xx` or a definite error);
//! 6. `settle`, then faultline's own read of both stores through the layout: every
//!    balance as the operations left it, the capture credited once;
//! 7. the history those operations made, judged by the checkers;
//! 8. a debit while the Redis master is frozen (the nemesis's `pause`): answered by its
//!    deadline, an error being fine and silence not.
//!
//! Every answer goes through the same outcome mapping a run uses
//! ([`workloads::sut::http::classify`]): a garbage answer, an error body without
//! `definite`, a hang past the deadline, a bare `500` are each a finding. With `--url`
//! the service is already running against stores faultline does not know: step 4's
//! gateway checks, 6, 7 and 8 are left out, and the report says so.

use crate::cluster::{Cluster, ClusterBuilder, ClusterError};
use crate::nemesis::{self, Fault, Nemesis};
use crate::service::{Launch, ServiceError, ServiceSpec};
use crate::store::{RunDir, Store};
use checkers::Suite;
use checkers::format::HistoryReader;
use checkers::history::{AccountSpec, Charge, F, Observed, OpType, Process, Value};
use serde_json::json;
use std::fmt;
use std::fs::File;
use std::io::BufReader;
use std::time::Duration;
use workloads::billing::BillingConfig;
use workloads::client::{OpError, OpId};
use workloads::gateway::{Gateway, GatewayConfig};
use workloads::recorder::Recorder;
use workloads::store::{StoreSettings, Stores};
use workloads::sut::BillingSystem;
use workloads::sut::http::{Classified, Exchange, Expect, HttpService, HttpSystem, classify};

/// What to check.
#[derive(Clone, Debug)]
pub enum Target {
    /// A command faultline starts, with stores of its own.
    Service(ServiceSpec),
    /// A service already running at this base URL.
    Url(String),
}

/// One finding: a check and whether the service passed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The request or the fact checked.
    pub check: String,
    /// `None` when it passed; what is wrong otherwise.
    pub problem: Option<String>,
}

/// Every finding, in order, and where the service's output is kept.
#[derive(Debug)]
pub struct Conformance {
    /// The findings.
    pub findings: Vec<Finding>,
    /// What was left out, and why.
    pub skipped: Vec<String>,
    /// The directory with the service's output and the history, when faultline
    /// started the service.
    pub dir: Option<RunDir>,
}

impl Conformance {
    /// How many checks failed.
    pub fn failures(&self) -> usize {
        self.findings.iter().filter(|f| f.problem.is_some()).count()
    }
}

impl fmt::Display for Conformance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for finding in &self.findings {
            match &finding.problem {
                None => writeln!(f, "  ok    {}", finding.check)?,
                Some(problem) => writeln!(f, "  FAIL  {}: {problem}", finding.check)?,
            }
        }
        for skipped in &self.skipped {
            writeln!(f, "  skip  {skipped}")?;
        }
        let failed = self.failures();
        match failed {
            0 => write!(f, "all {} checks passed", self.findings.len())?,
            n => write!(f, "{n} of {} checks failed", self.findings.len())?,
        }
        if let Some(dir) = &self.dir {
            write!(f, "; the service's output and the history: {}", dir.path().display())?;
        }
        writeln!(f)
    }
}

/// Why conform could not check at all.
#[derive(Debug, thiserror::Error)]
pub enum ConformError {
    /// The cluster could not start.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// The service could not start.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// The nemesis could not freeze or thaw the Redis master.
    #[error(transparent)]
    Nemesis(#[from] nemesis::NemesisError),
    /// The store could not be written.
    #[error("writing conform's files: {0}")]
    Io(#[from] std::io::Error),
}

/// The deadline of every request.
const DEADLINE: Duration = Duration::from_secs(2);

/// The accounts conform opens: one far from its threshold, one a debit away from a
/// recharge. No card declines (the gateway declines none here).
fn accounts() -> Vec<AccountSpec> {
    vec![
        AccountSpec { account: 1, balance: 5000, threshold: 1000, recharge: 5000, floor: None },
        AccountSpec { account: 2, balance: 1200, threshold: 1000, recharge: 5000, floor: None },
    ]
}

/// An account never opened.
const UNKNOWN_ACCOUNT: u32 = 999_999;

/// Checks `target` against the protocol. With [`Target::Url`], `POST /v1/setup` empties
/// that service's stores: point it at a service of its own, never at one holding data
/// anyone needs.
pub async fn conform(target: Target, store: &Store) -> Result<Conformance, ConformError> {
    match target {
        Target::Url(url) => Ok(against_url(&url).await),
        Target::Service(spec) => against_service(spec, store).await,
    }
}

async fn against_url(url: &str) -> Conformance {
    let mut checks = Checks::default();
    let service = match checks.reach(url).await {
        Some(service) => service,
        None => return checks.done(None),
    };
    let header = BillingConfig::default().header("conform");
    let recorder = Recorder::new(&header, std::io::sink()).expect("a recorder into nothing");
    let system = service.system(Gateway::new(GatewayConfig::default(), 0, recorder));
    let mut ops = Ops::Numbered(1_000_000);
    checks.setup(&system).await;
    checks.operations(&system, &mut ops).await;
    checks.refusals(&service, &system).await;
    checks.settle(&system).await;
    checks.skipped.push(
        "the gateway's record, the stores' final state and the checkers' verdict: the \
         service runs against stores faultline does not know (use --service)"
            .to_string(),
    );
    checks.done(None)
}

async fn against_service(spec: ServiceSpec, store: &Store) -> Result<Conformance, ConformError> {
    let dir = store.create_run("conform", &spec.name())?;
    let cluster = ClusterBuilder::default().redis_replicas(0).postgres().start().await?;
    let checked = with_cluster(&spec, &cluster, &dir).await;
    cluster.teardown().await?;
    let mut checks = checked?;
    checks.history(&dir);
    Ok(checks.done(Some(dir)))
}

async fn with_cluster(
    spec: &ServiceSpec,
    cluster: &Cluster,
    dir: &RunDir,
) -> Result<Checks, ConformError> {
    let config = BillingConfig {
        gateway: GatewayConfig { declining_cards: 0.0, ..GatewayConfig::default() },
        ..BillingConfig::default()
    };
    let header = config.header(&spec.name());
    let recorder = Recorder::new(&header, File::create(dir.file(crate::store::HISTORY))?)?;
    let gateway = Gateway::new(config.gateway.clone(), 0, recorder.clone());
    let launch = Launch {
        spec: spec.clone(),
        seed: 0,
        run_id: cluster.run_id().to_string(),
        op_timeout: DEADLINE,
    };
    let mut checks = Checks::default();
    let launched = launch.start(&gateway, cluster, dir).await?;
    checks.pass("GET /v1/health answered 2xx");
    let http = match launched.connect().await {
        Ok(http) => {
            checks.pass("GET /v1/layout answered a layout, or 404 for the standard one");
            http
        }
        Err(e) => {
            checks.fail("GET /v1/layout", format!("{e}; going on with the standard layout"));
            HttpService::probe(&launched.url, DEADLINE)
        }
    };
    let system = http.system(gateway.clone());
    let mut ops = Ops::Recorded(recorder.clone(), 0);
    let shape = Value::Layout(http.layout().shape());
    recorder.record(Process::Harness, OpType::Ok, F::Layout, shape, None);
    for spec in accounts() {
        recorder.record(Process::Harness, OpType::Ok, F::Open, Value::Open(spec), None);
    }
    let stores = Stores::new(cluster.endpoints(), &StoreSettings::default());
    checks.setup_on(&system, &stores).await;
    checks.operations(&system, &mut ops).await;
    checks.refusals(&http, &system).await;
    recorder.invoke(Process::Harness, F::Settle, Value::Nil);
    let settled = checks.settle(&system).await;
    let kind = if settled { OpType::Ok } else { OpType::Info };
    recorder.record(Process::Harness, kind, F::Settle, Value::Nil, None);
    checks.finals(&system, &stores, &recorder).await;
    checks.frozen_store(&system, cluster).await?;
    launched.stop().await;
    recorder.finish()?;
    Ok(checks)
}

/// Where operation ids come from: the history conform records, or a counter.
enum Ops {
    /// Recorded as process `.1`, a fresh one after an `info`, as clients do.
    Recorded(Recorder, u32),
    Numbered(u64),
}

impl Ops {
    fn invoke(&mut self, f: F, value: Value) -> OpId {
        match self {
            Ops::Recorded(recorder, process) => {
                OpId(recorder.invoke(Process::Client(*process), f, value))
            }
            Ops::Numbered(next) => {
                *next += 1;
                OpId(*next)
            }
        }
    }

    fn complete(&mut self, f: F, value: Value, answer: &Result<Option<Observed>, OpError>) {
        if let Ops::Recorded(recorder, process) = self {
            let (kind, error) = match answer {
                Ok(_) => (OpType::Ok, None),
                Err(OpError::Refused(e)) => (OpType::Fail, Some(e.clone())),
                Err(OpError::Indeterminate(e)) => (OpType::Info, Some(e.clone())),
            };
            recorder.record(Process::Client(*process), kind, f, value, error);
            if kind == OpType::Info {
                *process += 1;
            }
        }
    }
}

#[derive(Default)]
struct Checks {
    findings: Vec<Finding>,
    skipped: Vec<String>,
    /// The op of the debit that should recharge account 2.
    recharging: Option<OpId>,
}

impl Checks {
    fn pass(&mut self, check: impl Into<String>) {
        self.findings.push(Finding { check: check.into(), problem: None });
    }

    fn fail(&mut self, check: impl Into<String>, problem: impl Into<String>) {
        self.findings.push(Finding { check: check.into(), problem: Some(problem.into()) });
    }

    fn done(self, dir: Option<RunDir>) -> Conformance {
        Conformance { findings: self.findings, skipped: self.skipped, dir }
    }

    async fn reach(&mut self, url: &str) -> Option<HttpService> {
        let probe = HttpService::probe(url, DEADLINE);
        match classify(&probe.get("/v1/health", DEADLINE).await, Expect::Anything).answer {
            Ok(_) => self.pass("GET /v1/health answered 2xx"),
            Err(e) => {
                self.fail("GET /v1/health", format!("{e}; a ready service answers 2xx"));
                return None;
            }
        }
        match HttpService::connect(url, DEADLINE).await {
            Ok(service) => {
                self.pass("GET /v1/layout answered a layout, or 404 for the standard one");
                Some(service)
            }
            Err(e) => {
                self.fail("GET /v1/layout", e.to_string());
                None
            }
        }
    }

    async fn setup(&mut self, system: &HttpSystem) {
        match system.setup(&accounts()).await {
            Ok(()) => self.pass("POST /v1/setup opened the accounts"),
            Err(e) => self.fail("POST /v1/setup", e),
        }
    }

    async fn setup_on(&mut self, system: &HttpSystem, stores: &Stores) {
        let check = "POST /v1/setup opened the accounts (or 404: the standard set-up)";
        match system.setup_exchange(&accounts()).await {
            Exchange::Answered { status: 404, .. } => {
                match system.seed(stores, &accounts()).await {
                    Ok(()) => self.pass(check),
                    Err(e) => self.fail(check, e.to_string()),
                }
            }
            exchange => match classify(&exchange, Expect::Anything) {
                Classified { violation: Some(v), .. } => self.fail("POST /v1/setup", v),
                Classified { answer: Err(e), .. } => {
                    self.fail("POST /v1/setup", format!("{e}; with no fault, set-up answers 2xx"))
                }
                Classified { answer: Ok(_), .. } => self.pass(check),
            },
        }
    }

    /// One operation: its answer judged by the protocol, then its balance.
    async fn operation(
        &mut self,
        system: &HttpSystem,
        ops: &mut Ops,
        (f, path, expect): (F, &str, Expect),
        account: u32,
        amount: Option<i64>,
        want: &[i64],
    ) -> OpId {
        let args = account_value(account, amount, None);
        let op = ops.invoke(f.clone(), args.clone());
        let check = match amount {
            Some(amount) => format!("POST {path} (account {account}, {amount} cents)"),
            None => format!("POST {path} (account {account})"),
        };
        let Classified { answer, violation } =
            system.exchange(path, op, account, amount, expect).await;
        let balance = answer.as_ref().ok().and_then(Clone::clone);
        ops.complete(f, account_value(account, amount, balance), &answer);
        match (answer, violation) {
            (_, Some(violation)) => self.fail(check, violation),
            (Err(e), None) => {
                self.fail(check, format!("{e}; with no fault, a healthy service answers 2xx"))
            }
            (Ok(Some(Observed::Balance(got))), None) if !want.contains(&got) => {
                let want: Vec<String> = want.iter().map(ToString::to_string).collect();
                let want = want.join(" or ");
                self.fail(
                    check,
                    format!("answered a balance of {got} cents; nothing else ran, so it is {want}"),
                )
            }
            (Ok(Some(Observed::Balance(got))), None) => {
                self.pass(format!("{check} answered {got} cents"))
            }
            (Ok(Some(Observed::Missing)), None) => self.fail(
                check,
                "answered `\"balance\": null` for an opened account; it always has a balance",
            ),
            (Ok(_), None) => self.pass(format!("{check} answered 2xx")),
        }
        op
    }

    async fn operations(&mut self, system: &HttpSystem, ops: &mut Ops) {
        let read = (F::Read, "/v1/balance", Expect::Balance);
        let debit = (F::Debit, "/v1/debit", Expect::MaybeBalance);
        let payment = (F::Payment, "/v1/payment", Expect::MaybeBalance);
        self.operation(system, ops, read.clone(), 1, None, &[5000]).await;
        self.operation(system, ops, debit.clone(), 1, Some(100), &[4900]).await;
        self.operation(system, ops, payment, 1, Some(250), &[5150]).await;
        self.operation(system, ops, read.clone(), 1, None, &[5150]).await;
        // The debit that needs a recharge may answer the balance before its credit.
        let op = self.operation(system, ops, debit, 2, Some(300), &[900, 5900]).await;
        self.recharging = Some(op);
        // A recharge made in the background may not be credited yet.
        self.operation(system, ops, read, 2, None, &[900, 5900]).await;
    }

    /// The gateway's record of the recharge the debit on account 2 needed.
    fn recharge(&mut self, charges: &[Charge]) {
        let check = "the debit that left account 2 below its threshold recharged its card";
        let on_2: Vec<_> = charges.iter().filter(|c| c.account == 2).collect();
        match on_2.as_slice() {
            [] => return self.fail(check, "the gateway saw no charge for account 2"),
            [one] => {
                self.pass(format!("{check} once ({} cents)", one.amount));
                match one.op.map(OpId) {
                    Some(op) if Some(op) == self.recharging => {
                        self.pass("the charge names the debit it serves (Faultline-Op)")
                    }
                    Some(other) => self.fail(
                        "the charge names the debit it serves",
                        format!(
                            "the gateway attributed it to operation {}, not the debit",
                            other.0
                        ),
                    ),
                    None => self.fail(
                        "the charge names the debit it serves",
                        "the gateway request carried no `Faultline-Op` naming the debit: the \
                         checkers then judge it as a background recharge, over a wider window \
                         (if it was one, this is fine; if not, copy the header from the request \
                         being served: docs/protocol.md section 4)",
                    ),
                }
                if one.key.is_none() {
                    self.fail(
                        "the charge carries an Idempotency-Key",
                        "it had none: after a lost answer the service cannot ask what happened, \
                         and a retry charges the card twice",
                    );
                } else {
                    self.pass("the charge carries an Idempotency-Key");
                }
            }
            many => {
                self.fail(check, format!("the gateway saw {} charges for one need", many.len()))
            }
        }
        if charges.iter().any(|c| c.account != 2) {
            self.fail("no other charge", "an account far above its threshold was charged");
        }
    }

    async fn refusals(&mut self, service: &HttpService, system: &HttpSystem) {
        let check = format!("POST /v1/balance of an account never opened ({UNKNOWN_ACCOUNT})");
        // Not recorded: the history holds operations on opened accounts only.
        let op = OpId(u64::MAX);
        let classified =
            system.exchange("/v1/balance", op, UNKNOWN_ACCOUNT, None, Expect::Balance).await;
        self.refused(check, classified);
        let garbage = service.post_raw("/v1/debit", b"this is not JSON".to_vec(), DEADLINE).await;
        self.refused(
            "POST /v1/debit with a body that is not JSON".into(),
            classify(&garbage, Expect::MaybeBalance),
        );
        let body = json!({ "op": 0, "deadline_ms": DEADLINE.as_millis() as u64, "account": 1 });
        let missing = service.post("/v1/debit", None, body, DEADLINE).await;
        self.refused(
            "POST /v1/debit without an amount".into(),
            classify(&missing, Expect::MaybeBalance),
        );
    }

    /// A request the service must refuse, definitely.
    fn refused(&mut self, check: String, classified: Classified) {
        match (classified.answer, classified.violation) {
            (_, Some(violation)) => self.fail(check, violation),
            (Err(OpError::Refused(said)), None) => {
                self.pass(format!("{check} was refused ({said})"))
            }
            (Err(OpError::Indeterminate(said)), None) => self.fail(
                check,
                format!(
                    "{said}: recorded as unknown; a request the service rejects answers 4xx, or \
                     an error body with \"definite\": true"
                ),
            ),
            (Ok(_), None) => {
                self.fail(check, "answered 2xx; it must be refused (4xx, or a definite error)")
            }
        }
    }

    async fn settle(&mut self, system: &HttpSystem) -> bool {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        match system.settle(deadline).await {
            Ok(()) => {
                self.pass("POST /v1/settle answered 2xx");
                true
            }
            Err(e) => {
                self.fail("POST /v1/settle", format!("{e}; with no fault, settle answers 2xx"));
                false
            }
        }
    }

    /// faultline's own read of the stores, through the service's layout.
    async fn finals(&mut self, system: &HttpSystem, stores: &Stores, recorder: &Recorder) {
        let ids: Vec<_> = accounts().iter().map(|a| a.account).collect();
        let finals = workloads::truth::final_states(stores, &system.layout(), &ids).await;
        for state in &finals {
            recorder.record(
                Process::Harness,
                OpType::Ok,
                F::Final,
                Value::Final(state.clone()),
                None,
            );
        }
        for (account, want) in [(1, 5150), (2, 5900)] {
            let check = format!(
                "the stores hold account {account}'s balance, {want} cents, where the layout says"
            );
            let Some(state) = finals.iter().find(|s| s.account == account) else {
                self.fail(check, "faultline could not read it");
                continue;
            };
            match (&state.in_flight, &state.ledger) {
                (Some(Observed::Balance(r)), Observed::Balance(l)) if *r == want && *l == want => {
                    self.pass(check)
                }
                (None, Observed::Balance(l)) if *l == want => self.pass(check),
                (Some(redis), ledger) => {
                    self.fail(check, format!("Redis holds {redis:?}, the ledger {ledger:?}"))
                }
                (None, ledger) => self.fail(check, format!("the ledger holds {ledger:?}")),
            }
        }
        if let Some(state) = finals.iter().find(|s| s.account == 2) {
            let check = "the ledger credits account 2's recharge once, by the gateway's charge id";
            match state.credited.len() {
                1 => self.pass(check),
                n => self
                    .fail(check, format!("it lists {n} credited charges ({:?})", state.credited)),
            }
        }
    }

    /// A debit while the Redis master is frozen (the nemesis's `pause`) must still be
    /// answered by its deadline: an error is fine, silence is not. Not recorded: it
    /// comes after the final reads.
    async fn frozen_store(
        &mut self,
        system: &HttpSystem,
        cluster: &Cluster,
    ) -> Result<(), ConformError> {
        let check = "POST /v1/debit while the Redis master is frozen is answered by its deadline";
        let header = BillingConfig::default().header("conform");
        let sink = Recorder::new(&header, std::io::sink())?;
        let mut nemesis = Nemesis::new(cluster, sink, 0).await?;
        let freeze = Fault::Pause { target: nemesis::Target::master() };
        let id = nemesis.start(&freeze).await?;
        let debit =
            system.exchange("/v1/debit", OpId(u64::MAX - 1), 1, Some(10), Expect::MaybeBalance);
        let answered = debit.await;
        nemesis.heal(id).await?;
        match answered.answer {
            Err(OpError::Indeterminate(e)) if e.starts_with("no answer by the deadline") => self
                .fail(
                    check,
                    format!(
                        "{e}: a service answers within deadline_ms ({} ms here) even when a store \
                     does not, with an error saying `\"definite\": false`",
                        DEADLINE.as_millis()
                    ),
                ),
            Ok(_) => self.pass(format!("{check} (it answered 2xx)")),
            Err(e) => self.pass(format!("{check} ({e})")),
        }
        Ok(())
    }

    /// The checkers' verdict on the history conform made.
    fn history(&mut self, dir: &RunDir) {
        match captures(dir) {
            Ok(charges) => self.recharge(&charges),
            Err(e) => self.fail("the gateway's record of the charges", e),
        }
        let check = "the checkers find the history of these operations valid";
        let judged = File::open(dir.file(crate::store::HISTORY))
            .map_err(|e| e.to_string())
            .and_then(|file| HistoryReader::new(BufReader::new(file)).map_err(|e| e.to_string()))
            .and_then(|reader| {
                let suite = Suite::for_header(reader.header()).map_err(|e| e.to_string())?;
                suite.check_reader(reader).map_err(|e| e.to_string())
            });
        match judged {
            Ok(report) if report.verdict().is_valid() => self.pass(check),
            Ok(report) => {
                let rows: Vec<String> = report
                    .results
                    .iter()
                    .filter(|r| r.concern == checkers::Concern::Safety && !r.verdict.is_valid())
                    .map(|r| format!("{} {}", r.checker, r.status()))
                    .collect();
                self.fail(
                    check,
                    format!(
                        "{} ({}); `faultline check` on the history explains",
                        report.validity(),
                        rows.join(", ")
                    ),
                )
            }
            Err(e) => self.fail(check, e),
        }
    }
}

fn account_value(account: u32, amount: Option<i64>, balance: Option<Observed>) -> Value {
    Value::Account(checkers::history::AccountOp { account, amount, balance })
}

/// Every charge the gateway recorded in the history conform made.
fn captures(dir: &RunDir) -> Result<Vec<Charge>, String> {
    let file = File::open(dir.file(crate::store::HISTORY)).map_err(|e| e.to_string())?;
    let mut reader = HistoryReader::new(BufReader::new(file)).map_err(|e| e.to_string())?;
    let mut charges = Vec::new();
    while let Some((_, op)) = reader.next_op().map_err(|e| e.to_string())? {
        if let (Process::Gateway, F::Charge, Value::Charge(c)) = (&op.process, &op.f, &op.value) {
            charges.push(c.clone());
        }
    }
    Ok(charges)
}
