//! What browsers are told by every answer (no sniffing, no framing, no caching of tokens, a
//! strict Content-Security-Policy), and which browser pages may open the WebSocket.

use longhall_core::Settings;
use reqwest::Method;
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::harness::*;

fn header<'a>(r: &'a Resp, name: &str) -> &'a str {
    r.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_else(|| panic!("no {name} header"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_forbids_sniffing_framing_and_caching() {
    let s = TestServer::start().await;
    let admin = s.admin_token().to_owned();
    let home = s.call(Method::GET, "/", None, Body::None).await;
    assert!(header(&home, "content-type").starts_with("text/html"));
    let signed_in = s.try_sign_in(ADMIN).await;
    let token = s.post(&admin, "/api/v1/tokens", json!({ "label": "bot" })).await;
    let error = s.call(Method::GET, "/api/v1/nope", None, Body::None).await;
    for (what, r) in [("home page", &home), ("sign-in", &signed_in), ("token creation", &token), ("an error", &error)] {
        assert_eq!(header(r, "x-content-type-options"), "nosniff", "{what}");
        assert_eq!(header(r, "x-frame-options"), "DENY", "{what}");
        assert_eq!(header(r, "cache-control"), "no-store", "{what}");
        assert_eq!(header(r, "referrer-policy"), "no-referrer", "{what}");
        let csp = header(r, "content-security-policy");
        for directive in ["default-src 'none'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'"] {
            assert!(csp.contains(directive), "{what}: {csp} lacks {directive}");
        }
    }
    assert!(signed_in.body["token"].is_string() && token.body["token"].is_string(), "both carry a token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_websocket_opens_to_its_own_origin_listed_ones_and_non_browsers() {
    let settings = Settings { allowed_origins: vec!["https://web.example.org".into()], ..Default::default() };
    let s = TestServer::with_settings(settings).await;
    let t = s.user("reader@example.org").await;
    // No Origin: a bot or a native client.
    assert!(s.ws_from(&t, None).await.is_ok());
    // The server's own origin: the page was served by the host the request goes to.
    assert!(s.ws_from(&t, Some(&format!("http://{}", s.addr))).await.is_ok());
    // A configured origin.
    assert!(s.ws_from(&t, Some("https://web.example.org")).await.is_ok());
    // Anyone else's page, even with the user's token, is refused before anything else.
    for origin in ["https://evil.example.net", "http://web.example.org", "null"] {
        let (status, body) = s.ws_from(&t, Some(origin)).await.expect_err("refused");
        assert_eq!((status.as_u16(), body["code"].as_str()), (403, Some("origin_not_allowed")), "{origin}");
    }
    let (_, body) = s.ws_from("", Some("https://evil.example.net")).await.expect_err("refused");
    assert_eq!(body["code"], "origin_not_allowed");
    assert!(body["message"].as_str().unwrap().contains("allowed_origins"));

    // Without configuration only the server's own pages and non-browsers get in.
    let plain = TestServer::start().await;
    let t = plain.user("reader@example.org").await;
    let (status, _) = plain.ws_from(&t, Some("https://web.example.org")).await.expect_err("refused");
    assert_eq!(status.as_u16(), 403);
    assert!(plain.ws_from(&t, Some(&format!("http://{}", plain.addr))).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_client_runs_only_its_own_files_and_api_answers_run_nothing() {
    let s = TestServer::start().await;
    let page = s.call(Method::GET, "/", None, Body::None).await;
    let html = String::from_utf8_lossy(&page.bytes).into_owned();
    assert!(html.contains(r#"<script type="module" src="/web/app.js"></script>"#), "{html}");
    let csp = header(&page, "content-security-policy");
    for directive in ["script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"] {
        assert!(csp.contains(directive), "{csp} lacks {directive}");
    }
    assert!(!csp.contains("unsafe"), "no inline script or style is allowed: {csp}");

    let script = s.call(Method::GET, "/web/app.js", None, Body::None).await;
    assert_eq!(script.status, 200);
    assert!(header(&script, "content-type").starts_with("text/javascript"));
    assert_eq!(header(&script, "content-security-policy"), csp, "the client's files carry the client's policy");
    let missing = s.call(Method::GET, "/web/nope.js", None, Body::None).await;
    assert_eq!((missing.status.as_u16(), missing.body["code"].as_str()), (404, Some("route_not_found")));

    // The API's answers (and files downloaded from it) keep the policy that runs nothing.
    let api = s.call(Method::GET, "/api/v1/openapi.json", None, Body::None).await;
    assert!(header(&api, "content-security-policy").ends_with("sandbox"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_opens_the_websocket_with_its_token_in_a_subprotocol_not_the_url() {
    let s = TestServer::start().await;
    let t = s.user("reader@example.org").await;
    let mut req = format!("ws://{}/api/v1/ws", s.addr).into_client_request().expect("a WebSocket request");
    let offer = format!("longhall, longhall.bearer.{t}");
    req.headers_mut().insert("sec-websocket-protocol", offer.parse().expect("a header value"));
    req.headers_mut().insert("origin", format!("http://{}", s.addr).parse().expect("a header value"));
    let (stream, answer) = tokio_tungstenite::connect_async(req).await.expect("the upgrade is accepted");
    assert_eq!(answer.headers().get("sec-websocket-protocol").and_then(|v| v.to_str().ok()), Some("longhall"));
    let mut ws = Ws::new(stream);
    assert_eq!(ws.next_event("ready").await["login"], "reader@example.org");

    // A wrong token in the subprotocol is refused like any other.
    let mut req = format!("ws://{}/api/v1/ws", s.addr).into_client_request().expect("a WebSocket request");
    req.headers_mut()
        .insert("sec-websocket-protocol", "longhall, longhall.bearer.lh_wrong".parse().expect("a header value"));
    match tokio_tungstenite::connect_async(req).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status().as_u16(), 401),
        other => panic!("a wrong token must be refused: {:?}", other.map(|(_, r)| r.status())),
    }
}
