//! Policies and accounts: a user whose effective policy is off can't use chat; a disabled
//! user's live connection is closed.

use serde_json::json;

use super::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_policy_turns_chat_off_and_on_for_its_users() {
    let s = TestServer::start().await;
    let admin = s.admin_token().to_owned();
    s.create_user("pierre@example.org", json!({ "site": "paris" })).await;
    s.create_user("lena@example.org", json!({ "site": "berlin" })).await;
    let pierre = s.sign_in("pierre@example.org").await;
    let me = s.get(&pierre, "/api/v1/me").await.ok();
    assert_eq!(
        (me["policy"]["enable_persistent_chat"].as_bool(), me["policy"]["source"].as_str()),
        (Some(true), Some("global"))
    );
    let lobby = id_of(&s.get(&pierre, "/api/v1/rooms?q=Lobby").await.ok()["items"][0]);
    let mut ws = s.ws(&pierre).await;
    ws.join_ok(lobby).await;

    s.put(
        &admin,
        "/api/v1/admin/policies/site:paris",
        json!({ "enable_persistent_chat": false, "description": "Paris office is off" }),
    )
    .await
    .ok();
    // Signing in is refused; the token already issued can't chat any more (it still says who
    // the user is and why); the live connection is removed from its rooms.
    s.try_sign_in("pierre@example.org").await.err(403, "policy_disabled");
    let me = s.get(&pierre, "/api/v1/me").await.ok();
    assert_eq!(
        (me["policy"]["enable_persistent_chat"].as_bool(), me["policy"]["source"].as_str()),
        (Some(false), Some("site:paris"))
    );
    s.post(&pierre, &format!("/api/v1/rooms/{lobby}/messages"), json!({ "text": "hello?" }))
        .await
        .err(403, "policy_disabled");
    s.get(&pierre, &format!("/api/v1/rooms/{lobby}/messages")).await.err(403, "policy_disabled");
    assert_eq!(ws.next_event("kicked").await["room"], lobby);
    let (status, body) = s.ws_refused(&pierre).await;
    assert_eq!((status.as_u16(), body["code"].as_str()), (403, Some("policy_disabled")));
    // Other sites are unaffected.
    let lena = s.sign_in("lena@example.org").await;
    s.say(&lena, lobby, "berlin is fine").await;

    // The administrator turns it back on: the user is back.
    s.put(&admin, "/api/v1/admin/policies/site:paris", json!({ "enable_persistent_chat": true })).await.ok();
    let pierre = s.sign_in("pierre@example.org").await;
    let me = s.get(&pierre, "/api/v1/me").await.ok();
    assert_eq!(
        (me["policy"]["enable_persistent_chat"].as_bool(), me["policy"]["source"].as_str()),
        (Some(true), Some("site:paris"))
    );
    s.say(&pierre, lobby, "bonjour").await;

    // A user-scope (tag) policy beats the site's.
    s.put(&admin, "/api/v1/admin/policies/tag:probation", json!({ "enable_persistent_chat": false })).await.ok();
    s.patch(&admin, "/api/v1/admin/users/pierre@example.org", json!({ "policy": "probation" })).await.ok();
    s.try_sign_in("pierre@example.org").await.err(403, "policy_disabled");
    s.patch(&admin, "/api/v1/admin/users/pierre@example.org", json!({ "policy": "" })).await.ok();
    s.sign_in("pierre@example.org").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_a_user_closes_their_connection() {
    let s = TestServer::start().await;
    let admin = s.admin_token().to_owned();
    let t = s.users(&["leaver@example.org", "witness@example.org"]).await;
    let lobby = id_of(&s.get(&t[0], "/api/v1/rooms?q=Lobby").await.ok()["items"][0]);
    let mut ws = s.ws(&t[0]).await;
    ws.join_ok(lobby).await;
    let mut witness = s.ws(&t[1]).await;
    witness.join_ok(lobby).await;

    s.patch(&admin, "/api/v1/admin/users/leaver@example.org", json!({ "disabled": true })).await.ok();
    let rest = ws.closed().await;
    let closing =
        rest.iter().find(|f| f["type"] == "closing").unwrap_or_else(|| panic!("no closing frame in {rest:?}"));
    assert_eq!(closing["code"], "account_disabled");
    assert!(rest.iter().any(|f| f["type"] == "kicked" && f["room"] == lobby), "{rest:?}");
    assert_eq!(witness.next_event("participant_left").await["participant"]["login"], "leaver@example.org");
    s.try_sign_in("leaver@example.org").await.err(403, "account_disabled");
    s.get(&t[0], "/api/v1/me").await.err(403, "account_disabled");

    s.patch(&admin, "/api/v1/admin/users/leaver@example.org", json!({ "disabled": false })).await.ok();
    let back = s.sign_in("leaver@example.org").await;
    let mut ws = s.ws(&back).await;
    ws.join_ok(lobby).await;
}
