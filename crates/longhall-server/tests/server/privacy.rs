//! Privacy × scope: who finds, sees, joins and posts in Open, Closed and Secret rooms, with
//! deny winning over allow, and secret rooms indistinguishable from missing ones.

use serde_json::{Value, json};

use super::harness::*;

const MEMBER: &str = "member@example.org";
const PLAIN: &str = "plain@example.org";
const DENIED: &str = "denied@example.org";
const OUTSIDER: &str = "outsider@example.org";

/// Replaces every run of digits, so messages about different ids compare by shape.
fn shape(message: &str) -> String {
    let mut out = String::new();
    let mut in_digits = false;
    for c in message.chars() {
        if c.is_ascii_digit() {
            if !in_digits {
                out.push('#');
            }
            in_digits = true;
        } else {
            out.push(c);
            in_digits = false;
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn privacy_and_scope_decide_who_finds_sees_joins_and_posts() {
    let s = TestServer::start().await;
    let tokens = s.users(&[MEMBER, PLAIN, DENIED, OUTSIDER]).await;
    let who = [("member", &tokens[0]), ("plain", &tokens[1]), ("denied", &tokens[2]), ("outsider", &tokens[3])];
    let admin = s.admin_token().to_owned();
    // insiders holds member, plain and denied; denied is also on the denied list: deny wins.
    s.group("insiders", &[&format!("user:{MEMBER}"), &format!("user:{PLAIN}"), &format!("user:{DENIED}")]).await;
    let cat = s
        .category(json!({
            "name": "Desk",
            "allowed_members": ["group:insiders"],
            "denied_members": [format!("user:{DENIED}")],
        }))
        .await;
    let mut rooms = Vec::new();
    for privacy in ["open", "closed", "secret"] {
        let id = s
            .room(
                &admin,
                json!({
                    "name": format!("zq-{privacy}-room"),
                    "category": cat.to_string(),
                    "privacy": privacy,
                    "members": [format!("user:{MEMBER}")],
                }),
            )
            .await;
        rooms.push((privacy, id));
    }
    let room_id = |p: &str| rooms.iter().find(|(q, _)| *q == p).unwrap().1;

    // (privacy, user) -> (finds in directory, may GET it, join result, post result)
    // join/post: "ok" or the error code.
    let table: &[(&str, &str, bool, bool, &str, &str)] = &[
        ("open", "member", true, true, "ok", "ok"),
        ("open", "plain", true, true, "ok", "ok"),
        ("open", "denied", false, false, "room_not_found", "room_not_found"),
        ("open", "outsider", false, false, "room_not_found", "room_not_found"),
        ("closed", "member", true, true, "ok", "ok"),
        ("closed", "plain", true, true, "not_member", "not_member"),
        ("closed", "denied", false, false, "room_not_found", "room_not_found"),
        ("closed", "outsider", false, false, "room_not_found", "room_not_found"),
        ("secret", "member", true, true, "ok", "ok"),
        ("secret", "plain", false, false, "room_not_found", "room_not_found"),
        ("secret", "denied", false, false, "room_not_found", "room_not_found"),
        ("secret", "outsider", false, false, "room_not_found", "room_not_found"),
    ];
    let mut sockets = Vec::new();
    for (_, t) in &who {
        sockets.push(s.ws(t).await);
    }
    for &(privacy, user, finds, sees, join, post) in table {
        let case = format!("{privacy} room, {user}");
        let (idx, token) = who.iter().enumerate().find(|(_, (n, _))| *n == user).map(|(i, (_, t))| (i, *t)).unwrap();
        let id = room_id(privacy);

        let found = s.get(token, "/api/v1/rooms?q=zq-").await.ok();
        let ids: Vec<i64> = found["items"].as_array().unwrap().iter().map(id_of).collect();
        assert_eq!(ids.contains(&id), finds, "{case}: found in the directory");

        let detail = s.get(token, &format!("/api/v1/rooms/{id}")).await;
        if sees {
            assert_eq!(id_of(&detail.ok()), id, "{case}");
        } else {
            detail.err(404, "room_not_found");
        }

        let ws = &mut sockets[idx];
        if join == "ok" {
            let joined = ws.join_ok(id).await;
            assert_eq!(joined["room"]["id"], id, "{case}");
        } else {
            assert_eq!(ws.join_fails(id).await, join, "{case}: join");
        }

        let posted =
            s.post(token, &format!("/api/v1/rooms/{id}/messages"), json!({ "text": format!("hi from {user}") })).await;
        if post == "ok" {
            assert!(posted.ok()["seq"].as_i64().unwrap() > 0, "{case}");
        } else {
            let status = if post == "room_not_found" { 404 } else { 403 };
            posted.err(status, post);
        }
        if join == "ok" {
            // Over the WebSocket too, once joined.
            let seq = ws.post_ok(id, &format!("live from {user}")).await;
            assert!(seq > 0);
        }
    }

    // Administrators find every room, including a disabled one.
    let disabled = s.room(&admin, json!({ "name": "zq-disabled-room", "category": cat.to_string() })).await;
    s.patch(&admin, &format!("/api/v1/rooms/{disabled}"), json!({ "disabled": true })).await.ok();
    let all = s.get(&admin, "/api/v1/rooms?q=zq-").await.ok();
    let mut ids: Vec<i64> = all["items"].as_array().unwrap().iter().map(id_of).collect();
    ids.sort();
    let mut want: Vec<i64> = rooms.iter().map(|(_, id)| *id).chain([disabled]).collect();
    want.sort();
    assert_eq!(ids, want, "administrators see every room");
    let member_view = s.get(&tokens[0], "/api/v1/rooms?q=zq-").await.ok();
    assert!(
        !member_view["items"].as_array().unwrap().iter().any(|r| id_of(r) == disabled),
        "a disabled room is hidden"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_room_answers_exactly_like_a_missing_one() {
    let s = TestServer::start().await;
    let admin = s.admin_token().to_owned();
    let toks = s.users(&["insider@example.org", "nosy@example.org"]).await;
    let cat = s.category(json!({ "name": "Board", "allowed_members": ["domain:example.org"] })).await;
    let secret = s
        .room(
            &admin,
            json!({ "name": "Mergers", "category": cat.to_string(), "privacy": "secret", "members": ["user:insider@example.org"] }),
        )
        .await;
    let missing = secret + 1000;
    let nosy = &toks[1];

    // Over HTTP, every route about the room.
    let routes: Vec<(reqwest::Method, String, Option<Value>)> = vec![
        (reqwest::Method::GET, "/api/v1/rooms/{}".into(), None),
        (reqwest::Method::GET, "/api/v1/rooms/{}/messages".into(), None),
        (reqwest::Method::POST, "/api/v1/rooms/{}/messages".into(), Some(json!({ "text": "hello?" }))),
        (reqwest::Method::GET, "/api/v1/rooms/{}/participants".into(), None),
        (reqwest::Method::PUT, "/api/v1/rooms/{}/follow".into(), None),
        (reqwest::Method::PUT, "/api/v1/rooms/{}/read".into(), Some(json!({ "seq": 1 }))),
        (reqwest::Method::PATCH, "/api/v1/rooms/{}".into(), Some(json!({ "description": "x" }))),
    ];
    for (method, path, body) in routes {
        let mut answers = Vec::new();
        for id in [secret, missing] {
            let p = path.replace("{}", &id.to_string());
            let b = match &body {
                Some(v) => Body::Json(v.clone()),
                None => Body::None,
            };
            let r = s.call(method.clone(), &p, Some(nosy), b).await;
            answers.push((r.status, r.code().to_owned(), shape(r.body["message"].as_str().unwrap_or_default())));
        }
        assert_eq!(answers[0], answers[1], "{method} {path}: secret vs missing");
        assert_eq!(answers[0].1, "room_not_found", "{method} {path}");
    }

    // Over the WebSocket.
    let mut ws = s.ws(nosy).await;
    let ans = ws.join(&[secret, missing]).await;
    let failed = ans["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 2);
    assert_eq!(failed[0]["code"], failed[1]["code"]);
    assert_eq!(failed[0]["code"], "room_not_found");
    assert_eq!(shape(failed[0]["message"].as_str().unwrap()), shape(failed[1]["message"].as_str().unwrap()));
    let mut errors = Vec::new();
    for id in [secret, missing] {
        let e = ws.post(id, "psst").await;
        assert_eq!(e["type"], "error");
        errors.push((e["code"].clone(), shape(e["message"].as_str().unwrap())));
    }
    assert_eq!(errors[0], errors[1]);

    // And the member does see it.
    s.get(&toks[0], &format!("/api/v1/rooms/{secret}")).await.ok();
}

/// Room names are unique in the deployment, so taking a secret room's name must be refused; the
/// refusal says only "this name is in use", exactly as for a category or a visible room, and
/// only to someone allowed to create rooms at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_rooms_name_is_refused_exactly_like_any_taken_name() {
    let s = TestServer::start().await;
    let admin = s.admin_token().to_owned();
    let t = s.users(&["maker@example.org", "nobody@example.org"]).await;
    let (maker, nobody) = (&t[0], &t[1]);
    let vault = s.category(json!({ "name": "Vault", "allowed_members": ["user:admin@example.org"] })).await;
    s.room(&admin, json!({ "name": "Project Falcon", "category": vault.to_string(), "privacy": "secret" })).await;
    let open = s
        .category(json!({
            "name": "Workshop", "allowed_members": ["domain:example.org"], "creators": ["user:maker@example.org"],
        }))
        .await;
    let bench = s.room(maker, json!({ "name": "Bench", "category": open.to_string() })).await;

    let neutral = |name: &str| format!("\"{name}\" is already the name of a room or category; choose another name.");
    // Same status, code and sentence for a secret room she can't see, a room she sees and a
    // category: nothing says which, where, or what kind of room holds the name.
    for name in ["project falcon", "bench", "vault"] {
        let body = json!({ "name": name, "category": open.to_string() });
        let body = s.post(maker, "/api/v1/rooms", body).await.err(409, "name_taken");
        assert_eq!(body["message"], neutral(name), "{name}");
    }
    // Renaming answers the same.
    let body = s.patch(maker, &format!("/api/v1/rooms/{bench}"), json!({ "name": "Project Falcon" })).await;
    assert_eq!(body.err(409, "name_taken")["message"], neutral("Project Falcon"));
    // The directory still doesn't list it.
    assert_eq!(s.get(maker, "/api/v1/rooms?q=Falcon").await.ok()["items"], json!([]));
    // Someone who may not create rooms is refused before any name is looked at.
    for name in ["Project Falcon", "Project Heron"] {
        let body = json!({ "name": name, "category": open.to_string() });
        s.post(nobody, "/api/v1/rooms", body).await.err(403, "forbidden");
    }
}
