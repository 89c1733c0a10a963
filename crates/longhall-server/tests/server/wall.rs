//! The ethical wall and room management: out-of-scope principals are refused, creators become
//! managers, managers edit but only administrators re-enable and delete, and a move purges
//! whoever is out of the new category's scope.

use serde_json::{Value, json};

use super::harness::*;

fn list(room: &Value, which: &str) -> Vec<String> {
    let mut v: Vec<String> = room[which]
        .as_array()
        .unwrap_or_else(|| panic!("no {which} in {room}"))
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ethical_wall_and_what_managers_may_do() {
    let s = TestServer::start().await;
    let admin = s.admin_token().to_owned();
    let t = s
        .users(&["creator@alpha.org", "analyst@alpha.org", "both@alpha.org", "trader@beta.org", "nobody@alpha.org"])
        .await;
    let (creator, _analyst, _both, _trader, nobody) = (&t[0], &t[1], &t[2], &t[3], &t[4]);
    s.group(
        "team-a",
        &["user:creator@alpha.org", "user:analyst@alpha.org", "user:both@alpha.org", "user:nobody@alpha.org"],
    )
    .await;
    s.group("team-b", &["user:trader@beta.org", "user:both@alpha.org"]).await;
    let alpha = s
        .category(
            json!({ "name": "Research", "allowed_members": ["group:team-a"], "creators": ["user:creator@alpha.org"] }),
        )
        .await;
    let beta = s.category(json!({ "name": "Sales", "allowed_members": ["group:team-b"] })).await;

    // Only creators create rooms; the creator becomes a manager but not a member.
    s.post(nobody, "/api/v1/rooms", json!({ "name": "Sneaky", "category": alpha.to_string() }))
        .await
        .err(403, "forbidden");
    s.post(creator, "/api/v1/rooms", json!({ "name": "Elsewhere", "category": beta.to_string() }))
        .await
        .err(403, "forbidden");
    let created = s
        .post(
            creator,
            "/api/v1/rooms",
            json!({ "name": "Models", "category": alpha.to_string(), "members": ["user:analyst@alpha.org", "user:both@alpha.org"] }),
        )
        .await
        .ok();
    let room = id_of(&created);
    assert_eq!(list(&created, "managers"), ["user:creator@alpha.org"]);
    assert_eq!((created["roles"]["manager"].clone(), created["roles"]["member"].clone()), (json!(true), json!(false)));
    // Not a member: a Closed room can't be joined by its manager.
    let mut ws = s.ws(creator).await;
    assert_eq!(ws.join_fails(room).await, "not_member");

    // The wall: out-of-scope users and groups are refused on every list, at creation too.
    for (lst, who) in [
        ("members", "user:trader@beta.org"),
        ("managers", "user:trader@beta.org"),
        ("members", "group:team-b"),
        ("managers", "group:team-b"),
        ("members", "domain:beta.org"),
        ("members", "everyone"),
    ] {
        let e = s
            .patch(creator, &format!("/api/v1/rooms/{room}"), json!({ lst: { "add": [who] } }))
            .await
            .err(422, "out_of_scope");
        assert!(e["message"].as_str().unwrap().contains(who), "the error names {who}: {e}");
    }
    s.post(
        creator,
        "/api/v1/rooms",
        json!({ "name": "Leaky", "category": alpha.to_string(), "members": ["user:trader@beta.org"] }),
    )
    .await
    .err(422, "out_of_scope");
    let aud = s
        .room(
            creator,
            json!({ "name": "Talks", "category": alpha.to_string(), "type": "auditorium", "privacy": "open" }),
        )
        .await;
    s.patch(creator, &format!("/api/v1/rooms/{aud}"), json!({ "presenters": { "add": ["user:trader@beta.org"] } }))
        .await
        .err(422, "out_of_scope");
    let unchanged = s.get(creator, &format!("/api/v1/rooms/{room}")).await.ok();
    assert_eq!(list(&unchanged, "members"), ["user:analyst@alpha.org", "user:both@alpha.org"]);
    assert_eq!(list(&unchanged, "managers"), ["user:creator@alpha.org"]);
    // Denying a principal later makes it out of scope too (deny wins over allow).
    s.patch(
        &admin,
        &format!("/api/v1/admin/categories/{alpha}"),
        json!({ "denied_members": { "add": ["user:nobody@alpha.org"] } }),
    )
    .await
    .ok();
    s.patch(creator, &format!("/api/v1/rooms/{room}"), json!({ "members": { "add": ["user:nobody@alpha.org"] } }))
        .await
        .err(422, "out_of_scope");

    // The manager edits the room's settings.
    let edited = s
        .patch(creator, &format!("/api/v1/rooms/{room}"), json!({ "description": "Quant models", "privacy": "open" }))
        .await
        .ok();
    assert_eq!(
        (edited["room"]["description"].as_str(), edited["room"]["privacy"].as_str()),
        (Some("Quant models"), Some("open"))
    );
    // A non-manager may not.
    s.patch(&t[1], &format!("/api/v1/rooms/{room}"), json!({ "description": "mine now" })).await.err(403, "forbidden");

    // Managers disable; only administrators enable again, and only administrators delete.
    s.patch(creator, &format!("/api/v1/rooms/{room}"), json!({ "disabled": true })).await.ok();
    s.patch(creator, &format!("/api/v1/rooms/{room}"), json!({ "disabled": false })).await.err(403, "admin_required");
    let still = s.get(creator, &format!("/api/v1/rooms/{room}")).await.ok();
    assert_eq!(still["disabled"], true, "the refused enable changed nothing");
    s.delete(creator, &format!("/api/v1/rooms/{room}")).await.err(403, "admin_required");
    s.patch(&admin, &format!("/api/v1/rooms/{room}"), json!({ "disabled": false })).await.ok();
    assert_eq!(s.get(creator, &format!("/api/v1/rooms/{room}")).await.ok()["disabled"], false);

    // Moving needs the manager to be a creator in the target category.
    s.patch(creator, &format!("/api/v1/rooms/{room}"), json!({ "category": beta.to_string() }))
        .await
        .err(403, "forbidden");
    s.patch(
        &admin,
        &format!("/api/v1/admin/categories/{beta}"),
        json!({ "allowed_members": { "add": ["user:creator@alpha.org"] }, "creators": { "add": ["user:creator@alpha.org"] } }),
    )
    .await
    .ok();
    let moved = s.patch(creator, &format!("/api/v1/rooms/{room}"), json!({ "category": "Sales" })).await.ok();
    assert_eq!(moved["room"]["category_id"], beta);
    // analyst is only in team-a: purged and reported; both is in team-b: kept; the creator
    // was added to Sales' scope: kept.
    let mut purged: Vec<String> =
        moved["purged"].as_array().unwrap().iter().map(|p| p.as_str().unwrap().to_owned()).collect();
    purged.sort();
    assert_eq!(purged, ["user:analyst@alpha.org"]);
    assert_eq!(list(&moved["room"], "members"), ["user:both@alpha.org"]);
    assert_eq!(list(&moved["room"], "managers"), ["user:creator@alpha.org"]);
    // The purged analyst no longer finds the room.
    let found = s.get(&t[1], "/api/v1/rooms?q=Models").await.ok();
    assert_eq!(found["items"], json!([]));
    // And a manager can't edit the category of a room any other way: admins may always move.
    s.patch(&admin, &format!("/api/v1/rooms/{room}"), json!({ "category": alpha.to_string() })).await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_purges_every_list_and_reports_it() {
    let s = TestServer::start().await;
    let admin = s.admin_token().to_owned();
    s.users(&["p1@old.org", "p2@old.org", "stay@new.org"]).await;
    let old = s.category(json!({ "name": "Old", "allowed_members": ["domain:old.org", "domain:new.org"] })).await;
    let new = s.category(json!({ "name": "New", "allowed_members": ["domain:new.org", "domain:example.org"] })).await;
    let room = s
        .room(
            &admin,
            json!({
                "name": "Stage", "category": old.to_string(), "type": "auditorium",
                "members": ["user:p1@old.org", "user:stay@new.org", "domain:old.org"],
                "managers": ["user:p2@old.org", "user:stay@new.org"],
                "presenters": ["user:p1@old.org", "user:stay@new.org"],
            }),
        )
        .await;
    let moved = s.patch(&admin, &format!("/api/v1/rooms/{room}"), json!({ "category": new.to_string() })).await.ok();
    let mut purged: Vec<String> =
        moved["purged"].as_array().unwrap().iter().map(|p| p.as_str().unwrap().to_owned()).collect();
    purged.sort();
    // p1 was a member and a presenter: reported once.
    assert_eq!(purged, ["domain:old.org", "user:p1@old.org", "user:p2@old.org"]);
    assert_eq!(list(&moved["room"], "members"), ["user:stay@new.org"]);
    assert_eq!(list(&moved["room"], "presenters"), ["user:stay@new.org"]);
    // The administrator who created the room was out of Old's scope, so never became a manager.
    assert_eq!(list(&moved["room"], "managers"), ["user:stay@new.org"]);
}
