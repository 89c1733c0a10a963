//! The client against a real server on 127.0.0.1 (in this process, over a SQLite store in a
//! temporary directory): a representative call of every module, and the typed errors a
//! program branches on.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use longhall::{Config, Deployment, Tuning};
use longhall_client::api::{
    ClearRoom, ConfigPut, GroupUpdate, ListEdit, NewAddin, NewApiToken, NewCategory, NewGroup, NewRoom, NewUser,
    PolicyPut, PostRequest, Privacy, RemoveMessages, RoomUpdate, UserUpdate,
};
use longhall_client::messages::{HistoryFrom, MessageSearch};
use longhall_client::rooms::RoomSearch;
use longhall_client::users::ListQuery;
use longhall_client::{Body, Client, ClientError, ErrorCode};
use longhall_server::TransportSettings;
use tokio::sync::oneshot;

const ADMIN: &str = "admin@example.org";
const PASSWORD: &str = "correct-horse-battery";
/// How long a test waits for something that should happen at once.
const WAIT: Duration = Duration::from_secs(10);

/// A running server; stopped when dropped.
struct Server {
    _dir: tempfile::TempDir,
    url: String,
    _stop: oneshot::Sender<()>,
}

impl Server {
    async fn start() -> Server {
        Server::with_limits(TransportSettings::default()).await
    }

    async fn with_limits(limits: TransportSettings) -> Server {
        let dir = tempfile::tempdir().expect("temporary directory");
        let config = Config { data_dir: dir.path().to_owned(), admin_login: ADMIN.into(), ..Config::default() };
        let tuning = Tuning { transport: limits, ..Tuning::default() };
        let deployment = Deployment::open(&config, tuning).await.expect("the deployment opens");
        deployment.first_start(Some(PASSWORD.into())).await.expect("first start");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let url = format!("http://{}", listener.local_addr().expect("local address"));
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(deployment.serve(listener, async move {
            let _ = stopped.await;
        }));
        Server { _dir: dir, url, _stop: stop }
    }

    /// A client with no token.
    fn anonymous(&self) -> Client {
        Client::builder(&self.url).timeout(WAIT).build().expect("client")
    }

    async fn admin(&self) -> Client {
        let c = self.anonymous();
        let signed = c.sign_in(ADMIN, PASSWORD).await.expect("the administrator signs in");
        c.with_token(signed.token)
    }

    /// A new user with a password, signed in.
    async fn user(&self, admin: &Client, login: &str) -> Client {
        let new = NewUser { login: login.into(), password: Some("password-of-a-user".into()), ..Default::default() };
        admin.create_user(&new).await.expect("create user");
        let signed = admin.sign_in(login, "password-of-a-user").await.expect("the user signs in");
        admin.with_token(signed.token)
    }
}

fn api_error(e: &ClientError) -> (u16, ErrorCode) {
    match e {
        ClientError::Api { status, code: Some(code), .. } => (*status, *code),
        other => panic!("expected an API error with a known code, got {other:?}"),
    }
}

