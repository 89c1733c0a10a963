//! `longhall stress`: the seeded capacity-model load generator (the original shipped
//! "ChatStress"), and the minimal broadcaster it measures Longhall against.
//!
//! A run provisions the model through the admin API (or reuses a state file), then measures
//! and reports each phase: connect + authenticate, join, steady posting, scroll-back + search,
//! disconnect. It targets loopback, or the one host named with `--server`; every count and
//! every duration is bounded.
//!
//! The connections live in this process, or, with `--workers N`, in N worker processes of the
//! same executable (to go past one process's open-file limit); either way the phases are the
//! same and so is the report.
//!
//! Layout: `model` (the workload, pure), `setup` (admin API, state file, cleanup), `client`
//! (connections and what they measure), `stats` (histograms, counters), `node` (one process's
//! share of the connections and the phases run on them), `workers` (the worker processes and
//! their protocol), `parts` (adding up the nodes' figures), `run` (driving the phases),
//! `report` (text and JSON), `baseline` (the minimal broadcaster), `procstat` (/proc).

pub mod baseline;
pub mod client;
pub mod model;
pub mod node;
pub mod parts;
pub mod procstat;
pub mod progress;
pub mod report;
pub mod run;
pub mod setup;
pub mod stats;
pub mod workers;

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};

pub use model::Scenario;
pub use report::Report;

/// Longest posting phase.
pub const MAX_DURATION_S: f64 = 600.0;
/// Most simulated users.
pub const MAX_USERS: u32 = 200_000;
/// Highest posting rate.
pub const MAX_RATE: f64 = 200_000.0;
/// Most worker processes.
pub const MAX_WORKERS: u32 = 64;
/// Most steps of a rate ladder.
pub const MAX_LADDER_STEPS: u32 = 40;

/// `longhall stress …`
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct StressArgs {
    #[command(subcommand)]
    pub command: Option<StressCommand>,
    /// Boxed: the options are many, and the binary's command enum stays small.
    #[command(flatten)]
    pub run: Box<RunArgs>,
}

#[derive(Debug, clap::Subcommand)]
pub enum StressCommand {
    /// Run the minimal broadcaster that Longhall's delivery is compared with.
    BaselineServer(baseline::BaselineArgs),
    /// Remove what an earlier run kept (`--keep`), as recorded in its state file.
    Cleanup(CleanupArgs),
    /// One worker process of `--workers`, driven over stdin and stdout (not for people).
    #[command(hide = true)]
    Worker,
}

/// Where the load goes and who administers it.
#[derive(Debug, Clone, clap::Args)]
pub struct TargetArgs {
    /// The server's base URL (`--url` as in the administration commands). Only loopback
    /// addresses are used unless a host is named here.
    #[arg(
        long,
        visible_alias = "url",
        env = "LONGHALL_URL",
        default_value = "http://127.0.0.1:8080",
        value_name = "URL"
    )]
    pub server: String,
    /// An administrator's token (session or API token).
    #[arg(long, env = "LONGHALL_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Sign in once as this administrator instead of giving --token.
    #[arg(long)]
    pub admin_login: Option<String>,
    #[arg(long, env = "LONGHALL_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
}

