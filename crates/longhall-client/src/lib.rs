//! A typed client of the Longhall HTTP API (`/api/v1`, `/healthz`, `/readyz`).
//!
//! One async method per route, named after the server's handler; request and response bodies
//! are the [`longhall_types::api`] types; every failure is a [`ClientError`] carrying the
//! server's stable [`ErrorCode`] and sentence. Modules follow the server's routes files:
//! [`account`], [`rooms`], [`messages`], [`files`], [`admin`], [`health`]; [`credentials`]
//! finds the server address and token for command-line tools.
//!
//! ```no_run
//! # async fn demo() -> Result<(), longhall_client::ClientError> {
//! let client = longhall_client::Client::new("http://127.0.0.1:8080")?;
//! let signed_in = client.sign_in("alice@example.org", "password").await?;
//! let alice = client.with_token(signed_in.token);
//! let rooms = alice.search_rooms(&Default::default()).await?;
//! # Ok(()) }
//! ```

pub mod account;
pub mod addins;
pub mod audit;
pub mod backup;
pub mod categories;
pub mod chat_config;
pub mod compliance;
pub mod credentials;
mod error;
pub mod files;
pub mod groups;
pub mod health;
pub mod messages;
pub mod metrics;
pub mod policies;
pub mod pool;
pub mod rooms;
pub mod status;
pub mod tokens;
pub mod usage;
pub mod users;

use std::sync::Arc;
use std::time::Duration;

pub use error::ClientError;
pub use longhall_types::{ErrorCode, api};
/// A request body for uploads: bytes, a `String`, or a stream (`Body::wrap_stream`).
pub use reqwest::Body;

use longhall_types::ErrorBody;
use reqwest::{Method, RequestBuilder, Response, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A client of one server, with or without a bearer token. Cloning is cheap and clones share
/// their connections; [`Client::with_token`] makes a client acting as someone else over the
/// same connections.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Arc<Url>,
    token: Option<Arc<str>>,
}

/// Options of a [`Client`].
pub struct ClientBuilder {
    base: String,
    token: Option<String>,
    connect_timeout: Duration,
    timeout: Option<Duration>,
    pool_max_idle_per_host: Option<usize>,
}

/// How long connecting may take before the server counts as unreachable.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

impl ClientBuilder {
    /// The bearer token sent with every call (`sign_in`, or an API token).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// How long connecting may take (default [`DEFAULT_CONNECT_TIMEOUT`]).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long a whole call may take, answer body included (default: no limit, since a
    /// compliance run or a large download may take long).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// How many idle connections to keep for reuse (load generators keep many).
    pub fn pool_max_idle_per_host(mut self, n: usize) -> Self {
        self.pool_max_idle_per_host = Some(n);
        self
    }

    pub fn build(self) -> Result<Client, ClientError> {
        let base = parse_base(&self.base)?;
        // Only the given server is talked to: no proxy from the environment, no redirects
        // (a redirect elsewhere would be a misconfiguration, never followed with a token).
        let mut http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(self.connect_timeout);
        if let Some(t) = self.timeout {
            http = http.timeout(t);
        }
        if let Some(n) = self.pool_max_idle_per_host {
            http = http.pool_max_idle_per_host(n);
        }
        let http = http.build().map_err(|e| ClientError::InvalidUrl(format!("the HTTP client can't start: {e}")))?;
        Ok(Client { http, base: Arc::new(base), token: self.token.map(Arc::from) })
    }
}

