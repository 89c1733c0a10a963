//! The bearer-token extractor: every protected handler takes a `Caller`.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use longhall_core::Actor;
use longhall_core::live::TokenRef;
use longhall_types::ErrorCode;

use crate::AppState;
use crate::error::ApiError;

/// The authenticated caller and the token it used.
pub struct Caller {
    pub actor: Actor,
    pub token: String,
    /// The token's id and expiry (a WebSocket ends when the token is revoked or expires).
    pub token_ref: TokenRef,
}

/// The WebSocket subprotocol a browser offers to authenticate without putting its token in the
/// URL: `new WebSocket(url, ["longhall", "longhall.bearer." + token])`. The server answers with
/// `longhall`.
pub const WS_PROTOCOL: &str = "longhall";
/// The prefix of the subprotocol entry that carries the token.
pub const WS_BEARER_PREFIX: &str = "longhall.bearer.";

/// The token from `Authorization: Bearer <token>`, from a `longhall.bearer.<token>` WebSocket
/// subprotocol entry, or from `?access_token=` (browsers can't set headers on a WebSocket).
pub fn token_from(parts: &Parts) -> Option<String> {
    if let Some(h) = parts.headers.get(axum::http::header::AUTHORIZATION)
        && let Ok(v) = h.to_str()
        && let Some(t) = v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer "))
    {
        return Some(t.trim().to_owned());
    }
    if let Some(t) = parts
        .headers
        .get_all(axum::http::header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| p.trim().strip_prefix(WS_BEARER_PREFIX))
    {
        return Some(t.to_owned());
    }
    parts.uri.query().and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("access_token=").map(str::to_owned)))
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = token_from(parts).ok_or_else(|| {
            ApiError::new(ErrorCode::Unauthenticated, "Send Authorization: Bearer <token>; sign in to get a token.")
        })?;
        let (actor, token_ref) = state.lh.authenticate_token(&token).await?;
        // Where the call came from, for the audit log (the listener resolved X-Forwarded-For).
        let actor = match parts.extensions.get::<ConnectInfo<SocketAddr>>() {
            Some(ConnectInfo(a)) => actor.from_source(a.ip()),
            None => actor,
        };
        Ok(Caller { actor, token, token_ref })
    }
}

/// The caller of a pool operation: authenticated as a [`Caller`], or, while this server's
/// database is down, against the pool's other database (`Longhall::authenticate_pool_caller`).
pub struct PoolCaller(pub Caller);

impl FromRequestParts<AppState> for PoolCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = token_from(parts).ok_or_else(|| {
            ApiError::new(ErrorCode::Unauthenticated, "Send Authorization: Bearer <token>; sign in to get a token.")
        })?;
        let (actor, token_ref) = state.lh.authenticate_pool_caller(&token).await?;
        let actor = match parts.extensions.get::<ConnectInfo<SocketAddr>>() {
            Some(ConnectInfo(a)) => actor.from_source(a.ip()),
            None => actor,
        };
        Ok(PoolCaller(Caller { actor, token, token_ref }))
    }
}

/// The client's IP address (for per-source limits). Without connection info (a router served
/// without `into_make_service_with_connect_info`) every client shares one unspecified address.
pub struct Peer(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED), |ConnectInfo(a)| a.ip());
        Ok(Peer(ip))
    }
}
