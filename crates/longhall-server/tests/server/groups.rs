//! The group check (AffCheck): cycles, dangling entries, memberships that drifted from the store.

use serde_json::json;

use super::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_group_check_reports_cycles_dangling_entries_and_drift_from_the_store() {
    let mut s = TestServer::start().await;
    let admin = s.admin_token().to_owned();
    s.create_user("bob@example.org", json!({})).await;
    s.group("alpha", &[]).await;
    s.group("beta", &["group:alpha"]).await;
    s.patch(&admin, "/api/v1/admin/groups/alpha", json!({ "members": { "add": ["group:beta"] } })).await.ok();
    let check = s.get(&admin, "/api/v1/admin/group-check").await.ok();
    assert_eq!(
        check,
        json!({ "consistent": true, "cycles": [["alpha", "beta"]], "dangling_members": [],
                "dangling_list_entries": [], "membership_differences": [] }),
        "a cycle is reported but tolerated"
    );

    // Someone edits the store behind the server's back: bob joins alpha there, and a room
    // list names a user that does not exist.
    let alpha = id_of(&s.get(&admin, "/api/v1/admin/groups/alpha").await.ok());
    let bob = id_of(&s.get(&admin, "/api/v1/admin/users/bob@example.org").await.ok());
    let lobby = id_of(&s.get(&admin, "/api/v1/rooms?q=Lobby").await.ok()["items"][0]);
    {
        let db = rusqlite::Connection::open(s.data_dir().join("chat.db")).expect("chat.db");
        db.busy_timeout(WAIT).unwrap();
        let add = "INSERT INTO principal_lists (owner_kind, owner_id, list, principal, pos) VALUES (?1, ?2, ?3, ?4, 9)";
        db.execute(add, rusqlite::params!["group", alpha, "members", format!("user:{bob}")]).unwrap();
        db.execute(add, rusqlite::params!["room", lobby, "members", "user:999999"]).unwrap();
    }
    let check = s.get(&admin, "/api/v1/admin/group-check").await.ok();
    assert_eq!(check["consistent"], false);
    assert_eq!(
        check["membership_differences"],
        json!([r#"bob@example.org: memory [], store ["alpha", "beta"]"#]),
        "the store says bob is in alpha (and so in beta); memory does not know"
    );

    // A restart loads the store: memory agrees again, and the dangling entry shows.
    s.restart().await;
    let admin = s.sign_in(ADMIN).await;
    let check = s.get(&admin, "/api/v1/admin/group-check").await.ok();
    assert_eq!(check["membership_differences"], json!([]));
    assert_eq!(check["dangling_list_entries"], json!(["room Lobby: members: user #999999 (missing)"]));
    assert_eq!(check["consistent"], false);
    let user = s.user("plain@example.org").await;
    s.get(&user, "/api/v1/admin/group-check").await.err(403, "admin_required");
}
