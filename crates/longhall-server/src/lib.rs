//! Longhall's transports: the HTTP API, WebSocket sessions, the OpenAPI document and health
//! checks. Handlers only call `longhall_core::Longhall`; no handler touches a store.
//!
//! Layout: `routes/*` (one module per noun, each handler annotated for OpenAPI), `ws`
//! (sessions), `wsproto` (RFC 6455 framing, written straight from shared frame bytes), `auth` (the bearer-token extractor), `error` (error → HTTP).

pub mod auth;
pub mod error;
pub mod routes;
pub mod ws;
pub mod wsproto;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::serve::ListenerExt;
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
}

/// The OpenAPI document of this server's routes, as served at `/api/v1/openapi.json`.
pub fn openapi_json() -> String {
    routes::api().1.to_pretty_json().unwrap_or_default()
}

/// The whole HTTP application.
pub fn app(lh: Arc<Longhall>) -> Router {
    app_with_sessions(lh, TaskTracker::new())
}

fn app_with_sessions(lh: Arc<Longhall>, sessions: TaskTracker) -> Router {
    let (api, _) = routes::api();
    let doc = openapi_json();
    api.route(
        "/api/v1/openapi.json",
        get(move || {
            let doc = doc.clone();
            async move { ([(header::CONTENT_TYPE, "application/json")], doc) }
        }),
    )
    .route("/", get(home))
    .fallback(|| async {
        ApiError::new(ErrorCode::RouteNotFound, "There is no such route; the API is described at /api/v1/openapi.json.")
    })
    .method_not_allowed_fallback(|| async {
        ApiError::new(ErrorCode::MethodNotAllowed, "This route does not take that method; see /api/v1/openapi.json.")
    })
    .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
    .with_state(AppState { lh, sessions })
}

async fn home() -> impl IntoResponse {
    (
        StatusCode::OK,
        Html(
            "<!doctype html><meta charset=utf-8><title>Longhall</title>\
             <h1>Longhall is running</h1><p>The API is described at \
             <a href=/api/v1/openapi.json>/api/v1/openapi.json</a>.</p>",
        ),
    )
}

/// Serves until `shutdown` resolves; then tells every client, records their PART events,
/// and finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    lh: Arc<Longhall>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let stopping = lh.clone();
    let sessions = TaskTracker::new();
    // Frames are written whole (a batch per write), so Nagle's algorithm has nothing to merge;
    // left on, it holds a frame back until the client's delayed ACK of the previous one.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app_with_sessions(lh, sessions.clone()).into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async move {
            shutdown.await;
            stopping
                .shutdown(CoreError::new(ErrorCode::ShuttingDown, "The server is stopping; reconnect shortly."))
                .await;
        })
        .await?;
    // Graceful shutdown waits for HTTP requests only; let each WebSocket session send its
    // `closing` frame and close handshake (bounded, so a stuck peer can't hold the stop).
    sessions.close();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), sessions.wait()).await;
    Ok(())
}
