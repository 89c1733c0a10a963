//! The tool against real servers on loopback: a Longhall server in this process (SQLite in a
//! temporary directory, as the whole-server tests start it) and the baseline broadcaster.
//! A few hundred connections, a couple of seconds of posting; every post must reach every
//! connection joined to its room exactly once, and the report must add up.

use clap::Parser;
use longhall::{Config, Deployment, Tuning};
use longhall_stress::report::{PhaseReport, Report};
use longhall_stress::{RunArgs, run_workload};
use tokio::sync::oneshot;

const ADMIN: &str = "admin@example.org";
const PASSWORD: &str = "correct-horse-battery";

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    run: RunArgs,
}

fn args(extra: &[&str]) -> RunArgs {
    let mut argv = vec!["stress"];
    argv.extend_from_slice(extra);
    Cli::parse_from(argv).run
}

struct Server {
    _dir: tempfile::TempDir,
    addr: std::net::SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn longhall() -> Server {
    let dir = tempfile::tempdir().expect("temporary directory");
    let config = Config { data_dir: dir.path().to_owned(), admin_login: ADMIN.into(), ..Config::default() };
    let deployment = Deployment::open(&config, Tuning::default()).await.expect("the deployment opens");
    deployment.first_start(Some(PASSWORD.into())).await.expect("first start");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(deployment.serve(listener, async move {
        let _ = stopped.await;
    }));
    Server { _dir: dir, addr, stop: Some(stop), task }
}

impl Server {
    async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), &mut self.task).await;
    }
}

fn phase<'a>(r: &'a Report, name: &str) -> &'a PhaseReport {
    r.phases.iter().find(|p| p.name == name).unwrap_or_else(|| panic!("no phase {name} in {}", r.text()))
}

