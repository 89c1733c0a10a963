//! Readiness names each check; the administrators' status page counts what is really there:
//! connections, participants, rooms in use, the compliance backlog, the stores' bytes.

use std::time::Duration;

use longhall_core::Settings;
use reqwest::Method;
use serde_json::{Value, json};

use super::harness::*;

fn check<'a>(checks: &'a Value, name: &str) -> &'a Value {
    checks.as_array().expect("checks").iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("{name}"))
}

fn size(status: &Value, part: &str) -> u64 {
    status["store_sizes"].as_array().expect("sizes").iter().find(|p| p["name"] == part).expect(part)["bytes"]
        .as_u64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_lists_every_check() {
    let s = TestServer::start().await;
    let resp = s.call(Method::GET, "/readyz", None, Body::None).await;
    assert_eq!(resp.status, 200);
    let body = resp.ok();
    assert_eq!(body["status"], "ready");
    assert_eq!(check(&body["checks"], "store")["state"], "ok", "{body}");
    assert_eq!(check(&body["checks"], "poster")["state"], "ok", "{body}");
    // This server runs no compliance processor: reported, and not held against it.
    let processor = check(&body["checks"], "compliance_processor");
    assert_eq!(processor["state"], "absent", "{body}");
    assert_eq!(processor["required"], false, "{body}");
    assert!(body.get("code").is_none(), "a ready answer is not an error: {body}");
    // Without a known connection limit, the status page says none.
    let status = s.get(s.admin_token(), "/api/v1/admin/status").await.ok();
    assert!(status.get("max_connections").is_none(), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_counts_a_known_workload() {
    let s = TestServer::with_settings(Settings { max_connections: 50, ..Default::default() }).await;
    let admin = s.admin_token().to_owned();
    let t = s.users(&["alice@example.org", "bob@example.org"]).await;
    let (alice, bob) = (&t[0], &t[1]);
    s.get(alice, "/api/v1/admin/status").await.err(403, "admin_required");

    let cat = s.category(json!({ "name": "Desk", "file_upload": true, "allowed_members": ["everyone"] })).await;
    let members = json!(["user:alice@example.org", "user:bob@example.org"]);
    let a = s.room(&admin, json!({ "name": "Room A", "category": cat.to_string(), "members": members })).await;
    let b = s.room(&admin, json!({ "name": "Room B", "category": cat.to_string(), "members": members })).await;

    let idle = s.get(&admin, "/api/v1/admin/status").await.ok();
    assert_eq!((idle["connections"].as_u64(), idle["participants"].as_u64()), (Some(0), Some(0)), "{idle}");
    assert_eq!(idle["active_rooms"], 0);
    assert_eq!(idle["ready"], true, "{idle}");
    assert_eq!(idle["version"], env!("CARGO_PKG_VERSION"));
    assert!(size(&idle, "chat.db") > 0 && size(&idle, "compliance.db") > 0, "{idle}");
    assert_eq!(size(&idle, "files"), 0, "no file uploaded yet: {idle}");

    // alice in A; bob in A and B; alice's second connection joins nothing.
    let mut alice_ws = s.ws(alice).await;
    alice_ws.join_ok(a).await;
    let mut bob_ws = s.ws(bob).await;
    bob_ws.join_ok(a).await;
    bob_ws.join_ok(b).await;
    let alice_idle = s.ws(alice).await;
    let busy = s.get(&admin, "/api/v1/admin/status").await.ok();
    assert_eq!(busy["connections"], 3, "{busy}");
    assert_eq!(busy["max_connections"], 50, "{busy}");
    assert_eq!(busy["participants"], 3, "alice in A, bob in A and B: {busy}");
    assert_eq!(busy["active_rooms"], 2, "{busy}");

    // The backlog is every recorded event (nothing processes here), and grows by one per post.
    let before = busy["compliance"]["waiting_events"].as_u64().unwrap();
    assert_eq!(before, s.compliance_events().await.len() as u64, "{busy}");
    assert!(before > 0, "joins are recorded: {busy}");
    for text in ["one", "two", "three", "four"] {
        s.say(alice, a, text).await;
    }
    let file = b"twelve bytes".to_vec();
    s.call(Method::POST, &format!("/api/v1/rooms/{a}/files?name=f.txt"), Some(alice), Body::Raw(file, "text/plain"))
        .await
        .ok();
    let after = s.get(&admin, "/api/v1/admin/status").await.ok();
    assert_eq!(after["compliance"]["waiting_events"].as_u64().unwrap(), before + 5, "4 posts and an upload: {after}");
    assert_eq!(after["compliance"]["enabled"], false);
    assert!(after["compliance"].get("last_run").is_none(), "no run yet: {after}");
    assert_eq!(size(&after, "files"), 12, "{after}");

    // bob goes: his two participations and his connection end.
    bob_ws.close().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let gone = loop {
        let st = s.get(&admin, "/api/v1/admin/status").await.ok();
        if st["connections"] == 2 {
            break st;
        }
        assert!(tokio::time::Instant::now() < deadline, "bob's connection never ended: {st}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(gone["participants"], 1, "{gone}");
    assert_eq!(gone["active_rooms"], 1, "{gone}");
    drop(alice_idle);
    drop(alice_ws);
}