#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// The workload.
    #[arg(long, value_enum, default_value = "mix")]
    pub scenario: Scenario,
    /// Simulated users, one connection each.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=MAX_USERS as i64))]
    pub users: u32,
    /// Seed of the model and of the post and scroll choices.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Largest size of a large room.
    #[arg(long, default_value_t = 16_000)]
    pub large_size: u32,
    /// Posts per second offered in the posting phase.
    #[arg(long, default_value_t = 100.0)]
    pub rate: f64,
    /// Seconds of steady posting (at most 600; 0 skips the phase); with --ladder, of each step.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Find the highest rate that holds: repeat the posting phase from --rate up, each step
    /// --ladder-factor times the last, until a step loses a post or a delivery or its delivery
    /// p99 passes --ladder-p99-ms; then narrow the gap. At most --ladder-steps steps.
    #[arg(long)]
    pub ladder: bool,
    /// Rate of each ladder step over the last, while steps hold (1.05 to 4).
    #[arg(long, default_value_t = 1.25)]
    pub ladder_factor: f64,
    /// Delivery p99 (ms) a ladder step must stay within.
    #[arg(long, default_value_t = 100.0)]
    pub ladder_p99_ms: f64,
    /// Most steps of the ladder (1 to 40).
    #[arg(long, default_value_t = 12, value_parser = clap::value_parser!(u32).range(1..=MAX_LADDER_STEPS as i64))]
    pub ladder_steps: u32,
    /// Seconds to wait after posting for the last answers and deliveries.
    #[arg(long, default_value_t = 15.0)]
    pub drain: f64,
    /// History pages and searches in the scroll-back phase (0 skips it).
    #[arg(long, default_value_t = 1000)]
    pub scroll_ops: u32,
    /// Percentage of scroll-back operations that are content searches.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub search_share: u8,
    /// Backchat per room on join (the server's default when not given).
    #[arg(long)]
    pub backchat: Option<u32>,
    /// Source addresses 127.0.0.2… for the client sockets (default: one per 5,000 users,
    /// rounded up to a multiple of --workers; 0: let the system choose).
    #[arg(long)]
    pub sources: Option<u32>,
    /// Processes that hold the connections: above 1, this process sets up and drives the run
    /// and that many worker processes each open the connections of their share of the users
    /// (to go past one process's open-file limit).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=MAX_WORKERS as i64))]
    pub workers: u32,
    /// The executable started for the workers, as `<exe> stress worker` (default: this one).
    #[arg(long, env = "LONGHALL_STRESS_EXE", hide = true)]
    pub worker_exe: Option<PathBuf>,
    /// Where the provisioned users, tokens and rooms are cached between runs.
    #[arg(long, default_value = "stress-state.json")]
    pub state: PathBuf,
    /// Keep what setup created (and the state file) for the next run.
    #[arg(long)]
    pub keep: bool,
    /// Drive the baseline broadcaster: no setup, synthetic tokens and room ids.
    #[arg(long)]
    pub baseline: bool,
    /// The server's process id, to report its CPU time and memory from /proc.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Check that every post reached every joined connection exactly once (keeps every
    /// delivery in memory).
    #[arg(long)]
    pub verify: bool,
    /// Admin requests in flight during setup and cleanup.
    #[arg(long, default_value_t = 32)]
    pub setup_concurrency: usize,
    /// Connection handshakes in flight.
    #[arg(long, default_value_t = 256)]
    pub connect_concurrency: usize,
    /// Hard deadline of each phase, in seconds.
    #[arg(long, default_value_t = 300)]
    pub phase_timeout: u64,
    /// Show the live progress line (default: when stdout is a terminal).
    #[arg(skip)]
    pub progress: bool,
}

#[derive(Debug, Clone, clap::Args)]
pub struct CleanupArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[arg(long, default_value = "stress-state.json")]
    pub state: PathBuf,
}

/// The checked target: base URL, socket address, WebSocket URL.
#[derive(Debug, Clone)]
pub struct ServerTarget {
    pub base: String,
    pub addr: SocketAddr,
    pub ws_url: String,
}

impl ServerTarget {
    /// Accepts `http://host:port`. The host is used as given: loopback, or the host the
    /// operator named with `--server`; nothing else is ever contacted (no proxy, no redirect).
    pub async fn resolve(server: &str) -> anyhow::Result<ServerTarget> {
        let url = reqwest::Url::parse(server).with_context(|| format!("--server {server} is not a URL"))?;
        if url.scheme() != "http" {
            bail!("--server must be an http:// URL (the generator speaks plain WebSocket)");
        }
        let host = url.host_str().context("--server names no host")?.trim_matches(['[', ']']).to_owned();
        let port = url.port_or_known_default().unwrap_or(80);
        let addr = tokio::net::lookup_host((host.as_str(), port))
            .await
            .with_context(|| format!("resolving {host}"))?
            .next()
            .with_context(|| format!("{host} has no address"))?;
        let authority =
            if addr.is_ipv6() { format!("[{}]:{}", addr.ip(), port) } else { format!("{}:{}", addr.ip(), port) };
        Ok(ServerTarget { base: format!("http://{authority}"), addr, ws_url: format!("ws://{authority}/api/v1/ws") })
    }
}

