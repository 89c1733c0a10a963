//! `longhall`: the one binary. `serve` runs a server; `config print-default` prints the
//! commented default configuration; `compliance …` administers compliance processing;
//! `backup` and `restore` save and restore a deployment; `status` shows a running server's;
//! `login`/`logout` and the administration nouns talk to a running server (cli.rs has what
//! they share, exit codes included).

mod addins;
mod audit;
mod backup;
mod categories;
mod chat_config;
mod cli;
mod compliance;
mod export;
mod groups;
mod messages;
mod policies;
mod pool;
mod rooms;
mod status;
mod tokens;
mod usage;
mod users;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use longhall::config::{self, Config, Overrides};
use longhall::{Deployment, Tuning};

#[derive(Parser)]
#[command(
    name = "longhall",
    version,
    about = "Longhall persistent chat server",
    after_help = "Administration commands find the server and token in --url/--token, then LONGHALL_URL/\
LONGHALL_TOKEN, then the file `longhall login` writes. Exit status: 0 done; 1 failed; 2 usage error; \
3 refused by the server (code: message on stderr); 4 server unreachable; 5 a test-message step failed. \
See docs/cli.md."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (zero configuration needed).
    Serve {
        /// Configuration file (TOML).
        #[arg(long, env = "LONGHALL_CONFIG")]
        config: Option<PathBuf>,
        /// Directory of the stores (overrides the file and the environment).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Address:port to listen on (overrides the file and the environment).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Configuration helpers.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Compliance processing of a running server: configuration, runs, stylesheet tests.
    #[command(after_help = "Example:\n  longhall compliance get")]
    Compliance {
        #[command(flatten)]
        client: cli::ClientArgs,
        #[command(subcommand)]
        command: compliance::ComplianceCommand,
    },
    /// Sign in to a server and save the token in the credentials file.
    Login(cli::LoginArgs),
    /// Revoke the saved token and remove the credentials file.
    Logout(cli::LogoutArgs),
    /// Users: list, get, new, set (display name, email, site, disabled, admin, password, policy), remove, effective.
    #[command(after_help = "Example:\n  longhall users list --filter smith")]
    Users {
        #[command(flatten)]
        client: cli::ClientArgs,
        #[command(subcommand)]
        command: users::UsersCommand,
    },
    /// Groups: list, get, new, set (rename; members with --add/--remove/--replace), remove.
    #[command(after_help = "Example:\n  longhall groups get legal")]
    Groups {
        #[command(flatten)]
        client: cli::ClientArgs,
        #[command(subcommand)]
        command: groups::GroupsCommand,
    },
    /// Categories: list, get, new, set (switches; allowed, denied and creators lists), remove.
    #[command(after_help = "Example:\n  longhall categories list")]
    Categories {
        #[command(flatten)]
        client: cli::ClientArgs,
        #[command(subcommand)]
        command: categories::CategoriesCommand,
    },
    /// Rooms: list (directory filters), get, new, set (lists, category move), remove, clear, disable, enable.
    #[command(after_help = "Example:\n  longhall rooms list --category Legal")]
    Rooms {
        #[command(flatten)]
        client: cli::ClientArgs,
        #[command(subcommand)]
        command: rooms::RoomsCommand,
    },
    /// Administrators' content actions: replace or delete the messages a selection chooses.
    #[command(
        after_help = "Example:\n  longhall messages remove 42 --author bob@example.org --keywords merger --what-if"
    )]
    Messages {
        #[command(flatten)]
        client: cli::ClientArgs,
        #[command(subcommand)]
        command: messages::MessagesCommand,
    },
    /// The synthetic transaction (Test-CsPersistentChatMessage): two test users sign in, join a
    /// room, send a message each way and leave; prints each step's latency. Exit 0 success,
    /// 5 a step failed, 4 the server is unreachable.
    #[command(after_help = "Examples:\n  longhall test-message\n  longhall test-message --sender probe-a@example.org \
