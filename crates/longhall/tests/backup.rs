//! `longhall backup` against a running server while a client keeps posting, and `longhall
//! restore` into a new directory: the restored server serves exactly what was backed up. A
//! damaged backup is refused and nothing is written.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use longhall_client::rooms::RoomSearch;
use longhall_client::users::ListQuery;
use longhall_types::api::{FileRef, Posted};
use serde_json::json;
use support::{ADMIN, Proc, Server, data_dir, longhall};

const PASSWORD: &str = "backup-admin-password";

fn with_password(cmd: &mut std::process::Command) {
    cmd.env("LONGHALL_ADMIN_PASSWORD", PASSWORD);
}

/// Runs `longhall <args>` to the end; its exit status and output.
async fn run(args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = longhall();
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut proc = Proc::spawn(cmd);
    let status = proc.wait_exit(Duration::from_secs(120)).await;
    (status.success(), proc.output())
}

async fn upload(server: &Server, token: &str, room: i64, name: &str, bytes: Vec<u8>) -> FileRef {
    let resp = server
        .http
        .post(server.url(&format!("/api/v1/rooms/{room}/files?name={name}")))
        .bearer_auth(token)
        .header("content-type", "application/octet-stream")
        .body(bytes)
        .send()
        .await
        .expect("upload");
    assert!(resp.status().is_success(), "upload: {}", resp.status());
    resp.json().await.expect("a FileRef")
}

async fn download(server: &Server, token: &str, file: i64) -> Vec<u8> {
    let resp = server
        .http
        .get(server.url(&format!("/api/v1/files/{file}")))
        .bearer_auth(token)
        .send()
        .await
        .expect("download");
    assert!(resp.status().is_success(), "download: {}", resp.status());
    resp.bytes().await.expect("the file").to_vec()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_taken_while_posting_restores_to_exactly_what_it_holds() {
    let dir = data_dir();
    let server = Server::start_with(&dir.path, with_password).await;
    let admin = server.sign_in(ADMIN, PASSWORD).await;
    let lobby = server.find_room(&admin, "Lobby").await.expect("the Lobby").id;
    server.create_user(&admin, "carol@longhall.local", "carol-password-1").await;
    let desk = server.create_room(&admin, "Gilts desk").await.id;
    let content: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let file = upload(&server, &admin, desk, "curve.bin", content.clone()).await;
    for i in 0..20 {
        server.post_message(&admin, desk, &format!("desk message {i}")).await;
    }

    // A client keeps posting in the Lobby during the whole backup.
    let stop = Arc::new(AtomicBool::new(false));
    let last_acked = Arc::new(AtomicI64::new(0));
    let poster = {
        let (stop, last_acked) = (stop.clone(), last_acked.clone());
        let (url, token) = (server.url(&format!("/api/v1/rooms/{lobby}/messages")), admin.clone());
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let resp =
                    http.post(&url).bearer_auth(&token).json(&json!({ "text": format!("live {n}") })).send().await;
                let posted: Posted = resp.expect("post").json().await.expect("posted");
                last_acked.store(posted.seq, Ordering::Relaxed);
            }
        })
    };
    while last_acked.load(Ordering::Relaxed) < 20 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let acked_before = last_acked.load(Ordering::Relaxed);
    let backup = dir.path.parent().expect("a parent").join("deployment.backup");
    let (ok, said) = run(
        &["backup", backup.to_str().expect("a UTF-8 path"), "--server", &server.url("")],
        &[("LONGHALL_TOKEN", &admin)],
    )
    .await;
    assert!(ok, "the backup failed:\n{said}");
    assert!(said.contains("verified"), "{said}");
    let acked_after = last_acked.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    poster.await.expect("the poster");
    assert!(acked_after > acked_before, "posting went on during the backup");

    // Restore into a new directory and serve it beside the original.
    let restored = dir.path.parent().expect("a parent").join("restored");
    let (ok, said) = run(&["restore", backup.to_str().unwrap(), restored.to_str().unwrap()], &[]).await;
    assert!(ok, "the restore failed:\n{said}");
    let copy = Server::start(&restored).await;
    let copy_admin = copy.sign_in(ADMIN, PASSWORD).await;

    // The Lobby holds an unbroken prefix of what was posted, at least what was acknowledged
    // before the backup began, each message exactly as the original has it.
    let original = server.all_messages(&admin, lobby).await;
    let got = copy.all_messages(&copy_admin, lobby).await;
    assert!(
        got.len() as i64 >= acked_before,
        "{} messages restored, {acked_before} were acknowledged before",
        got.len()
    );
    assert_eq!(got[..], original[..got.len()], "the restored history is the original's, message for message");
    // Everything else is the same: rooms, users, the desk's history and its file.
    assert_eq!(copy.all_messages(&copy_admin, desk).await, server.all_messages(&admin, desk).await);
    assert_eq!(rooms(&copy, &copy_admin).await, rooms(&server, &admin).await);
    assert_eq!(users(&copy, &copy_admin).await, users(&server, &admin).await);
    assert_eq!(download(&copy, &copy_admin, file.id).await, content);
    // The compliance record came along, and the audit log with it (it lives there too).
    let events = copy.all_compliance_events(&copy_admin).await;
    assert!(events.iter().any(|e| e.kind == "FILEUPLOAD"), "{events:?}");
    let log = audit(&server, &admin).await;
    assert!(log.contains(&("create".into(), "user".into(), "carol@longhall.local".into())), "{log:?}");
    assert!(log.contains(&("create".into(), "room".into(), "Gilts desk".into())), "{log:?}");
    assert_eq!(audit(&copy, &copy_admin).await, log, "the restored audit log is the original's");
}