#[tokio::test]
async fn account_sign_in_tokens_and_sign_out() {
    let s = Server::start().await;
    let admin = s.admin().await;
    let me = admin.me().await.expect("me");
    assert_eq!(me.user.login, ADMIN);
    assert!(me.user.admin);

    // A wrong password: the server's code and its sentence.
    let err = s.anonymous().sign_in(ADMIN, "wrong-password").await.unwrap_err();
    assert_eq!(api_error(&err), (401, ErrorCode::InvalidCredentials));
    assert!(!err.to_string().is_empty() && !err.to_string().contains("invalid_credentials"), "{err}");

    // An API token for a bot acts as the bot.
    admin.create_user(&NewUser { login: "bot@example.org".into(), ..Default::default() }).await.expect("bot");
    let created = admin
        .create_token(&NewApiToken { login: Some("bot@example.org".into()), label: "a bot".into() })
        .await
        .expect("token");
    let bot = admin.with_token(created.token);
    assert_eq!(bot.me().await.expect("bot me").user.login, "bot@example.org");
    let tokens = admin.list_tokens().await.expect("tokens");
    assert!(tokens.iter().any(|t| t.id == created.id && t.label == "a bot"), "{tokens:?}");
    admin.revoke_token(created.id).await.expect("revoke");
    assert_eq!(api_error(&bot.me().await.unwrap_err()), (401, ErrorCode::Unauthenticated));

    // Changing one's password, then signing out ends the session.
    let alice = s.user(&admin, "alice@example.org").await;
    alice.change_password("password-of-a-user", "a-new-password").await.expect("change password");
    s.anonymous().sign_in("alice@example.org", "a-new-password").await.expect("the new password works");
    alice.sign_out().await.expect("sign out");
    assert_eq!(api_error(&alice.me().await.unwrap_err()), (401, ErrorCode::Unauthenticated));
}

#[tokio::test]
async fn rooms_messages_following_and_search() {
    let s = Server::start().await;
    let admin = s.admin().await;
    let bob = s.user(&admin, "bob@example.org").await;
    let room = admin
        .create_room(&NewRoom {
            name: "Trading desk".into(),
            category: "General".into(),
            privacy: Privacy::Open,
            ..Default::default()
        })
        .await
        .expect("create room");
    assert_eq!(bob.get_room(room.id).await.expect("details").name, "Trading desk");
    let found = bob.search_rooms(&RoomSearch { q: Some("Trading".into()), ..Default::default() }).await.expect("dir");
    assert!(found.items.iter().any(|r| r.id == room.id), "{found:?}");

    let first = bob.post_message(room.id, &PostRequest { text: "hello desk".into(), ..Default::default() }).await;
    let first = first.expect("post");
    let second = admin
        .post_message(room.id, &PostRequest { text: "second message".into(), alert: true, ..Default::default() })
        .await
        .expect("post");
    let latest = bob.history(room.id, HistoryFrom::Latest, None).await.expect("history");
    let texts: Vec<&str> = latest.messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["hello desk", "second message"]);
    let after = bob.history(room.id, HistoryFrom::After(first.seq), Some(10)).await.expect("history after");
    assert_eq!(after.messages.len(), 1);
    assert_eq!(after.messages[0].seq, second.seq);

    let hits = bob
        .search_messages(&MessageSearch { q: Some("desk".into()), room: Some(room.id), ..Default::default() })
        .await
        .expect("search");
    assert_eq!(hits.messages.len(), 1);
    assert_eq!(hits.messages[0].author, "bob@example.org");

    bob.follow(room.id).await.expect("follow");
    bob.mark_read(room.id, first.seq).await.expect("read");
    let followed = bob.followed().await.expect("followed");
    assert_eq!(followed.len(), 1);
    assert_eq!((followed[0].room, followed[0].unread, followed[0].unread_alerts), (room.id, 1, 1));
    bob.unfollow(room.id).await.expect("unfollow");
    assert!(bob.followed().await.expect("followed").is_empty());

    let participants = bob.participants(room.id).await.expect("participants");
    assert_eq!(participants.count, 0, "nobody is connected over WebSocket");
    assert!(bob.invitations(0, None).await.expect("invitations").is_empty());
    let invited = NewRoom {
        name: "Invited".into(),
        category: "General".into(),
        members: vec!["user:bob@example.org".into()],
        ..Default::default()
    };
    let invited = admin.create_room(&invited).await.expect("create room");
    let invitations = bob.invitations(0, None).await.expect("invitations");
    assert_eq!(invitations.iter().map(|i| i.room).collect::<Vec<_>>(), [invited.id]);
    bob.dismiss_invitation(invitations[0].id).await.expect("dismiss");
    assert!(bob.invitations(0, None).await.expect("invitations").is_empty(), "dismissed on the server");
    let categories = bob.categories().await.expect("categories");
    assert!(categories.iter().any(|c| c.name == "General"), "{categories:?}");

    // A manager's change, then an administrator deletes the room: it is gone for everyone.
    let updated = admin
        .update_room(room.id, &RoomUpdate { description: Some("Rates and bonds".into()), ..Default::default() })
        .await
        .expect("update room");
    assert_eq!(updated.room.description, "Rates and bonds");
    admin.delete_room(room.id).await.expect("delete room");
    let err = bob.get_room(room.id).await.unwrap_err();
    assert_eq!(api_error(&err), (404, ErrorCode::RoomNotFound));
    assert_eq!(err.status(), Some(404));
}