--receiver probe-b@example.org --room 'Monitoring' --timeout 5\n\nNeeds an administrator's token (to create the \
users, the room and a short-lived token for each user).")]
    TestMessage {
        #[command(flatten)]
        client: cli::ClientArgs,
        #[command(flatten)]
        args: messages::TestMessageArgs,
    },
    /// The usage report (ChatUsageReport): totals, most and least active rooms and users,
    /// inactive rooms, posts per day, week and month; as text, JSON or an HTML page.
    #[command(after_help = "Examples:\n  longhall usage --since 2026-01-01 --until 2026-03-31 --top 20\n  \
longhall usage --since 2026-01-01 --format html -o usage.html")]
    Usage {
        #[command(flatten)]
        client: cli::ClientArgs,
        #[command(flatten)]
        args: usage::UsageArgs,
    },
    /// Persistent chat policies at global, site and user (tag) scope: list, set, remove, grant.
    #[command(after_help = "Example:\n  longhall policies list")]
    Policies {
        #[command(flatten)]
        client: cli::ClientArgs,
        #[command(subcommand)]
        command: policies::PoliciesCommand,
    },
    /// The pool of servers on PostgreSQL: show, state (failover, failback), active server list.
    #[command(after_help = "Example:\n  longhall pool show")]
    Pool {
        #[command(flatten)]
        client: cli::ClientArgs,
        #[command(subcommand)]
        command: pool::PoolCommand,
    },
    /// The chat configuration at global and site scope: list, set, remove.
    #[command(after_help = "Example:\n  longhall chat-config list")]
    ChatConfig {
        #[command(flatten)]
        client: cli::ClientArgs,
        #[command(subcommand)]
        command: chat_config::ChatConfigCommand,
    },
    /// Add-ins: list, new, set, remove.
    #[command(after_help = "Example:\n  longhall addins list")]
    Addins {
        #[command(flatten)]
        client: cli::ClientArgs,
        #[command(subcommand)]
        command: addins::AddinsCommand,
    },
    /// Tokens: list, new (API tokens for bots), revoke.
    #[command(after_help = "Example:\n  longhall tokens list")]
    Tokens {
        #[command(flatten)]
        client: cli::ClientArgs,
        #[command(subcommand)]
        command: tokens::TokensCommand,
    },
    /// The audit log: who changed what, when and from where (filters: actor, object, time).
    Audit(audit::AuditArgs),
    /// Save a backup of a running server (stores and files) into FILE, verified.
    Backup(backup::BackupArgs),
    /// A running server's status: version, uptime, connections, readiness checks, store
    /// sizes, compliance backlog (exit 0 healthy, 1 unhealthy, 3 refused, 4 unreachable).
    Status(status::StatusArgs),
    /// Restore a backup into a new data directory (offline; checks everything before writing).
    Restore(backup::RestoreArgs),
    /// Export users, categories, rooms and content of a stopped deployment into a portable file
    /// (offline; docs/operations.md).
    Export(export::ExportArgs),
    /// Import a file `longhall export` wrote into a stopped deployment (offline; checks the
    /// whole file first; --dry-run lists the conflicts).
    Import(export::ImportArgs),
    /// Load-test a server with the seeded capacity model, or run the baseline broadcaster
    /// (loopback or the host named with --server only; bounded counts and duration).
    Stress(longhall_stress::StressArgs),
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the commented default configuration file.
    PrintDefault,
}

