//! `longhall pool …`: the pool of servers on PostgreSQL (`/api/v1/admin/pool`): the servers
//! with their state and load, the active server list, and the pool state (failover and
//! failback). The original's Get/Set-CsPersistentChatState and Set-CsPersistentChatActiveServer.

use clap::Subcommand;
use longhall_client::api::{Pool, PoolChangeResult, PoolState};

use crate::cli::{CALL_TIMEOUT, ClientArgs, block_on, explain, print_json, table};
use crate::compliance::utc_text;

#[derive(Subcommand)]
pub enum PoolCommand {
    /// Show the pool state, the active server list and every server with its state and load.
    #[command(after_help = "Example:\n  longhall pool show")]
    Show,
    /// Switch every server of the pool to the backup database (failed-over) or back to the
    /// primary (normal). The server asked reaches the others with your token.
    #[command(after_help = "Promote the database first (docs/operations.md). Examples:\n  \
longhall pool state failed-over\n  longhall pool state normal")]
    State {
        /// normal or failed-over.
        #[arg(value_parser = parse_state)]
        state: PoolState,
    },
    /// The active server list: only its servers accept new client connections; a server taken
    /// off closes its connections, telling clients to reconnect elsewhere.
    #[command(after_help = "Examples:\n  longhall pool active set chat1 chat2\n  longhall pool active \
remove chat2\n  longhall pool active clear    (no server accepts clients)\n  longhall pool active all      \
(every server does)")]
    Active {
        #[command(subcommand)]
        command: ActiveCommand,
    },
}

#[derive(Subcommand)]
pub enum ActiveCommand {
    /// Make exactly these servers active.
    #[command(after_help = "Example:\n  longhall pool active set chat1 chat2")]
    Set {
        #[arg(required = true)]
        servers: Vec<String>,
    },
    /// Add servers to the list.
    #[command(after_help = "Example:\n  longhall pool active add chat3")]
    Add {
        #[arg(required = true)]
        servers: Vec<String>,
    },
    /// Take servers off the list (they drain).
    #[command(after_help = "Example:\n  longhall pool active remove chat2")]
    Remove {
        #[arg(required = true)]
        servers: Vec<String>,
    },
    /// Empty the list: no server accepts new clients (the first step of a failback).
    #[command(after_help = "Example:\n  longhall pool active clear")]
    Clear,
    /// No list: every server of the pool is active (the default).
    #[command(after_help = "Example:\n  longhall pool active all")]
    All,
}

fn parse_state(s: &str) -> Result<PoolState, String> {
    PoolState::parse(s).ok_or_else(|| format!("{s:?} is not a pool state; write normal or failed-over"))
}

pub fn run(args: ClientArgs, command: PoolCommand) -> anyhow::Result<()> {
    block_on(async {
        let c = args.client(Some(CALL_TIMEOUT))?;
        match command {
            PoolCommand::Show => {
                let pool = c.pool().await.map_err(explain)?;
                if args.json { print_json(&pool)? } else { print!("{}", pool_text(&pool)) }
            }
            PoolCommand::State { state } => {
                let r = c.put_pool_state(state).await.map_err(explain)?;
                if args.json { print_json(&r)? } else { print!("{}", change_text(&r)) }
            }
            PoolCommand::Active { command } => {
                let adding = matches!(command, ActiveCommand::Add { .. });
                let list = match command {
                    ActiveCommand::Set { servers } => Some(servers),
                    ActiveCommand::Clear => Some(Vec::new()),
                    ActiveCommand::All => None,
                    ActiveCommand::Add { servers } | ActiveCommand::Remove { servers } => {
                        let pool = c.pool().await.map_err(explain)?;
                        let current =
                            pool.settings.active.unwrap_or_else(|| pool.servers.iter().map(|s| s.id.clone()).collect());
                        let mut next: Vec<String> = current;
                        if adding {
                            next.extend(servers);
                        } else {
                            next.retain(|id| !servers.contains(id));
                        }
                        Some(next)
                    }
                };
                let r = c.put_active_servers(list).await.map_err(explain)?;
                if args.json { print_json(&r)? } else { print!("{}", change_text(&r)) }
            }
        }
        Ok(())
    })
}

pub fn state_text(s: PoolState) -> &'static str {
    match s {
        PoolState::Normal => "normal (primary database)",
        PoolState::FailedOver => "failed-over (backup database)",
    }
}

fn active_text(active: &Option<Vec<String>>) -> String {
    match active {
        None => "every server".into(),
        Some(l) if l.is_empty() => "none (no server accepts new clients)".into(),
        Some(l) => l.join(", "),
    }
}

/// The pool as text: its state and list, then one row per server.
pub fn pool_text(p: &Pool) -> String {
    let mut out = String::new();
    out.push_str(&format!("{:<22}{}\n", "pool state", state_text(p.settings.state)));
    if p.database != p.settings.state {
        out.push_str(&format!("{:<22}{} (switching)\n", "this server's database", state_text(p.database)));
    }
    out.push_str(&format!("{:<22}{}\n", "active servers", active_text(&p.settings.active)));
    if p.settings.revision > 0 {
        out.push_str(&format!(
            "{:<22}revision {}, {} by {}\n",
            "last change",
            p.settings.revision,
            utc_text(p.settings.changed_at),
            p.settings.changed_by
        ));
    }
    let rows: Vec<Vec<String>> = p
        .servers
        .iter()
        .map(|s| {
            vec![
                if s.id == p.this_server { format!("{} *", s.id) } else { s.id.clone() },
                s.state.clone(),
                if s.active { "yes".into() } else { "no".into() },
                s.connections.map_or_else(|| "-".into(), |n| n.to_string()),
                s.heartbeat.map_or_else(|| "-".into(), utc_text),
                s.url.clone(),
            ]
        })
        .collect();
    out.push_str(&table(&["SERVER", "STATE", "ACTIVE", "CONNECTIONS", "HEARTBEAT", "URL"], &rows));
    out
}

fn change_text(r: &PoolChangeResult) -> String {
    let mut out = format!(
        "Pool revision {}: state {}, active servers: {}.\n",
        r.settings.revision,
        state_text(r.settings.state),
        active_text(&r.settings.active)
    );
    for s in &r.servers {
        match &s.error {
            None => out.push_str(&format!("  {}: taken\n", s.id)),
            Some(e) => out.push_str(&format!(
                "  {}: NOT reached ({e}); it takes the change from the database or its next start\n",
                s.id
            )),
        }
    }
    out
}