#[tokio::test]
async fn a_secret_room_is_missing_to_outsiders() {
    let s = Server::start().await;
    let admin = s.admin().await;
    let eve = s.user(&admin, "eve@example.org").await;
    let room = admin
        .create_room(&NewRoom {
            name: "Board".into(),
            category: "General".into(),
            privacy: Privacy::Secret,
            ..Default::default()
        })
        .await
        .expect("create room");
    let err = eve.get_room(room.id).await.unwrap_err();
    assert!(err.is(ErrorCode::RoomNotFound), "{err:?}");
    assert_eq!(err.code_text(), Some("room_not_found"));
    let err = eve.history(room.id, HistoryFrom::Latest, None).await.unwrap_err();
    assert!(err.is(ErrorCode::RoomNotFound), "{err:?}");
}

#[tokio::test]
async fn administration_needs_an_administrator() {
    let s = Server::start().await;
    let admin = s.admin().await;
    let carol = s.user(&admin, "carol@example.org").await;
    let err = carol.list_users(&ListQuery::default()).await.unwrap_err();
    assert_eq!(api_error(&err), (403, ErrorCode::AdminRequired));
    assert_eq!(err.code(), Some(ErrorCode::AdminRequired));
    assert_eq!(err.retry_after(), None);
    let err = carol.create_group(&NewGroup { name: "g".into(), members: vec![] }).await.unwrap_err();
    assert!(err.is(ErrorCode::AdminRequired), "{err:?}");
    // No token at all.
    let err = s.anonymous().me().await.unwrap_err();
    assert!(err.is(ErrorCode::Unauthenticated), "{err:?}");
}

