//! The WebSocket session: one reader that handles requests in order, one writer that drains
//! the connection's bounded queue to the socket (many frames per write). The upgrade and the
//! framing are ours (`wsproto`), so a delivered frame goes from the bytes every recipient
//! shares straight to the socket.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use longhall_core::live::{Connection, encode};
use longhall_core::service::HistoryQuery;
use longhall_core::{Actor, CoreError};
use longhall_types::api::PostRequest;
use longhall_types::limits::MAX_FRAME_BYTES;
use longhall_types::ws::{ClientFrame, ServerFrame};
use longhall_types::{ErrorBody, ErrorCode};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::wsproto::{self, FrameReader, Incoming, ReadError};

/// Frames above this size end the connection; between `MAX_FRAME_BYTES` and this, the frame is
/// refused with `payload_too_large` and the connection goes on.
const HARD_FRAME_LIMIT: usize = 1024 * 1024;

/// How long a goodbye (close frame) may take before the socket is dropped anyway.
const GOODBYE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// A valid WebSocket upgrade request (RFC 6455 §4.2.1): its key and the pending upgrade.
pub struct Upgrade {
    key: HeaderValue,
    on_upgrade: OnUpgrade,
    /// The client offered the `longhall` subprotocol (a browser carrying its token there); the
    /// answer must name it or the browser drops the connection.
    longhall_protocol: bool,
}

fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
}

impl<S: Send + Sync> FromRequestParts<S> for Upgrade {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let refuse =
            |why: &str| ApiError::new(ErrorCode::InvalidRequest, format!("This route speaks WebSocket only: {why}."));
        if !has_token(&parts.headers, header::CONNECTION, "upgrade") {
            return Err(refuse("the Connection header does not include 'upgrade'"));
        }
        if !has_token(&parts.headers, header::UPGRADE, "websocket") {
            return Err(refuse("the Upgrade header is not 'websocket'"));
        }
        if parts.headers.get(header::SEC_WEBSOCKET_VERSION).is_none_or(|v| v.as_bytes() != b"13") {
            return Err(refuse("Sec-WebSocket-Version must be 13"));
        }
        let Some(key) = parts.headers.get(header::SEC_WEBSOCKET_KEY).cloned() else {
            return Err(refuse("the Sec-WebSocket-Key header is missing"));
        };
        let Some(on_upgrade) = parts.extensions.remove::<OnUpgrade>() else {
            return Err(refuse("this connection can't be upgraded"));
        };
        let longhall_protocol = has_token(&parts.headers, header::SEC_WEBSOCKET_PROTOCOL, crate::auth::WS_PROTOCOL);
        Ok(Upgrade { key, on_upgrade, longhall_protocol })
    }
}

/// Open the live channel. Authenticate with `Authorization: Bearer`, the subprotocols
/// `longhall, longhall.bearer.<token>` (browsers) or `?access_token=`.
#[utoipa::path(get, path = "/api/v1/ws", tag = "websocket", security(("bearer" = [])),
    params(("access_token" = Option<String>, Query, description = "Token, for clients that can't set headers")),
    responses((status = 101, description = "Switching to the WebSocket protocol of docs/websocket.md"),
        (status = "default", body = ErrorBody)))]
pub async fn websocket(
    State(s): State<AppState>,
    caller: Caller,
    upgrade: Result<Upgrade, ApiError>,
) -> ApiResult<Response> {
    let upgrade = upgrade?;
    let (conn, rx) = s.lh.connect_with_token(&caller.actor, Some(caller.token_ref))?;
    let accept = wsproto::accept_key(upgrade.key.as_bytes());
    let sessions = s.sessions.clone();
    tokio::spawn(sessions.track_future(async move {
        match upgrade.on_upgrade.await {
            Ok(upgraded) => session(s, caller.actor, conn, rx, TokioIo::new(upgraded)).await,
            Err(e) => {
                tracing::debug!(conn = conn.id, error = %e, "websocket upgrade failed");
                s.lh.hub.disconnect(conn.id);
            }
        }
    }));
    let mut answer = Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "upgrade")
        .header(header::UPGRADE, "websocket")
        .header(header::SEC_WEBSOCKET_ACCEPT, accept);
    if upgrade.longhall_protocol {
        answer = answer.header(header::SEC_WEBSOCKET_PROTOCOL, crate::auth::WS_PROTOCOL);
    }
    answer
        .body(Body::empty())
        .map_err(|e| ApiError::new(ErrorCode::Internal, format!("The upgrade answer could not be built: {e}.")))
}

