//! The WebSocket session: one reader that handles requests in order, one writer that drains
//! the connection's bounded queue to the socket (many frames per flush).

use std::sync::Arc;

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use longhall_core::live::{Connection, encode};
use longhall_core::service::HistoryQuery;
use longhall_core::{Actor, CoreError};
use longhall_types::api::PostRequest;
use longhall_types::limits::MAX_FRAME_BYTES;
use longhall_types::ws::{ClientFrame, ServerFrame};
use longhall_types::{ErrorBody, ErrorCode};
use tokio::sync::mpsc;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};

/// Frames above this size end the connection; between `MAX_FRAME_BYTES` and this, the frame is
/// refused with `payload_too_large` and the connection goes on.
const HARD_FRAME_LIMIT: usize = 1024 * 1024;

/// Open the live channel. Authenticate with `Authorization: Bearer` or `?access_token=`.
#[utoipa::path(get, path = "/api/v1/ws", tag = "websocket", security(("bearer" = [])),
    params(("access_token" = Option<String>, Query, description = "Token, for clients that can't set headers")),
    responses((status = 101, description = "Switching to the WebSocket protocol of docs/websocket.md"),
        (status = "default", body = ErrorBody)))]
pub async fn websocket(
    State(s): State<AppState>,
    caller: Caller,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let ws = ws.map_err(|e| {
        ApiError::new(ErrorCode::InvalidRequest, format!("This route speaks WebSocket only: {}.", e.body_text()))
    })?;
    let (conn, rx) = s.lh.connect(&caller.actor)?;
    let failed = (s.lh.clone(), conn.id);
    Ok(ws
        // Tungstenite allocates its read buffer up front (128 KiB by default): at tens of
        // thousands of connections that alone would be gigabytes. Client frames are small and
        // the buffer grows when one is not.
        .read_buffer_size(4 * 1024)
        .write_buffer_size(16 * 1024)
        .max_message_size(HARD_FRAME_LIMIT)
        .max_frame_size(HARD_FRAME_LIMIT)
        .on_failed_upgrade(move |_| failed.0.hub.disconnect(failed.1))
        .on_upgrade(move |socket| {
            let sessions = s.sessions.clone();
            sessions.track_future(session(s, caller.actor, conn, rx, socket))
        }))
}

fn text(bytes: Bytes) -> Message {
    // Every queued frame is JSON we produced, so it is UTF-8.
    Message::Text(Utf8Bytes::try_from(bytes).unwrap_or_default())
}

async fn session(s: AppState, actor: Actor, conn: Arc<Connection>, mut rx: mpsc::Receiver<Bytes>, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    conn.send(encode(&ServerFrame::Ready { connection: conn.id, login: actor.user.login.clone() }));
    let writer_conn = conn.clone();
    let writer = tokio::spawn(async move {
        loop {
            tokio::select! {
                biased;
                frame = rx.recv() => {
                    let Some(frame) = frame else { break };
                    if sink.feed(text(frame)).await.is_err() {
                        return;
                    }
                    while let Ok(more) = rx.try_recv() {
                        if sink.feed(text(more)).await.is_err() {
                            return;
                        }
                    }
                    if sink.flush().await.is_err() {
                        return;
                    }
                }
                reason = writer_conn.closing() => {
                    let frame = ServerFrame::Closing { code: reason.code.as_str().into(), message: reason.message.clone() };
                    let _ = sink.send(text(encode(&frame))).await;
                    let code = if reason.code == ErrorCode::ShuttingDown { 1001 } else { 1008 };
                    let _ = sink.send(Message::Close(Some(CloseFrame { code, reason: reason.code.as_str().into() }))).await;
                    return;
                }
            }
        }
    });
    let mut end_reason = "disconnected";
    loop {
        tokio::select! {
            msg = stream.next() => match msg {
                Some(Ok(Message::Text(t))) => handle(&s, &actor, &conn, t.as_str()).await,
                Some(Ok(Message::Binary(_))) => send_error(&conn, None, CoreError::new(ErrorCode::InvalidRequest, "Send JSON text frames, not binary ones.")),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_))) | None => break,
                Some(Err(e)) => {
                    tracing::debug!(conn = conn.id, error = %e, "websocket read failed");
                    // Only an over-long frame is the client's to fix; anything else is a dropped link.
                    let text = e.to_string();
                    if text.contains("too long") || text.contains("too big") {
                        let msg = format!("A frame was larger than {HARD_FRAME_LIMIT} bytes and the connection was closed; frames are limited to {MAX_FRAME_BYTES} bytes.");
                        conn.close(CoreError::new(ErrorCode::PayloadTooLarge, msg));
                        end_reason = "frame too large";
                    }
                    break;
                }
            },
            reason = conn.closing() => {
                end_reason = if reason.code == ErrorCode::SlowConsumer { "slow consumer" } else { "closed by server" };
                break;
            }
        }
    }
    let server_closed = conn.is_closing();
    s.lh.disconnect(&conn, end_reason).await;
    let mut writer = writer;
    if server_closed {
        // The server ended it: let the writer send `closing` and the close handshake, but a
        // peer that never reads can't hold the writer (and its socket) longer than 5 s.
        if tokio::time::timeout(std::time::Duration::from_secs(5), &mut writer).await.is_err() {
            writer.abort();
        }
    } else {
        // The client left (or broke the protocol): there is no one to say goodbye to.
        writer.abort();
    }
}