#[tokio::test]
async fn directory_and_configuration_administration() {
    let s = Server::start().await;
    let admin = s.admin().await;

    // Users: create, page, change.
    for i in 0..3 {
        let login = format!("user{i}@example.org");
        admin.create_user(&NewUser { login, ..Default::default() }).await.expect("create user");
    }
    let page = admin
        .list_users(&ListQuery { filter: Some("user".into()), limit: Some(2), ..Default::default() })
        .await
        .expect("list users");
    assert_eq!(page.items.len(), 2);
    let rest = admin
        .list_users(&ListQuery { filter: Some("user".into()), after: page.next, limit: Some(2) })
        .await
        .expect("next page");
    assert_eq!(rest.items.len(), 1);
    let changed = admin
        .update_user("user0@example.org", &UserUpdate { display_name: Some("User Zero".into()), ..Default::default() })
        .await
        .expect("update user");
    assert_eq!(changed.display_name, "User Zero");
    assert_eq!(admin.get_user("user0@example.org").await.expect("get user").display_name, "User Zero");
    let err = admin.get_user("nobody@example.org").await.unwrap_err();
    assert!(err.is(ErrorCode::UserNotFound), "{err:?}");
    let domains = admin.list_domains().await.expect("domains");
    assert!(domains.iter().any(|d| d.domain == "example.org" && d.users >= 4), "{domains:?}");
    let effective = admin.effective_user("user0@example.org").await.expect("effective");
    assert!(effective.can_chat, "{effective:?}");
    assert_eq!(effective.settings[0].source, "global", "first start turned the global policy on");
    let removed = admin.remove_user("user2@example.org").await.expect("remove user");
    assert_eq!(removed.login, "user2@example.org");
    assert!(admin.remove_user("user2@example.org").await.unwrap_err().is(ErrorCode::UserNotFound));
    let audit = admin
        .audit(&longhall_client::audit::AuditQuery { object: Some("user0@example.org".into()), ..Default::default() })
        .await
        .expect("audit");
    let ops: Vec<&str> = audit.items.iter().map(|r| r.operation.as_str()).collect();
    assert_eq!(ops, ["create", "update"], "the user's creation and its change");

    // Groups: a name with a space and a slash stays one path segment.
    let group = admin
        .create_group(&NewGroup { name: "desk a/b".into(), members: vec!["user:user1@example.org".into()] })
        .await
        .expect("create group");
    let edit = ListEdit { add: vec!["user:user0@example.org".into()], ..Default::default() };
    let group2 = admin
        .update_group(&group.name, &GroupUpdate { members: Some(edit), ..Default::default() })
        .await
        .expect("update group");
    assert_eq!(group2.members.len(), 2);
    assert_eq!(admin.get_group("desk a/b").await.expect("get group").id, group.id);
    let groups = admin.list_groups(&ListQuery::default()).await.expect("groups");
    assert!(groups.items.iter().any(|g| g.name == "desk a/b"));
    let check = admin.check_groups().await.expect("group check");
    assert!(check.consistent && check.cycles.is_empty(), "{check:?}");
    admin.delete_group("desk a/b").await.expect("delete group");
    assert!(admin.get_group("desk a/b").await.unwrap_err().is(ErrorCode::GroupNotFound));

    // Categories, add-ins.
    let cat = admin
        .create_category(&NewCategory {
            name: "Research".into(),
            allowed_members: vec!["domain:example.org".into()],
            ..Default::default()
        })
        .await
        .expect("create category");
    assert_eq!(admin.get_category(&cat.id.to_string()).await.expect("by id").name, "Research");
    let eligible = admin.category_eligible("Research", Some("user"), None).await.expect("eligible");
    assert_eq!(eligible.len(), 2, "user0 and user1 (user2 was removed)");
    let err = admin.create_category(&NewCategory { name: "Research".into(), ..Default::default() }).await;
    assert!(err.unwrap_err().is(ErrorCode::NameTaken));
    let addin = admin
        .create_addin(&NewAddin { name: "charts".into(), url: "https://charts.example.org/".into() })
        .await
        .expect("add-in");
    assert_eq!(admin.addins().await.expect("add-ins"), vec![addin]);
    admin.delete_addin("charts").await.expect("delete add-in");
    admin.delete_category("Research").await.expect("delete category");

    // Policies and configuration.
    let policy = admin
        .put_policy("site:paris", &PolicyPut { enable_persistent_chat: true, description: "Paris".into() })
        .await
        .expect("put policy");
    assert_eq!(policy.scope, "site:paris");
    assert!(admin.list_policies().await.expect("policies").iter().any(|p| p.scope == "site:paris"));
    admin.delete_policy("site:paris").await.expect("delete policy");
    let config = admin
        .put_config("global", &ConfigPut { default_chat_history: Some(42), ..Default::default() })
        .await
        .expect("put config");
    assert_eq!(config.default_chat_history, 42);
    let err = admin.put_config("global", &ConfigPut { default_chat_history: Some(0), ..Default::default() }).await;
    let err = err.unwrap_err();
    assert_eq!(api_error(&err), (422, ErrorCode::InvalidValue));
    assert!(admin.list_config().await.expect("config").iter().any(|c| c.default_chat_history == 42));
    admin.delete_config("global").await.expect("delete config");
}