/// What the reader asks the writer to send besides the queued frames.
enum Control {
    Pong(Bytes),
    /// A keep-alive ping, when the client has been quiet for a while.
    Ping,
    /// Close with this code and reason, then end the stream.
    Close(u16, String),
}

/// Room for one close frame always stays in the control queue; pongs beyond that are dropped
/// (a client flooding pings gets fewer pongs, never a stuck reader).
const CONTROL_QUEUE: usize = 8;

async fn session<IO>(s: AppState, actor: Actor, conn: Arc<Connection>, rx: mpsc::Receiver<Bytes>, io: IO)
where
    IO: AsyncRead + AsyncWrite + Send + 'static,
{
    let (read_half, write_half) = tokio::io::split(io);
    let (ctrl_tx, ctrl_rx) = mpsc::channel(CONTROL_QUEUE);
    conn.send(encode(&ServerFrame::Ready { connection: conn.id, login: actor.user.login.clone() }));
    let mut writer = tokio::spawn(write_loop(conn.clone(), rx, ctrl_rx, write_half));
    let mut reader = FrameReader::new(read_half, HARD_FRAME_LIMIT);
    let mut end_reason = "disconnected";
    // Whether the writer was asked to send a close frame back to the client.
    let mut close_queued = false;
    // A client that is quiet for a ping interval is pinged; one that stays silent (no request,
    // no pong) for the idle timeout is gone (a dead peer, a half-open TCP connection).
    let (ping_every, idle_after) = (s.transport.ws_ping_interval, s.transport.ws_idle_timeout);
    let mut last_heard = tokio::time::Instant::now();
    let mut check = tokio::time::interval_at(last_heard + ping_every, ping_every);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let closing = conn.closing();
    tokio::pin!(closing);
    loop {
        tokio::select! {
            _ = check.tick() => {
                let quiet = last_heard.elapsed();
                if quiet >= idle_after {
                    let msg = format!(
                        "Nothing was heard from this connection for {} seconds and it was closed; answer pings (WebSocket clients do) or send a `ping` request, then reconnect and resume.",
                        quiet.as_secs()
                    );
                    conn.close(CoreError::new(ErrorCode::Timeout, msg));
                } else if quiet >= ping_every && ctrl_tx.capacity() > 1 {
                    let _ = ctrl_tx.try_send(Control::Ping);
                }
            }
            msg = reader.next() => { last_heard = tokio::time::Instant::now(); match msg {
                Ok(Some(Incoming::Text(t))) => handle(&s, &actor, &conn, &t).await,
                Ok(Some(Incoming::Binary)) => send_error(&s, &conn, None, CoreError::new(ErrorCode::InvalidRequest, "Send JSON text frames, not binary ones.")),
                Ok(Some(Incoming::Ping(p))) => {
                    if ctrl_tx.capacity() > 1 {
                        let _ = ctrl_tx.try_send(Control::Pong(p));
                    }
                }
                Ok(Some(Incoming::Pong)) => {}
                Ok(Some(Incoming::Close(code))) => {
                    // Echo the client's close (RFC 6455 §5.5.1); it is leaving, nothing else follows.
                    let code = code.filter(|c| (1000..5000).contains(c)).unwrap_or(wsproto::CLOSE_NORMAL);
                    close_queued = ctrl_tx.try_send(Control::Close(code, String::new())).is_ok();
                    break;
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!(conn = conn.id, error = %e, "websocket read failed");
                    if matches!(e, ReadError::TooLarge) {
                        let msg = format!("A frame was larger than {HARD_FRAME_LIMIT} bytes and the connection was closed; frames are limited to {MAX_FRAME_BYTES} bytes.");
                        conn.close(CoreError::new(ErrorCode::PayloadTooLarge, msg));
                        end_reason = "frame too large";
                    } else if let Some(code) = e.close_code() {
                        close_queued = ctrl_tx.try_send(Control::Close(code, e.to_string())).is_ok();
                        end_reason = "protocol error";
                    }
                    break;
                }
            }},
            reason = &mut closing => {
                s.lh.metrics.error(reason.code);
                end_reason = match reason.code {
                    ErrorCode::SlowConsumer => "slow consumer",
                    ErrorCode::Timeout => "idle",
                    _ => "closed by server",
                };
                break;
            }
        }
    }
    let server_closed = conn.is_closing();
    if !(server_closed || close_queued) {
        // The client left: there is no one to say goodbye to.
        s.lh.disconnect(&conn, end_reason).await;
        writer.abort();
        return;
    }
    // A goodbye is due (`closing` and the close handshake, or the echo of the client's close),
    // but a peer that never reads can't hold the writer (and its socket) long. Meanwhile what
    // the client sends is read and discarded: a client busy writing may not read until its
    // writes are taken, and the goodbye would wait for it. After our close frame, wait (briefly)
    // for the client's (RFC 6455 §7.1.1): dropping a socket with unread input resets it, and a
    // reset throws away what the client had not read yet, `closing` included.
    let finish = async {
        s.lh.disconnect(&conn, end_reason).await;
        if tokio::time::timeout(GOODBYE_TIMEOUT, &mut writer).await.is_err() {
            writer.abort();
            return false;
        }
        true
    };
    tokio::pin!(finish);
    let mut said = None;
    // Only after our own close frame is there a close to wait for; an echo ends at once.
    let mut reading = server_closed;
    let linger = tokio::time::sleep(GOODBYE_TIMEOUT);
    tokio::pin!(linger);
    loop {
        tokio::select! {
            ok = &mut finish, if said.is_none() => {
                said = Some(ok);
                if !ok || !reading {
                    break;
                }
                linger.as_mut().reset(tokio::time::Instant::now() + GOODBYE_TIMEOUT);
            }
            msg = reader.next(), if reading => {
                if !matches!(msg, Ok(Some(ref f)) if !matches!(f, Incoming::Close(_))) {
                    reading = false; // the client's close, its end of stream, or garbage
                    if said.is_some() {
                        break;
                    }
                }
            }
            _ = &mut linger, if said.is_some() => break,
        }
    }
}

