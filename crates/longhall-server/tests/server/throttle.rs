//! Sign-in limits over real sockets: attempts are counted before the password check (so
//! concurrent tries can't slip past), limited per source address, and a stranger can't lock an
//! account out for its owner. Clients bind 127.0.0.x to be different sources. And the expensive
//! operations are limited per user, the same over HTTP and WebSocket.

use std::net::{IpAddr, Ipv4Addr};

use longhall_core::{Rate, RateLimits, Settings, SignInLimits};
use reqwest::Method;
use serde_json::{Value, json};

use super::harness::{ADMIN, Body, PASSWORD, TestServer};

/// An HTTP client whose connections come from 127.0.0.`n`.
fn client_from(n: u8) -> reqwest::Client {
    reqwest::Client::builder().local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, n))).build().expect("an HTTP client")
}

/// Signs in from `http`'s address: (status, code, Retry-After present).
async fn sign_in_from(s: &TestServer, http: &reqwest::Client, login: &str, password: &str) -> (u16, String, bool) {
    let r = http
        .post(s.url("/api/v1/auth/sign-in"))
        .json(&json!({ "login": login, "password": password }))
        .send()
        .await
        .expect("a sign-in answer");
    let status = r.status().as_u16();
    let retry_after = r.headers().contains_key("retry-after");
    let body: Value = r.json().await.unwrap_or(Value::Null);
    (status, body["code"].as_str().unwrap_or("").to_owned(), retry_after)
}

#[tokio::test]
async fn concurrent_wrong_passwords_get_no_more_checks_than_the_limit() {
    let s = TestServer::start().await;
    s.create_user("target@example.org", json!({})).await;
    let http = client_from(2);
    let tries =
        (0..100).map(|i| sign_in_from(&s, &http, "target@example.org", if i == 0 { "wrong-0" } else { "wrong" }));
    let answers = futures_util::future::join_all(tries).await;
    let checked = answers.iter().filter(|a| a.1 == "invalid_credentials").count();
    let refused = answers.iter().filter(|a| a.1 == "rate_limited" && a.0 == 429 && a.2).count();
    assert_eq!(checked + refused, 100, "every try is either checked or refused with Retry-After: {answers:?}");
    assert!(checked <= 10, "{checked} of 100 concurrent tries had their password checked; the limit is 10");
}

