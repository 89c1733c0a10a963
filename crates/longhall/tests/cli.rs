//! The administration CLI against a real server: `login`/`logout` and the credentials file,
//! where the server and token come from, the exit codes (0 ok, 2 usage, 3 refused with
//! `code: message`, 4 unreachable), and `longhall users …`.

mod support;

use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};

use support::{ADMIN, Server, data_dir, free_port, longhall};

const PASSWORD: &str = "cli-admin-password";

/// `longhall ARGS` with its own configuration folder (no credentials file unless a test
/// writes one), `env` set and `stdin` piped in.
fn run(config: &Path, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Output {
    let mut cmd = longhall();
    cmd.args(args).env("XDG_CONFIG_HOME", config).stdin(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("running longhall");
    child.stdin.take().expect("piped stdin").write_all(stdin.as_bytes()).expect("writing stdin");
    child.wait_with_output().expect("waiting for longhall")
}

fn text(out: &Output) -> String {
    format!(
        "--- status {:?} ---\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[track_caller]
fn assert_exit(out: &Output, code: i32) {
    assert_eq!(out.status.code(), Some(code), "{}", text(out));
}

async fn start() -> (support::DataDir, Server) {
    let dir = data_dir();
    let server = Server::start_with(&dir.path, |c| {
        c.env("LONGHALL_ADMIN_PASSWORD", PASSWORD);
    })
    .await;
    (dir, server)
}

#[tokio::test(flavor = "multi_thread")]
async fn login_saves_a_token_later_commands_use_and_logout_revokes_it() {
    let (_dir, server) = start().await;
    let config = tempfile::tempdir().unwrap();
    let url = server.url("");

    let out = run(config.path(), &["login", "--url", &url, "--login", ADMIN], &[], &format!("{PASSWORD}\n"));
    assert_exit(&out, 0);
    let file = config.path().join("longhall").join("credentials");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).expect("the credentials file").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "only its owner may read the token");
    }
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let token = saved["token"].as_str().expect("a token is saved").to_owned();
    assert_eq!(saved["url"], url.as_str());

    // Neither flag nor environment: the file's server and token.
    let out = run(config.path(), &["users", "get", ADMIN, "--json"], &[], "");
    assert_exit(&out, 0);
    let me: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    assert_eq!(me["login"], ADMIN);
    assert_eq!(me["admin"], true);

    // A wrong password is the server's refusal: nothing is saved over the good file.
    let out = run(config.path(), &["login", "--url", &url, "--login", ADMIN], &[], "wrong-password\n");
    assert_exit(&out, 3);
    assert!(stderr(&out).contains("invalid_credentials: "), "{}", text(&out));
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&std::fs::read(&file).unwrap()).unwrap(), saved);

    let out = run(config.path(), &["logout"], &[], "");
    assert_exit(&out, 0);
    assert!(!file.exists(), "logout removes the credentials file");
    let refused = server.as_user(&token).me().await.expect_err("the token is revoked");
    assert!(refused.is(longhall_client::ErrorCode::Unauthenticated), "{refused:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn flags_beat_the_environment_and_longhall_server_still_names_the_server() {
    let (_dir, server) = start().await;
    let config = tempfile::tempdir().unwrap();
    let admin = server.sign_in(ADMIN, PASSWORD).await;
    let url = server.url("");
    let nobody = format!("http://127.0.0.1:{}", free_port());

    for var in ["LONGHALL_URL", "LONGHALL_SERVER"] {
        let out = run(config.path(), &["users", "list"], &[(var, &url), ("LONGHALL_TOKEN", &admin)], "");
        assert_exit(&out, 0);
        assert!(stdout(&out).contains(ADMIN), "{var}: {}", text(&out));
    }
    // The flag wins over an environment naming a server nobody runs.
    let env = [("LONGHALL_URL", nobody.as_str()), ("LONGHALL_TOKEN", "lh_wrong")];
    let out = run(config.path(), &["users", "list", "--url", &url, "--token", &admin], &env, "");
    assert_exit(&out, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn users_new_set_get_and_list_change_what_the_api_shows() {
    let (_dir, server) = start().await;
    let config = tempfile::tempdir().unwrap();
    let admin = server.sign_in(ADMIN, PASSWORD).await;
    let url = server.url("");
    let env = [("LONGHALL_URL", url.as_str()), ("LONGHALL_TOKEN", admin.as_str())];

    let args = ["users", "new", "alice@longhall.local", "--display-name", "Alice Smith", "--password-stdin"];
    let out = run(config.path(), &args, &env, "alice-password\n");
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("display name  Alice Smith"), "{}", text(&out));
    server.sign_in("alice@longhall.local", "alice-password").await;

    let args = ["users", "set", "alice@longhall.local", "--site", "paris", "--email", "alice@example.org"];
    assert_exit(&run(config.path(), &args, &env, ""), 0);
    let args = ["users", "set", "alice@longhall.local", "--disabled", "true"];
    assert_exit(&run(config.path(), &args, &env, ""), 0);
    let alice = server.as_user(&admin).get_user("alice@longhall.local").await.expect("alice");
    assert_eq!(alice.site.as_deref(), Some("paris"));
    assert_eq!(alice.email, "alice@example.org");
    assert!(alice.disabled, "{alice:?}");
    let refused = server.client.sign_in("alice@longhall.local", "alice-password").await;
    assert!(refused.is_err(), "a disabled user can't sign in");

    let out = run(config.path(), &["users", "list", "--filter", "alice"], &env, "");
    assert_exit(&out, 0);
    let table = stdout(&out);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "the header and alice only:\n{table}");
    assert!(lines[0].starts_with("LOGIN                 DISPLAY NAME"), "{table}");
    assert!(lines[1].starts_with("alice@longhall.local  Alice Smith"), "aligned under the header:\n{table}");
    assert!(lines[1].contains("paris") && lines[1].contains("yes"), "{table}");

    let out = run(config.path(), &["users", "list", "--filter", "alice", "--json"], &env, "");
    assert_exit(&out, 0);
    let page: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    assert_eq!(page["items"][0]["login"], "alice@longhall.local");
    assert_eq!(page["items"][0]["disabled"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_exit_3_with_the_servers_code_and_sentence() {
    let (_dir, server) = start().await;
    let config = tempfile::tempdir().unwrap();
    let admin = server.sign_in(ADMIN, PASSWORD).await;
    server.create_user(&admin, "bob@longhall.local", "bob-password").await;
    let bob = server.sign_in("bob@longhall.local", "bob-password").await;
    let url = server.url("");

    let args = ["users", "set", "bob@longhall.local", "--admin", "true", "--url", &url, "--token", &bob];
    let out = run(config.path(), &args, &[], "");
    assert_exit(&out, 3);
    assert!(stderr(&out).contains("admin_required: "), "{}", text(&out));
    let bob_now = server.as_user(&admin).get_user("bob@longhall.local").await.unwrap();
    assert!(!bob_now.admin, "nothing changed");

    let out = run(config.path(), &["users", "list", "--url", &url, "--token", "lh_not-a-token"], &[], "");
    assert_exit(&out, 3);
    assert!(stderr(&out).contains("unauthenticated: "), "{}", text(&out));

    let args = ["users", "new", "not-a-login", "--url", &url, "--token", &admin];
    let out = run(config.path(), &args, &[], "");
    assert_exit(&out, 3);
    assert!(stderr(&out).contains("invalid_value: "), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_server_exits_4_and_a_usage_error_2() {
    let config = tempfile::tempdir().unwrap();
    let nobody = format!("http://127.0.0.1:{}", free_port());
    let out = run(config.path(), &["users", "list", "--url", &nobody, "--token", "lh_any"], &[], "");
    assert_exit(&out, 4);
    assert!(stderr(&out).contains("could not reach the server"), "{}", text(&out));

    let out = run(config.path(), &["users", "list", "--no-such-flag"], &[], "");
    assert_exit(&out, 2);
    let out = run(config.path(), &["users", "set"], &[], "");
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("<LOGIN>"), "clap names what is missing: {}", text(&out));

    // No token anywhere: said before any request, with where to put one.
    let out = run(config.path(), &["users", "list", "--url", &nobody], &[], "");
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("longhall login"), "{}", text(&out));
}