/// Raises this process's open-file limit to at least `want` where allowed (the hard limit
/// too, when privileged); returns the soft limit now in force.
pub fn raise_nofile(want: u64) -> u64 {
    use rlimit::Resource;
    if let Ok((soft, hard)) = Resource::NOFILE.get()
        && soft < want
    {
        let _ = Resource::NOFILE.set(want, hard.max(want));
    }
    let _ = rlimit::increase_nofile_limit(want);
    Resource::NOFILE.get().map(|(s, _)| s).unwrap_or(0)
}

fn check(args: &RunArgs) -> anyhow::Result<()> {
    if !(0.0..=MAX_DURATION_S).contains(&args.duration) {
        bail!("--duration is 0 to {MAX_DURATION_S} seconds");
    }
    if !(0.0..=MAX_RATE).contains(&args.rate) {
        bail!("--rate is 0 to {MAX_RATE} posts per second");
    }
    if !(0.0..=120.0).contains(&args.drain) {
        bail!("--drain is 0 to 120 seconds");
    }
    if args.phase_timeout > 3600 {
        bail!("--phase-timeout is at most 3600 seconds");
    }
    if args.scroll_ops > 1_000_000 {
        bail!("--scroll-ops is at most 1,000,000");
    }
    if args.large_size == 0 {
        bail!("--large-size must be at least 1");
    }
    if !(1.05..=4.0).contains(&args.ladder_factor) {
        bail!("--ladder-factor is 1.05 to 4");
    }
    if !(args.ladder_p99_ms > 0.0 && args.ladder_p99_ms <= 600_000.0) {
        bail!("--ladder-p99-ms is above 0 and at most 600000 (10 minutes)");
    }
    if args.ladder && (args.rate <= 0.0 || args.duration <= 0.0) {
        bail!("--ladder needs a starting --rate and a --duration per step above 0");
    }
    if args.workers > args.users {
        bail!("--workers is at most --users (each worker holds the connections of its share of the users)");
    }
    Ok(())
}

/// Runs the workload (the library entry the tests use).
pub async fn run_workload(args: &RunArgs) -> anyhow::Result<Report> {
    check(args)?;
    let target = ServerTarget::resolve(&args.target.server).await?;
    run::run(args, &target).await
}

/// `longhall stress`: runs the workload, the baseline broadcaster, or a cleanup.
pub fn run(args: StressArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match args.command {
        Some(StressCommand::BaselineServer(b)) => rt.block_on(baseline::run(b)),
        Some(StressCommand::Cleanup(c)) => rt.block_on(cleanup(c)),
        Some(StressCommand::Worker) => {
            drop(rt);
            workers::worker_main()
        }
        None => {
            let mut run = *args.run;
            run.progress = std::io::stdout().is_terminal() && !run.json;
            let report = rt.block_on(run_workload(&run))?;
            if run.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.text());
            }
            Ok(())
        }
    }
}

async fn cleanup(args: CleanupArgs) -> anyhow::Result<()> {
    let target = ServerTarget::resolve(&args.target.server).await?;
    let state = setup::State::load(&args.state)?.with_context(|| format!("no state file {}", args.state.display()))?;
    if state.server != target.base {
        bail!("the state file {} belongs to {}, not {}", args.state.display(), state.server, target.base);
    }
    let api = setup::api(&target.base)?;
    let admin = match (&args.target.token, &args.target.admin_login, &args.target.admin_password) {
        (Some(t), _, _) => t.clone(),
        (None, Some(l), Some(p)) => setup::sign_in(&api, l, p).await?,
        _ => bail!("give --token (or LONGHALL_TOKEN), or --admin-login and --admin-password"),
    };
    let progress = progress::Progress::new(std::io::stdout().is_terminal());
    let c = setup::cleanup(&api, &admin, &state, 32, &progress).await;
    progress.clear();
    println!("{}", serde_json::to_string_pretty(&c)?);
    if c.failures.is_empty() {
        std::fs::remove_file(&args.state)?;
        Ok(())
    } else {
        bail!("cleanup left {} failures; the state file is kept", c.failures.len())
    }
}
