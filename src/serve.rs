//! `faultline serve`: browse the store over HTTP, on 127.0.0.1 only.
//!
//! `/` lists every run, newest first, with its verdict (from `results.json`) and links to
//! its report, history, results and node logs; `/runs/<scenario>/<run>/<file>` serves a
//! file of a run. Paths are resolved inside the store and nothing else is served.

use crate::report::escape;
use crate::store::{self, Store};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use std::fmt::Write;
use std::net::SocketAddr;
use std::path::{Component, PathBuf};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The routes, over `store`.
pub fn router(store: Store) -> Router {
    Router::new().route("/", get(index)).route("/runs/{*path}", get(file)).with_state(store)
}

/// Serves `store` on `listener` until `shutdown` is cancelled.
pub async fn serve(
    store: Store,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router(store)).with_graceful_shutdown(shutdown.cancelled_owned()).await
}

/// Binds 127.0.0.1:`port` (0: any free port).
pub async fn bind(port: u16) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

async fn index(State(store): State<Store>) -> Response {
    let runs = match store.runs() {
        Ok(runs) => runs,
        Err(e) => {
            return (StatusCode::INTERNAL_SERVER_ERROR, format!("cannot read the store: {e}"))
                .into_response();
        }
    };
    let mut page = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>faultline runs</title>\
         <style>body{font:14px system-ui,sans-serif;margin:24px}td,th{padding:3px 10px;text-align:left}\
         .valid{color:#1a7f37}.invalid{color:#c62828}.unknown{color:#b26a00}</style></head><body>\
         <h1>faultline runs</h1><table><tr><th>scenario</th><th>run</th><th>verdict</th><th>files</th></tr>",
    );
    for run in &runs {
        let Ok(relative) = run.strip_prefix(store.root()) else { continue };
        let link = relative.to_string_lossy();
        let scenario =
            relative.parent().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
        let name =
            relative.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let validity = verdict_of(run);
        let _ = write!(
            page,
            "<tr><td>{}</td><td>{}</td><td class=\"{validity}\">{validity}</td><td>\
             <a href=\"/runs/{link}/report.html\">report</a> · <a href=\"/runs/{link}/history.jsonl\">history</a> · \
             <a href=\"/runs/{link}/results.json\">results</a> · <a href=\"/runs/{link}/junit.xml\">junit</a></td></tr>",
            escape(&scenario),
            escape(&name),
        );
    }
    if runs.is_empty() {
        page.push_str("<tr><td colspan=4>No runs yet: try <code>faultline run</code>.</td></tr>");
    }
    page.push_str("</table></body></html>");
    Html(page).into_response()
}

fn verdict_of(run: &std::path::Path) -> &'static str {
    let Ok(text) = std::fs::read(run.join(store::RESULTS)) else { return "unfinished" };
    match serde_json::from_slice::<checkers::Report>(&text) {
        Ok(report) => match report.validity() {
            checkers::Validity::Valid => "valid",
            checkers::Validity::Invalid => "invalid",
            checkers::Validity::Unknown => "unknown",
        },
        Err(_) => "unreadable",
    }
}

async fn file(State(store): State<Store>, Path(path): Path<String>) -> Response {
    let relative = PathBuf::from(&path);
    if !relative.components().all(|c| matches!(c, Component::Normal(_))) {
        return (StatusCode::BAD_REQUEST, "no such path").into_response();
    }
    let full = store.root().join(&relative);
    match tokio::fs::read(&full).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, content_type(&path))], bytes).into_response(),
        Err(_) => (StatusCode::NOT_FOUND, format!("no file {path} in the store")).into_response(),
    }
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("json") => "application/json",
        Some("xml") => "application/xml",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        _ => "text/plain; charset=utf-8",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get(addr: SocketAddr, path: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    }

    #[tokio::test]
    async fn the_index_lists_runs_and_files_are_served_but_nothing_outside_the_store() {
        let root = std::env::temp_dir().join(format!("faultline-serve-{}", std::process::id()));
        let store = Store::new(&root);
        let run = store.create_run("kill-master", "naive").unwrap();
        run.write("report.html", "<p>the report</p>").unwrap();
        let (listener, addr) = bind(0).await.unwrap();
        assert!(addr.ip().is_loopback());
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(serve(store, listener, shutdown.clone()));

        let index = get(addr, "/").await;
        assert!(index.contains("kill-master") && index.contains("unfinished"), "{index}");
        let name = run.path().file_name().unwrap().to_string_lossy().into_owned();
        let report = get(addr, &format!("/runs/kill-master/{name}/report.html")).await;
        assert!(
            report.starts_with("HTTP/1.0 200") && report.ends_with("<p>the report</p>"),
            "{report}"
        );
        let escape = get(addr, "/runs/../../etc/passwd").await;
        assert!(!escape.starts_with("HTTP/1.0 200"), "{escape}");

        shutdown.cancel();
        server.await.unwrap().unwrap();
        std::fs::remove_dir_all(&root).unwrap();
    }
}