fn send_error(conn: &Connection, id: Option<String>, e: CoreError) {
    conn.send(encode(&ServerFrame::Error { id, code: e.code.as_str().into(), message: e.message }));
}

/// The `id` of a frame we could not parse, so the error can still be matched.
fn id_of(raw: &str) -> Option<String> {
    serde_json::from_str::<serde_json::Value>(raw).ok()?.get("id")?.as_str().map(str::to_owned)
}

async fn handle(s: &AppState, actor: &Actor, conn: &Arc<Connection>, raw: &str) {
    if raw.len() > MAX_FRAME_BYTES {
        let msg =
            format!("Frames are limited to {MAX_FRAME_BYTES} bytes; this one has {}. Send less at a time.", raw.len());
        return send_error(conn, id_of(raw), CoreError::new(ErrorCode::PayloadTooLarge, msg));
    }
    let frame: ClientFrame = match serde_json::from_str(raw) {
        Ok(f) => f,
        Err(e) => {
            let msg = format!("The frame is not a valid request: {e}. See docs/websocket.md for the frame types.");
            return send_error(conn, id_of(raw), CoreError::new(ErrorCode::InvalidRequest, msg));
        }
    };
    // Re-read the caller per request: a disabled account or a lost role applies at once.
    let actor = match s.lh.current_actor(actor.id()) {
        Ok(a) => a,
        Err(e) => {
            conn.close(e);
            return;
        }
    };
    match frame {
        ClientFrame::Join { id, rooms, backchat } => {
            if let Err(e) = s.lh.join(&actor, conn, id.clone(), rooms, backchat).await {
                send_error(conn, Some(id), e);
            }
        }
        ClientFrame::Leave { id, rooms } => {
            let left = s.lh.leave(&actor, conn, &rooms).await;
            conn.send(encode(&ServerFrame::Left { id, rooms: left }));
        }
        ClientFrame::Post { id, room, text, alert, story_title, file } => {
            let req = PostRequest { text, alert, story_title, file };
            match s.lh.submit_post(&actor, room, req, Some(conn)).await {
                Ok(pending) => {
                    let conn = conn.clone();
                    tokio::spawn(async move {
                        match pending.durable().await {
                            Ok(posted) => conn.send(encode(&ServerFrame::Posted { id, posted })),
                            Err(e) => {
                                send_error(&conn, Some(id), e);
                                true
                            }
                        };
                    });
                }
                Err(e) => send_error(conn, Some(id), e),
            }
        }
        ClientFrame::History { id, room, before_seq, after_seq, around_ts, limit } => {
            let query = match (before_seq, after_seq, around_ts) {
                (None, None, None) => HistoryQuery::Latest,
                (Some(b), None, None) => HistoryQuery::Before(b),
                (None, Some(a), None) => HistoryQuery::After(a),
                (None, None, Some(t)) => HistoryQuery::Around(t),
                _ => {
                    let e = CoreError::new(
                        ErrorCode::InvalidRequest,
                        "Give at most one of before_seq, after_seq and around_ts.",
                    );
                    return send_error(conn, Some(id), e);
                }
            };
            match s.lh.history(&actor, room, query, limit).await {
                Ok(page) => {
                    conn.send(encode(&ServerFrame::History { id, page }));
                }
                Err(e) => send_error(conn, Some(id), e),
            }
        }
        ClientFrame::Read { id, room, seq } => match s.lh.mark_read(&actor, room, seq).await {
            Ok(()) => {
                conn.send(encode(&ServerFrame::ReadAck { id }));
            }
            Err(e) => send_error(conn, Some(id), e),
        },
        ClientFrame::Ping { id } => {
            conn.send(encode(&ServerFrame::Pong { id }));
        }
    }
}