#[tokio::test]
async fn content_actions_and_the_compliance_record() {
    let s = Server::start().await;
    let admin = s.admin().await;
    let room = admin
        .create_room(&NewRoom {
            name: "Audit".into(),
            category: "General".into(),
            privacy: Privacy::Open,
            ..Default::default()
        })
        .await
        .expect("room");
    let mut seqs = Vec::new();
    for text in ["one", "two", "three"] {
        let posted = admin.post_message(room.id, &PostRequest { text: text.into(), ..Default::default() }).await;
        seqs.push(posted.expect("post").seq);
    }
    let removed = admin
        .remove_messages(
            room.id,
            &RemoveMessages { seqs: vec![seqs[0]], replacement: Some("[removed]".into()), ..Default::default() },
        )
        .await
        .expect("remove");
    assert_eq!(removed.count, 1);
    let history = admin.history(room.id, HistoryFrom::Latest, None).await.expect("history");
    assert_eq!(history.messages[0].text, "[removed]");
    assert!(history.messages[0].replaced);
    let cleared = admin.clear_room(room.id, &ClearRoom { up_to: i64::MAX / 2, dry_run: false }).await.expect("clear");
    assert_eq!(cleared.count, 3);
    assert!(admin.history(room.id, HistoryFrom::Latest, None).await.expect("history").messages.is_empty());

    // The record keeps everything; its detail is free-form JSON.
    let events = admin.compliance_events(0, Some(500)).await.expect("events");
    let chats: Vec<_> = events.iter().filter(|e| e.kind == "CHAT" && e.room == room.id).collect();
    assert_eq!(chats.len(), 3, "{events:?}");
    assert!(events.iter().any(|e| e.kind == "ROOM_CLEARED"));

    let config = admin.get_compliance_config().await.expect("compliance config");
    assert!(!config.enabled);
    let runs = admin.compliance_runs(Some(5)).await.expect("runs");
    assert!(runs.is_empty(), "{runs:?}");
}

#[tokio::test]
async fn files_stream_up_and_down() {
    let s = Server::start().await;
    let admin = s.admin().await;
    admin
        .update_category(
            "General",
            &longhall_client::api::CategoryUpdate { file_upload: Some(true), ..Default::default() },
        )
        .await
        .expect("allow files");
    let room = admin
        .create_room(&NewRoom {
            name: "Files".into(),
            category: "General".into(),
            privacy: Privacy::Open,
            ..Default::default()
        })
        .await
        .expect("room");

    // 3 MiB sent as a stream of 64 KiB pieces, never held whole by the client.
    let piece = Bytes::from(vec![7u8; 64 * 1024]);
    let pieces = futures_util::stream::iter((0..48).map(move |_| Ok::<_, std::io::Error>(piece.clone())));
    let file = admin
        .upload(room.id, "report.bin", Some("application/x-report"), Body::wrap_stream(pieces))
        .await
        .expect("upload");
    assert_eq!((file.name.as_str(), file.size), ("report.bin", 3 * 1024 * 1024));

    let mut download = admin.download(file.id).await.expect("download");
    assert_eq!(download.content_type, "application/x-report");
    assert_eq!(download.size, Some(3 * 1024 * 1024));
    let mut total = 0usize;
    while let Some(chunk) = download.chunk().await.expect("a piece") {
        assert!(chunk.iter().all(|b| *b == 7));
        total += chunk.len();
    }
    assert_eq!(total, 3 * 1024 * 1024);

    let small = admin.upload(room.id, "note.txt", Some("text/plain"), "hello file").await.expect("upload");
    let bytes = admin.download(small.id).await.expect("download").bytes().await.expect("body");
    assert_eq!(&bytes[..], b"hello file");
    let err = admin.download(small.id + 1000).await.err().expect("a missing file");
    assert!(err.is(ErrorCode::FileNotFound), "{err:?}");
}