/// Drains the connection's queue to the socket, up to `WRITE_BATCH` frames (and about
/// `WRITE_BATCH_BYTES`) per write; sends pings, the pongs and close frames the reader asks for,
/// and the goodbye when the server closes. A slow consumer's goodbye comes next: what is still
/// queued is dropped (it resumes from its last sequence numbers), so its `closing` frame never
/// waits behind the backlog; any other goodbye follows the frames already queued.
async fn write_loop<W: AsyncWrite + Unpin>(
    conn: Arc<Connection>,
    mut rx: mpsc::Receiver<Bytes>,
    mut ctrl: mpsc::Receiver<Control>,
    mut w: W,
) {
    let mut batch: Vec<Bytes> = Vec::new();
    // One wait for the goodbye for the connection's whole life, not one per write.
    let closing = conn.closing();
    tokio::pin!(closing);
    loop {
        tokio::select! {
            biased;
            Some(c) = ctrl.recv() => match c {
                Control::Pong(p) => {
                    if wsproto::write_frame(&mut w, wsproto::OP_PONG, &p).await.is_err() {
                        return;
                    }
                }
                Control::Ping => {
                    if wsproto::write_frame(&mut w, wsproto::OP_PING, b"").await.is_err() {
                        return;
                    }
                }
                Control::Close(code, reason) => {
                    let _ = wsproto::write_frame(&mut w, wsproto::OP_CLOSE, &wsproto::close_payload(code, &reason)).await;
                    let _ = w.shutdown().await;
                    return;
                }
            },
            reason = &mut closing => {
                // A slow consumer's queue is what it could not take: give it back at once, unsent.
                // Any other goodbye (a disabled account's `kicked` frames, say) follows what was
                // already queued, which is bounded, as the goodbye's time is.
                rx.close();
                let mut rest = Vec::new();
                while let Ok(f) = rx.try_recv() {
                    if reason.code == ErrorCode::SlowConsumer {
                        conn.written(f.len());
                    } else {
                        rest.push(f);
                    }
                }
                for chunk in rest.chunks(wsproto::WRITE_BATCH) {
                    let written = wsproto::write_text_frames(&mut w, chunk).await;
                    conn.written(chunk.iter().map(Bytes::len).sum());
                    if written.is_err() {
                        return;
                    }
                }
                let frame = encode(&ServerFrame::Closing { code: reason.code.as_str().into(), message: reason.message.clone() });
                let code = if matches!(reason.code, ErrorCode::ShuttingDown | ErrorCode::ServerNotActive) {
                    wsproto::CLOSE_GOING_AWAY
                } else {
                    wsproto::CLOSE_POLICY
                };
                if wsproto::write_text_frames(&mut w, &[frame]).await.is_ok() {
                    let _ = wsproto::write_frame(&mut w, wsproto::OP_CLOSE, &wsproto::close_payload(code, reason.code.as_str())).await;
                    let _ = w.shutdown().await;
                }
                return;
            }
            frame = rx.recv() => {
                let Some(frame) = frame else { return };
                let mut bytes = frame.len();
                batch.push(frame);
                while batch.len() < wsproto::WRITE_BATCH && bytes < wsproto::WRITE_BATCH_BYTES {
                    match rx.try_recv() {
                        Ok(f) => {
                            bytes += f.len();
                            batch.push(f);
                        }
                        Err(_) => break,
                    }
                }
                let written = wsproto::write_text_frames(&mut w, &batch).await;
                conn.written(bytes);
                batch.clear();
                if written.is_err() {
                    return;
                }
            }
        }
    }
}