async fn audit(s: &Server, token: &str) -> Vec<(String, String, String)> {
    let q = longhall_client::audit::AuditQuery { limit: Some(500), ..Default::default() };
    let p = s.as_user(token).audit(&q).await.expect("the audit log");
    p.items.into_iter().map(|r| (r.operation, r.noun, r.object)).collect()
}

async fn rooms(s: &Server, token: &str) -> Vec<(i64, String)> {
    let q = RoomSearch { limit: Some(500), ..RoomSearch::default() };
    let p = s.as_user(token).search_rooms(&q).await.expect("the room directory");
    p.items.into_iter().map(|r| (r.id, r.name)).collect()
}

async fn users(s: &Server, token: &str) -> Vec<String> {
    let q = ListQuery { limit: Some(500), ..ListQuery::default() };
    let p = s.as_user(token).list_users(&q).await.expect("the users");
    p.items.into_iter().map(|u| u.login).collect()
}

fn restore_leaves_nothing(parent: &Path, target: &Path) {
    assert!(!target.exists(), "{} was created", target.display());
    let leftovers: Vec<_> = std::fs::read_dir(parent)
        .expect("the parent")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("restoring"))
        .collect();
    assert!(leftovers.is_empty(), "work folders left: {leftovers:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_truncated_altered_or_foreign_backup_is_refused_and_nothing_is_written() {
    let dir = data_dir();
    let server = Server::start_with(&dir.path, with_password).await;
    let admin = server.sign_in(ADMIN, PASSWORD).await;
    let lobby = server.find_room(&admin, "Lobby").await.expect("the Lobby").id;
    server.post_message(&admin, lobby, "one message").await;
    let parent = dir.path.parent().expect("a parent").to_path_buf();
    let good = parent.join("good.backup");
    let (ok, said) =
        run(&["backup", good.to_str().unwrap(), "--server", &server.url("")], &[("LONGHALL_TOKEN", &admin)]).await;
    assert!(ok, "{said}");
    let bytes = std::fs::read(&good).expect("the backup");

    let mut altered = bytes.clone();
    let middle = altered.len() / 2;
    altered[middle] ^= 0x55;
    let newer = String::from_utf8_lossy(&bytes[..20]).replacen("LONGHALL-BACKUP 1", "LONGHALL-BACKUP 9", 1);
    let mut foreign_version = newer.into_bytes();
    foreign_version.extend_from_slice(&bytes[20..]);
    let cases: [(&str, Vec<u8>, &str); 4] = [
        ("truncated", bytes[..bytes.len() - 100].to_vec(), "truncated"),
        ("altered", altered, "does not match"),
        ("newer", foreign_version, "format version 9"),
        ("foreign", b"just some text\n".to_vec(), "not a Longhall backup"),
    ];
    for (what, content, expected) in cases {
        let file = parent.join(format!("{what}.backup"));
        std::fs::write(&file, content).expect("write the damaged copy");
        let target = parent.join(format!("restored-{what}"));
        let (ok, said) = run(&["restore", file.to_str().unwrap(), target.to_str().unwrap()], &[]).await;
        assert!(!ok, "{what}: the restore must fail:\n{said}");
        assert!(said.contains(expected), "{what}: the error says what is wrong ({expected}):\n{said}");
        assert!(said.contains("nothing was written"), "{what}:\n{said}");
        restore_leaves_nothing(&parent, &target);
    }

    // A directory that is not empty is never written into.
    let busy = parent.join("busy");
    std::fs::create_dir(&busy).unwrap();
    std::fs::write(busy.join("keep.txt"), "mine").unwrap();
    let (ok, said) = run(&["restore", good.to_str().unwrap(), busy.to_str().unwrap()], &[]).await;
    assert!(!ok && said.contains("not empty"), "{said}");
    assert_eq!(std::fs::read_dir(&busy).unwrap().count(), 1);

    // Without an administrator's token the server refuses, and no file is left behind.
    let user = server.create_user(&admin, "dave@longhall.local", "dave-password-1").await;
    let dave = server.sign_in(&user.login, "dave-password-1").await;
    let refused = parent.join("refused.backup");
    let (ok, said) =
        run(&["backup", refused.to_str().unwrap(), "--server", &server.url("")], &[("LONGHALL_TOKEN", &dave)]).await;
    assert!(!ok && said.contains("admin_required"), "{said}");
    assert!(!refused.exists() && !parent.join("refused.backup.partial").exists());
}
