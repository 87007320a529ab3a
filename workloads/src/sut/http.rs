//! A billing service in any language, behind the [`BillingSystem`] trait: the harness's
//! side of `faultline-http/1` (`docs/protocol.md`).
//!
//! [`HttpService::connect`] reaches a service that is already healthy (the harness's
//! service runner started it, or the user did) and reads where it keeps its balances
//! (`GET /v1/layout`); [`HttpService::system`] then builds an [`HttpSystem`] per run
//! that sends each client operation as one request.
//!
//! The outcome of an exchange is decided by [`classify`], which `faultline conform`
//! reuses to report protocol violations:
//!
//! | exchange | outcome |
//! |---|---|
//! | `2xx`, well-formed body | `ok` |
//! | error body `{"error": {"definite": true}}` | `fail` |
//! | error body `{"error": {"definite": false}}` | `info` |
//! | `4xx` without one | `fail` |
//! | `5xx` (any other status) without one | `info` |
//! | `2xx` whose body is not what the operation answers | `info`, with the text |
//! | connection refused (nothing sent) | `fail` |
//! | no answer by the deadline, reset, or closed after sending | `info` |
//!
//! Every answer's text, garbage included, goes into the history's error field, so a
//! run against a misbehaving service goes on and shows what it said.

use super::{Answer, BillingSystem, Layout, standard};
use crate::client::{OpError, OpId};
use crate::gateway::Gateway;
use crate::store::{StoreError, Stores};
use checkers::history::{AccountId, AccountSpec, Observed};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};
use std::time::Duration;
use tokio::time::Instant;

/// The protocol this module speaks.
pub const PROTOCOL: &str = "faultline-http/1";

/// The longest answer text kept in the history.
const TEXT_LIMIT: usize = 500;

/// A running `faultline-http/1` service, reached at its base URL.
#[derive(Clone, Debug)]
pub struct HttpService {
    base: String,
    client: reqwest::Client,
    layout: Layout,
    op_timeout: Duration,
}

/// Why a service could not be reached or understood.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The service did not answer as the protocol asks.
    #[error("{url}: {message}")]
    Protocol {
        /// The request's URL.
        url: String,
        /// What was wrong.
        message: String,
    },
}

impl HttpService {
    /// Reaches the service at `base` (e.g. `http://127.0.0.1:8080`), which must be
    /// healthy, and reads its layout (`404`: the standard one). Operations are sent
    /// with `op_timeout` as their deadline.
    pub async fn connect(base: &str, op_timeout: Duration) -> Result<HttpService, ServiceError> {
        let base = base.trim_end_matches('/').to_string();
        let client = client();
        let url = format!("{base}/v1/layout");
        let protocol = |message: String| ServiceError::Protocol { url: url.clone(), message };
        let answer = client
            .get(&url)
            .timeout(op_timeout.max(Duration::from_secs(5)))
            .send()
            .await
            .map_err(|e| protocol(describe_transport(&e)))?;
        let status = answer.status();
        let body = answer.bytes().await.map_err(|e| protocol(describe_transport(&e)))?;
        let layout = match status.as_u16() {
            404 => Layout::standard(),
            200..=299 => parse_layout(&body).map_err(protocol)?,
            other => {
                return Err(protocol(format!(
                    "answered {other} ({}); a service answers 200 with its layout, or 404 \
                     for the standard one",
                    excerpt(&body)
                )));
            }
        };
        Ok(HttpService { base, client, layout, op_timeout })
    }

    /// Its base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Where it keeps its balances.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The system under test for one run; `gateway` is the run's, whose HTTP face the
    /// service charges through.
    pub fn system(&self, gateway: Gateway) -> HttpSystem {
        HttpSystem { service: self.clone(), gateway }
    }

    /// A client of the service at `base` that has not read its layout yet: for
    /// readiness probes (`faultline conform`).
    pub fn probe(base: &str, op_timeout: Duration) -> HttpService {
        let base = base.trim_end_matches('/').to_string();
        HttpService { base, client: client(), layout: Layout::standard(), op_timeout }
    }

