//! A pool of two servers fails over to a promoted streaming standby and back, against two real
//! PostgreSQL clusters the test makes itself (initdb, pg_basebackup -R, pg_ctl promote), with
//! nothing acknowledged lost: the procedure of docs/operations.md, "A pool of servers".
//!
//! PostgreSQL refuses to run as root: when the tests run as root, its tools run as the
//! `postgres` system user through `runuser` (the clusters' directories are given to it).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use longhall_client::ClientError;
use longhall_client::api::{PoolState, PostRequest};
use longhall_types::ws::ServerFrame;
use support::{ADMIN, Server, data_dir, free_port, longhall};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

const PASSWORD: &str = "failover-admin-password";
/// How long a cluster, a switch or a replication catch-up may take.
const WAIT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(50);

/// PostgreSQL's programs: `LONGHALL_TEST_PG_BIN`, else the newest `/usr/lib/postgresql/*/bin`.
fn pg_bin() -> PathBuf {
    if let Ok(dir) = std::env::var("LONGHALL_TEST_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL's server programs in /usr/lib/postgresql (or set LONGHALL_TEST_PG_BIN)")
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop().expect("an initdb under /usr/lib/postgresql/*/bin").1
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A PostgreSQL program, run as `postgres` when we are root.
fn pg(tool: &str) -> Command {
    let program = pg_bin().join(tool);
    if is_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

fn run(mut cmd: Command, what: &str) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// One PostgreSQL cluster in a directory of the test's, on its own port.
struct Cluster {
    name: &'static str,
    root: PathBuf,
    port: u16,
}

impl Cluster {
    fn dir(&self) -> PathBuf {
        self.root.join(self.name)
    }

    fn log(&self) -> PathBuf {
        self.root.join(format!("{}.log", self.name))
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/longhall", self.port)
    }

    /// A new primary with streaming replication on (commits wait for a standby once
    /// `synchronous(true)`: an acknowledged post is then on both).
    fn primary(root: &Path, name: &'static str) -> Cluster {
        let c = Cluster { name, root: root.to_path_buf(), port: free_port() };
        let mut init = pg("initdb");
        init.arg("-D").arg(c.dir()).args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]);
        run(init, "initdb");
        c.configure(
            "wal_level = replica\nmax_wal_senders = 4\nwal_keep_size = '256MB'\nhot_standby = on\nfsync = off\n",
        );
        c
    }

    /// A streaming standby of `primary`, from a base backup (`pg_basebackup -R`).
    fn standby(root: &Path, name: &'static str, port: u16, primary: &Cluster) -> Cluster {
        let c = Cluster { name, root: root.to_path_buf(), port };
        let mut backup = pg("pg_basebackup");
        backup.args([
            "-h",
            "127.0.0.1",
            "-p",
            &primary.port.to_string(),
            "-U",
            "postgres",
            "-R",
            "-X",
            "stream",
            "-c",
            "fast",
        ]);
        backup.arg("-D").arg(c.dir());
        run(backup, "pg_basebackup");
        c.configure("");
        c
    }

    fn configure(&self, extra: &str) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(self.dir().join("postgresql.conf")).expect("conf");
        writeln!(
            f,
            "\nport = {}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n{extra}",
            self.port,
            self.root.display()
        )
        .expect("writing postgresql.conf");
    }

    fn ctl(&self, args: &[&str], what: &str) {
        let mut cmd = pg("pg_ctl");
        cmd.arg("-D").arg(self.dir()).arg("-l").arg(self.log()).args(["-w", "-t", "60"]).args(args);
        run(cmd, &format!("{what} {}", self.name));
    }

    fn start(&self) {
        self.ctl(&["start"], "starting");
    }

    fn stop(&self, mode: &str) {
        self.ctl(&["stop", "-m", mode], "stopping");
    }

    fn promote(&self) {
        self.ctl(&["promote"], "promoting");
    }

    /// Runs SQL in the `postgres` database; the output of `-tA`.
    fn sql(&self, sql: &str) -> String {
        self.sql_in("postgres", sql)
    }

    fn sql_in(&self, database: &str, sql: &str) -> String {
        let mut cmd = Command::new("psql");
        cmd.args(["-X", "-tA", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-U", "postgres", "-d", database]);
        cmd.args(["-p", &self.port.to_string(), "-c", sql]);
        String::from_utf8_lossy(&run(cmd, &format!("psql on {}", self.name)).stdout).trim().to_owned()
    }

    /// Waits until a synchronous standby streams from this primary.
    fn wait_for_sync_standby(&self) {
        let deadline = Instant::now() + WAIT;
        while self.sql("SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'") != "1" {
            assert!(Instant::now() < deadline, "no synchronous standby of {} within {WAIT:?}", self.name);
            std::thread::sleep(POLL);
        }
    }

    fn synchronous(&self, on: bool) {
        self.sql(&format!("ALTER SYSTEM SET synchronous_standby_names = '{}'", if on { "*" } else { "" }));
        self.sql("SELECT pg_reload_conf()");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let mut cmd = pg("pg_ctl");
        cmd.arg("-D").arg(self.dir()).args(["stop", "-m", "immediate"]);
        let _ = cmd.output();
    }
}

/// A temporary directory the clusters may write (given to `postgres` when we are root).
fn cluster_root() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    if is_root() {
        run(
            {
                let mut c = Command::new("chown");
                c.arg("postgres:").arg(tmp.path());
                c
            },
            "chown to postgres",
        );
    }
    tmp
}

