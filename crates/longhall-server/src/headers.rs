//! What every answer carries for browsers, and who may open the WebSocket from a browser.
//!
//! One middleware layer: it refuses a WebSocket upgrade from a foreign browser origin before
//! anything else runs, and adds the security headers to every answer (errors and the upgrade
//! included).

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use longhall_types::ErrorCode;

use crate::AppState;
use crate::error::ApiError;

/// The route that upgrades to the WebSocket.
pub const WS_PATH: &str = "/api/v1/ws";

/// Nothing is loaded, framed or submitted by what the API answers: a downloaded file shown by a
/// browser can't run anything. The web client's pages have their own policy
/// (`web::WEB_CONTENT_SECURITY_POLICY`).
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'; sandbox";

/// Adds the security headers to every answer and checks the WebSocket's `Origin`.
pub async fn security(State(s): State<AppState>, req: Request, next: Next) -> Response {
    // The web client's pages run its own scripts; every other answer may run nothing.
    let csp = if crate::web::is_web_path(req.uri().path()) {
        crate::web::WEB_CONTENT_SECURITY_POLICY
    } else {
        CONTENT_SECURITY_POLICY
    };
    let mut answer = if req.uri().path() == WS_PATH {
        match check_origin(req.headers(), &s.lh.settings().allowed_origins) {
            Ok(()) => next.run(req).await,
            Err(e) => e.into_response(),
        }
    } else {
        next.run(req).await
    };
    let h = answer.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(csp));
    // A token may travel in the WebSocket URL (`?access_token=`): never pass URLs on.
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    // Every answer is for one caller (tokens, messages, files): no cache keeps a copy.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    answer
}

/// A browser's WebSocket may come from the server's own origin or a configured one. Clients
/// that are not browsers send no `Origin` and are allowed: the token is what authenticates.
fn check_origin(headers: &HeaderMap, allowed: &[String]) -> Result<(), ApiError> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or("").trim();
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    if origin_allowed(origin, host, allowed) {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorCode::OriginNotAllowed,
        format!(
            "A browser page from {origin} may not open the WebSocket; an administrator can add \
             that origin to allowed_origins in the server's configuration."
        ),
    ))
}

/// `scheme://host[:port]` → (scheme, host:port with the scheme's default port left out), in
/// lower case; None for anything else (`null`, paths, other schemes).
fn split_origin(origin: &str) -> Option<(String, String)> {
    let origin = origin.to_ascii_lowercase();
    let (scheme, rest) = origin.split_once("://")?;
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if !matches!(scheme, "http" | "https") || authority.is_empty() || authority.contains(['/', '?', '#', '@']) {
        return None;
    }
    Some((scheme.to_owned(), without_default_port(scheme, authority)))
}

fn without_default_port(scheme: &str, authority: &str) -> String {
    let default = if scheme == "https" { ":443" } else { ":80" };
    authority.strip_suffix(default).unwrap_or(authority).to_owned()
}

/// Same origin (the page came from the host the request is addressed to), a listed origin, or
/// any origin when `*` is listed.
pub fn origin_allowed(origin: &str, host: &str, allowed: &[String]) -> bool {
    if allowed.iter().any(|a| a == "*") {
        return true;
    }
    let Some((scheme, authority)) = split_origin(origin) else {
        return false;
    };
    let host = host.trim().to_ascii_lowercase();
    if !host.is_empty() && (authority == host || authority == without_default_port(&scheme, &host)) {
        return true;
    }
    allowed.iter().filter_map(|a| split_origin(a)).any(|(s, a)| s == scheme && a == authority)
}

/// Whether a configured entry is something `allowed_origins` understands.
pub fn is_origin_entry(entry: &str) -> bool {
    entry == "*" || split_origin(entry).is_some()
}

#[cfg(test)]
mod tests {
    use super::origin_allowed;

    #[test]
    fn origins_are_allowed_when_same_listed_or_starred() {
        let listed = vec!["https://web.example.org".to_owned(), "http://localhost:3000/".to_owned()];
        let cases = [
            ("same host and port", "http://chat.example.org:8080", "chat.example.org:8080", &[][..], true),
            ("same host, default port", "https://chat.example.org", "chat.example.org", &[], true),
            ("same host, explicit default port", "https://chat.example.org:443", "Chat.Example.org", &[], true),
            ("other port", "http://chat.example.org:9090", "chat.example.org:8080", &[], false),
            ("other host", "https://evil.example.net", "chat.example.org", &[], false),
            ("null origin", "null", "chat.example.org", &[], false),
            ("listed", "https://WEB.example.org", "chat.example.org", &listed[..], true),
            ("listed with port", "http://localhost:3000", "chat.example.org", &listed, true),
            ("listed host, other scheme", "http://web.example.org", "chat.example.org", &listed, false),
            ("not listed", "https://evil.example.net", "chat.example.org", &listed, false),
            ("star", "https://evil.example.net", "chat.example.org", &["*".to_owned()][..], true),
        ];
        for (what, origin, host, allowed, expect) in cases {
            assert_eq!(origin_allowed(origin, host, allowed), expect, "{what}");
        }
    }
}
