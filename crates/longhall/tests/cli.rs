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

/// A server, an empty configuration folder for the CLI, the administrator's token and the URL.
async fn start_admin() -> (support::DataDir, Server, tempfile::TempDir, String, String) {
    let (dir, server) = start().await;
    let admin = server.sign_in(ADMIN, PASSWORD).await;
    let url = server.url("");
    (dir, server, tempfile::tempdir().expect("a configuration folder"), admin, url)
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
    let first: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let first_token = first["token"].as_str().expect("a token is saved").to_owned();
    // Logging in again repairs a file others could read (other commands refuse it).
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let out = run(config.path(), &["users", "list"], &[], "");
        assert_exit(&out, 1);
        assert!(stderr(&out).contains("chmod 600"), "{}", text(&out));
        let out = run(config.path(), &["login", "--url", &url, "--login", ADMIN], &[], &format!("{PASSWORD}\n"));
        assert_exit(&out, 0);
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    // Signing in again revokes the token the new one replaces.
    let replaced = server.as_user(&first_token).me().await.expect_err("the replaced token is revoked");
    assert!(replaced.is(longhall_client::ErrorCode::Unauthenticated), "{replaced:?}");
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

    // Logging out ends the saved token only, never one given in the environment (a bot's).
    let other = server.sign_in(ADMIN, PASSWORD).await;
    let out = run(config.path(), &["logout"], &[("LONGHALL_TOKEN", other.as_str())], "");
    assert_exit(&out, 0);
    assert!(!file.exists(), "logout removes the credentials file");
    server.as_user(&other).me().await.expect("the environment's token still works");
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
    let (_dir, server, config, admin, url) = start_admin().await;
    let env = env_for(&url, &admin);

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
async fn users_effective_remove_and_the_audit_log_that_records_them() {
    let (_dir, server, config, admin, url) = start_admin().await;
    let env = env_for(&url, &admin);
    let args = ["users", "new", "bob@longhall.local", "--site", "paris", "--password-stdin"];
    assert_exit(&run(config.path(), &args, &env, "bob-password-1\n"), 0);
    let bob = server.sign_in("bob@longhall.local", "bob-password-1").await;
    let args = ["policies", "set", "site:paris", "--enable-persistent-chat", "false"];
    assert_exit(&run(config.path(), &args, &env, ""), 0);

    // Why can't Bob chat?
    let out = run(config.path(), &["users", "effective", "bob@longhall.local"], &env, "");
    assert_exit(&out, 0);
    let said = stdout(&out);
    assert!(said.contains("can chat        no"), "{said}");
    assert!(said.contains("why             The site:paris policy turns persistent chat off."), "{said}");
    let row = said.lines().find(|l| l.starts_with("enable_persistent_chat")).unwrap_or_else(|| panic!("{said}"));
    assert_eq!(row.split_whitespace().collect::<Vec<_>>(), ["enable_persistent_chat", "false", "site:paris"]);
    let out = run(config.path(), &["users", "effective", "bob@longhall.local", "--json"], &env, "");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    assert_eq!(json["can_chat"], false);

    // Removal: its token stops working; a second removal is refused.
    let out = run(config.path(), &["users", "remove", "bob@longhall.local"], &env, "");
    assert_exit(&out, 0);
    assert_eq!(stdout(&out).trim(), "Removed bob@longhall.local (1 token(s) revoked).");
    let refused = server.as_user(&bob).me().await.expect_err("removed");
    assert!(refused.is(longhall_client::ErrorCode::Unauthenticated), "{refused:?}");
    let out = run(config.path(), &["users", "remove", "bob@longhall.local"], &env, "");
    assert_exit(&out, 3);
    assert!(stderr(&out).contains("user_not_found: "), "{}", text(&out));

    // The audit log shows all of it, by object, actor and time.
    let out = run(config.path(), &["audit", "--object", "bob@longhall.local"], &env, "");
    assert_exit(&out, 0);
    let table = stdout(&out);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "header, create, delete:\n{table}");
    assert!(lines[0].starts_with("ID") && lines[0].contains("ACTOR") && lines[0].contains("SOURCE"), "{table}");
    assert!(lines[1].contains("create") && lines[1].contains("user bob@longhall.local"), "{table}");
    assert!(lines[1].contains(ADMIN) && lines[1].contains("127.0.0.1"), "{table}");
    assert!(lines[2].contains("delete") && lines[2].contains("tokens revoked"), "{table}");
    let args = ["audit", "--actor", ADMIN, "--since", "2000-01-01", "--until", "2999-12-31", "--json"];
    let out = run(config.path(), &args, &env, "");
    assert_exit(&out, 0);
    let page: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    let objects: Vec<&str> = page["items"].as_array().unwrap().iter().map(|r| r["object"].as_str().unwrap()).collect();
    assert_eq!(objects, ["bob@longhall.local", "site:paris", "bob@longhall.local"], "{page}");
    assert_eq!(page["items"][1]["after"]["enable_persistent_chat"], false);
    let out = run(config.path(), &["audit", "--until", "2000-01-01"], &env, "");
    assert_exit(&out, 0);
    assert_eq!(stdout(&out).lines().count(), 1, "only the header: nothing that early");
    let out = run(config.path(), &["audit", "--since", "yesterday"], &env, "");
    assert_exit(&out, 2);
    let out = run(config.path(), &["audit", "--since", "2030-01-02", "--until", "2030-01-01"], &env, "");
    assert_exit(&out, 3);
    assert!(stderr(&out).contains("invalid_value: "), "{}", text(&out));
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

/// The environment naming `server` and `token`.
fn env_for<'a>(url: &'a str, token: &'a str) -> [(&'static str, &'a str); 2] {
    [("LONGHALL_URL", url), ("LONGHALL_TOKEN", token)]
}