/// The test's messages, by room, in the order they were acknowledged.
#[derive(Default)]
struct Acked {
    east: Vec<String>,
    west: Vec<String>,
}

async fn chat(s1: &Server, s2: &Server, alice: &str, bob: &str, rooms: (i64, i64), phase: &str, acked: &mut Acked) {
    for i in 0..10 {
        let text = format!("{phase} east {i}");
        s1.post_message(alice, rooms.0, &text).await;
        acked.east.push(text);
        let text = format!("{phase} west {i}");
        s2.post_message(bob, rooms.1, &text).await;
        acked.west.push(text);
    }
}

/// Every acknowledged message is in the room's history, once, in order.
async fn assert_history(s: &Server, token: &str, room: i64, acked: &[String]) {
    let texts: Vec<String> = s.all_messages(token, room).await.into_iter().map(|m| m.text).collect();
    assert_eq!(&texts, acked, "the history holds exactly the acknowledged posts, in order");
}

/// Waits until the server serves from the database of `state` and answers `/readyz`.
async fn wait_for_database(s: &Server, admin: &str, state: PoolState) {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(pool) = s.as_user(admin).pool().await
            && pool.database == state
            && s.client.readyz().await.is_ok()
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not switch to {state:?} within {WAIT:?}\n{}",
            s.proc.output()
        );
        tokio::time::sleep(POLL).await;
    }
}

