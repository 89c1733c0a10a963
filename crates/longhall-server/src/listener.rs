//! The accept loop: HTTP/1.1 connections with bounds a client can't get around.
//!
//! - A request head must arrive within `header_timeout`; a keep-alive connection waiting for
//!   its next request is closed after the same time.
//! - A request body must arrive within `body_timeout` (`upload_timeout` for file uploads).
//! - At most `max_http_connections` connections that are not WebSocket sessions are open at
//!   once. When a new one would pass the bound, the connection that has waited longest for a
//!   request head is closed to make room, if it has waited at least `eviction_age` (a trickle of
//!   half-open connections only pushes out its own kind); otherwise (every one busy with a
//!   request, or just arrived) the newcomer gets `503 server_full`.
//!
//! Upgraded connections (WebSocket sessions) leave this count; the hub bounds them.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, Response};
use bytes::Bytes;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use longhall_types::ErrorCode;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_service::Service;

use longhall_core::Longhall;

use crate::TransportSettings;
use crate::error::ApiError;

/// `503 server_full` answers being written at once; past it, a refused connection is just closed.
const MAX_REFUSALS: usize = 64;

/// How long a stop waits for the HTTP requests in flight.
const STOP_WAIT: Duration = Duration::from_secs(30);

/// Largest request head (request line and headers) a client may send.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// One HTTP connection's place in the count.
struct Slot {
    /// Its key in the waiting line and when it began waiting for its current request head.
    place: Mutex<(u64, tokio::time::Instant)>,
    /// Set (under the `Slots` lock) when the connection was closed to make room.
    evicted: std::sync::atomic::AtomicBool,
    notify: Notify,
}

impl Slot {
    fn place(&self) -> (u64, tokio::time::Instant) {
        *self.place.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn is_evicted(&self) -> bool {
        self.evicted.load(std::sync::atomic::Ordering::Acquire)
    }
}

/// HTTP connections of this server, and which of them wait for a request head, oldest first.
#[derive(Default)]
struct Slots {
    inner: Mutex<SlotsInner>,
}

#[derive(Default)]
struct SlotsInner {
    next_id: u64,
    /// Open HTTP connections (not yet upgraded, not yet closed, not evicted).
    open: usize,
    waiting: BTreeMap<u64, Arc<Slot>>,
}

impl Slots {
    fn lock(&self) -> std::sync::MutexGuard<'_, SlotsInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A place for a new connection, if one is free or can be freed: the connection that has
    /// waited longest for a request head gives its place up, if it has waited at least
    /// `min_wait` (a connection that has only just arrived is sending its request now).
    fn admit(&self, max: usize, min_wait: Duration) -> Option<Arc<Slot>> {
        let mut s = self.lock();
        let now = tokio::time::Instant::now();
        if s.open >= max {
            let (key, oldest) = s.waiting.first_key_value().map(|(k, slot)| (*k, slot.clone()))?;
            if now.duration_since(oldest.place().1) < min_wait {
                return None;
            }
            s.waiting.remove(&key);
            oldest.evicted.store(true, std::sync::atomic::Ordering::Release);
            oldest.notify.notify_one();
            s.open -= 1;
        }
        s.open += 1;
        s.next_id += 1;
        let key = s.next_id;
        let slot = Arc::new(Slot { place: Mutex::new((key, now)), evicted: Default::default(), notify: Notify::new() });
        s.waiting.insert(key, slot.clone());
        Some(slot)
    }

    /// Closes every connection waiting for a request head (the server is stopping).
    fn evict_waiting(&self) {
        let mut s = self.lock();
        while let Some((_, slot)) = s.waiting.pop_first() {
            slot.evicted.store(true, std::sync::atomic::Ordering::Release);
            slot.notify.notify_one();
            s.open -= 1;
        }
    }

    /// A request head arrived: the connection is busy until its answer is ready.
    fn busy(&self, slot: &Slot) {
        self.lock().waiting.remove(&slot.place().0);
    }

    /// The answer is out: the connection waits for its next request head (and goes to the
    /// back of the line).
    fn idle(&self, slot: &Arc<Slot>) {
        let mut s = self.lock();
        if !slot.is_evicted() {
            s.next_id += 1;
            let key = s.next_id;
            *slot.place.lock().unwrap_or_else(|e| e.into_inner()) = (key, tokio::time::Instant::now());
            s.waiting.insert(key, slot.clone());
        }
    }

