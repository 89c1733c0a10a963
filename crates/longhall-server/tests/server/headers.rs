//! What browsers are told by every answer (no sniffing, no framing, no caching of tokens, a
//! strict Content-Security-Policy), and which browser pages may open the WebSocket.

use longhall_core::Settings;
use reqwest::Method;
use serde_json::json;

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
