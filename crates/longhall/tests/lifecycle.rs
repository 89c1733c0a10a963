//! The server process and its data directory: one owner at a time, readiness that tells the
//! truth about the disk, and what a crash leaves behind is tidied at the next start.

mod support;

use std::time::Duration;

use support::{ADMIN, Proc, Server, data_dir, free_port, longhall};

const PASSWORD: &str = "lifecycle-admin-password";

fn with_password(cmd: &mut std::process::Command) {
    cmd.env("LONGHALL_ADMIN_PASSWORD", PASSWORD);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_server_on_the_same_data_directory_is_refused() {
    let dir = data_dir();
    let server = Server::start_with(&dir.path, with_password).await;

    let mut cmd = longhall();
    cmd.arg("serve").arg("--data-dir").arg(&dir.path).arg("--listen").arg(format!("127.0.0.1:{}", free_port()));
    let mut second = Proc::spawn(cmd);
    let status = second.wait_exit(Duration::from_secs(20)).await;
    assert!(!status.success(), "the second server must not start\n{}", second.output());
    let said = second.output();
    assert!(said.contains("in use by process"), "the refusal names the owner:\n{said}");
    assert!(said.contains(&server.proc.pid().to_string()), "with its process id:\n{said}");
    assert!(!said.contains("serving http://"), "it never served:\n{said}");

    // The first one goes on as before.
    let token = server.sign_in(ADMIN, PASSWORD).await;
    let lobby = server.find_room(&token, "Lobby").await.expect("the Lobby");
    server.post_message(&token, lobby.id, "still the only server").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_join_cut_off_by_a_crash_gets_its_part_at_the_next_start() {
    let dir = data_dir();
    let mut server = Server::start_with(&dir.path, with_password).await;
    let token = server.sign_in(ADMIN, PASSWORD).await;
    let lobby = server.find_room(&token, "Lobby").await.expect("the Lobby").id;
    let mut ws = server.connect(&token).await;
    ws.join(lobby).await;
    server.proc.sigkill();
    drop(ws);
    drop(server);

    let server = Server::start_with(&dir.path, with_password).await;
    let token = server.sign_in(ADMIN, PASSWORD).await;
    let events = server.all_compliance_events(&token).await;
    let joins: Vec<_> = events.iter().filter(|e| e.kind == "JOIN" && e.room == lobby).collect();
    let parts: Vec<_> = events.iter().filter(|e| e.kind == "PART" && e.room == lobby).collect();
    assert_eq!(joins.len(), 1, "{events:#?}");
    assert_eq!(parts.len(), 1, "the JOIN got its PART: {events:#?}");
    assert_eq!(parts[0].detail["reason"], "server restarted");
    assert_eq!(parts[0].detail["connection"], joins[0].detail["connection"]);
    assert!(parts[0].id > joins[0].id);

    // A second restart adds nothing: every participation is closed.
    drop(server);
    let server = Server::start_with(&dir.path, with_password).await;
    let token = server.sign_in(ADMIN, PASSWORD).await;
    let again = server.all_compliance_events(&token).await;
    assert_eq!(again.iter().filter(|e| e.kind == "PART").count(), 1, "{again:#?}");
}

/// Mounts a small tmpfs (the tests run as root on the project's machines); unmounted on drop.
struct SmallDisk {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

impl SmallDisk {
    fn mount(size: &str) -> SmallDisk {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("disk");
        std::fs::create_dir(&path).expect("the mount point");
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .status()
            .expect("running mount");
        assert!(
            status.success(),
            "this test mounts a small tmpfs and needs root (or CAP_SYS_ADMIN): mount said {status}"
        );
        SmallDisk { _dir: dir, path }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// Writes until the disk is full.
fn fill(path: &std::path::Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).expect("the filler file");
    let chunk = vec![0u8; 64 * 1024];
    while f.write_all(&chunk).is_ok() {}
    while f.write_all(&chunk[..512]).is_ok() {}
    let _ = f.sync_all();
}

#[tokio::test(flavor = "multi_thread")]
async fn readiness_fails_while_the_disk_is_full_and_comes_back() {
    let disk = SmallDisk::mount("32m");
    let data = disk.path.join("data");
    let server = Server::start_with(&data, with_password).await;
    let token = server.sign_in(ADMIN, PASSWORD).await;
    let lobby = server.find_room(&token, "Lobby").await.expect("the Lobby").id;
    server.post_message(&token, lobby, "before the disk filled").await;

    let filler = disk.path.join("filler");
    fill(&filler);
    let ready = server.http.get(server.url("/readyz")).send().await.expect("/readyz answers");
    assert_eq!(ready.status().as_u16(), 503, "a full disk is not ready");
    let body: serde_json::Value = ready.json().await.expect("a JSON body");
    assert_eq!(body["code"], "store_unavailable", "{body}");
    let store = body["checks"].as_array().unwrap().iter().find(|c| c["name"] == "store").cloned();
    assert_eq!(store.map(|c| c["state"].clone()), Some("failed".into()), "the store check names it: {body}");
    // The public answer says what kind of trouble it is; the store's own error (which can name
    // paths) is for the log and administrators.
    let disk_path = disk.path.to_string_lossy().into_owned();
    assert!(!body.to_string().contains(&disk_path), "the public answer names no path: {body}");
    assert!(body.to_string().contains("the server's log has the details"), "{body}");
    // `longhall status` still gets an answer, and says it is unhealthy.
    let mut cmd = longhall();
    cmd.arg("status").arg("--server").arg(server.url("")).arg("--token").arg(&token);
    let out = cmd.output().expect("running longhall status");
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "a full disk is unhealthy:\n{said}");
    assert!(said.contains("ready                 NO"), "{said}");

    std::fs::remove_file(&filler).expect("remove the filler");
    let ready = server.http.get(server.url("/readyz")).send().await.expect("/readyz answers");
    assert_eq!(ready.status().as_u16(), 200, "ready again once there is room");
    server.post_message(&token, lobby, "after the disk was freed").await;
    let texts: Vec<_> = server.all_messages(&token, lobby).await.into_iter().map(|m| m.text).collect();
    assert_eq!(texts, ["before the disk filled", "after the disk was freed"]);
}