    /// The connection ended or became a WebSocket session.
    fn release(&self, slot: &Slot) {
        let mut s = self.lock();
        s.waiting.remove(&slot.place().0);
        if !slot.is_evicted() {
            s.open = s.open.saturating_sub(1);
        }
    }
}

/// Serves `app` on `listener` until `shutdown` is cancelled; then lets requests in flight
/// finish and returns.
pub(crate) async fn run(
    listener: TcpListener,
    app: Router,
    lh: Arc<Longhall>,
    transport: TransportSettings,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let slots = Arc::new(Slots::default());
    let connections = TaskTracker::new();
    let refusals = Arc::new(tokio::sync::Semaphore::new(MAX_REFUSALS));
    loop {
        let (tcp, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors, or a connection reset before it was accepted:
                    // keep serving the ones we have and try again shortly.
                    tracing::debug!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Frames are written whole (a batch per write), so Nagle's algorithm has nothing to
        // merge; left on, it holds a frame back until the client's delayed ACK of the previous one.
        let _ = tcp.set_nodelay(true);
        match slots.admit(transport.max_http_connections, transport.eviction_age) {
            Some(slot) => {
                let conn = Conn { peer, app: app.clone(), transport: transport.clone(), slots: slots.clone(), slot };
                connections.spawn(conn.serve(tcp, shutdown.clone()));
            }
            // Answering takes a moment (the request head is read first); under a flood,
            // only so many answers are in progress and the rest are just closed.
            None => {
                // Counted here: a refused connection never reaches the router's error count.
                lh.metrics.error(ErrorCode::ServerFull);
                match refusals.clone().try_acquire_owned() {
                    Ok(permit) => {
                        connections.spawn(async move {
                            refuse_full(tcp).await;
                            drop(permit);
                        });
                    }
                    Err(_) => drop(tcp),
                }
            }
        }
    }
    drop(listener);
    // Connections between requests (or still sending a head) have nothing to finish.
    slots.evict_waiting();
    connections.close();
    if tokio::time::timeout(STOP_WAIT, connections.wait()).await.is_err() {
        tracing::warn!("some HTTP requests were still running {STOP_WAIT:?} after the stop; they were cut off");
    }
    Ok(())
}

/// One HTTP connection; also the service its requests go through.
#[derive(Clone)]
struct Conn {
    peer: SocketAddr,
    app: Router,
    transport: TransportSettings,
    slots: Arc<Slots>,
    slot: Arc<Slot>,
}

impl Conn {
    /// Serves requests until the client leaves, the connection is upgraded, it is closed to
    /// make room, or the server stops (then the request in flight is finished first).
    async fn serve(self, tcp: TcpStream, shutdown: CancellationToken) {
        let (peer, slots, slot) = (self.peer, self.slots.clone(), self.slot.clone());
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.transport.header_timeout)
            .max_buf_size(MAX_HEAD_BYTES);
        let conn = builder.serve_connection(TokioIo::new(tcp), self).with_upgrades();
        tokio::pin!(conn);
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "HTTP connection ended with an error");
                }
            }
            _ = slot.notify.notified() => {
                tracing::debug!(%peer, "HTTP connection closed to make room for a new one");
            }
            _ = shutdown.cancelled() => {
                // Finish the request in flight; one still waiting for a head is closed at once.
                conn.as_mut().graceful_shutdown();
                tokio::select! {
                    _ = conn.as_mut() => {}
                    _ = slot.notify.notified() => {}
                }
            }
        }
        slots.release(&slot);
    }
}

/// Answers a connection that can't be served now and closes it. The request head is read
/// first (briefly, and bounded), so that an HTTP client sees the answer to its request
/// rather than a connection closed under it.
async fn refuse_full(mut tcp: TcpStream) {
    use tokio::io::AsyncReadExt;
    let body = serde_json::to_string(&longhall_types::ErrorBody {
        code: ErrorCode::ServerFull.as_str().into(),
        message: "The server has as many HTTP connections open as it allows; try again in a moment.".into(),
    })
    .unwrap_or_default();
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        let mut head = Vec::with_capacity(1024);
        let mut chunk = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD_BYTES {
            match tcp.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&chunk[..n]),
            }
        }
        let _ = tcp.write_all(answer.as_bytes()).await;
        let _ = tcp.shutdown().await;
        // Let the client read the answer before the socket goes (closing with unread input
        // would reset it).
        while let Ok(n) = tcp.read(&mut chunk).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