    /// Sends one request: `POST {base}{path}` with `body`, answered within `deadline`.
    pub async fn post(
        &self,
        path: &str,
        op: Option<OpId>,
        body: Json,
        deadline: Duration,
    ) -> Exchange {
        let mut request = self
            .client
            .post(format!("{}{path}", self.base))
            .timeout(deadline)
            .header("Faultline-Deadline-Ms", deadline.as_millis().to_string());
        if let Some(op) = op {
            request = request.header("Faultline-Op", op.0.to_string());
        }
        Exchange::from(request.json(&body).send().await).await
    }

    /// Sends `POST {base}{path}` with `body` as it is (not JSON, say), within `deadline`.
    pub async fn post_raw(&self, path: &str, body: Vec<u8>, deadline: Duration) -> Exchange {
        let request = self
            .client
            .post(format!("{}{path}", self.base))
            .timeout(deadline)
            .header("Content-Type", "application/json")
            .body(body);
        Exchange::from(request.send().await).await
    }

    /// Sends `GET {base}{path}`, answered within `deadline`.
    pub async fn get(&self, path: &str, deadline: Duration) -> Exchange {
        let request = self.client.get(format!("{}{path}", self.base)).timeout(deadline);
        Exchange::from(request.send().await).await
    }
}

/// An HTTP client for services: no proxy (services live on loopback or the run's
/// network), no connection reuse limits beyond reqwest's pool.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        // A redirect would send the operation twice, and a refused second hop would
        // pass for a request never sent: a 3xx is an answer (any other status: info).
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client with no TLS and no proxy always builds")
}

fn parse_layout(body: &[u8]) -> Result<Layout, String> {
    let wire: WireLayout = serde_json::from_slice(body).map_err(|e| {
        format!(
            "the layout is not what the protocol describes ({e}): {}; see docs/protocol.md \
             section 6",
            excerpt(body)
        )
    })?;
    let layout = Layout {
        balance_key: wire.balance_key,
        ledger_balance: wire.ledger_balance,
        suspended: wire.suspended,
        credited: wire.credited,
        entries: wire.entries,
    };
    layout.validate().map_err(|e| format!("the layout is invalid: {e}"))?;
    Ok(layout)
}

/// A layout as a service declares it (`GET /v1/layout`).
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct WireLayout {
    /// `null` or absent: the ledger holds the only balance.
    #[serde(default)]
    balance_key: Option<String>,
    ledger_balance: String,
    suspended: String,
    credited: String,
    #[serde(default)]
    entries: Option<String>,
}

/// One request's exchange, as far as it went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exchange {
    /// The service answered.
    Answered {
        /// The HTTP status.
        status: u16,
        /// The body.
        body: Vec<u8>,
    },
    /// The connection was refused: nothing was sent.
    Refused(String),
    /// No answer by the deadline, or the connection broke after the request was sent.
    Lost(String),
}

impl Exchange {
    async fn from(sent: Result<reqwest::Response, reqwest::Error>) -> Exchange {
        let response = match sent {
            Ok(response) => response,
            Err(e) if e.is_connect() => return Exchange::Refused(describe_transport(&e)),
            Err(e) => return Exchange::Lost(describe_transport(&e)),
        };
        let status = response.status().as_u16();
        match response.bytes().await {
            Ok(body) => Exchange::Answered { status, body: body.to_vec() },
            Err(e) => Exchange::Lost(format!("answered {status}, then {}", describe_transport(&e))),
        }
    }
}

fn describe_transport(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "no answer by the deadline".to_string()
    } else if e.is_connect() {
        "connection refused".to_string()
    } else {
        "the connection broke".to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// What an operation's answer must carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// A balance (an integer) or `null`: `balance` on a read.
    Balance,
    /// A balance, `null`, or nothing: debit and payment.
    MaybeBalance,
    /// Anything: setup, settle.
    Anything,
}

/// An exchange, judged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Classified {
    /// The answer to record.
    pub answer: Answer,
    /// What the service did that the protocol does not allow, if anything: `conform`
    /// reports it; a run records the outcome above and goes on.
    pub violation: Option<String>,
}

