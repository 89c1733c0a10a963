//! `longhall status`: a running server's status page (`GET /api/v1/admin/status`) as a table,
//! or as JSON with `--json`; for a server of a pool, the pool too (`longhall pool show`). The exit code tells scripts and monitoring what it found.

use std::time::Duration;

use longhall_client::ClientError;
use longhall_client::api::ServerStatus;

use crate::cli::{ClientArgs, FAILED, OK, exit_code};
use crate::compliance::{interval_text, run_line, utc_text};

/// The server answered and everything is well.
pub const HEALTHY: i32 = OK;
/// The server answered, but a readiness check failed, the latest compliance run failed, or
/// the status itself could not be read from its store (503).
pub const UNHEALTHY: i32 = FAILED;

#[derive(clap::Args)]
#[command(after_help = "Exit status: 0 healthy; 1 the server answered but something is unhealthy \
(a readiness check or the latest compliance run failed); 2 no token given; 3 the server refused \
(a wrong token, not an administrator); 4 the server could not be reached.\n\nExample:\n  \
LONGHALL_TOKEN=lh_… longhall status --url http://127.0.0.1:8080")]
pub struct StatusArgs {
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Prints the status and returns the exit code.
pub fn run(args: StatusArgs) -> i32 {
    // A status that takes longer than this is itself a finding.
    let fetched = crate::cli::block_on(async {
        let client = args.client.client(Some(Duration::from_secs(30)))?;
        client.status().await.map_err(|e| match e {
            // The status could not be read from the store: unhealthy, not refused.
            ClientError::Api { status: 503, code_text, message, .. } => anyhow::anyhow!("{code_text}: {message}"),
            e => crate::cli::explain(e),
        })
    });
    match fetched {
        Ok(status) => {
            if args.client.json {
                match serde_json::to_string_pretty(&status) {
                    Ok(text) => println!("{text}"),
                    Err(e) => eprintln!("longhall status: {e}"),
                }
            } else {
                print!("{}", table(&status));
            }
            if healthy(&status) { HEALTHY } else { UNHEALTHY }
        }
        Err(e) => {
            eprintln!("longhall status: {e:#}");
            exit_code(&e)
        }
    }
}

fn healthy(s: &ServerStatus) -> bool {
    s.ready && s.compliance.last_run.as_ref().is_none_or(|r| r.error.is_none())
}

fn bytes_text(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

fn table(s: &ServerStatus) -> String {
    let mut out = String::new();
    let mut row = |k: &str, v: String| out.push_str(&format!("{k:<22}{v}\n"));
    row("version", s.version.clone());
    row("uptime", format!("{} (since {})", interval_text(s.uptime_secs), utc_text(s.started)));
    row("ready", if s.ready { "yes".into() } else { "NO".into() });
    for c in &s.checks {
        let required = if c.required { "" } else { " (optional)" };
        row(&format!("  {}", c.name), format!("{}{required}: {}", c.state, c.detail));
    }
    let cap = s.max_connections.map_or_else(|| "no limit known".into(), |n| n.to_string());
    row("connections", format!("{} (at most {cap})", s.connections));
    row("participants", format!("{} in {} room(s)", s.participants, s.active_rooms));
    for p in &s.store_sizes {
        row(&format!("size {}", p.name), bytes_text(p.bytes));
    }
    let c = &s.compliance;
    row("compliance", format!("{}, {} event(s) waiting", if c.enabled { "on" } else { "off" }, c.waiting_events));
    match &c.last_run {
        Some(r) => row("last compliance run", run_line(r)),
        None => row("last compliance run", "none".into()),
    }
    match &s.pool {
        Some(p) => {
            out.push_str(&format!("{:<22}this server is {}\n", "pool", p.this_server));
            out.push_str(&crate::pool::pool_text(p));
        }
        None => out.push_str(&format!("{:<22}{}\n", "pool", "none (one server on SQLite)")),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::bytes_text;

    #[test]
    fn sizes_read_in_binary_units() {
        assert_eq!(bytes_text(512), "512 B");
        assert_eq!(bytes_text(1536), "1.5 KiB");
        assert_eq!(bytes_text(5 * 1024 * 1024), "5.0 MiB");
    }
}