fn send_error(s: &AppState, conn: &Connection, id: Option<String>, e: CoreError) {
    s.lh.metrics.error(e.code);
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
        return send_error(s, conn, id_of(raw), CoreError::new(ErrorCode::PayloadTooLarge, msg));
    }
    // serde would read an array as the frame's fields in order: a frame is an object.
    if raw.bytes().find(|b| !b.is_ascii_whitespace()).is_some_and(|b| b != b'{') {
        let msg = "A frame is a JSON object with a \"type\"; see docs/websocket.md for the frame types.";
        return send_error(s, conn, None, CoreError::new(ErrorCode::InvalidRequest, msg));
    }
    let frame: ClientFrame = match serde_json::from_str(raw) {
        Ok(f) => f,
        Err(e) => {
            let msg = format!("The frame is not a valid request: {e}. See docs/websocket.md for the frame types.");
            return send_error(s, conn, id_of(raw), CoreError::new(ErrorCode::InvalidRequest, msg));
        }
    };
    // Re-read the caller per request: a disabled account or a lost role applies at once.
    let actor = match s.lh.current_actor(actor.id()) {
        // Same token and address as at the upgrade (for the audit log).
        Ok(a) => longhall_core::Actor { token: actor.token, source: actor.source, ..a },
        Err(e) => {
            conn.close(e);
            return;
        }
    };
    match frame {
        ClientFrame::Join { id, rooms, backchat } => {
            if let Err(e) = s.lh.join(&actor, conn, id.clone(), rooms, backchat).await {
                send_error(s, conn, Some(id), e);
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
                    let (s, conn) = (s.clone(), conn.clone());
                    tokio::spawn(async move {
                        match pending.durable().await {
                            Ok(posted) => conn.send(encode(&ServerFrame::Posted { id, posted })),
                            Err(e) => {
                                send_error(&s, &conn, Some(id), e);
                                true
                            }
                        };
                    });
                }
                Err(e) => send_error(s, conn, Some(id), e),
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
                    return send_error(s, conn, Some(id), e);
                }
            };
            match s.lh.history(&actor, room, query, limit).await {
                Ok(page) => {
                    conn.send(encode(&ServerFrame::History { id, page }));
                }
                Err(e) => send_error(s, conn, Some(id), e),
            }
        }
        ClientFrame::Read { id, room, seq } => match s.lh.mark_read(&actor, room, seq).await {
            Ok(()) => {
                conn.send(encode(&ServerFrame::ReadAck { id }));
            }
            Err(e) => send_error(s, conn, Some(id), e),
        },
        ClientFrame::Ping { id } => {
            conn.send(encode(&ServerFrame::Pong { id }));
        }
    }
}