fn parse_base(text: &str) -> Result<Url, ClientError> {
    let bad = |why: &str| {
        ClientError::InvalidUrl(format!(
            "\"{text}\" is not a server address ({why}); give one such as http://127.0.0.1:8080"
        ))
    };
    let url = Url::parse(text.trim()).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() || url.host().is_none() {
        return Err(bad("not http:// or https://"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("it has a query or fragment"));
    }
    Ok(url)
}

impl Client {
    /// A client of the server at `base_url` (e.g. `http://127.0.0.1:8080`), without a token.
    pub fn new(base_url: &str) -> Result<Client, ClientError> {
        Client::builder(base_url).build()
    }

    pub fn builder(base_url: &str) -> ClientBuilder {
        ClientBuilder {
            base: base_url.to_owned(),
            token: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: None,
            pool_max_idle_per_host: None,
        }
    }

    /// The same server and connections, acting with `token`.
    pub fn with_token(&self, token: impl Into<String>) -> Client {
        Client { http: self.http.clone(), base: self.base.clone(), token: Some(Arc::from(token.into())) }
    }

    /// The same server and connections, without a token.
    pub fn without_token(&self) -> Client {
        Client { http: self.http.clone(), base: self.base.clone(), token: None }
    }

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The server's address, as given.
    pub fn base_url(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    /// The URL of a route: the base address plus these path segments, each percent-encoded
    /// (so a login or name can't escape its segment).
    pub(crate) fn url(&self, segments: &[&str]) -> Url {
        let mut url = (*self.base).clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// `/api/v1/<segments>`.
    /// `/api/v1/admin/<segments>`.
    pub(crate) fn admin(&self, segments: &[&str]) -> Url {
        let mut all = vec!["admin"];
        all.extend_from_slice(segments);
        self.api(&all)
    }

    pub(crate) async fn delete(&self, url: Url) -> Result<(), ClientError> {
        self.call_empty(self.request(Method::DELETE, url)).await
    }

    pub(crate) fn api(&self, segments: &[&str]) -> Url {
        let mut all = vec!["api", "v1"];
        all.extend_from_slice(segments);
        self.url(&all)
    }

    pub(crate) fn request(&self, method: Method, url: Url) -> RequestBuilder {
        let req = self.http.request(method, url);
        match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    /// Sends a request; an error status becomes [`ClientError::Api`].
    pub(crate) async fn send(&self, req: RequestBuilder) -> Result<Response, ClientError> {
        let resp = req.send().await.map_err(|e| ClientError::transport(self.base_url(), 0, e))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = resp.bytes().await.map_err(|e| ClientError::transport(self.base_url(), status.as_u16(), e))?;
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(body) => Err(ClientError::Api {
                status: status.as_u16(),
                code: ErrorCode::parse(&body.code),
                code_text: body.code,
                message: body.message,
                retry_after,
            }),
            Err(_) => Err(ClientError::Protocol { status: status.as_u16(), detail: snippet(&bytes) }),
        }
    }

    /// A call answering a JSON body.
    pub(crate) async fn call<T: DeserializeOwned>(&self, req: RequestBuilder) -> Result<T, ClientError> {
        let resp = self.send(req).await?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(|e| ClientError::transport(self.base_url(), status, e))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| ClientError::Protocol { status, detail: format!("{e} in {}", snippet(&bytes)) })
    }

    /// A call answering no body (204).
    pub(crate) async fn call_empty(&self, req: RequestBuilder) -> Result<(), ClientError> {
        let resp = self.send(req).await?;
        let status = resp.status().as_u16();
        // Read to the end so the connection can be reused.
        resp.bytes().await.map_err(|e| ClientError::transport(self.base_url(), status, e))?;
        Ok(())
    }

    pub(crate) async fn get<T: DeserializeOwned>(&self, url: Url) -> Result<T, ClientError> {
        self.call(self.request(Method::GET, url)).await
    }

    pub(crate) async fn send_json<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: &(impl Serialize + ?Sized),
    ) -> Result<T, ClientError> {
        self.call(self.request(method, url).json(body)).await
    }
}

/// The start of an unexpected body, for an error message.
fn snippet(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut s: String = text.chars().take(200).collect();
    if text.chars().count() > 200 {
        s.push('…');
    }
    if s.is_empty() { "(empty body)".into() } else { s }
}

/// Query parameters: only those given are sent.
pub(crate) fn with_query(mut url: Url, pairs: &[(&str, Option<String>)]) -> Url {
    if pairs.iter().any(|(_, v)| v.is_some()) {
        let mut q = url.query_pairs_mut();
        for (k, v) in pairs {
            if let Some(v) = v {
                q.append_pair(k, v);
            }
        }
    }
    url
}