#[tokio::test]
async fn one_source_spraying_many_logins_is_limited_and_others_are_not() {
    let limits = SignInLimits { per_source: 5, ..SignInLimits::default() };
    let s = TestServer::with_settings(Settings { sign_in_limits: limits, ..Settings::default() }).await;
    let sprayer = client_from(3);
    for i in 0..5 {
        let a = sign_in_from(&s, &sprayer, &format!("guess{i}@example.org"), "password1").await;
        assert_eq!(a.1, "invalid_credentials", "try {i}");
    }
    let (status, code, retry_after) = sign_in_from(&s, &sprayer, "guess9@example.org", "password1").await;
    assert_eq!((status, code.as_str(), retry_after), (429, "rate_limited", true), "the sixth login from one source");
    // Even the right password is refused from that source until the window ends...
    let (_, code, _) = sign_in_from(&s, &sprayer, ADMIN, PASSWORD).await;
    assert_eq!(code, "rate_limited");
    // ...while another source signs in.
    let (status, _, _) = sign_in_from(&s, &client_from(4), ADMIN, PASSWORD).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn strangers_cannot_lock_the_administrator_out() {
    // Per login from all sources: 20, so a few strangers reach it.
    let limits = SignInLimits { per_login: 20, ..SignInLimits::default() };
    let s = TestServer::with_settings(Settings { sign_in_limits: limits, ..Settings::default() }).await;
    // The harness signed the administrator in from 127.0.0.1: a source it trusts now.
    for stranger in 10..13u8 {
        let http = client_from(stranger);
        for _ in 0..10 {
            sign_in_from(&s, &http, ADMIN, "guessed-wrong").await;
        }
        let (_, code, _) = sign_in_from(&s, &http, ADMIN, "guessed-wrong").await;
        assert_eq!(code, "rate_limited", "stranger 127.0.0.{stranger} is locked out after 10 failures");
    }
    // 30 failures for the login: an unknown source is refused even with the right password...
    let (_, code, _) = sign_in_from(&s, &client_from(20), ADMIN, PASSWORD).await;
    assert_eq!(code, "rate_limited", "the login is locked for sources it never signed in from");
    // ...but the administrator's own address still gets in, the right password working at once.
    let (status, code, _) = sign_in_from(&s, &client_from(1), ADMIN, PASSWORD).await;
    assert_eq!((status, code.as_str()), (200, ""), "the administrator's usual source is not locked out");
}

/// Asserts an HTTP answer is `429 rate_limited` with `Retry-After`.
#[track_caller]
fn limited(r: super::harness::Resp, what: &str) {
    assert!(r.headers.contains_key("retry-after"), "{what}: no Retry-After");
    r.err(429, "rate_limited");
}

#[tokio::test]
async fn expensive_operations_are_rate_limited_per_user_over_http_and_websocket() {
    let two = Rate { burst: 2, per_minute: 1 };
    let rate_limits = RateLimits { search: two, history: two, upload: two, create_room: two, join: two };
    let s = TestServer::with_settings(Settings { rate_limits, ..Settings::default() }).await;
    let [busy, other] = [s.user("busy@example.org").await, s.user("calm@example.org").await];
    let rooms = s.get(&busy, "/api/v1/rooms?q=Lobby").await.ok();
    let lobby = rooms["items"][0]["id"].as_i64().expect("the Lobby");

    // Content search.
    let search = "/api/v1/search/messages?q=hello";
    s.get(&busy, search).await.ok();
    s.get(&busy, search).await.ok();
    limited(s.get(&busy, search).await, "the third search");
    s.get(&other, search).await.ok();
    for _ in 0..3 {
        s.get(s.admin_token(), search).await.ok();
    }

    // History: HTTP and WebSocket draw on the same allowance.
    let history = format!("/api/v1/rooms/{lobby}/messages");
    s.get(&busy, &history).await.ok();
    s.get(&busy, &history).await.ok();
    limited(s.get(&busy, &history).await, "the third history page");
    let mut ws = s.ws(&busy).await;
    let refused = ws.request(json!({ "type": "history", "room": lobby })).await;
    assert_eq!(
        (refused["type"].as_str(), refused["code"].as_str()),
        (Some("error"), Some("rate_limited")),
        "{refused}"
    );

    // Joins (WebSocket).
    ws.join(&[lobby]).await;
    ws.join(&[lobby]).await;
    let refused = ws.request(json!({ "type": "join", "rooms": [{ "room": lobby }] })).await;
    assert_eq!(
        (refused["type"].as_str(), refused["code"].as_str()),
        (Some("error"), Some("rate_limited")),
        "{refused}"
    );
    still_served(&mut ws).await;

    // Room creation.
    for i in 0..2 {
        s.room(&busy, json!({ "name": format!("Busy room {i}"), "category": "General" })).await;
    }
    limited(s.post(&busy, "/api/v1/rooms", json!({ "name": "Busy room 2", "category": "General" })).await, "room");

    // File upload.
    let upload = |n: u32| {
        let path = format!("/api/v1/rooms/{lobby}/files?name=f{n}.txt");
        let s = &s;
        let tok = busy.clone();
        async move { s.call(Method::POST, &path, Some(&tok), Body::Raw(b"hello".to_vec(), "text/plain")).await }
    };
    upload(0).await.ok();
    upload(1).await.ok();
    limited(upload(2).await, "the third upload");
}

async fn still_served(ws: &mut super::harness::Ws) {
    let pong = ws.request(json!({ "type": "ping" })).await;
    assert_eq!(pong["type"], "pong", "the connection goes on after a refusal");
}

/// Signs in from 127.0.0.`from` claiming to be `forwarded` in `X-Forwarded-For`: the code.
async fn sign_in_forwarded(s: &TestServer, from: u8, forwarded: &str, login: &str) -> String {
    let r = client_from(from)
        .post(s.url("/api/v1/auth/sign-in"))
        .header("x-forwarded-for", forwarded)
        .json(&json!({ "login": login, "password": "password1" }))
        .send()
        .await
        .expect("a sign-in answer");
    let body: Value = r.json().await.unwrap_or(Value::Null);
    body["code"].as_str().unwrap_or("").to_owned()
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_has_its_own_limit_and_others_cant_pick_one() {
    let limits = SignInLimits { per_source: 3, ..SignInLimits::default() };
    let transport = longhall_server::TransportSettings {
        trusted_proxies: vec!["127.0.0.9".parse().unwrap()],
        ..longhall_server::TransportSettings::default()
    };
    let s = TestServer::with_limits(Settings { sign_in_limits: limits, ..Settings::default() }, transport).await;
    // Through the proxy (127.0.0.9), one client sprays and reaches its limit...
    for i in 0..3 {
        assert_eq!(sign_in_forwarded(&s, 9, "198.51.100.7", &format!("g{i}@example.org")).await, "invalid_credentials");
    }
    assert_eq!(sign_in_forwarded(&s, 9, "198.51.100.7", "g9@example.org").await, "rate_limited");
    // ...while another client behind the same proxy is not limited.
    assert_eq!(sign_in_forwarded(&s, 9, "198.51.100.8", "g9@example.org").await, "invalid_credentials");
    // A peer that is not a trusted proxy can't escape its own limit by naming other addresses.
    for i in 0..3 {
        let forged = format!("203.0.113.{i}");
        assert_eq!(sign_in_forwarded(&s, 10, &forged, &format!("h{i}@example.org")).await, "invalid_credentials");
    }
    assert_eq!(sign_in_forwarded(&s, 10, "203.0.113.99", "h9@example.org").await, "rate_limited");
}
