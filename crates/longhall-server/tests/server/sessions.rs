//! A WebSocket lives no longer than its token: revoking it, signing out, a password change or
//! reset, and expiry each end the token's open connections at once with a `closing` frame.

use longhall_core::Settings;
use serde_json::{Value, json};

use super::harness::{PASSWORD, TestServer, Ws};

/// The id of the user's newest token (ids only grow).
async fn newest_token_id(s: &TestServer, token: &str) -> i64 {
    let list = s.get(token, "/api/v1/tokens").await.ok();
    list.as_array().expect("a token list").iter().filter_map(|t| t["id"].as_i64()).max().expect("a token")
}

/// Waits for the server to close `ws`; asserts its `closing` frame says `unauthenticated`.
async fn ends_unauthenticated(ws: &mut Ws, what: &str) {
    let frames = ws.closed().await;
    let closing = frames
        .iter()
        .find(|f| f["type"] == "closing")
        .unwrap_or_else(|| panic!("{what}: the connection ended without a closing frame: {frames:?}"));
    assert_eq!(closing["code"], "unauthenticated", "{what}: {closing}");
}

/// Answers a ping: the connection is still open and served.
async fn still_open(ws: &mut Ws, what: &str) {
    let pong = ws.request(json!({ "type": "ping" })).await;
    assert_eq!(pong["type"], "pong", "{what}: {pong}");
}

#[tokio::test]
async fn revoking_a_token_ends_its_websocket_and_only_its_own() {
    let s = TestServer::start().await;
    let first = s.user("rita@example.org").await;
    let first_id = newest_token_id(&s, &first).await;
    let second = s.sign_in("rita@example.org").await;
    let mut doomed = s.ws(&first).await;
    let mut other = s.ws(&second).await;

    s.delete(&first, &format!("/api/v1/tokens/{first_id}")).await.ok();
    ends_unauthenticated(&mut doomed, "after DELETE /tokens/{id}").await;
    still_open(&mut other, "the same user's other token").await;

    // Signing out is revoking one's own token.
    s.post(&second, "/api/v1/auth/sign-out", Value::Null).await;
    ends_unauthenticated(&mut other, "after sign-out").await;
}

#[tokio::test]
async fn a_password_change_signs_out_the_other_sessions_and_a_reset_signs_out_all() {
    let s = TestServer::start().await;
    let here = s.user("paul@example.org").await;
    let elsewhere = s.sign_in("paul@example.org").await;
    let mut mine = s.ws(&here).await;
    let mut stolen = s.ws(&elsewhere).await;

    let new_password = "a-new-and-better-passphrase";
    s.put(&here, "/api/v1/me/password", json!({ "current": PASSWORD, "new": new_password })).await.ok();
    ends_unauthenticated(&mut stolen, "the other session after a password change").await;
    still_open(&mut mine, "the session that changed the password").await;
    s.get(&elsewhere, "/api/v1/me").await.err(401, "unauthenticated");
    s.get(&here, "/api/v1/me").await.ok();

    // An administrator's reset signs out every session of the user.
    s.patch(s.admin_token(), "/api/v1/admin/users/paul@example.org", json!({ "password": "reset-by-the-admin-42" }))
        .await
        .ok();
    ends_unauthenticated(&mut mine, "after an administrator's reset").await;
    s.get(&here, "/api/v1/me").await.err(401, "unauthenticated");
}

#[tokio::test]
async fn an_expired_session_ends_its_websocket() {
    let settings = Settings { session_ttl_ms: 2_000, ..Settings::default() };
    let s = TestServer::with_settings(settings).await;
    let token = s.user("eve@example.org").await;
    let mut ws = s.ws(&token).await;
    still_open(&mut ws, "before expiry").await;
    // Within the harness's deadline (10 s) the token expires and the server ends the session.
    ends_unauthenticated(&mut ws, "after the session expired").await;
}

#[tokio::test]
async fn obvious_passwords_are_refused_with_weak_password() {
    let s = TestServer::start().await;
    let token = s.user("walter.white@example.org").await;
    let admin = s.admin_token();
    for weak in
        ["password", "Password1", "        ", "aaaaaaaaaa", "walter.white@example.org", "Walter.White", "12345678"]
    {
        let body = json!({ "login": "newcomer@example.org", "password": weak });
        if weak != "Walter.White" && weak != "walter.white@example.org" {
            s.post(admin, "/api/v1/admin/users", body).await.err(422, "weak_password");
        }
        let change = json!({ "current": PASSWORD, "new": weak });
        let refused = s.put(&token, "/api/v1/me/password", change).await.err(422, "weak_password");
        assert!(refused["message"].as_str().unwrap_or("").contains("choose another"), "{refused}");
        let reset = json!({ "password": weak });
        s.patch(admin, "/api/v1/admin/users/walter.white@example.org", reset).await.err(422, "weak_password");
    }
    // The old password still works: nothing was changed.
    s.sign_in("walter.white@example.org").await;
}
