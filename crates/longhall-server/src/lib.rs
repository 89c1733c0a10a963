//! Longhall's transports: the HTTP API, WebSocket sessions, the OpenAPI document and health
//! checks. Handlers only call `longhall_core::Longhall`; no handler touches a store.
//!
//! Layout: `routes/*` (one module per noun, each handler annotated for OpenAPI), `ws`
//! (sessions), `web` (the web client's files), `wsproto` (RFC 6455 framing, written straight from shared frame bytes), `auth` (the bearer-token extractor), `error` (error → HTTP).

pub mod auth;
pub mod error;
pub mod headers;
mod listener;
pub mod routes;
pub mod web;
pub mod ws;
pub mod wsproto;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::header;
use axum::routing::get;
use longhall_core::{CoreError, Longhall};
use longhall_types::ErrorCode;
use longhall_types::limits::MAX_BODY_BYTES;
use tokio_util::task::TaskTracker;

use crate::error::ApiError;

/// What every handler receives.
#[derive(Clone)]
pub struct AppState {
    pub lh: Arc<Longhall>,
    /// WebSocket sessions outlive their HTTP request; stopping waits for them to say goodbye.
    pub sessions: TaskTracker,
    pub transport: TransportSettings,
}

/// How the transport treats clients: its bounds on what one may hold (connections, time,
/// silence) and which proxies it trusts to name them. Documented in docs/security.md.
#[derive(Debug, Clone)]
pub struct TransportSettings {
    /// Reverse proxies whose `X-Forwarded-For` names the client (for per-source limits and the
    /// logs); from anyone else the header is ignored.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Most HTTP connections open at once that are not WebSocket sessions. Past it, the one
    /// that has waited longest for a request head is closed to make room, if it has waited at
    /// least `eviction_age`.
    pub max_http_connections: usize,
    /// How long a connection must have waited for a request head before a newcomer may take
    /// its place (one that has just connected is sending its request now).
    pub eviction_age: Duration,
    /// Time to send a request head; also how long an idle keep-alive connection is kept.
    pub header_timeout: Duration,
    /// Time to send a request body (file uploads excepted).
    pub body_timeout: Duration,
    /// Time to send a file upload's body.
    pub upload_timeout: Duration,
    /// A WebSocket client quiet this long is pinged.
    pub ws_ping_interval: Duration,
    /// A WebSocket client quiet this long (no request, no pong) is disconnected.
    pub ws_idle_timeout: Duration,
}

impl Default for TransportSettings {
    fn default() -> Self {
        TransportSettings {
            trusted_proxies: Vec::new(),
            max_http_connections: 512,
            eviction_age: Duration::from_millis(250),
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            upload_timeout: Duration::from_secs(600),
            ws_ping_interval: Duration::from_secs(30),
            ws_idle_timeout: Duration::from_secs(90),
        }
    }
}

/// The OpenAPI document of this server's routes, as served at `/api/v1/openapi.json`.
pub fn openapi_json() -> String {
    routes::api().1.to_pretty_json().unwrap_or_default()
}

/// The whole HTTP application.
pub fn app(lh: Arc<Longhall>) -> Router {
    app_with(lh, TaskTracker::new(), TransportSettings::default())
}

fn app_with(lh: Arc<Longhall>, sessions: TaskTracker, transport: TransportSettings) -> Router {
    let (api, _) = routes::api();
    let doc = openapi_json();
    let state = AppState { lh, sessions, transport };
    api.route(
        "/api/v1/openapi.json",
        get(move || {
            let doc = doc.clone();
            async move { ([(header::CONTENT_TYPE, "application/json")], doc) }
        }),
    )
    .merge(web::routes())
    .fallback(|| async {
        ApiError::new(ErrorCode::RouteNotFound, "There is no such route; the API is described at /api/v1/openapi.json.")
    })
    .method_not_allowed_fallback(|| async {
        ApiError::new(ErrorCode::MethodNotAllowed, "This route does not take that method; see /api/v1/openapi.json.")
    })
    .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
    .layer(axum::middleware::from_fn_with_state(state.clone(), routes::metrics::count_errors))
    .layer(axum::middleware::from_fn_with_state(state.clone(), headers::security))
    .with_state(state)
}

/// Serves until `shutdown` resolves; then tells every client, records their PART events,
/// and finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    lh: Arc<Longhall>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, lh, TransportSettings::default(), shutdown).await
}

/// `serve` with the given transport settings.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    lh: Arc<Longhall>,
    transport: TransportSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let sessions = TaskTracker::new();
    let app = app_with(lh.clone(), sessions.clone(), transport.clone());
    let stop = tokio_util::sync::CancellationToken::new();
    let signal = stop.clone();
    let stopping = lh.clone();
    tokio::spawn(async move {
        shutdown.await;
        stopping.shutdown(CoreError::new(ErrorCode::ShuttingDown, "The server is stopping; reconnect shortly.")).await;
        signal.cancel();
    });
    listener::run(listener, app, lh, transport, stop).await?;
    // HTTP requests are done; let each WebSocket session send its `closing` frame and close
    // handshake (bounded, so a stuck peer can't hold the stop).
    sessions.close();
    let _ = tokio::time::timeout(Duration::from_secs(5), sessions.wait()).await;
    Ok(())
}