#[tokio::test]
async fn the_status_page_is_for_administrators() {
    let s = Server::start().await;
    let admin = s.admin().await;
    let status = admin.status().await.expect("status");
    assert_eq!(status.version, env!("CARGO_PKG_VERSION"));
    assert!(status.ready, "{status:?}");
    let sizes: Vec<&str> = status.store_sizes.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(sizes, ["chat.db", "compliance.db", "search.db", "files"], "{status:?}");
    let user = s.user(&admin, "someone@example.org").await;
    assert_eq!(api_error(&user.status().await.unwrap_err()), (403, ErrorCode::AdminRequired));
    assert_eq!(status.pool, None, "one server on SQLite is no pool");
}

#[tokio::test]
async fn one_server_on_sqlite_is_no_pool() {
    use longhall_client::api::PoolState;
    let s = Server::start().await;
    let admin = s.admin().await;
    assert_eq!(api_error(&admin.pool().await.unwrap_err()), (409, ErrorCode::NotAPool));
    assert_eq!(api_error(&admin.put_pool_state(PoolState::FailedOver).await.unwrap_err()), (409, ErrorCode::NotAPool));
    assert_eq!(api_error(&admin.put_active_servers(Some(vec![])).await.unwrap_err()), (409, ErrorCode::NotAPool));
    let user = s.user(&admin, "someone@example.org").await;
    assert_eq!(api_error(&user.pool().await.unwrap_err()), (403, ErrorCode::AdminRequired));
    // Clients are taken as ever.
    assert!(s.anonymous().readyz().await.is_ok());
}

#[tokio::test]
async fn health_readiness_and_the_openapi_document() {
    let s = Server::start().await;
    let c = s.anonymous();
    assert_eq!(c.healthz().await.expect("healthz").status, "ok");
    let ready = c.readyz().await.expect("readyz");
    assert_eq!(ready.status, "ready");
    let names: Vec<&str> = ready.checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["store", "poster", "compliance_processor"], "{ready:?}");
    let doc = c.openapi().await.expect("openapi");
    let metrics = c.metrics().await.expect("metrics");
    assert!(metrics.contains("# TYPE longhall_posts_total counter"), "{metrics}");
    assert!(doc["paths"]["/api/v1/rooms/{id}/messages"].is_object(), "{doc}");
}

#[tokio::test]
async fn a_closed_port_is_unreachable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    drop(listener);
    let c = Client::builder(&format!("http://{addr}")).connect_timeout(WAIT).build().expect("client");
    let err = c.healthz().await.unwrap_err();
    assert!(matches!(err, ClientError::Unreachable { .. }), "{err:?}");
    assert!(err.to_string().contains(&addr.to_string()), "the message names the server: {err}");
    assert_eq!(err.code(), None);
    assert_eq!(err.status(), None);
}

#[tokio::test]
async fn a_bad_address_is_refused_before_any_call() {
    for bad in ["", "127.0.0.1:8080", "ftp://host/", "http://host/?q=1"] {
        let err = Client::new(bad).err().unwrap_or_else(|| panic!("{bad:?} should be refused"));
        assert!(matches!(err, ClientError::InvalidUrl(_)), "{bad:?}: {err:?}");
    }
    // A path prefix is kept (a server behind a reverse proxy under /chat).
    let c = Client::new("http://127.0.0.1:1/chat/").expect("client");
    assert_eq!(c.base_url(), "http://127.0.0.1:1/chat");
}

/// Answers every connection with `answer` once its request head has arrived: what a newer
/// server, or a proxy in front of one, may send.
async fn canned_server(answer: String) -> String {
    let answer: Arc<str> = answer.into();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tcp.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = tcp.write_all(answer.as_bytes()).await;
                let _ = tcp.shutdown().await;
            });
        }
    });
    url
}