#[tokio::test(flavor = "multi_thread")]
async fn categories_are_created_edited_and_removed_only_when_empty() {
    let (_dir, server, config, admin, url) = start_admin().await;
    let env = env_for(&url, &admin);
    let api = server.as_user(&admin);
    server.create_user(&admin, "intern@longhall.local", "intern-password").await;

    let args = ["categories", "new", "Legal", "--allowed", "everyone", "--creators", "user:admin@longhall.local"];
    let out = run(config.path(), &args, &env, "");
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("allowed       everyone"), "{}", text(&out));

    let args = [
        "categories",
        "set",
        "Legal",
        "--add-denied",
        "user:intern@longhall.local,domain:longhall.local",
        "--replace-creators",
        "",
        "--file-upload",
        "true",
    ];
    assert_exit(&run(config.path(), &args, &env, ""), 0);
    let legal = api.get_category("Legal").await.expect("Legal");
    assert_eq!(legal.denied_members, ["user:intern@longhall.local", "domain:longhall.local"], "{legal:?}");
    assert!(legal.creators.is_empty(), "--replace-creators \"\" empties the list: {legal:?}");
    assert!(legal.file_upload);
    let args = ["categories", "set", "Legal", "--remove-denied", "domain:longhall.local"];
    assert_exit(&run(config.path(), &args, &env, ""), 0);
    assert_eq!(api.get_category("Legal").await.unwrap().denied_members, ["user:intern@longhall.local"]);

    let out = run(config.path(), &["categories", "list"], &env, "");
    assert_exit(&out, 0);
    let listed = stdout(&out);
    assert!(listed.starts_with("ID  NAME"), "{listed}");
    let row = listed.lines().find(|l| l.contains(" Legal ")).unwrap_or_else(|| panic!("Legal listed:\n{listed}"));
    assert!(row.contains("history,files") && row.contains("everyone"), "{listed}");

    // A category holding a room can't go: the room and the category stay.
    let room = api
        .create_room(&longhall_client::api::NewRoom {
            name: "Cases".into(),
            category: "Legal".into(),
            ..Default::default()
        })
        .await
        .expect("a room in Legal");
    let out = run(config.path(), &["categories", "remove", "Legal"], &env, "");
    assert_exit(&out, 3);
    assert!(stderr(&out).contains("category_not_empty: "), "{}", text(&out));
    api.get_category("Legal").await.expect("still there");

    api.delete_room(room.id).await.expect("the room removed");
    assert_exit(&run(config.path(), &["categories", "remove", "Legal"], &env, ""), 0);
    let gone = api.get_category("Legal").await.expect_err("removed");
    assert!(gone.is(longhall_client::ErrorCode::CategoryNotFound), "{gone:?}");
    let out = run(config.path(), &["categories", "get", "Legal"], &env, "");
    assert_exit(&out, 3);
    assert!(stderr(&out).contains("category_not_found: "), "{}", text(&out));

    // Not an administrator: refused, nothing created.
    server.create_user(&admin, "bob@longhall.local", "bob-password").await;
    let bob = server.sign_in("bob@longhall.local", "bob-password").await;
    let out = run(config.path(), &["categories", "new", "Bobs"], &env_for(&url, &bob), "");
    assert_exit(&out, 3);
    assert!(stderr(&out).contains("admin_required: "), "{}", text(&out));
    assert!(api.get_category("Bobs").await.is_err(), "nothing was created");
}