/// Judges an exchange by the protocol's outcome mapping (module docs).
pub fn classify(exchange: &Exchange, expect: Expect) -> Classified {
    let (status, body) = match exchange {
        Exchange::Refused(e) => return plain(Err(OpError::Refused(e.clone()))),
        Exchange::Lost(e) => return plain(Err(OpError::Indeterminate(e.clone()))),
        Exchange::Answered { status, body } => (*status, body.as_slice()),
    };
    let parsed: Option<Json> = serde_json::from_slice(body).ok();
    let error = parsed.as_ref().and_then(|j| j.get("error")).filter(|e| !e.is_null());
    if let Some(error) = error {
        return error_body(status, error, body);
    }
    if !(200..300).contains(&status) {
        let text = format!("answered {status}: {}", excerpt(body));
        return match status {
            400..=499 => plain(Err(OpError::Refused(text))),
            _ => plain(Err(OpError::Indeterminate(text))),
        };
    }
    let bad = |why: &str| Classified {
        answer: Err(OpError::Indeterminate(format!(
            "answered {status} with {why}: {}",
            excerpt(body)
        ))),
        violation: Some(format!("a {status} answer must carry {}; it had {why}", expect.wants())),
    };
    let Some(json) = parsed else {
        return match expect {
            Expect::Anything => plain(Ok(None)),
            _ => bad("a body that is not JSON"),
        };
    };
    let balance = json.get("balance");
    match (expect, balance) {
        (Expect::Anything, _) => plain(Ok(None)),
        (Expect::MaybeBalance, None) => plain(Ok(None)),
        (Expect::Balance, None) => bad("no `balance`"),
        (_, Some(Json::Null)) => plain(Ok(Some(Observed::Missing))),
        (_, Some(b)) => match b.as_i64() {
            Some(cents) => plain(Ok(Some(Observed::Balance(cents)))),
            None => bad("a `balance` that is not an integer number of cents"),
        },
    }
}

impl Expect {
    fn wants(self) -> &'static str {
        match self {
            Expect::Balance => "a JSON body with an integer `balance` (or null)",
            Expect::MaybeBalance => "a JSON body, with an integer `balance` if any",
            Expect::Anything => "anything",
        }
    }
}

/// An answer carrying `{"error": …}`: `definite` decides.
fn error_body(status: u16, error: &Json, body: &[u8]) -> Classified {
    let code = error.get("code").and_then(Json::as_str).unwrap_or("");
    let text = error.get("text").and_then(Json::as_str).unwrap_or("");
    let said = match (code, text) {
        ("", "") => format!("answered {status}: {}", excerpt(body)),
        (code, "") => format!("{code} ({status})"),
        ("", text) => format!("{text} ({status})"),
        (code, text) => format!("{code}: {text} ({status})"),
    };
    let said = truncate(said);
    match error.get("definite").and_then(Json::as_bool) {
        Some(true) => plain(Err(OpError::Refused(said))),
        Some(false) => plain(Err(OpError::Indeterminate(said))),
        None => Classified {
            // Without `definite`, the status decides, as for a body with no error.
            answer: Err(match status {
                400..=499 => OpError::Refused(said),
                _ => OpError::Indeterminate(said),
            }),
            violation: Some(
                "an error body must say `\"definite\": true` or `false` inside `error`".to_string(),
            ),
        },
    }
}

fn plain(answer: Answer) -> Classified {
    Classified { answer, violation: None }
}

/// The start of a body, as text, for messages and the history.
pub fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() { "an empty body".to_string() } else { truncate(text.to_string()) }
}