fn main() -> anyhow::Result<()> {
    // The sandboxed XSLT worker the compliance adapters start (hidden; not for people).
    if std::env::args().nth(1).as_deref() == Some("xslt-worker") {
        std::process::exit(longhall_compliance::xslt::run_worker());
    }
    let cli = Cli::parse();
    match cli.command {
        Command::Config { command: ConfigCommand::PrintDefault } => {
            print!("{}", config::DEFAULT_FILE);
            Ok(())
        }
        Command::Serve { config, data_dir, listen } => {
            let config = Config::load(config.as_deref(), Overrides { data_dir, listen })?;
            init_logging(&config);
            tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(serve(config))
        }
        Command::Compliance { client, command } => cli::finish("compliance", compliance::run(client, command)),
        Command::Login(args) => cli::finish("login", cli::login(args)),
        Command::Logout(args) => cli::finish("logout", cli::logout(args)),
        Command::Users { client, command } => cli::finish("users", users::run(client, command)),
        Command::Categories { client, command } => cli::finish("categories", categories::run(client, command)),
        Command::Rooms { client, command } => cli::finish("rooms", rooms::run(client, command)),
        Command::Messages { client, command } => cli::finish("messages", messages::run(client, command)),
        Command::Usage { client, args } => cli::finish("usage", usage::run(client, args)),
        Command::TestMessage { client, args } => messages::test_message(client, args),
        Command::Policies { client, command } => cli::finish("policies", policies::run(client, command)),
        Command::Pool { client, command } => cli::finish("pool", pool::run(client, command)),
        Command::ChatConfig { client, command } => cli::finish("chat-config", chat_config::run(client, command)),
        Command::Groups { client, command } => cli::finish("groups", groups::run(client, command)),
        Command::Addins { client, command } => cli::finish("addins", addins::run(client, command)),
        Command::Tokens { client, command } => cli::finish("tokens", tokens::run(client, command)),
        Command::Audit(args) => cli::finish("audit", audit::run(args)),
        Command::Backup(args) => cli::finish("backup", backup::backup(args)),
        Command::Restore(args) => backup::restore(args),
        Command::Export(args) => cli::finish("export", export::run_export(args)),
        Command::Import(args) => cli::finish("import", export::run_import(args)),
        Command::Status(args) => std::process::exit(status::run(args)),
        Command::Stress(args) => longhall_stress::run(args),
    }
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if config.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let deployment = Deployment::open(&config, Tuning::for_this_process()).await?;
    let password = std::env::var("LONGHALL_ADMIN_PASSWORD").ok().filter(|p| !p.is_empty());
    if let Some(first) = deployment.first_start(password).await? {
        println!("Longhall: new deployment in {}.", config.data_dir.display());
        println!("Longhall: the global policy now enables persistent chat for every user.");
        match first.generated_password {
            Some(p) => println!(
                "Longhall: administrator {} has the one-time password {p}\nLonghall: it is shown only now; sign in and change it.",
                first.admin_login
            ),
            None => println!(
                "Longhall: administrator {} uses the password from LONGHALL_ADMIN_PASSWORD.",
                first.admin_login
            ),
        }
    }
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let addr = listener.local_addr()?;
    println!("Longhall: serving http://{addr}/ (API under /api/v1, WebSocket at /api/v1/ws)");
    tracing::info!(%addr, "serving");
    deployment.serve(listener, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("stop requested; closing connections");
}

#[cfg(test)]
mod tests {
    /// The administration commands: every one has an example in its help, and none of their
    /// own arguments takes a global option's name (clap would merge the two: an add-in's `url`
    /// would become the server's address).
    #[test]
    fn every_administration_command_has_an_example_and_no_argument_shadows_a_global_option() {
        use clap::CommandFactory;
        fn walk(cmd: &clap::Command, path: String, problems: &mut Vec<String>) {
            let help = cmd.get_after_help().map(|h| h.to_string()).unwrap_or_default();
            if !help.contains("Example") {
                problems.push(format!("{path}: no example in --help"));
            }
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if !arg.is_global_set() && ["url", "token", "json"].contains(&id) && cmd.get_name() != "login" {
                    problems.push(format!("{path}: its own argument `{id}` shadows the global option"));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, format!("{path} {}", sub.get_name()), problems);
            }
        }
        let cli = super::Cli::command();
        let mut problems = Vec::new();
        // Every command an operator runs, new ones included; `serve`, `config` and `stress` have
        // their own documentation (configuration.md, stress.md).
        for cmd in cli.get_subcommands() {
            let name = cmd.get_name();
            if ["serve", "config", "stress", "help"].contains(&name) {
                continue;
            }
            walk(cmd, format!("longhall {name}"), &mut problems);
        }
        for name in ["users", "rooms", "messages", "test-message", "usage", "audit", "export", "import", "restore"] {
            assert!(cli.find_subcommand(name).is_some(), "no `longhall {name}`");
        }
        assert!(problems.is_empty(), "{problems:#?}");
    }
}
