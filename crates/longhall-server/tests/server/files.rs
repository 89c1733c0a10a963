//! Files: upload only where the category allows it and within `max_file_size_kb`, download
//! by readers only, and attachment to a post.

use futures_util::StreamExt;
use reqwest::Method;
use serde_json::json;

use super::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_download_limits_and_attachments() {
    let s = TestServer::start().await;
    let admin = s.admin_token().to_owned();
    s.set_config(json!({ "max_file_size_kb": 1 })).await;
    let t = s.users(&["sender@example.org", "receiver@example.org", "outsider@example.org"]).await;
    let (sender, receiver, outsider) = (&t[0], &t[1], &t[2]);
    let with_files =
        s.category(json!({ "name": "Shared", "file_upload": true, "allowed_members": ["domain:example.org"] })).await;
    let no_files =
        s.category(json!({ "name": "Plain", "file_upload": false, "allowed_members": ["domain:example.org"] })).await;
    let members = json!(["user:sender@example.org", "user:receiver@example.org"]);
    let room =
        s.room(&admin, json!({ "name": "Drop box", "category": with_files.to_string(), "members": members })).await;
    let secret = s
        .room(
            &admin,
            json!({ "name": "Vault", "category": with_files.to_string(), "privacy": "secret", "members": members }),
        )
        .await;
    let plain =
        s.room(&admin, json!({ "name": "Text only", "category": no_files.to_string(), "members": members })).await;

    let upload = |room: i64, name: &str, bytes: Vec<u8>| {
        let path = format!("/api/v1/rooms/{room}/files?name={}", enc(name));
        let s = &s;
        let tok = sender.to_owned();
        async move { s.call(Method::POST, &path, Some(&tok), Body::Raw(bytes, "text/csv")).await }
    };
    let content: Vec<u8> = (0..700u32).map(|i| b"0123456789,\n"[(i % 12) as usize]).collect();
    let file = upload(room, "q3 figures.csv", content.clone()).await.ok();
    assert_eq!((file["name"].as_str(), file["size"].as_u64()), (Some("q3 figures.csv"), Some(700)));
    let file_id = id_of(&file);

    // Not where the category has no file upload; not above the size limit.
    upload(plain, "x.csv", b"a,b".to_vec()).await.err(403, "file_upload_disabled");
    upload(room, "big.csv", vec![b'x'; 1025]).await.err(413, "payload_too_large");
    // Also when the size is not announced up front (a streamed body).
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..8).map(|_| Ok(vec![b'y'; 300])).collect();
    let streamed = s
        .call(
            Method::POST,
            &format!("/api/v1/rooms/{room}/files?name=stream.bin"),
            Some(sender),
            Body::Stream(futures_util::stream::iter(chunks).boxed()),
        )
        .await;
    streamed.err(413, "payload_too_large");
    // Exactly at the limit is fine.
    upload(room, "exact.bin", vec![b'z'; 1024]).await.ok();
    // Outsiders can't upload to a room they can't read.
    s.call(
        Method::POST,
        &format!("/api/v1/rooms/{room}/files?name=x"),
        Some(outsider),
        Body::Raw(b"x".to_vec(), "text/plain"),
    )
    .await
    .err(403, "not_member");

    // A reader downloads the same bytes.
    let got = s.get(receiver, &format!("/api/v1/files/{file_id}")).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.bytes, content);
    assert_eq!(got.headers["content-type"], "text/csv");
    // Someone who can't read the room gets "not found", as for a file that doesn't exist.
    let secret_file = id_of(&upload(secret, "plan.txt", b"secret plan".to_vec()).await.ok());
    for id in [file_id, secret_file, secret_file + 100] {
        s.get(outsider, &format!("/api/v1/files/{id}")).await.err(404, "file_not_found");
    }

    // A post may attach the file; the message carries it, live and in history.
    let mut ws = s.ws(receiver).await;
    ws.join_ok(room).await;
    let posted = s
        .post(sender, &format!("/api/v1/rooms/{room}/messages"), json!({ "text": "figures attached", "file": file_id }))
        .await
        .ok();
    let m = ws.next_event("message").await;
    assert_eq!(m["seq"], posted["seq"]);
    assert_eq!(
        (m["file"]["id"].as_i64(), m["file"]["name"].as_str(), m["file"]["size"].as_u64()),
        (Some(file_id), Some("q3 figures.csv"), Some(700))
    );
    let page = s.get(receiver, &format!("/api/v1/rooms/{room}/messages")).await.ok();
    assert_eq!(page["messages"][0]["file"]["id"], file_id);
    // A file of another room can't be attached.
    s.post(sender, &format!("/api/v1/rooms/{room}/messages"), json!({ "text": "wrong file", "file": secret_file }))
        .await
        .err(404, "file_not_found");
}