/// `longhall pool …` against a server; its stdout.
fn pool_cli(s: &Server, token: &str, args: &[&str]) -> String {
    let mut cmd = longhall();
    cmd.arg("pool").args(args).arg("--url").arg(s.url("")).arg("--token").arg(token);
    let out = cmd.output().expect("longhall pool");
    assert!(out.status.success(), "longhall pool {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Opening a WebSocket is refused with `server_not_active` (503).
async fn assert_refuses_clients(s: &Server, token: &str) {
    let mut req = format!("ws://127.0.0.1:{}/api/v1/ws", s.port).into_client_request().expect("request");
    req.headers_mut().insert("authorization", HeaderValue::from_str(&format!("Bearer {token}")).expect("header"));
    match tokio_tungstenite::connect_async(req).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status().as_u16(), 503);
            let body = String::from_utf8_lossy(resp.body().as_deref().unwrap_or_default()).into_owned();
            assert!(body.contains("server_not_active"), "{body}");
        }
        other => panic!("a server off the active list accepted a client: {:?}", other.map(|_| ())),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pool_fails_over_to_its_promoted_standby_and_back_losing_nothing_acknowledged() {
    let started = Instant::now();
    let tmp = cluster_root();
    let a = Cluster::primary(tmp.path(), "a");
    a.start();
    let b = Cluster::standby(tmp.path(), "b", free_port(), &a);
    b.start();
    a.synchronous(true);
    a.wait_for_sync_standby();
    a.sql("CREATE DATABASE longhall");
    eprintln!("step: clusters ready ({:?})", started.elapsed());

    let (primary, backup) = (a.url(), b.url());
    let server = |id: &'static str| {
        let (primary, backup) = (primary.clone(), backup.clone());
        move |cmd: &mut Command| {
            cmd.env("LONGHALL_STORE", "postgres").env("LONGHALL_POSTGRES_URL", &primary);
            cmd.env("LONGHALL_POSTGRES_BACKUP_URL", &backup).env("LONGHALL_SERVER_ID", id);
            cmd.env("LONGHALL_ADMIN_PASSWORD", PASSWORD);
        }
    };
    let (d1, d2) = (data_dir(), data_dir());
    let s1 = Server::start_with(&d1.path, server("s1")).await;
    let admin = s1.sign_in(ADMIN, PASSWORD).await;
    s1.create_user(&admin, "alice@longhall.local", "alice-password-1").await;
    s1.create_user(&admin, "bob@longhall.local", "bob-password-12").await;
    let east = s1.create_room(&admin, "East").await.id;
    let west = s1.create_room(&admin, "West").await.id;
    // The second server starts on the same database, with the rooms made.
    let s2 = Server::start_with(&d2.path, server("s2")).await;
    let alice = s1.sign_in("alice@longhall.local", "alice-password-1").await;
    let bob = s2.sign_in("bob@longhall.local", "bob-password-12").await;

    eprintln!("step: servers started ({:?})", started.elapsed());
    // Both registered, up, active; the pool is normal.
    let pool = s1.as_user(&admin).pool().await.expect("the pool");
    assert_eq!(pool.settings.state, PoolState::Normal);
    let ids: Vec<(&str, &str, bool)> =
        pool.servers.iter().map(|s| (s.id.as_str(), s.state.as_str(), s.active)).collect();
    assert_eq!(ids, [("s1", "up", true), ("s2", "up", true)]);

    // A second live server with a taken id is refused at start.
    let d3 = data_dir();
    let mut twin = longhall();
    twin.arg("serve").arg("--data-dir").arg(&d3.path).arg("--listen").arg("127.0.0.1:0");
    server("s1")(&mut twin);
    let out = twin.output().expect("longhall serve");
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("\"s1\" is in use") && said.contains("server_id"), "{said}");

    eprintln!("step: twin refused ({:?})", started.elapsed());
    // Taking s2 off the active list drains it: its client is told to go elsewhere, and it
    // takes no new one until it is back on the list.
    let mut bob_ws = s2.connect(&bob).await;
    let taken = pool_cli(&s1, &admin, &["active", "set", "s1"]);
    assert!(taken.contains("s2: taken"), "{taken}");
    loop {
        match bob_ws.next_frame().await {
            Some(ServerFrame::Closing { code, .. }) => {
                assert_eq!(code, "server_not_active");
                break;
            }
            Some(_) => continue,
            None => panic!("the connection ended without a closing frame"),
        }
    }
    assert_refuses_clients(&s2, &bob).await;
    s1.connect(&alice).await;
    pool_cli(&s1, &admin, &["active", "all"]);
    s2.connect(&bob).await;

    eprintln!("step: active list done ({:?})", started.elapsed());
    let mut acked = Acked::default();
    chat(&s1, &s2, &alice, &bob, (east, west), "before", &mut acked).await;

    // The primary's site is lost. A post now is not acknowledged (or, if it was, it is kept).
    a.stop("immediate");
    let post = PostRequest { text: "during the outage".into(), ..Default::default() };
    match s1.as_user(&alice).post_message(east, &post).await {
        Ok(_) => acked.east.push(post.text.clone()),
        Err(ClientError::Api { code_text, .. }) => assert_eq!(code_text, "store_unavailable"),
        Err(e) => panic!("{e:?}"),
    }

    eprintln!("step: primary stopped ({:?})", started.elapsed());
    // Promote the standby; it has no standby of its own now, so it commits alone.
    b.promote();
    b.synchronous(false);
    // One administrator's operation, while the primary is down, switches every server.
    let switched = pool_cli(&s1, &admin, &["state", "failed-over"]);
    assert!(switched.contains("s1: taken") && switched.contains("s2: taken"), "{switched}");
    eprintln!("step: failover sent ({:?})", started.elapsed());
    wait_for_database(&s1, &admin, PoolState::FailedOver).await;
    wait_for_database(&s2, &admin, PoolState::FailedOver).await;
    let pool = s2.as_user(&admin).pool().await.expect("the pool");
    assert_eq!(pool.settings.state, PoolState::FailedOver);
    assert!(pool.servers.iter().all(|s| s.state == "up"), "{:?}", pool.servers);

    chat(&s1, &s2, &alice, &bob, (east, west), "failed over", &mut acked).await;
    assert_history(&s1, &alice, east, &acked.east).await;
    assert_history(&s2, &bob, west, &acked.west).await;

    eprintln!("step: failed over, history checked ({:?})", started.elapsed());
    // Failback: the old primary's site is rebuilt as a standby of the new primary.
    std::fs::remove_dir_all(a.dir()).expect("removing the old primary's data");
    let a = Cluster::standby(tmp.path(), "a", a.port, &b);
    a.start();
    b.synchronous(true);
    b.wait_for_sync_standby();
    chat(&s1, &s2, &alice, &bob, (east, west), "rebuilt", &mut acked).await;

    eprintln!("step: rebuilt ({:?})", started.elapsed());
    // No server takes clients while the databases change places; the backup stops cleanly
    // (its last WAL reaches the standby), the rebuilt primary is promoted, the pool switched.
    pool_cli(&s1, &admin, &["active", "clear"]);
    assert_refuses_clients(&s1, &alice).await;
    b.stop("fast");
    a.promote();
    a.synchronous(false);
    let switched = pool_cli(&s2, &admin, &["state", "normal"]);
    assert!(switched.contains("s1: taken") && switched.contains("s2: taken"), "{switched}");
    eprintln!("step: failback sent ({:?})", started.elapsed());
    wait_for_database(&s1, &admin, PoolState::Normal).await;
    wait_for_database(&s2, &admin, PoolState::Normal).await;
    pool_cli(&s2, &admin, &["active", "all"]);
    s1.connect(&alice).await;

    chat(&s1, &s2, &alice, &bob, (east, west), "failed back", &mut acked).await;
    assert_history(&s1, &alice, east, &acked.east).await;
    assert_history(&s2, &bob, west, &acked.west).await;

    // Every change is in the pool history of the database in use, with who made it.
    let recorded = a.sql_in(
        "longhall",
        "SELECT count(*) FROM chat.pool_history WHERE actor = 'admin@longhall.local' AND settings->>'state' = 'normal' AND settings->'active' IS NULL",
    );
    assert_ne!(recorded, "0", "the failback is recorded");
}
