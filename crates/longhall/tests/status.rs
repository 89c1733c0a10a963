//! `longhall status` against a real server: the table, `--json` with live figures, and the
//! exit codes (0 healthy; 1 unhealthy: a failed compliance run here, a full disk in lifecycle.rs;
//! 2 no token; 3 refused; 4 unreachable).

mod support;

use std::process::Output;

use support::{ADMIN, Server, data_dir, free_port, longhall};

const PASSWORD: &str = "status-admin-password";

fn status(server: &str, args: &[&str]) -> Output {
    let mut cmd = longhall();
    cmd.arg("status").arg("--server").arg(server).args(args);
    cmd.output().expect("running longhall status")
}

fn text(out: &Output) -> String {
    format!(
        "--- stdout ---\n{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn status_of_a_healthy_server_prints_its_figures_and_exits_0() {
    let dir = data_dir();
    let server = Server::start_with(&dir.path, |c| {
        c.env("LONGHALL_ADMIN_PASSWORD", PASSWORD);
    })
    .await;
    let token = server.sign_in(ADMIN, PASSWORD).await;
    let lobby = server.find_room(&token, "Lobby").await.expect("the Lobby").id;
    let mut ws = server.connect(&token).await;
    ws.join(lobby).await;
    server.post_message(&token, lobby, "counted in the backlog").await;

    let out = status(&server.url(""), &["--token", &token]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    for line in [
        "ready                 yes",
        "  compliance_processor",
        "connections           1",
        "participants          1 in 1 room(s)",
        "size chat.db",
    ] {
        assert!(table.contains(line), "{line:?} missing:\n{table}");
    }

    let out = status(&server.url(""), &["--token", &token, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    assert_eq!(json["connections"], 1, "{json}");
    assert_eq!(json["participants"], 1, "{json}");
    assert!(json["max_connections"].as_u64().is_some_and(|n| n > 1), "sized from the open-file limit: {json}");
    let waiting = json["compliance"]["waiting_events"].as_u64().unwrap();
    assert_eq!(waiting, server.all_compliance_events(&token).await.len() as u64, "{json}");
    let checks = json["checks"].as_array().unwrap();
    assert!(checks.iter().all(|c| c["state"] == "ok"), "`longhall serve` runs every task: {json}");
}

#[tokio::test(flavor = "multi_thread")]
async fn no_status_exits_2_without_a_token_3_when_refused_4_when_unreachable() {
    // Nobody listens there.
    let nobody = format!("http://127.0.0.1:{}", free_port());
    let out = status(&nobody, &["--token", "lh_whatever"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("could not reach"), "{}", text(&out));

    let dir = data_dir();
    let server = Server::start_with(&dir.path, |c| {
        c.env("LONGHALL_ADMIN_PASSWORD", PASSWORD);
    })
    .await;
    let out = status(&server.url(""), &[]);
    assert_eq!(out.status.code(), Some(2), "no token: {}", text(&out));
    let out = status(&server.url(""), &["--token", "lh_not-a-token"]);
    assert_eq!(out.status.code(), Some(3), "a refused token: {}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unauthenticated"), "{}", text(&out));
    let admin = server.sign_in(ADMIN, PASSWORD).await;
    server.create_user(&admin, "user@longhall.local", PASSWORD).await;
    let user = server.sign_in("user@longhall.local", PASSWORD).await;
    let out = status(&server.url(""), &["--token", &user]);
    assert_eq!(out.status.code(), Some(3), "not an administrator: {}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("admin_required"), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_compliance_run_is_unhealthy_exit_1() {
    use longhall_client::api::ComplianceConfigPut;
    let dir = data_dir();
    let server = Server::start_with(&dir.path, |c| {
        c.env("LONGHALL_ADMIN_PASSWORD", PASSWORD);
    })
    .await;
    let token = server.sign_in(ADMIN, PASSWORD).await;
    let admin = server.as_user(&token);
    let output = dir.path.join("archive");
    std::fs::create_dir(&output).expect("the output folder");
    let put = ComplianceConfigPut {
        enabled: Some(true),
        output_dir: Some(output.to_string_lossy().into_owned()),
        ..Default::default()
    };
    admin.put_compliance_config(&put).await.expect("compliance on");
    let lobby = server.find_room(&token, "Lobby").await.expect("the Lobby").id;
    server.post_message(&token, lobby, "to be archived").await;
    // The folder becomes a file: the run can't write its output.
    std::fs::remove_dir(&output).expect("remove the folder");
    std::fs::write(&output, b"not a folder").expect("a file in its place");
    let report = admin.run_compliance().await.expect("the run happens");
    assert!(report.error.is_some(), "the run must fail: {report:?}");

    let out = status(&server.url(""), &["--token", &token]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("ready                 yes"), "every check still passes:\n{table}");
    assert!(table.contains("FAILED"), "the failed run is shown:\n{table}");
}
