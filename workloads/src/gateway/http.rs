//! The gateway's HTTP face, shaped like Stripe's charges API (`docs/protocol.md`,
//! section 4): `POST /v1/charges` charges, `GET /v1/charges?idempotency_key=` looks a
//! key up. It serves the same [`Gateway`] as the in-process systems use, so the same
//! faults, keys and records apply; only attribution differs: the `Faultline-Op` a
//! service sends is recorded only if the harness registered that operation as in
//! flight on the charged account ([`Gateway::serving`]).
//!
//! A lost answer holds the connection open and answers nothing until the caller gives
//! up (hyper drops the handler when the connection closes) or the server stops.
//! [`serve`] binds the address it is given, never every interface.

use super::state::{Claim, Request};
use super::{ChargeOutcome, Gateway, Reply};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use checkers::history::AccountId;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use tokio_util::sync::CancellationToken;

/// The longest idempotency key accepted, as Stripe's.
pub const MAX_KEY_LEN: usize = 255;

/// Serves `gateway` on `bind` until `cancel` is cancelled; returns the address bound
/// (`bind` may ask for port 0). Refuses an unspecified address (`0.0.0.0`, `::`): the
/// gateway is reachable only where the harness puts it.
pub async fn serve(
    gateway: Gateway,
    bind: SocketAddr,
    cancel: CancellationToken,
) -> io::Result<SocketAddr> {
    if bind.ip().is_unspecified() {
        let why = format!(
            "the gateway must bind a specific address (127.0.0.1, or the run network's \
             gateway IP), not {bind}"
        );
        return Err(io::Error::new(io::ErrorKind::InvalidInput, why));
    }
    let listener = tokio::net::TcpListener::bind(bind).await?;
    let bound = listener.local_addr()?;
    let app = Router::new()
        .route("/v1/charges", post(charge).get(lookup))
        .with_state(App { gateway, cancel: cancel.clone() });
    crate::task::spawn(async move {
        let stop = async move { cancel.cancelled().await };
        if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(stop).await {
            tracing::warn!("the gateway's HTTP face stopped: {e}");
        }
    });
    Ok(bound)
}

#[derive(Clone)]
struct App {
    gateway: Gateway,
    cancel: CancellationToken,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChargeBody {
    account: AccountId,
    amount: i64,
}

async fn charge(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Response {
    let parsed = match parse(&headers, &body) {
        Ok(parsed) => parsed,
        Err(why) => return error(StatusCode::BAD_REQUEST, "invalid_request_error", &why),
    };
    let (body, key, op) = parsed;
    let req = Request {
        account: body.account,
        amount: body.amount,
        key: key.as_deref(),
        claim: Claim::Claimed(op),
    };
    let mut answer = app.gateway.request(&req);
    let waited = async {
        tokio::time::sleep(answer.delay()).await;
        answer.released().await;
        if answer.reply() == Reply::Lost {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        () = waited => {}
        () = app.cancel.cancelled() => {
            let why = "the gateway stopped before answering: the charge may have been captured";
            return error(StatusCode::INTERNAL_SERVER_ERROR, "api_error", why);
        }
    }
    let mut response = reply(answer.reply(), body.account, body.amount);
    if answer.replayed() {
        response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

/// The body, the idempotency key and the claimed operation of a charge request.
fn parse(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(ChargeBody, Option<String>, Option<u64>), String> {
    let body: ChargeBody = serde_json::from_slice(body)
        .map_err(|e| format!("the body must be {{\"account\": <id>, \"amount\": <cents>}}: {e}"))?;
    if body.amount <= 0 {
        return Err(format!("amount must be a positive number of cents, not {}", body.amount));
    }
    let text = |name: &str| -> Result<Option<String>, String> {
        headers
            .get(name)
            .map(|v| v.to_str().map(str::to_owned).map_err(|_| format!("{name} is not text")))
            .transpose()
    };
    let key = text("idempotency-key")?;
    if let Some(k) = &key
        && (k.is_empty() || k.len() > MAX_KEY_LEN)
    {
        return Err(format!("Idempotency-Key must have 1 to {MAX_KEY_LEN} characters"));
    }
    let op = match text("faultline-op")? {
        Some(op) => {
            Some(op.trim().parse().map_err(|_| format!("Faultline-Op {op:?} is no op id"))?)
        }
        None => None,
    };
    Ok((body, key, op))
}

fn reply(reply: Reply, account: AccountId, amount: i64) -> Response {
    match reply {
        Reply::Charged(ChargeOutcome::Captured(id)) => {
            (StatusCode::OK, axum::Json(charge_object(id, account, amount, true))).into_response()
        }
        Reply::Charged(ChargeOutcome::Declined(id, decline)) => {
            let body = json!({ "error": {
                "type": "card_error",
                "code": "card_declined",
                "decline_code": decline.as_str(),
                "charge": format!("ch_{id}"),
                "message": format!("the card was declined ({})", decline.as_str()),
            }});
            (StatusCode::PAYMENT_REQUIRED, axum::Json(body)).into_response()
        }
        Reply::Error | Reply::Lost => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "api_error",
            "an error occurred: the charge may or may not have been captured",
        ),
        Reply::Unavailable => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "api_connection_error",
            "the gateway is unavailable: nothing was charged",
        ),
        Reply::KeyReused => error(
            StatusCode::BAD_REQUEST,
            "idempotency_error",
            "this idempotency key was used before with other parameters",
        ),
        Reply::InProgress => error(
            StatusCode::CONFLICT,
            "idempotency_error",
            "a request with this idempotency key is still being processed: retry later",
        ),
    }
}

fn charge_object(id: u64, account: AccountId, amount: i64, captured: bool) -> Value {
    json!({
        "id": format!("ch_{id}"),
        "object": "charge",
        "account": account,
        "amount": amount,
        "status": if captured { "succeeded" } else { "failed" },
        "captured": captured,
    })
}

fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    let body = json!({ "error": { "type": kind, "message": message } });
    (status, axum::Json(body)).into_response()
}

async fn lookup(State(app): State<App>, Query(query): Query<HashMap<String, String>>) -> Response {
    let Some(key) = query.get("idempotency_key") else {
        let why = "give the key to look up: GET /v1/charges?idempotency_key=<key>";
        return error(StatusCode::BAD_REQUEST, "invalid_request_error", why);
    };
    let data: Vec<Value> = match app.gateway.lookup_charge(key) {
        Some((ChargeOutcome::Captured(id), account, amount)) => {
            vec![charge_object(id, account, amount, true)]
        }
        Some((ChargeOutcome::Declined(id, _), account, amount)) => {
            vec![charge_object(id, account, amount, false)]
        }
        None => vec![],
    };
    (StatusCode::OK, axum::Json(json!({ "object": "list", "data": data }))).into_response()
}