#[tokio::test]
async fn retry_after_and_codes_from_a_newer_server_are_kept() {
    let body = r#"{"code":"rate_limited","message":"Too many requests; wait a moment."}"#;
    let answer = format!(
        "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\nretry-after: 7\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let url = canned_server(answer).await;
    let err = Client::new(&url).expect("client").healthz().await.unwrap_err();
    assert_eq!(api_error(&err), (429, ErrorCode::RateLimited));
    assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
    assert_eq!(err.to_string(), "Too many requests; wait a moment.");

    // A code this client does not know: kept as text, with the sentence.
    let body = r#"{"code":"quota_exceeded","message":"Your quota is used up; ask an administrator."}"#;
    let answer = format!(
        "HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let url = canned_server(answer).await;
    let err = Client::new(&url).expect("client").me().await.unwrap_err();
    assert_eq!(err.code(), None);
    assert_eq!(err.code_text(), Some("quota_exceeded"));
    assert_eq!(err.status(), Some(403));
    assert_eq!(err.to_string(), "Your quota is used up; ask an administrator.");

    // Not a Longhall answer at all (a proxy's page): a protocol error showing what came.
    let body = "<html>Bad gateway</html>";
    let answer = format!(
        "HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let url = canned_server(answer).await;
    let err = Client::new(&url).expect("client").healthz().await.unwrap_err();
    assert!(matches!(err, ClientError::Protocol { status: 502, .. }), "{err:?}");
    assert!(err.to_string().contains("Bad gateway"), "{err}");

    // A success whose body is not the expected type.
    let body = r#"{"unexpected":true}"#;
    let answer = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let url = canned_server(answer).await;
    let err = Client::new(&url).expect("client").healthz().await.unwrap_err();
    assert!(matches!(err, ClientError::Protocol { status: 200, .. }), "{err:?}");
}

/// Every route the server describes, and the client method that calls it: a route added to
/// the server fails this test until the client has a method for it.
#[tokio::test]
async fn the_client_covers_every_route_of_the_server() {
    const COVERED: &[(&str, &str, &str)] = &[
        ("post", "/api/v1/auth/sign-in", "sign_in"),
        ("post", "/api/v1/auth/sign-out", "sign_out"),
        ("get", "/api/v1/me", "me"),
        ("put", "/api/v1/me/password", "change_password"),
        ("get", "/api/v1/tokens", "list_tokens"),
        ("post", "/api/v1/tokens", "create_token"),
        ("delete", "/api/v1/tokens/{id}", "revoke_token"),
        ("get", "/api/v1/rooms", "search_rooms"),
        ("post", "/api/v1/rooms", "create_room"),
        ("get", "/api/v1/rooms/{id}", "get_room"),
        ("patch", "/api/v1/rooms/{id}", "update_room"),
        ("delete", "/api/v1/rooms/{id}", "delete_room"),
        ("get", "/api/v1/rooms/{id}/participants", "participants"),
        ("get", "/api/v1/rooms/{id}/eligible", "room_eligible"),
        ("put", "/api/v1/rooms/{id}/follow", "follow"),
        ("delete", "/api/v1/rooms/{id}/follow", "unfollow"),
        ("put", "/api/v1/rooms/{id}/read", "mark_read"),
        ("get", "/api/v1/followed", "followed"),
        ("get", "/api/v1/invitations", "invitations"),
        ("delete", "/api/v1/invitations/{id}", "dismiss_invitation"),
        ("get", "/api/v1/categories", "categories"),
        ("get", "/api/v1/addins", "addins"),
        ("get", "/api/v1/rooms/{id}/messages", "history"),
        ("post", "/api/v1/rooms/{id}/messages", "post_message"),
        ("get", "/api/v1/search/messages", "search_messages"),
        ("post", "/api/v1/rooms/{id}/files", "upload"),
        ("get", "/api/v1/files/{id}", "download"),
        ("get", "/api/v1/admin/backup", "backup"),
        ("get", "/api/v1/admin/status", "status"),
        ("get", "/api/v1/admin/pool", "pool"),
        ("put", "/api/v1/admin/pool/state", "put_pool_state"),
        ("put", "/api/v1/admin/pool/active", "put_active_servers"),
        ("put", "/api/v1/admin/pool/settings", "put_pool_settings"),
        ("get", "/api/v1/admin/users", "list_users"),
        ("post", "/api/v1/admin/users", "create_user"),
        ("get", "/api/v1/admin/users/{login}", "get_user"),
        ("patch", "/api/v1/admin/users/{login}", "update_user"),
        ("delete", "/api/v1/admin/users/{login}", "remove_user"),
        ("get", "/api/v1/admin/users/{login}/effective", "effective_user"),
        ("get", "/api/v1/admin/domains", "list_domains"),
        ("get", "/api/v1/admin/audit", "audit"),
        ("get", "/api/v1/admin/groups", "list_groups"),
        ("post", "/api/v1/admin/groups", "create_group"),
        ("get", "/api/v1/admin/groups/{name}", "get_group"),
        ("patch", "/api/v1/admin/groups/{name}", "update_group"),
        ("delete", "/api/v1/admin/groups/{name}", "delete_group"),
        ("get", "/api/v1/admin/group-check", "check_groups"),
        ("post", "/api/v1/admin/categories", "create_category"),
        ("get", "/api/v1/admin/categories/{category}", "get_category"),
        ("patch", "/api/v1/admin/categories/{category}", "update_category"),
        ("delete", "/api/v1/admin/categories/{category}", "delete_category"),
        ("get", "/api/v1/admin/categories/{category}/eligible", "category_eligible"),
        ("post", "/api/v1/admin/addins", "create_addin"),
        ("patch", "/api/v1/admin/addins/{name}", "update_addin"),
        ("delete", "/api/v1/admin/addins/{name}", "delete_addin"),
        ("get", "/api/v1/admin/policies", "list_policies"),
        ("put", "/api/v1/admin/policies/{scope}", "put_policy"),
        ("delete", "/api/v1/admin/policies/{scope}", "delete_policy"),
        ("get", "/api/v1/admin/config", "list_config"),
        ("put", "/api/v1/admin/config/{scope}", "put_config"),
        ("delete", "/api/v1/admin/config/{scope}", "delete_config"),
        ("post", "/api/v1/admin/rooms/{id}/remove-messages", "remove_messages"),
        ("post", "/api/v1/admin/rooms/{id}/clear", "clear_room"),
        ("get", "/api/v1/admin/usage", "usage_report"),
        ("get", "/api/v1/admin/compliance/events", "compliance_events"),
        ("get", "/api/v1/admin/compliance/config", "get_compliance_config"),
        ("put", "/api/v1/admin/compliance/config", "put_compliance_config"),
        ("post", "/api/v1/admin/compliance/run", "run_compliance"),
        ("get", "/api/v1/admin/compliance/runs", "compliance_runs"),
        ("post", "/api/v1/admin/compliance/test-stylesheet", "test_stylesheet"),
        ("get", "/healthz", "healthz"),
        ("get", "/readyz", "readyz"),
        ("get", "/metrics", "metrics"),
        // The WebSocket is not an HTTP call (see docs/websocket.md).
        ("get", "/api/v1/ws", "(WebSocket)"),
    ];
    let s = Server::start().await;
    let doc = s.anonymous().openapi().await.expect("openapi");
    let mut served = std::collections::BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in ["get", "put", "post", "delete", "patch"] {
            if item.get(method).is_some() {
                served.insert((method.to_owned(), path.clone()));
            }
        }
    }
    let covered: std::collections::BTreeSet<_> =
        COVERED.iter().map(|(m, p, _)| ((*m).to_owned(), (*p).to_owned())).collect();
    let missing: Vec<_> = served.difference(&covered).collect();
    let stale: Vec<_> = covered.difference(&served).collect();
    assert!(missing.is_empty(), "routes the client has no method for: {missing:?}");
    assert!(stale.is_empty(), "routes the server no longer serves: {stale:?}");
}
