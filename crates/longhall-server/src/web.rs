//! The web client: plain HTML, CSS and JavaScript modules compiled into the binary and served at
//! `/` and `/web/*`. It has no build step and no private routes: it talks to the same HTTP API and
//! WebSocket as every other client (docs/web-client.md).

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use longhall_types::ErrorCode;

use crate::AppState;
use crate::error::ApiError;

/// What the web client's pages may do: run and style only what this server serves, talk only to
/// this server (HTTP and WebSocket), show images it made itself (`blob:` previews of files fetched
/// with the token in a header), and frame a room's add-in — an administrator-registered page on any
/// web origin, shown in a sandboxed frame. Nothing may frame the client itself.
pub const WEB_CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' blob: data:; connect-src 'self'; frame-src http: https:; manifest-src 'self'; \
     frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// The files of the client: name under `/web/`, media type, contents.
const ASSETS: &[(&str, &str, &[u8])] = &[
    ("app.js", "text/javascript; charset=utf-8", include_bytes!("../web/app.js")),
    ("api.js", "text/javascript; charset=utf-8", include_bytes!("../web/api.js")),
    ("live.js", "text/javascript; charset=utf-8", include_bytes!("../web/live.js")),
    ("dom.js", "text/javascript; charset=utf-8", include_bytes!("../web/dom.js")),
    ("chat.js", "text/javascript; charset=utf-8", include_bytes!("../web/chat.js")),
    ("manage.js", "text/javascript; charset=utf-8", include_bytes!("../web/manage.js")),
    ("admin.js", "text/javascript; charset=utf-8", include_bytes!("../web/admin.js")),
    ("style.css", "text/css; charset=utf-8", include_bytes!("../web/style.css")),
    ("icon.svg", "image/svg+xml", include_bytes!("../web/icon.svg")),
];

const INDEX: &str = include_str!("../web/index.html");

/// Whether an answer to this path is a page of the web client (it gets the client's
/// Content-Security-Policy instead of the API's).
pub fn is_web_path(path: &str) -> bool {
    path == "/" || path.starts_with("/web/")
}

/// `/` and `/web/{file}`.
pub fn routes() -> Router<AppState> {
    Router::new().route("/", get(index)).route("/web/{file}", get(asset))
}

async fn index() -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], INDEX).into_response()
}

async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, media_type, body)) => (StatusCode::OK, [(header::CONTENT_TYPE, *media_type)], *body).into_response(),
        None => ApiError::new(ErrorCode::RouteNotFound, "The web client has no such file; open / to start it.")
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::{ASSETS, INDEX};

    /// Text reaches the page only as text: no file of the client parses strings as markup, and
    /// the page has no inline script or style for the Content-Security-Policy to allow.
    #[test]
    fn the_client_never_turns_strings_into_markup() {
        for (name, _, body) in ASSETS.iter().filter(|(name, _, _)| name.ends_with(".js")) {
            let text = std::str::from_utf8(body).expect("UTF-8");
            for sink in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"] {
                assert!(!text.contains(sink), "{name} uses {sink}");
            }
        }
        assert!(!INDEX.contains("style="), "no inline style");
        let scripts = INDEX.matches("<script").count();
        let external = INDEX.matches("<script type=\"module\" src=\"/web/").count();
        assert_eq!(scripts, external, "every script is a file of the client");
    }
}