#[tokio::test(flavor = "multi_thread")]
async fn chat_config_is_set_per_scope_and_an_out_of_range_value_changes_nothing() {
    let (_dir, server, config, admin, url) = start_admin().await;
    let env = env_for(&url, &admin);
    let api = server.as_user(&admin);
    let scope = |all: &[longhall_client::api::ConfigView], name: &str| all.iter().find(|c| c.scope == name).cloned();

    let out = run(config.path(), &["chat-config", "set", "global", "--default-chat-history", "50"], &env, "");
    assert_exit(&out, 0);
    assert_eq!(scope(&api.list_config().await.unwrap(), "global").unwrap().default_chat_history, 50);

    let out = run(config.path(), &["chat-config", "set", "global", "--default-chat-history", "501"], &env, "");
    assert_exit(&out, 3);
    assert!(stderr(&out).contains("invalid_value: "), "{}", text(&out));
    assert_eq!(scope(&api.list_config().await.unwrap(), "global").unwrap().default_chat_history, 50, "kept");

    let args = ["chat-config", "set", "site:paris", "--max-file-size-kb", "1024"];
    assert_exit(&run(config.path(), &args, &env, ""), 0);
    let out = run(config.path(), &["chat-config", "list"], &env, "");
    assert_exit(&out, 0);
    let listed = stdout(&out);
    assert!(listed.lines().any(|l| l.starts_with("site:paris") && l.contains("1024")), "{listed}");
    let out = run(config.path(), &["chat-config", "list", "--json"], &env, "");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    assert_eq!(json.as_array().map(Vec::len), Some(2), "{json}");

    assert_exit(&run(config.path(), &["chat-config", "remove", "site:paris"], &env, ""), 0);
    assert!(scope(&api.list_config().await.unwrap(), "site:paris").is_none());
    let out = run(config.path(), &["chat-config", "remove", "site:paris"], &env, "");
    assert_exit(&out, 3);
    assert!(stderr(&out).contains("config_not_found: "), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tag_policy_is_set_granted_and_removed() {
    let (_dir, server, config, admin, url) = start_admin().await;
    let env = env_for(&url, &admin);
    let api = server.as_user(&admin);
    server.create_user(&admin, "bob@longhall.local", "bob-password").await;

    let args = ["policies", "set", "tag:no-chat", "--enable-persistent-chat", "false", "--description", "Contractors"];
    assert_exit(&run(config.path(), &args, &env, ""), 0);
    let out = run(config.path(), &["policies", "grant", "bob@longhall.local", "no-chat"], &env, "");
    assert_exit(&out, 0);
    assert_eq!(api.get_user("bob@longhall.local").await.unwrap().policy.as_deref(), Some("no-chat"));
    let refused = server.client.sign_in("bob@longhall.local", "bob-password").await.expect_err("chat is off for bob");
    assert!(refused.is(longhall_client::ErrorCode::PolicyDisabled), "the granted policy decides: {refused:?}");

    let out = run(config.path(), &["policies", "list"], &env, "");
    assert_exit(&out, 0);
    assert!(stdout(&out).lines().any(|l| l.starts_with("tag:no-chat") && l.contains("no")), "{}", text(&out));

    let out = run(config.path(), &["policies", "grant", "bob@longhall.local", "no-such-policy"], &env, "");
    assert_exit(&out, 3);
    assert!(stderr(&out).contains("policy_not_found: "), "{}", text(&out));

    assert_exit(&run(config.path(), &["policies", "remove", "tag:no-chat"], &env, ""), 0);
    assert_eq!(api.get_user("bob@longhall.local").await.unwrap().policy, None, "its grants went with it");
    server.sign_in("bob@longhall.local", "bob-password").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rooms_are_managed_by_id_or_name_behind_the_ethical_wall() {
    let (_dir, server, config, admin, url) = start_admin().await;
    let env = env_for(&url, &admin);
    let api = server.as_user(&admin);
    server.create_user(&admin, "ann@longhall.local", "ann-password").await;
    server.create_user(&admin, "eve@longhall.local", "eve-password").await;
    let args = ["categories", "new", "Legal", "--allowed", "user:ann@longhall.local"];
    assert_exit(&run(config.path(), &args, &env, ""), 0);

    let args = [
        "rooms",
        "new",
        "Case 1",
        "--category",
        "Legal",
        "--privacy",
        "secret",
        "--members",
        "user:ann@longhall.local",
        "--managers",
        "user:ann@longhall.local",
    ];
    let out = run(config.path(), &args, &env, "");
    assert_exit(&out, 0);
    let case = server.find_room(&admin, "Case 1").await.expect("the room exists");
    assert_eq!(case.privacy, longhall_client::api::Privacy::Secret);
    assert_eq!(case.members.as_deref(), Some(&["user:ann@longhall.local".to_owned()][..]));

    // The ethical wall: eve is not in scope of Legal; nothing changes.
    let out = run(config.path(), &["rooms", "set", "Case 1", "--add-members", "user:eve@longhall.local"], &env, "");
    assert_exit(&out, 3);
    assert!(stderr(&out).contains("out_of_scope: "), "{}", text(&out));
    assert_eq!(api.get_room(case.id).await.unwrap().members, case.members, "the member list is unchanged");

    let id = case.id.to_string();
    let args = ["rooms", "set", &id, "--type", "auditorium", "--add-presenters", "user:ann@longhall.local"];
    assert_exit(&run(config.path(), &args, &env, ""), 0);
    let now = api.get_room(case.id).await.unwrap();
    assert_eq!(now.room_type, longhall_client::api::RoomType::Auditorium);
    assert_eq!(now.presenters.as_deref(), Some(&["user:ann@longhall.local".to_owned()][..]));

    let args = ["rooms", "list", "--category", "Legal", "--privacy", "secret", "--member", "user:ann@longhall.local"];
    let out = run(config.path(), &args, &env, "");
    assert_exit(&out, 0);
    let listed = stdout(&out);
    assert_eq!(listed.lines().count(), 2, "the header and Case 1:\n{listed}");
    assert!(listed.lines().nth(1).unwrap().contains("Case 1  Legal     secret   auditorium"), "{listed}");

    // A manager may disable her room but only an administrator enables it again or removes it.
    let ann = server.sign_in("ann@longhall.local", "ann-password").await;
    let ann_env = env_for(&url, &ann);
    assert_exit(&run(config.path(), &["rooms", "disable", "Case 1"], &ann_env, ""), 0);
    assert!(api.get_room(case.id).await.unwrap().disabled);
    let out = run(config.path(), &["rooms", "enable", &id], &ann_env, "");
    assert_exit(&out, 3);
    assert!(stderr(&out).contains("admin_required: "), "{}", text(&out));
    assert_exit(&run(config.path(), &["rooms", "enable", "Case 1"], &env, ""), 0);
    assert!(!api.get_room(case.id).await.unwrap().disabled);
    let out = run(config.path(), &["rooms", "remove", &id], &ann_env, "");
    assert_exit(&out, 3);
    assert!(stderr(&out).contains("admin_required: "), "{}", text(&out));

    // A secret room's name answers like a missing one to someone who can't see it.
    let eve = server.sign_in("eve@longhall.local", "eve-password").await;
    let hidden = run(config.path(), &["rooms", "get", "Case 1"], &env_for(&url, &eve), "");
    let missing = run(config.path(), &["rooms", "get", "No such room"], &env_for(&url, &eve), "");
    assert_exit(&hidden, 3);
    assert_exit(&missing, 3);
    assert!(stderr(&hidden).contains("room_not_found: "), "{}", text(&hidden));
    assert_eq!(stderr(&hidden), stderr(&missing));

    assert_exit(&run(config.path(), &["rooms", "remove", "Case 1"], &env, ""), 0);
    let gone = api.get_room(case.id).await.expect_err("removed");
    assert!(gone.is(longhall_client::ErrorCode::RoomNotFound), "{gone:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn groups_are_created_edited_and_removed() {
    let (_dir, server, config, admin, url) = start_admin().await;
    let env = env_for(&url, &admin);
    let api = server.as_user(&admin);
    for who in ["ann", "bob", "eve"] {
        server.create_user(&admin, &format!("{who}@longhall.local"), "group-member-password").await;
    }

    assert_exit(
        &run(config.path(), &["groups", "new", "paralegals", "--members", "user:eve@longhall.local"], &env, ""),
        0,
    );
    let args = ["groups", "new", "legal", "--members", "user:ann@longhall.local,group:paralegals"];
    let out = run(config.path(), &args, &env, "");
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("members  user:ann@longhall.local, group:paralegals"), "{}", text(&out));

    let args = ["groups", "set", "legal", "--add", "user:bob@longhall.local", "--remove", "user:ann@longhall.local"];
    assert_exit(&run(config.path(), &args, &env, ""), 0);
    assert_eq!(api.get_group("legal").await.unwrap().members, ["group:paralegals", "user:bob@longhall.local"]);
    let args = ["groups", "set", "legal", "--replace", "", "--name", "legal-team"];
    assert_exit(&run(config.path(), &args, &env, ""), 0);
    assert!(api.get_group("legal-team").await.unwrap().members.is_empty());

    let out = run(config.path(), &["groups", "list", "--filter", "team"], &env, "");
    assert_exit(&out, 0);
    assert_eq!(stdout(&out), "NAME        MEMBERS\nlegal-team  -\n");

    let out = run(config.path(), &["groups", "set", "legal-team", "--add", "user:nobody@longhall.local"], &env, "");
    assert_exit(&out, 3);
    assert!(stderr(&out).contains("unknown_principal: "), "{}", text(&out));

    assert_exit(&run(config.path(), &["groups", "remove", "legal-team"], &env, ""), 0);
    let out = run(config.path(), &["groups", "get", "legal-team"], &env, "");
    assert_exit(&out, 3);
    assert!(stderr(&out).contains("group_not_found: "), "{}", text(&out));

    // AffCheck: a cycle is reported and tolerated.
    let out = run(config.path(), &["groups", "check"], &env, "");
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("cycles (tolerated): none") && stdout(&out).ends_with("Consistent.\n"),
        "{}",
        text(&out)
    );
    assert_exit(&run(config.path(), &["groups", "new", "alpha"], &env, ""), 0);
    assert_exit(&run(config.path(), &["groups", "new", "beta", "--members", "group:alpha"], &env, ""), 0);
    assert_exit(&run(config.path(), &["groups", "set", "alpha", "--add", "group:beta"], &env, ""), 0);
    let out = run(config.path(), &["groups", "check"], &env, "");
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("cycles (tolerated):\n  alpha → beta\n"), "{}", text(&out));
    let out = run(config.path(), &["groups", "check", "--json"], &env, "");
    let check: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    assert_eq!(
        (check["consistent"].clone(), check["cycles"].clone()),
        (serde_json::json!(true), serde_json::json!([["alpha", "beta"]]))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn addins_are_registered_changed_and_removed_when_unused() {
    let (_dir, server, config, admin, url) = start_admin().await;
    let env = env_for(&url, &admin);
    let api = server.as_user(&admin);

    assert_exit(&run(config.path(), &["addins", "new", "wiki", "https://wiki.example.org/panel"], &env, ""), 0);
    let args = ["addins", "set", "wiki", "--addin-url", "https://wiki.example.org/v2"];
    assert_exit(&run(config.path(), &args, &env, ""), 0);
    let wiki = api.addins().await.unwrap().into_iter().find(|a| a.name == "wiki").expect("registered");
    assert_eq!(wiki.url, "https://wiki.example.org/v2");
    let out = run(config.path(), &["addins", "list"], &env, "");
    assert!(stdout(&out).lines().any(|l| l.contains("wiki  https://wiki.example.org/v2")), "{}", text(&out));

    let out = run(config.path(), &["addins", "new", "ftp", "ftp://files.example.org"], &env, "");
    assert_exit(&out, 3);
    assert!(stderr(&out).contains("invalid_value: "), "{}", text(&out));

    let args = ["rooms", "new", "Docs", "--category", "General", "--addin", "wiki"];
    assert_exit(&run(config.path(), &args, &env, ""), 0);
    let out = run(config.path(), &["addins", "remove", "wiki"], &env, "");
    assert_exit(&out, 3);
    assert!(stderr(&out).contains("in_use: "), "{}", text(&out));
    assert_exit(&run(config.path(), &["rooms", "set", "Docs", "--addin", ""], &env, ""), 0);
    assert_exit(&run(config.path(), &["addins", "remove", "wiki"], &env, ""), 0);
    assert!(api.addins().await.unwrap().is_empty(), "removed");
}

#[tokio::test(flavor = "multi_thread")]
async fn api_tokens_are_created_for_a_bot_listed_and_revoked() {
    let (_dir, server, config, admin, url) = start_admin().await;
    let env = env_for(&url, &admin);
    assert_exit(&run(config.path(), &["users", "new", "bot@longhall.local"], &env, ""), 0);

    let out = run(config.path(), &["tokens", "new", "build bot", "--login", "bot@longhall.local"], &env, "");
    assert_exit(&out, 0);
    let token = stdout(&out).trim().to_owned();
    let me = server.as_user(&token).me().await.expect("the new token works");
    assert_eq!(me.user.login, "bot@longhall.local");
    assert!(stderr(&out).contains("shown only now"), "{}", text(&out));

    let out = run(config.path(), &["tokens", "list"], &env, "");
    assert_exit(&out, 0);
    let listed = stdout(&out);
    let row = listed.lines().find(|l| l.contains("build bot")).unwrap_or_else(|| panic!("listed:\n{listed}"));
    assert!(row.contains("bot@longhall.local") && row.contains(" api "), "{listed}");
    let id = row.split_whitespace().next().unwrap();

    // The bot is no administrator: it can't make tokens.
    let out = run(config.path(), &["tokens", "new", "more"], &env_for(&url, &token), "");
    assert_exit(&out, 3);
    assert!(stderr(&out).contains("admin_required: "), "{}", text(&out));

    assert_exit(&run(config.path(), &["tokens", "revoke", id], &env, ""), 0);
    let refused = server.as_user(&token).me().await.expect_err("revoked");
    assert!(refused.is(longhall_client::ErrorCode::Unauthenticated), "{refused:?}");
    let out = run(config.path(), &["tokens", "revoke", id], &env, "");
    assert_exit(&out, 3);
    assert!(stderr(&out).contains("token_not_found: "), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn eligible_principals_of_a_category_and_of_a_room() {
    let (_dir, server, config, admin, url) = start_admin().await;
    let env = env_for(&url, &admin);
    for who in ["ann", "bob", "eve"] {
        server.create_user(&admin, &format!("{who}@longhall.local"), "eligible-password").await;
    }
    let args =
        ["categories", "new", "Legal", "--allowed", "domain:longhall.local", "--denied", "user:eve@longhall.local"];
    assert_exit(&run(config.path(), &args, &env, ""), 0);

    let out = run(config.path(), &["categories", "eligible", "Legal", "--filter", "longhall.local"], &env, "");
    assert_exit(&out, 0);
    let logins: Vec<String> =
        stdout(&out).lines().skip(1).map(|l| l.split_whitespace().next().unwrap().to_owned()).collect();
    assert!(logins.contains(&"ann@longhall.local".to_owned()) && logins.contains(&"bob@longhall.local".to_owned()));
    assert!(!logins.contains(&"eve@longhall.local".to_owned()), "denied wins: {logins:?}");

    let args = ["rooms", "new", "Case 2", "--category", "Legal", "--members", "user:ann@longhall.local"];
    assert_exit(&run(config.path(), &args, &env, ""), 0);
    let out = run(config.path(), &["rooms", "eligible", "Case 2", "--presenters", "--json"], &env, "");
    assert_exit(&out, 0);
    let users: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    let logins: Vec<&str> = users.as_array().unwrap().iter().map(|u| u["login"].as_str().unwrap()).collect();
    assert_eq!(logins, ["ann@longhall.local"], "only members may present in a closed room");

    let bob = server.sign_in("bob@longhall.local", "eligible-password").await;
    let out = run(config.path(), &["rooms", "eligible", "Case 2"], &env_for(&url, &bob), "");
    assert_exit(&out, 3);
    assert!(stderr(&out).contains("forbidden: "), "not its manager: {}", text(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn messages_remove_chooses_by_author_and_keywords_and_rooms_clear_up_to_a_date() {
    use longhall_types::ws::ServerFrame;

    let (_dir, server, config, admin, url) = start_admin().await;
    let env = env_for(&url, &admin);
    server.create_user(&admin, "bob@longhall.local", "bob-password-1").await;
    let bob = server.sign_in("bob@longhall.local", "bob-password-1").await;
    let room = server.create_room(&admin, "Trading Desk").await;
    for (who, text) in [
        (&bob, "Merger plan for Q3"),
        (&admin, "the merger is off"),
        (&bob, "lunch plan"),
        (&bob, "plan for the MERGER: done"),
    ] {
        server.post_message(who, room.id, text).await;
    }
    let mut watcher = server.connect(&admin).await;
    watcher.join(room.id).await;

    // A preview changes nothing; the room is named, dates bound both ends.
    let preview = [
        "messages",
        "remove",
        "Trading Desk",
        "--author",
        "bob@longhall.local",
        "--keywords",
        "merger",
        "plan",
        "--from",
        "2000-01-01",
        "--to",
        "2999-12-31",
        "--what-if",
    ];
    let out = run(config.path(), &preview, &env, "");
    assert_exit(&out, 0);
    assert!(stdout(&out).starts_with("Would replace 2 message(s) in room Trading Desk."), "{}", text(&out));
    assert!(stdout(&out).contains("Merger plan for Q3") && stdout(&out).contains("plan for the MERGER: done"));
    let texts =
        async || -> Vec<String> { server.all_messages(&admin, room.id).await.into_iter().map(|m| m.text).collect() };
    assert_eq!(texts().await.len(), 4, "nothing changed");

    let id = room.id.to_string();
    let phrase =
        ["messages", "remove", &id, "--keywords", "merger plan", "--match", "phrase", "--replace", "[withdrawn]"];
    let out = run(config.path(), &phrase, &env, "");
    assert_exit(&out, 0);
    assert!(stdout(&out).starts_with("Replaced 1 message(s)"), "{}", text(&out));
    match watcher.next_frame().await {
        Some(ServerFrame::MessagesReplaced { room: r, messages }) => {
            assert_eq!(r, room.id);
            assert_eq!(messages.iter().map(|m| (m.seq, m.text.as_str())).collect::<Vec<_>>(), vec![(1, "[withdrawn]")]);
        }
        other => panic!("expected messages_replaced, got {other:?}"),
    }
    let args = ["messages", "remove", &id, "--keywords", "MERGER", "--case-sensitive", "--delete", "--json"];
    let out = run(config.path(), &args, &env, "");
    assert_exit(&out, 0);
    let answer: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!((answer["count"].clone(), answer["messages"][0]["seq"].clone()), (1.into(), 4.into()));
    match watcher.next_frame().await {
        Some(ServerFrame::MessagesRemoved { seqs, .. }) => assert_eq!(seqs, vec![4]),
        other => panic!("expected messages_removed, got {other:?}"),
    }
    assert_eq!(texts().await, ["[withdrawn]", "the merger is off", "lunch plan"]);

    // Mistakes: no selector, a bad date, both actions (usage, 2); a non-administrator (3).
    for args in [
        &["messages", "remove", &id][..],
        &["messages", "remove", &id, "--from", "March 1st"][..],
        &["messages", "remove", &id, "--seq", "1", "--replace", "x", "--delete"][..],
        &["rooms", "clear", &id, "--up-to", "2026-02-30"][..],
    ] {
        assert_exit(&run(config.path(), args, &env, ""), 2);
    }
    let out = run(config.path(), &["messages", "remove", &id, "--seq", "2"], &env_for(&url, &bob), "");
    assert_exit(&out, 3);
    assert!(stderr(&out).contains("admin_required: "), "{}", text(&out));

    // Clear: --what-if counts; a date before everything deletes nothing; a future date means now.
    let out = run(config.path(), &["rooms", "clear", "Trading Desk", "--up-to", "2999-12-31", "--what-if"], &env, "");
    assert_exit(&out, 0);
    assert!(stdout(&out).starts_with("Would delete 3 message(s)"), "{}", text(&out));
    assert_eq!(texts().await.len(), 3, "a preview deletes nothing");
    let out = run(config.path(), &["rooms", "clear", "Trading Desk", "--up-to", "2000-01-01"], &env, "");
    assert_exit(&out, 0);
    assert!(stdout(&out).starts_with("Deleted 0 message(s)"), "{}", text(&out));
    let out = run(config.path(), &["rooms", "clear", "Trading Desk", "--up-to", "2999-12-31T00:00:00Z"], &env, "");
    assert_exit(&out, 0);
    assert!(stdout(&out).starts_with("Deleted 3 message(s)"), "{}", text(&out));
    loop {
        match watcher.next_frame().await {
            Some(ServerFrame::RoomCleared { room: r, .. }) => break assert_eq!(r, room.id),
            Some(_) => continue,
            None => panic!("the connection ended before the room_cleared frame"),
        }
    }
    assert!(texts().await.is_empty());
    let originals: Vec<String> = server
        .all_compliance_events(&admin)
        .await
        .into_iter()
        .filter(|e| e.kind == "MESSAGE_REPLACED" || e.kind == "MESSAGE_REMOVED")
        .map(|e| e.detail["original"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(originals, ["Merger plan for Q3", "plan for the MERGER: done"], "the compliance record keeps them");
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_prints_text_json_and_a_self_contained_html_page() {
    let (_dir, server, config, admin, url) = start_admin().await;
    let env = env_for(&url, &admin);
    let busy = server.create_room(&admin, "Busy <Room>").await;
    let quiet = server.create_room(&admin, "Quiet").await;
    for room in [busy.id, busy.id, busy.id, quiet.id] {
        server.post_message(&admin, room, "hello").await;
    }

    let out = run(config.path(), &["usage", "--since", "2000-01-01", "--top", "1", "--json"], &env, "");
    assert_exit(&out, 0);
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(report["totals"]["messages"], 4);
    assert_eq!(report["most_active_rooms"][0]["name"], "Busy <Room>");
    assert_eq!(report["most_active_rooms"].as_array().map(Vec::len), Some(1), "--top 1");
    assert_eq!(report["most_active_users"][0]["messages"], 4);

    let out = run(config.path(), &["usage"], &env, "");
    assert_exit(&out, 0);
    let tables = stdout(&out);
    assert!(tables.contains("Messages posted      4"), "{tables}");
    assert!(tables.contains("Most active rooms") && tables.contains("Posts per month"), "{tables}");

    let page = config.path().join("usage.html");
    let out = run(config.path(), &["usage", "--format", "html", "-o", page.to_str().unwrap()], &env, "");
    assert_exit(&out, 0);
    let html = std::fs::read_to_string(&page).expect("the page was written");
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<svg"), "charts inline");
    assert!(html.contains("Busy &lt;Room&gt;") && !html.contains("Busy <Room>"), "names are escaped");
    for outside in ["<script", "src=", "href=", "url(", "@import"] {
        assert!(!html.contains(outside), "nothing fetched, no script: found {outside}");
    }

    let out = run(config.path(), &["usage", "--since", "last week"], &env, "");
    assert_exit(&out, 2);
    let out = run(config.path(), &["usage", "--top", "0"], &env, "");
    assert_exit(&out, 3);
    assert!(stderr(&out).contains("invalid_value: "), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn test_message_succeeds_with_latencies_and_fails_with_its_own_exit_codes() {
    let (_dir, server, config, admin, url) = start_admin().await;
    let env = env_for(&url, &admin);
    let api = server.as_user(&admin);

    // First run: the users and the room are created; a second run reuses them.
    for _ in 0..2 {
        let out = run(config.path(), &["test-message"], &env, "");
        assert_exit(&out, 0);
        let report = stdout(&out);
        assert!(report.contains("Result   Success"), "{}", text(&out));
        for step in ["setup", "sign in", "join", "message 1 → 2", "message 2 → 1", "leave"] {
            assert!(report.contains(&format!("  {step} ")), "{step} is timed: {report}");
        }
    }
    let room = server.find_room(&admin, "Longhall test-message").await.expect("the test room exists");
    // A closed room of the two test users: the administrator reads its compliance record.
    let chats =
        server.all_compliance_events(&admin).await.into_iter().filter(|e| e.kind == "CHAT" && e.room == room.id);
    let authors: Vec<String> = chats.map(|e| e.user).collect();
    let (one, two) = ("test-message-1@longhall.test".to_owned(), "test-message-2@longhall.test".to_owned());
    assert_eq!(authors, [one.clone(), two.clone(), one, two], "a message each way, twice");
    let tokens = api.list_tokens().await.expect("tokens");
    assert!(tokens.iter().all(|t| t.label != "longhall test-message"), "the test's tokens are revoked: {tokens:?}");

    let out = run(config.path(), &["test-message", "--json"], &env, "");
    assert_exit(&out, 0);
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(report["result"], "success");
    assert_eq!(report["steps"].as_array().map(Vec::len), Some(6));

    // A disabled test user: the step that fails is named, exit 5.
    let disable = longhall_client::api::UserUpdate { disabled: Some(true), ..Default::default() };
    api.update_user("test-message-2@longhall.test", &disable).await.expect("disable");
    let out = run(config.path(), &["test-message"], &env, "");
    assert_exit(&out, 5);
    assert!(stdout(&out).contains("Result   Failure"), "{}", text(&out));
    assert!(stderr(&out).contains("account_disabled"), "{}", text(&out));

    // A user outside the room: joining fails.
    let out = run(config.path(), &["test-message", "--receiver", "outsider@longhall.test"], &env, "");
    assert_exit(&out, 5);
    assert!(stderr(&out).contains("join: not_member"), "{}", text(&out));

    // Nothing listens on the port: exit 4.
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let out = run(config.path(), &["test-message", "--timeout", "3"], &env_for(&nowhere, &admin), "");
    assert_exit(&out, 4);
    assert!(stdout(&out).contains("Result   Failure"), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn rooms_list_filters_by_invitations_and_content_size_and_pages_to_a_result_size() {
    let (_dir, server, config, admin, url) = start_admin().await;
    let env = env_for(&url, &admin);
    for n in 1..=5 {
        let args = ["rooms", "new", &format!("Desk {n}"), "--category", "General", "--privacy", "open"];
        let mut args = args.to_vec();
        if n % 2 == 0 {
            args.extend(["--invitations", "off"]);
        }
        assert_exit(&run(config.path(), &args, &env, ""), 0);
    }
    let desk3 = server.find_room(&admin, "Desk 3").await.expect("room");
    server.post_message(&admin, desk3.id, &"x".repeat(16_000)).await;

    let names = |out: &Output| -> Vec<String> {
        let page: serde_json::Value = serde_json::from_str(&stdout(out)).expect("JSON");
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|r| r["name"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let out = run(config.path(), &["rooms", "list", "--q", "Desk", "--invitations", "off", "--json"], &env, "");
    assert_exit(&out, 0);
    assert_eq!(names(&out), ["Desk 2", "Desk 4"]);
    let out = run(config.path(), &["rooms", "list", "--content-larger-than-mb", "0", "--json"], &env, "");
    assert_exit(&out, 0);
    assert_eq!(names(&out), ["Desk 3"]);
    let out = run(config.path(), &["rooms", "list", "--content-larger-than-mb", "1", "--json"], &env, "");
    assert_eq!(names(&out), Vec::<String>::new());

    // Two rooms a request, four in all: the command asks twice and says where to go on.
    let args = ["rooms", "list", "--q", "Desk", "--limit", "2", "--result-size", "4"];
    let out = run(config.path(), &args, &env, "");
    assert_exit(&out, 0);
    let shown = stdout(&out);
    assert_eq!(shown.lines().count(), 5, "a header and four rooms: {shown}");
    assert!(shown.contains("Desk 4") && !shown.contains("Desk 5"), "{shown}");
    assert!(stderr(&out).contains("More rooms: add --after"), "{}", text(&out));
    let out = run(config.path(), &["rooms", "list", "--q", "Desk", "--limit", "2", "--result-size", "0"], &env, "");
    assert_eq!(stdout(&out).lines().count(), 6, "0: every room");
    assert!(!stderr(&out).contains("More rooms"), "{}", text(&out));

    server.create_user(&admin, "bob@longhall.local", "bob-password-1").await;
    let bob = server.sign_in("bob@longhall.local", "bob-password-1").await;
    let out = run(config.path(), &["rooms", "list", "--content-larger-than-mb", "0"], &env_for(&url, &bob), "");
    assert_exit(&out, 3);
    assert!(stderr(&out).contains("admin_required: "), "{}", text(&out));
}