/// Each request: the connection is busy while it is handled, handlers get the peer address,
/// and the request body has a deadline.
impl hyper::service::Service<Request<Incoming>> for Conn {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        self.slots.busy(&self.slot);
        let path = req.uri().path();
        let is_upload = req.method() == Method::POST && path.starts_with("/api/v1/rooms/") && path.ends_with("/files");
        let limit = if is_upload { self.transport.upload_timeout } else { self.transport.body_timeout };
        let mut req = req.map(|body| Body::new(DeadlineBody::new(body, limit)));
        let client = client_address(self.peer, req.headers(), &self.transport.trusted_proxies);
        req.extensions_mut().insert(ConnectInfo(client));
        let mut app = self.app.clone();
        let (slots, slot) = (self.slots.clone(), self.slot.clone());
        Box::pin(async move {
            let response = match app.call(req).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            slots.idle(&slot);
            Ok(response)
        })
    }
}

/// The client's address: the peer, or, when the peer is a trusted proxy, the last address in
/// `X-Forwarded-For` that is not itself a trusted proxy (each proxy appends the address it
/// received the request from, so earlier entries are the client's own claims).
fn client_address(peer: SocketAddr, headers: &axum::http::HeaderMap, trusted: &[std::net::IpAddr]) -> SocketAddr {
    if !trusted.contains(&peer.ip()) {
        return peer;
    }
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    for hop in hops.iter().rev() {
        match hop.parse::<std::net::IpAddr>() {
            Ok(ip) if trusted.contains(&ip) => continue,
            Ok(ip) => return SocketAddr::new(ip, 0),
            // Unparsable: don't look further left, where the client wrote what it liked.
            Err(_) => return peer,
        }
    }
    peer
}

/// A request body that must be complete by a deadline.
struct DeadlineBody {
    inner: Incoming,
    deadline: Pin<Box<tokio::time::Sleep>>,
    limit: Duration,
}

impl DeadlineBody {
    fn new(inner: Incoming, limit: Duration) -> DeadlineBody {
        DeadlineBody { inner, deadline: Box::pin(tokio::time::sleep(limit)), limit }
    }
}

/// A body that did not arrive in time.
#[derive(Debug)]
pub struct BodyTimeout(pub Duration);

impl std::fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the request body did not arrive within {} seconds", self.0.as_secs())
    }
}

impl std::error::Error for BodyTimeout {}

impl hyper::body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            let limit = self.limit;
            return Poll::Ready(Some(Err(Box::new(BodyTimeout(limit)))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// How long the body had, when `error` comes from a body that did not arrive in time.
pub(crate) fn body_timed_out(error: &(dyn std::error::Error + 'static)) -> Option<Duration> {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if let Some(BodyTimeout(limit)) = e.downcast_ref::<BodyTimeout>() {
            return Some(*limit);
        }
        cause = e.source();
    }
    None
}

/// The answer for a body that did not arrive in time.
pub(crate) fn body_timeout_error(limit: Duration) -> ApiError {
    ApiError::new(
        ErrorCode::Timeout,
        format!(
            "The request body did not arrive within {} seconds; send it faster, or in smaller parts.",
            limit.as_secs()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forwarded_address_counts_only_from_a_trusted_proxy() {
        let proxy: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let stranger: SocketAddr = "203.0.113.9:5000".parse().unwrap();
        let trusted = ["10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap()];
        let mut h = axum::http::HeaderMap::new();
        h.insert("x-forwarded-for", "1.2.3.4, 198.51.100.7, 10.0.0.2".parse().unwrap());
        assert_eq!(client_address(proxy, &h, &trusted).ip().to_string(), "198.51.100.7", "the hop before our proxies");
        assert_eq!(client_address(stranger, &h, &trusted), stranger, "a stranger can't name itself");
        assert_eq!(client_address(proxy, &axum::http::HeaderMap::new(), &trusted), proxy);
        h.insert("x-forwarded-for", "1.2.3.4, garbage".parse().unwrap());
        assert_eq!(client_address(proxy, &h, &trusted), proxy, "an unreadable hop is not trusted");
    }
}