fn truncate(mut text: String) -> String {
    if text.len() > TEXT_LIMIT {
        let mut end = TEXT_LIMIT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

/// A `faultline-http/1` service as a system under test, for one run.
pub struct HttpSystem {
    service: HttpService,
    gateway: Gateway,
}

impl HttpSystem {
    /// Sends client operation `op` to `path` and judges the answer; the gateway knows
    /// the operation is in flight on `account` while the request is out, so a charge
    /// the service makes for it is attributed to it (docs/protocol.md, section 4).
    pub async fn exchange(
        &self,
        path: &str,
        op: OpId,
        account: AccountId,
        amount: Option<i64>,
        expect: Expect,
    ) -> Classified {
        let deadline = self.service.op_timeout;
        let mut body =
            json!({ "op": op.0, "deadline_ms": deadline.as_millis() as u64, "account": account });
        if let Some(amount) = amount {
            body["amount"] = json!(amount);
        }
        let _serving = self.gateway.serving(op, account);
        let exchange = self.service.post(path, Some(op), body, deadline).await;
        classify(&exchange, expect)
    }
}

impl HttpSystem {
    /// `POST /v1/setup` with `accounts`, for a service whose stores faultline does not
    /// know (`faultline conform --url`): a `404` cannot be answered by faultline's
    /// standard set-up there, and is an error.
    pub async fn setup(&self, accounts: &[AccountSpec]) -> Result<(), String> {
        let exchange = self.setup_exchange(accounts).await;
        if let Exchange::Answered { status: 404, .. } = exchange {
            return Err("answered 404: the service leaves set-up to faultline, which can do it \
                        only on stores it started (use --service)"
                .to_string());
        }
        match classify(&exchange, Expect::Anything) {
            Classified { violation: Some(v), .. } => Err(v),
            Classified { answer: Err(e), .. } => Err(e.to_string()),
            Classified { answer: Ok(_), .. } => Ok(()),
        }
    }
}

impl HttpSystem {
    /// Sends `POST /v1/setup` with `accounts`, and returns the exchange as it went.
    pub async fn setup_exchange(&self, accounts: &[AccountSpec]) -> Exchange {
        let body = json!({ "accounts": accounts });
        self.service.post("/v1/setup", None, body, SETUP_TIMEOUT).await
    }
}

impl BillingSystem for HttpSystem {
    async fn debit(&self, op: OpId, account: AccountId, amount: i64) -> Answer {
        self.exchange("/v1/debit", op, account, Some(amount), Expect::MaybeBalance).await.answer
    }

    async fn payment(&self, op: OpId, account: AccountId, amount: i64) -> Answer {
        self.exchange("/v1/payment", op, account, Some(amount), Expect::MaybeBalance).await.answer
    }

    async fn balance(&self, op: OpId, account: AccountId) -> Answer {
        self.exchange("/v1/balance", op, account, None, Expect::Balance).await.answer
    }

    async fn settle(&self, deadline: Instant) -> Result<(), OpError> {
        let left = deadline.saturating_duration_since(Instant::now());
        let body = json!({ "deadline_ms": left.as_millis() as u64 });
        let exchange = self.service.post("/v1/settle", None, body, left).await;
        classify(&exchange, Expect::Anything).answer.map(|_| ())
    }

    async fn create_schema(&self, _stores: &Stores) -> Result<(), StoreError> {
        // `POST /v1/setup` empties the stores, creates the schema and opens the
        // accounts in one request: see `seed`.
        Ok(())
    }

    async fn seed(&self, stores: &Stores, accounts: &[AccountSpec]) -> Result<(), StoreError> {
        let exchange = self.setup_exchange(accounts).await;
        if let Exchange::Answered { status: 404, .. } = exchange {
            if self.service.layout != Layout::standard() {
                return Err(StoreError::new(
                    crate::store::ErrorKind::Rejected,
                    "the service declares its own layout (GET /v1/layout) but answers 404 to \
                     POST /v1/setup: only a service with the standard layout may leave set-up \
                     to faultline",
                ));
            }
            standard::create_schema(stores).await?;
            return standard::seed(stores, accounts).await;
        }
        match classify(&exchange, Expect::Anything) {
            Classified { answer: Ok(_), .. } => Ok(()),
            Classified { answer: Err(e), .. } => Err(StoreError::new(
                crate::store::ErrorKind::Rejected,
                format!("POST /v1/setup did not succeed: {e}"),
            )),
        }
    }

    fn layout(&self) -> Layout {
        self.service.layout.clone()
    }
}

/// How long `POST /v1/setup` may take (schema and every account).
const SETUP_TIMEOUT: Duration = Duration::from_secs(60);

#[cfg(test)]
mod tests;
