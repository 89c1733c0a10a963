//! A pool: several real `longhall serve` processes on one PostgreSQL database (a scratch
//! database per test on `LONGHALL_TEST_PG_URL`). Clients spread over the servers post in shared
//! rooms; one server is killed mid-burst; every acknowledged message reaches every member
//! connected to a surviving server once and in order; a catalog edit on one server holds at
//! once on the others; two servers editing the same room at once never lose an edit silently.

mod support;

use std::collections::{BTreeSet, HashMap};
use std::process::Command;
use std::time::{Duration, Instant};

use longhall_client::ClientError;
use longhall_client::api::{ListEdit, NewRoom, Privacy, RoomUpdate};
use longhall_types::ErrorCode;
use longhall_types::ws::{ClientFrame, ServerFrame};
use support::{ADMIN, Incoming, Server, Ws, data_dir};

const PASSWORD: &str = "pool-admin-password";
const USER_PASSWORD: &str = "a pool member's password";
/// How long a message may take to cross the pool before the test gives up on it.
const ARRIVAL: Duration = Duration::from_secs(20);

fn admin_url() -> String {
    std::env::var("LONGHALL_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn psql(sql: &str) -> std::process::Output {
    Command::new("psql")
        .args(["--quiet", "--no-psqlrc", "-v", "ON_ERROR_STOP=1", "-d", &admin_url(), "-c", sql])
        .output()
        .expect("psql, PostgreSQL's client, is installed")
}

/// The NATS server of the NATS case (`./scripts/test` starts the local one).
fn nats_url() -> String {
    std::env::var("LONGHALL_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// A database created for one test, dropped when this is dropped.
struct ScratchDb {
    name: String,
    url: String,
}

impl ScratchDb {
    fn create() -> ScratchDb {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        let name = format!("longhall_pool_test_{}_{nanos}", std::process::id());
        let out = psql(&format!("CREATE DATABASE {name} ENCODING 'UTF8'"));
        assert!(
            out.status.success(),
            "PostgreSQL at {} must be reachable (./scripts/test starts the local one): {}",
            admin_url(),
            String::from_utf8_lossy(&out.stderr)
        );
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

/// `n` servers on the database, the first started alone (it makes the administrator).
async fn pool(db: &ScratchDb, n: usize) -> (Vec<Server>, Vec<support::DataDir>) {
    pool_on(db, n, "postgres").await
}

/// As `pool`, on the bus named.
async fn pool_on(db: &ScratchDb, n: usize, bus: &'static str) -> (Vec<Server>, Vec<support::DataDir>) {
    let mut servers = Vec::new();
    let mut dirs = Vec::new();
    for _ in 0..n {
        let dir = data_dir();
        let url = db.url.clone();
        let server = Server::start_with(&dir.path, move |cmd| {
            cmd.env("LONGHALL_STORE", "postgres").env("LONGHALL_POSTGRES_URL", &url).env("LONGHALL_BUS", bus);
            cmd.env("LONGHALL_NATS_URL", nats_url());
            cmd.env("LONGHALL_ADMIN_PASSWORD", PASSWORD);
        })
        .await;
        servers.push(server);
        dirs.push(dir);
    }
    (servers, dirs)
}

/// Signs in on `server` once it knows the user another server just created (a change reaches
/// the other servers of a pool within moments, not in the same instant).
async fn sign_in_when_known(server: &Server, login: &str) -> String {
    let deadline = Instant::now() + ARRIVAL;
    loop {
        match server.client.sign_in(login, USER_PASSWORD).await {
            Ok(answer) => return answer.token,
            Err(e) if e.code() == Some(ErrorCode::InvalidCredentials) && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("signing in as {login}: {e:?}"),
        }
    }
}

/// Waits until `server` knows the room another server just created.
async fn room_when_known(server: &Server, token: &str, room: i64) {
    let deadline = Instant::now() + ARRIVAL;
    while let Err(e) = server.as_user(token).get_room(room).await {
        assert!(Instant::now() < deadline, "room {room} did not reach the server: {e:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn login(i: usize) -> String {
    format!("member{i}@longhall.local")
}

type Stream = futures_util::stream::SplitStream<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
>;

/// Reads frames until `done` says so, collecting the room's messages (seq, text); panics on a
/// repeated or out-of-order sequence number.
async fn collect_until(
    who: &str,
    stream: &mut Stream,
    room: i64,
    seen: &mut Vec<(i64, String)>,
    mut done: impl FnMut(&[(i64, String)]) -> bool,
) {
    let deadline = Instant::now() + ARRIVAL;
    while !done(seen) {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, support::read_incoming(stream)).await {
            Ok(Incoming::Frame(ServerFrame::Message(m))) if m.room == room => {
                if let Some((last, _)) = seen.last() {
                    assert!(m.seq > *last, "{who}: seq {} arrived after {last} (repeat or out of order)", m.seq);
                }
                seen.push((m.seq, m.text.clone()));
            }
            Ok(Incoming::Frame(_)) => {}
            Ok(other) => panic!("{who}'s connection ended: {other:?}"),
            Err(_) => panic!("{who}: not every message arrived within {ARRIVAL:?}; got {} so far", seen.len()),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_acknowledged_message_reaches_every_member_once_in_order_across_a_pool_losing_a_server() {
    let db = ScratchDb::create();
    let (mut servers, _dirs) = pool(&db, 3).await;
    let admin = servers[0].sign_in(ADMIN, PASSWORD).await;
    let room = servers[0].create_room(&admin, "Pool room").await.id;
    // Two members per server; each server sees the room and the users made on the first.
    let mut clients: Vec<(usize, String, Ws)> = Vec::new();
    for i in 0..6 {
        servers[0].create_user(&admin, &login(i), USER_PASSWORD).await;
    }
    for i in 0..6 {
        let s = &servers[i % 3];
        let token = sign_in_when_known(s, &login(i)).await;
        room_when_known(s, &token, room).await;
        let mut ws = s.connect(&token).await;
        ws.join(room).await;
        clients.push((i % 3, token, ws));
    }

    // Each member posts a burst over its own server's WebSocket; the third server is killed
    // while the bursts are under way.
    const BURST: usize = 40;
    let mut posters = Vec::new();
    let mut readers = Vec::new();
    for (server, _token, ws) in clients {
        let (mut sink, stream) = (ws.sink, ws.stream);
        let login = ws.login.clone();
        // Posting runs apart from reading (acknowledgements and messages share the stream).
        posters.push(tokio::spawn({
            let login = login.clone();
            async move {
                use futures_util::SinkExt;
                for k in 0..BURST {
                    let frame = ClientFrame::Post {
                        id: format!("p{k}"),
                        room,
                        text: format!("{login} #{k}"),
                        alert: false,
                        story_title: None,
                        file: None,
                    };
                    if sink.send(support::frame_text(&frame)).await.is_err() {
                        break; // its server was killed
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                sink
            }
        }));
        readers.push((server, login, stream));
    }
    // Let the bursts start, then kill the third server without warning.
    tokio::time::sleep(Duration::from_millis(60)).await;
    servers[2].proc.sigkill();

    // Every client reads its stream: its own acknowledgements and everyone's messages.
    let mut acked: BTreeSet<(i64, String)> = BTreeSet::new();
    let mut received: HashMap<String, Vec<(i64, String)>> = HashMap::new();
    let mut survivors = Vec::new();
    for (server, login, mut stream) in readers {
        let mut seen: Vec<(i64, String)> = Vec::new();
        let mut my_acks = 0;
        let deadline = Instant::now() + ARRIVAL;
        // Read until this client's burst is answered (or its server died).
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, support::read_incoming(&mut stream)).await {
                Ok(Incoming::Frame(ServerFrame::Posted { id, posted })) => {
                    let k: usize = id.trim_start_matches('p').parse().expect("our own post id");
                    acked.insert((posted.seq, format!("{login} #{k}")));
                    my_acks += 1;
                    if my_acks == BURST {
                        break;
                    }
                }
                Ok(Incoming::Frame(ServerFrame::Message(m))) if m.room == room => {
                    if let Some((last, _)) = seen.last() {
                        assert!(m.seq > *last, "{login}: seq {} arrived after {last}", m.seq);
                    }
                    seen.push((m.seq, m.text.clone()));
                }
                Ok(Incoming::Frame(_)) => {}
                Ok(_) => {
                    assert_eq!(server, 2, "{login} lost its connection to a server that was not killed");
                    break;
                }
                Err(_) => panic!("{login}: its burst was not answered within {ARRIVAL:?} ({my_acks} of {BURST})"),
            }
        }
        if server != 2 {
            survivors.push((login.clone(), stream));
        }
        received.insert(login, seen);
    }
    for p in posters {
        let _ = p.await;
    }
    assert!(acked.len() >= 4 * BURST, "the surviving servers' members had every post acknowledged");
    eprintln!("{} posts acknowledged of {}", acked.len(), 6 * BURST);

    // Every member on a surviving server receives every acknowledged message, once, in order.
    for (login, mut stream) in survivors {
        let mut seen = received.remove(&login).unwrap_or_default();
        let wanted: BTreeSet<i64> = acked.iter().map(|(seq, _)| *seq).collect();
        collect_until(&login, &mut stream, room, &mut seen, |seen| {
            let got: BTreeSet<i64> = seen.iter().map(|(s, _)| *s).collect();
            wanted.is_subset(&got)
        })
        .await;
        let by_seq: HashMap<i64, &String> = seen.iter().map(|(s, t)| (*s, t)).collect();
        for (seq, text) in &acked {
            assert_eq!(by_seq.get(seq), Some(&text), "{login}: message {seq} is the acknowledged one");
        }
    }
    // The history every surviving server serves holds every acknowledged message.
    for s in &servers[..2] {
        let history: BTreeSet<(i64, String)> =
            s.all_messages(&admin, room).await.into_iter().map(|m| (m.seq, m.text)).collect();
        assert!(acked.is_subset(&history), "every acknowledged message is kept");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_member_removed_on_one_server_is_kicked_on_every_server_at_once() {
    let db = ScratchDb::create();
    let (servers, _dirs) = pool(&db, 3).await;
    let admin = servers[0].sign_in(ADMIN, PASSWORD).await;
    for i in 0..2 {
        servers[0].create_user(&admin, &login(i), USER_PASSWORD).await;
    }
    let new = NewRoom {
        name: "Members only".into(),
        category: "General".into(),
        privacy: Privacy::Closed,
        members: vec![format!("user:{}", login(0)), format!("user:{}", login(1))],
        ..Default::default()
    };
    let room = servers[0].as_user(&admin).create_room(&new).await.expect("creating the room").id;

    // Member 1 is connected to the second and the third server, member 0 to the third.
    let on_b = sign_in_when_known(&servers[1], &login(1)).await;
    room_when_known(&servers[1], &on_b, room).await;
    let mut b = servers[1].connect(&on_b).await;
    b.join(room).await;
    let on_c = sign_in_when_known(&servers[2], &login(1)).await;
    room_when_known(&servers[2], &on_c, room).await;
    let mut c = servers[2].connect(&on_c).await;
    c.join(room).await;
    let other = servers[2].sign_in(&login(0), USER_PASSWORD).await;
    let mut stays = servers[2].connect(&other).await;
    stays.join(room).await;

    // The first server removes member 1.
    let edit = RoomUpdate {
        members: Some(ListEdit { remove: vec![format!("user:{}", login(1))], ..Default::default() }),
        ..Default::default()
    };
    servers[0].as_user(&admin).update_room(room, &edit).await.expect("removing the member");

    for (ws, name) in [(&mut b, "second"), (&mut c, "third")] {
        loop {
            match ws.next_frame().await {
                Some(ServerFrame::Kicked { room: r, .. }) if r == room => break,
                Some(_) => continue,
                None => panic!("the connection on the {name} server closed instead of being kicked"),
            }
        }
    }
    // The removed member can no longer read the room on any server; the other still can.
    for s in &servers {
        let token = s.sign_in(&login(1), USER_PASSWORD).await;
        let err = s.as_user(&token).history(room, longhall_client::messages::HistoryFrom::Latest, Some(5)).await;
        let code = err.as_ref().err().and_then(ClientError::code);
        assert!(
            matches!(code, Some(ErrorCode::RoomNotFound | ErrorCode::NotMember)),
            "a removed member is refused everywhere: {err:?}"
        );
    }
    // Added back on the first server: the invitation reaches the member's connections on the others.
    let edit = RoomUpdate {
        members: Some(ListEdit { add: vec![format!("user:{}", login(1))], ..Default::default() }),
        ..Default::default()
    };
    servers[0].as_user(&admin).update_room(room, &edit).await.expect("adding the member back");
    for (ws, name) in [(&mut b, "second"), (&mut c, "third")] {
        loop {
            match ws.next_frame().await {
                Some(ServerFrame::Invitation(inv)) if inv.room == room => break,
                Some(_) => continue,
                None => panic!("the connection on the {name} server closed before the invitation"),
            }
        }
    }
    servers[2].post_message(&other, room, "still here").await;
    loop {
        match stays.next_frame().await {
            Some(ServerFrame::Message(m)) if m.text == "still here" => break,
            Some(_) => continue,
            None => panic!("the remaining member's connection closed"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_editing_one_room_at_once_never_lose_an_edit_silently() {
    let db = ScratchDb::create();
    let (servers, _dirs) = pool(&db, 2).await;
    let admin = servers[0].sign_in(ADMIN, PASSWORD).await;
    let admin_b = servers[1].sign_in(ADMIN, PASSWORD).await;
    for i in 0..20 {
        servers[0].create_user(&admin, &login(i), USER_PASSWORD).await;
    }
    let new = NewRoom {
        name: "Edited twice".into(),
        category: "General".into(),
        privacy: Privacy::Closed,
        ..Default::default()
    };
    let room = servers[0].as_user(&admin).create_room(&new).await.expect("creating the room").id;
    room_when_known(&servers[1], &admin_b, room).await;

    // Each round, both servers add a different member at the same moment. Each edit either
    // holds or is refused with `changed_meanwhile`; none is overwritten by the other.
    let mut kept = BTreeSet::new();
    let mut refused = 0;
    for round in 0..10 {
        let add = |i: usize| RoomUpdate {
            members: Some(ListEdit { add: vec![format!("user:{}", login(i))], ..Default::default() }),
            ..Default::default()
        };
        let (a, b) = (add(2 * round), add(2 * round + 1));
        let (ca, cb) = (servers[0].as_user(&admin), servers[1].as_user(&admin_b));
        let (ra, rb) = tokio::join!(ca.update_room(room, &a), cb.update_room(room, &b));
        for (r, i) in [(ra, 2 * round), (rb, 2 * round + 1)] {
            match r {
                Ok(_) => {
                    kept.insert(format!("user:{}", login(i)));
                }
                Err(ClientError::Api { code: Some(ErrorCode::ChangedMeanwhile), .. }) => refused += 1,
                Err(e) => panic!("round {round}: {e:?}"),
            }
        }
    }
    // Both servers agree, and every acknowledged edit is there.
    for s in &servers {
        let token = if s.port == servers[0].port { &admin } else { &admin_b };
        let deadline = Instant::now() + ARRIVAL;
        loop {
            let view = s.as_user(token).get_room(room).await.expect("reading the room");
            let members: BTreeSet<String> = view.members.unwrap_or_default().into_iter().collect();
            if kept.is_subset(&members) {
                break;
            }
            assert!(Instant::now() < deadline, "edits lost: kept {kept:?}, the server shows {members:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    eprintln!("{} edits kept, {refused} refused as changed meanwhile", kept.len());
    assert!(kept.len() + refused == 20, "every edit answered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pool_on_nats_carries_messages_and_catalog_changes_between_servers() {
    let address = nats_url().trim_start_matches("nats://").to_owned();
    assert!(
        std::net::TcpStream::connect(&address).is_ok(),
        "a NATS server must listen at {address} (./scripts/test starts the local one)"
    );
    let db = ScratchDb::create();
    let (servers, _dirs) = pool_on(&db, 2, "nats").await;
    let admin = servers[0].sign_in(ADMIN, PASSWORD).await;
    servers[0].create_user(&admin, &login(0), USER_PASSWORD).await;
    let room = servers[0].create_room(&admin, "Over NATS").await.id;
    let token = sign_in_when_known(&servers[1], &login(0)).await;
    room_when_known(&servers[1], &token, room).await;
    let mut ws = servers[1].connect(&token).await;
    ws.join(room).await;

    // Posted on the first server, delivered by the second, in order.
    for k in 0..5 {
        servers[0].post_message(&admin, room, &format!("over nats #{k}")).await;
    }
    let mut seen = Vec::new();
    let login0 = login(0);
    collect_until(&login0, &mut ws.stream, room, &mut seen, |seen| seen.len() == 5).await;
    let texts: Vec<&str> = seen.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(texts, ["over nats #0", "over nats #1", "over nats #2", "over nats #3", "over nats #4"]);

    // Disabled on the first server: the second ends the user's connection.
    let disable = longhall_client::api::UserUpdate { disabled: Some(true), ..Default::default() };
    servers[0].as_user(&admin).update_user(&login0, &disable).await.expect("disabling the user");
    let deadline = Instant::now() + ARRIVAL;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, support::read_incoming(&mut ws.stream)).await {
            Ok(Incoming::Frame(_)) => continue,
            Ok(_) => break,
            Err(_) => panic!("the disabled user's connection on the second server stayed open"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_message_removed_on_one_server_is_gone_from_every_server() {
    let db = ScratchDb::create();
    let (servers, _dirs) = pool(&db, 2).await;
    let admin = servers[0].sign_in(ADMIN, PASSWORD).await;
    servers[0].create_user(&admin, &login(0), USER_PASSWORD).await;
    let room = servers[0].create_room(&admin, "Moderated").await.id;
    let token = sign_in_when_known(&servers[1], &login(0)).await;
    room_when_known(&servers[1], &token, room).await;
    let mut ws = servers[1].connect(&token).await;
    ws.join(room).await;
    let kept = servers[0].post_message(&admin, room, "kept").await.seq;
    let gone = servers[0].post_message(&admin, room, "to be removed").await.seq;
    let mut seen = Vec::new();
    let who = login(0);
    collect_until(&who, &mut ws.stream, room, &mut seen, |seen| seen.len() == 2).await;

    // Removed through the first server: the member on the second is told once.
    let remove = longhall_client::api::RemoveMessages { seqs: vec![gone], delete: true, ..Default::default() };
    servers[0].as_user(&admin).remove_messages(room, &remove).await.expect("removing the message");
    loop {
        match ws.next_frame().await {
            Some(ServerFrame::MessagesRemoved { room: r, seqs }) if r == room => {
                assert_eq!(seqs, [gone]);
                break;
            }
            Some(_) => continue,
            None => panic!("the connection closed"),
        }
    }
    // Nothing more about it arrives (a ping is answered, no second notice before it).
    ws.send(&ClientFrame::Ping { id: "after".into() }).await;
    loop {
        match ws.next_frame().await {
            Some(ServerFrame::Pong { .. }) => break,
            Some(ServerFrame::MessagesRemoved { .. }) => panic!("the removal was announced twice"),
            Some(_) => continue,
            None => panic!("the connection closed"),
        }
    }
    // A client joining on the second server no longer gets it in its backchat.
    let mut late = servers[1].connect(&token).await;
    late.send(&ClientFrame::Join {
        id: "again".into(),
        rooms: vec![longhall_types::ws::JoinTarget { room, after_seq: Some(0) }],
        backchat: Some(50),
    })
    .await;
    loop {
        match late.next_frame().await {
            Some(ServerFrame::Joined { id, rooms, .. }) if id == "again" => {
                let seqs: Vec<i64> = rooms[0].messages.iter().map(|m| m.seq).collect();
                assert_eq!(seqs, [kept], "the backchat of the second server");
                break;
            }
            Some(_) => continue,
            None => panic!("the connection closed"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_servers_starting_at_once_on_a_new_database_make_one_deployment() {
    let db = ScratchDb::create();
    let dirs: Vec<support::DataDir> = (0..3).map(|_| data_dir()).collect();
    let start = |dir: std::path::PathBuf| {
        let url = db.url.clone();
        async move {
            Server::start_with(&dir, move |cmd| {
                cmd.env("LONGHALL_STORE", "postgres").env("LONGHALL_POSTGRES_URL", &url);
                cmd.env("LONGHALL_ADMIN_PASSWORD", PASSWORD);
            })
            .await
        }
    };
    let (a, b, c) = tokio::join!(start(dirs[0].path.clone()), start(dirs[1].path.clone()), start(dirs[2].path.clone()));
    for s in [&a, &b, &c] {
        let admin = s.sign_in(ADMIN, PASSWORD).await;
        let page = s
            .as_user(&admin)
            .search_rooms(&longhall_client::rooms::RoomSearch { limit: Some(50), ..Default::default() })
            .await
            .expect("listing rooms");
        let names: Vec<&str> = page.items.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["Lobby"], "one first start for the whole pool");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_whose_bus_connection_was_cut_catches_up() {
    let db = ScratchDb::create();
    let (servers, _dirs) = pool(&db, 2).await;
    let admin = servers[0].sign_in(ADMIN, PASSWORD).await;
    servers[0].create_user(&admin, &login(0), USER_PASSWORD).await;
    let room = servers[0].create_room(&admin, "Cut off").await.id;
    let token = sign_in_when_known(&servers[1], &login(0)).await;
    room_when_known(&servers[1], &token, room).await;
    let mut ws = servers[1].connect(&token).await;
    ws.join(room).await;

    // Every server's listening connection is cut; messages are posted meanwhile.
    let out = psql(&format!(
        "SELECT 'cut:' || count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = '{}' AND application_name = 'longhall-bus'",
        db.name
    ));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("cut:2"), "both listening connections were cut");
    for k in 0..5 {
        servers[0].post_message(&admin, room, &format!("while cut off #{k}")).await;
    }
    // The second server reconnects, reads what it missed and delivers it, in order.
    let mut seen = Vec::new();
    let who = login(0);
    collect_until(&who, &mut ws.stream, room, &mut seen, |seen| seen.len() == 5).await;
    let texts: Vec<&str> = seen.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(texts, (0..5).map(|k| format!("while cut off #{k}")).collect::<Vec<_>>());
}

/// Compliance JOIN and PART events name the server of the connection, and a server starting
/// (or restarting after a crash) closes only the participations of its own connections: those
/// open on the other servers of the pool stay open.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_starting_closes_only_its_own_interrupted_participations() {
    let db = ScratchDb::create();
    let (mut servers, dirs) = pool(&db, 2).await;
    let admin = servers[0].sign_in(ADMIN, PASSWORD).await;
    for i in 0..2 {
        servers[0].create_user(&admin, &login(i), USER_PASSWORD).await;
    }
    let room = servers[0].create_room(&admin, "Two servers").await.id;
    let on_first = servers[0].sign_in(&login(0), USER_PASSWORD).await;
    let on_second = sign_in_when_known(&servers[1], &login(1)).await;
    room_when_known(&servers[1], &on_second, room).await;
    let mut first = servers[0].connect(&on_first).await;
    first.join(room).await;
    let mut second = servers[1].connect(&on_second).await;
    second.join(room).await;

    // The second server dies with its member joined; it starts again on its data directory.
    servers[1].proc.sigkill();
    servers[1].proc.wait_exit(Duration::from_secs(10)).await;
    // Restarted at once, it would first wait for its old heartbeat to go stale: wait for
    // that here, so that its start stays within the harness's readiness bound.
    let deadline = Instant::now() + ARRIVAL;
    loop {
        let pool = servers[0].as_user(&admin).pool().await.expect("the pool");
        if pool.servers.iter().filter(|s| s.state == "up").count() == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the killed server was never shown down: {pool:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let url = db.url.clone();
    servers[1] = Server::start_with(&dirs[1].path, move |cmd| {
        cmd.env("LONGHALL_STORE", "postgres").env("LONGHALL_POSTGRES_URL", &url).env("LONGHALL_BUS", "postgres");
        cmd.env("LONGHALL_ADMIN_PASSWORD", PASSWORD);
    })
    .await;

    let events = servers[0].all_compliance_events(&admin).await;
    let of = |kind: &str, user: &str| -> Vec<&serde_json::Value> {
        events.iter().filter(|e| e.kind == kind && e.room == room && e.user == user).map(|e| &e.detail).collect()
    };
    let (joins0, joins1) = (of("JOIN", &login(0)), of("JOIN", &login(1)));
    assert_eq!((joins0.len(), joins1.len()), (1, 1), "{events:#?}");
    let (server0, server1) = (joins0[0]["server"].as_str(), joins1[0]["server"].as_str());
    assert!(server0.is_some() && server1.is_some() && server0 != server1, "JOINs name their servers: {events:#?}");
    assert_ne!(joins0[0]["connection"], joins1[0]["connection"], "connection ids are the pool's, not one server's");
    // The restarted server closed its own member's participation, naming itself...
    let parts1 = of("PART", &login(1));
    assert_eq!(parts1.len(), 1, "{events:#?}");
    assert_eq!(parts1[0]["reason"], "server restarted");
    assert_eq!((parts1[0]["server"].as_str(), &parts1[0]["connection"]), (server1, &joins1[0]["connection"]));
    // ...and not the one still open on the first server.
    assert!(of("PART", &login(0)).is_empty(), "a live server's participation was closed: {events:#?}");
    drop((first, second));
}