/// The figures of a run add up, and delivery was exactly once.
fn check_consistent(r: &Report, users: u64) {
    let text = r.text();
    let connect = phase(r, "connect").connect.as_ref().unwrap();
    assert_eq!((connect.opened, connect.ready, connect.failed), (users, users, 0), "{text}");
    assert_eq!(connect.handshake_latency.as_ref().unwrap().count, users, "{text}");
    let join = phase(r, "join");
    assert!(join.completed, "{text}");
    let j = join.join.as_ref().unwrap();
    assert_eq!(j.joins_answered, j.joins_sent, "{text}");
    assert_eq!(j.rooms_joined, r.model.joins as u64, "every planned join succeeded: {text}");
    assert_eq!(j.join_latency.as_ref().unwrap().count, j.joins_sent, "{text}");

    let post = phase(r, "post");
    assert!(post.completed, "the posting phase drained: {text}");
    let p = post.post.as_ref().unwrap();
    assert!(p.posts_offered > 100, "{text}");
    let post_errors: u64 =
        post.errors.iter().filter(|(k, _)| k.starts_with("post:") || k.starts_with("generator:")).map(|(_, v)| v).sum();
    assert_eq!(p.posts_acked, p.posts_offered - post_errors, "acked = offered − errors: {text}");
    assert_eq!(p.posts_failed, post_errors, "{text}");
    assert_eq!(post_errors, 0, "no post failed: {text}");
    assert_eq!(p.deliveries, p.deliveries_expected, "deliveries = Σ joined connections of each post's room: {text}");
    assert_eq!(p.delivery_latency.as_ref().unwrap().count, p.deliveries, "one latency per delivery: {text}");
    assert_eq!(p.ack_latency.as_ref().unwrap().count, p.posts_acked, "one ack latency per post: {text}");
    assert_eq!(p.foreign_messages, 0, "{text}");

    let v = r.verification.as_ref().expect("verification was asked for");
    assert!(v.ok, "{text}");
    assert_eq!(v.posts_acked, p.posts_acked, "{text}");
    assert_eq!(v.delivered_once, p.deliveries, "every delivery counted once per (message, recipient): {text}");
    assert_eq!(v.expected_deliveries, p.deliveries_expected, "{text}");

    let d = phase(r, "disconnect");
    assert!(d.completed, "{text}");
    assert_eq!(d.disconnect.as_ref().unwrap().closed, users, "{text}");
    for p in &r.phases {
        assert!(p.closes.is_empty(), "no connection was closed by the server: {text}");
        assert!(p.generator.is_some(), "the generator's own CPU and memory are reported: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn longhall_delivers_every_post_once_and_the_report_adds_up() {
    let server = longhall().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let url = format!("http://{}", server.addr);
    let common = [
        "--server",
        url.as_str(),
        "--admin-login",
        ADMIN,
        "--admin-password",
        PASSWORD,
        "--users",
        "300",
        "--seed",
        "3",
        "--sources",
        "2",
        "--verify",
        "--setup-concurrency",
        "16",
        "--phase-timeout",
        "60",
        "--state",
        state.to_str().unwrap(),
    ];
    // First run: provisions the model and keeps it.
    let mut a = common.to_vec();
    a.extend(["--rate", "150", "--duration", "2", "--scroll-ops", "200", "--search-share", "20", "--keep"]);
    let first = run_workload(&args(&a)).await.expect("the first run");
    check_consistent(&first, 300);
    assert_eq!(first.setup.as_ref().unwrap().how, "provisioned");
    assert!(first.cleanup.is_none() && state.exists(), "--keep keeps the objects and the state file");
    assert_eq!(first.source_addresses, ["127.0.0.2", "127.0.0.3"]);
    let model = &first.model;
    assert_eq!(model.users, 300);
    assert_eq!(model.joins, 300 * 15, "each user joins 12 + 2 + 1 rooms");
    let scroll = phase(&first, "scroll");
    let s = scroll.scroll.as_ref().unwrap();
    assert!(scroll.completed, "{}", first.text());
    assert_eq!(s.history_answered, s.history_sent, "{}", first.text());
    assert_eq!(s.history_latency.as_ref().unwrap().count, s.history_sent, "{}", first.text());
    assert!(s.searches > 0 && s.search_failures == 0, "{}", first.text());
    assert_eq!(s.history_sent + s.searches, 200, "{}", first.text());

    // Second run: reuses the state, then removes everything it names.
    let mut a = common.to_vec();
    a.extend(["--rate", "200", "--duration", "1", "--scroll-ops", "0"]);
    let second = run_workload(&args(&a)).await.expect("the second run");
    check_consistent(&second, 300);
    assert_eq!(second.setup.as_ref().unwrap().how, "reused");
    let c = second.cleanup.as_ref().expect("cleanup ran");
    assert!(c.failures.is_empty(), "{c:?}");
    assert_eq!(c.rooms_deleted as usize, model.rooms);
    assert!(c.category_deleted);
    assert_eq!((c.tokens_revoked, c.users_disabled), (300, 300));
    assert!(!state.exists(), "a clean cleanup removes the state file");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_baseline_broadcaster_is_driven_by_the_same_workload() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(longhall_stress::baseline::serve(listener, async move {
        let _ = stopped.await;
    }));
    let url = format!("http://{addr}");
    let a = [
        "--server",
        url.as_str(),
        "--baseline",
        "--users",
        "300",
        "--seed",
        "3",
        "--sources",
        "2",
        "--verify",
        "--rate",
        "200",
        "--duration",
        "2",
        "--phase-timeout",
        "60",
    ];
    let report = run_workload(&args(&a)).await.expect("the baseline run");
    check_consistent(&report, 300);
    assert!(report.baseline);
    assert_eq!(report.setup.as_ref().unwrap().how, "synthetic");
    assert!(report.phases.iter().all(|p| p.name != "scroll"), "the baseline has no history or search");
    let _ = stop.send(());
    let _ = task.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_auditorium_and_join_storm_scenarios_run() {
    let server = longhall().await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://{}", server.addr);
    for (scenario, rate) in [("auditorium", "20"), ("join-storm", "0")] {
        let state = dir.path().join(format!("{scenario}.json"));
        let a = [
            "--server",
            url.as_str(),
            "--admin-login",
            ADMIN,
            "--admin-password",
            PASSWORD,
            "--scenario",
            scenario,
            "--users",
            "200",
            "--rate",
            rate,
            "--duration",
            "1",
            "--scroll-ops",
            "0",
            "--verify",
            "--state",
            state.to_str().unwrap(),
        ];
        let r = run_workload(&args(&a)).await.unwrap_or_else(|e| panic!("{scenario}: {e:#}"));
        let text = r.text();
        assert_eq!(r.model.rooms, 1, "{text}");
        let j = phase(&r, "join").join.clone().unwrap();
        assert_eq!((j.joins_answered, j.rooms_joined), (200, 200), "{text}");
        if scenario == "join-storm" {
            assert_eq!(j.backchat_messages, 200 * 30, "every joiner got the room's backchat: {text}");
            assert_eq!(j.joins_without_backchat, 0, "{text}");
            assert!(r.phases.iter().all(|p| p.name != "post"), "{text}");
        } else {
            let p = phase(&r, "post").post.clone().unwrap();
            assert_eq!(p.deliveries, p.posts_acked * 200, "every reader got every post: {text}");
            assert!(r.verification.as_ref().unwrap().ok, "{text}");
        }
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_p10_scenario_climbs_a_rate_ladder_and_delivers_every_post_once_in_order() {
    let server = longhall().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("p10.json");
    let url = format!("http://{}", server.addr);
    let common = [
        "--server",
        url.as_str(),
        "--admin-login",
        ADMIN,
        "--admin-password",
        PASSWORD,
        "--scenario",
        "p10",
        "--users",
        "300",
        "--sources",
        "2",
        "--scroll-ops",
        "0",
        "--verify",
        "--phase-timeout",
        "60",
        "--state",
        state.to_str().unwrap(),
        "--ladder",
        "--rate",
        "40",
        "--duration",
        "1",
        "--ladder-factor",
        "2",
    ];
    // A limit no step can fail on this scale: three steps, each at twice the last rate.
    let mut a = common.to_vec();
    a.extend(["--ladder-steps", "3", "--ladder-p99-ms", "600000", "--keep"]);
    let r = run_workload(&args(&a)).await.expect("the ladder run");
    let text = r.text();
    // Rooms of 30, 143 and 500 at most --users: 3 × 10 of 30, 3 of 100, 1 of 300.
    let classes: Vec<(usize, usize)> = r.model.classes.iter().map(|c| (c.rooms, c.largest)).collect();
    assert_eq!(classes, [(30, 30), (3, 100), (1, 300)], "{text}");
    assert_eq!(r.model.joins, 300 * 5, "each user joins its 3 + 1 + 1 rooms: {text}");
    let ladder = r.ladder.as_ref().expect("a ladder report");
    let rates: Vec<f64> = ladder.steps.iter().map(|s| s.rate).collect();
    assert_eq!(rates, [40.0, 80.0, 160.0], "{text}");
    assert!(ladder.steps.iter().all(|s| s.held), "{text}");
    assert_eq!((ladder.highest_rate, ladder.lowest_failed_rate), (Some(160.0), None), "{text}");
    let posts: Vec<&PhaseReport> = r.phases.iter().filter(|p| p.name == "post").collect();
    assert_eq!(posts.len(), 3, "one posting phase per step: {text}");
    for (p, step) in posts.iter().zip(&ladder.steps) {
        let x = p.post.as_ref().unwrap();
        assert!(p.completed && p.closes.is_empty(), "{text}");
        assert_eq!(x.posts_offered, step.rate as u64, "a step of 1 s offers its rate's posts: {text}");
        assert_eq!((x.posts_acked, x.posts_failed), (x.posts_offered, 0), "{text}");
        assert_eq!(x.deliveries, x.deliveries_expected, "{text}");
        assert!(x.generator_cpu_us_per_delivery.is_some(), "{text}");
    }
    let v = r.verification.as_ref().unwrap();
    assert_eq!(v.posts_acked, 40 + 80 + 160, "{text}");
    assert!(v.ok && v.out_of_order == 0 && v.missing == 0 && v.duplicates == 0, "{text}");
    assert_eq!(v.delivered_once, posts.iter().map(|p| p.post.as_ref().unwrap().deliveries).sum::<u64>(), "{text}");

    // A limit no delivery can meet (1 µs): the first step fails and the ladder stops there.
    let mut a = common.to_vec();
    a.extend(["--ladder-steps", "5", "--ladder-p99-ms", "0.001"]);
    let r = run_workload(&args(&a)).await.expect("the failing ladder run");
    let text = r.text();
    assert_eq!(r.setup.as_ref().unwrap().how, "reused", "{text}");
    let ladder = r.ladder.as_ref().unwrap();
    assert_eq!(ladder.steps.len(), 1, "{text}");
    assert!(!ladder.steps[0].held, "{text}");
    assert_eq!((ladder.highest_rate, ladder.lowest_failed_rate), (None, Some(40.0)), "{text}");
    assert!(r.verification.as_ref().unwrap().ok, "nothing was lost though the step failed: {text}");
    server.stop().await;
}
