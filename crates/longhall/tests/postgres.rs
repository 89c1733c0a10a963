//! `store = "postgres"`: the real binary serves from a PostgreSQL database (the server named by
//! `LONGHALL_TEST_PG_URL`, a scratch database per test), keeps nothing of the chat in its data
//! directory, and the offline export reads the same database.

mod support;

use std::process::Command;
use std::time::Duration;

use support::{ADMIN, Server, data_dir, longhall};

const PASSWORD: &str = "postgres-admin-password";

fn admin_url() -> String {
    std::env::var("LONGHALL_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database created for one test with psql, dropped when this is dropped.
struct ScratchDb {
    name: String,
    url: String,
}

fn psql(sql: &str) -> std::process::Output {
    Command::new("psql")
        .args(["--quiet", "--no-psqlrc", "-v", "ON_ERROR_STOP=1", "-d", &admin_url(), "-c", sql])
        .output()
        .expect("psql, PostgreSQL's client, is installed")
}

impl ScratchDb {
    fn create() -> ScratchDb {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        let name = format!("longhall_bin_test_{}_{nanos}", std::process::id());
        let out = psql(&format!("CREATE DATABASE {name} ENCODING 'UTF8'"));
        assert!(
            out.status.success(),
            "PostgreSQL at {} must be reachable (./scripts/test starts the local one): {}",
            admin_url(),
            String::from_utf8_lossy(&out.stderr)
        );
        // The admin URL with its database replaced (a URL ending in /<database>).
        let base = admin_url();
        let (server, _) = base.rsplit_once('/').expect("a postgres:// URL naming a database");
        ScratchDb { url: format!("{server}/{name}"), name }
    }
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        let out = psql(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        if !out.status.success() {
            eprintln!("could not drop {}: {}", self.name, String::from_utf8_lossy(&out.stderr));
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deployment_on_postgres_keeps_its_chat_in_the_database() {
    let db = ScratchDb::create();
    let on_postgres = |cmd: &mut Command| {
        cmd.env("LONGHALL_STORE", "postgres").env("LONGHALL_POSTGRES_URL", &db.url);
        cmd.env("LONGHALL_ADMIN_PASSWORD", PASSWORD);
    };
    let first = data_dir();
    let mut server = Server::start_with(&first.path, on_postgres).await;
    let token = server.sign_in(ADMIN, PASSWORD).await;
    let lobby = server.find_room(&token, "Lobby").await.expect("first start made the Lobby");
    server.post_message(&token, lobby.id, "kept in PostgreSQL").await;
    assert!(!first.path.join("chat.db").exists(), "no SQLite store beside it");
    server.proc.sigterm();
    assert!(server.proc.wait_exit(Duration::from_secs(30)).await.success(), "{}", server.proc.output());

    // Another data directory, the same database: the same deployment (no second first start).
    let second = data_dir();
    let server = Server::start_with(&second.path, on_postgres).await;
    let token = server.sign_in(ADMIN, PASSWORD).await;
    let lobby = server.find_room(&token, "Lobby").await.expect("the Lobby is still there");
    let texts: Vec<String> = server.all_messages(&token, lobby.id).await.into_iter().map(|m| m.text).collect();
    assert!(texts.contains(&"kept in PostgreSQL".to_owned()), "{texts:?}");
    drop(server);

    // The offline export reads the database the configuration names.
    let file = second.path.join("out.lhx");
    let mut cmd = longhall();
    cmd.arg("export").arg(&file).arg("--data-dir").arg(&second.path).arg("--json");
    on_postgres(&mut cmd);
    let out = cmd.output().expect("longhall export");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let exported = std::fs::read_to_string(&file).expect("the export file");
    assert!(exported.contains("kept in PostgreSQL"), "the message is exported");

    // Without the database's address the server refuses to start and says which key is missing.
    let mut cmd = longhall();
    cmd.arg("serve").arg("--data-dir").arg(&second.path).env("LONGHALL_STORE", "postgres");
    let out = cmd.output().expect("longhall serve");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("postgres_url"), "{}", String::from_utf8_lossy(&out.stderr));
}
