//! `longhall audit`: the audit log of administrative changes (`/api/v1/admin/audit`).

use clap::Args;
use longhall_client::api::AuditRecordView;
use longhall_client::audit::AuditQuery;

use crate::cli::{CALL_TIMEOUT, ClientArgs, block_on, explain, print_json, table};
use crate::compliance::utc_text;

#[derive(Args)]
#[command(after_help = "Examples:\n  longhall audit --actor admin@example.org --since 2026-01-01\n  \
longhall audit --object room:12 --json")]
pub struct AuditArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Changes made by this login.
    #[arg(long)]
    actor: Option<String>,
    /// Changes to this object: a login, a name, a scope (site:emea), or NOUN:ID (room:12).
    #[arg(long)]
    object: Option<String>,
    /// From this time on: YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS] (UTC) or milliseconds since 1970.
    #[arg(long, value_parser = parse_since)]
    since: Option<i64>,
    /// Up to this time, inclusive (a date alone means the end of that day, UTC).
    #[arg(long, value_parser = parse_until)]
    until: Option<i64>,
    /// How many (1–500).
    #[arg(long, default_value_t = 100)]
    limit: u32,
    /// Continue after this record id (the `next` a previous page printed).
    #[arg(long)]
    after: Option<i64>,
}

pub fn run(args: AuditArgs) -> anyhow::Result<()> {
    block_on(async {
        let c = args.client.client(Some(CALL_TIMEOUT))?;
        let q = AuditQuery {
            actor: args.actor,
            object: args.object,
            since: args.since,
            until: args.until,
            after: args.after,
            limit: Some(args.limit),
        };
        let page = c.audit(&q).await.map_err(explain)?;
        if args.client.json {
            return print_json(&page);
        }
        let rows: Vec<Vec<String>> = page.items.iter().map(row).collect();
        print!("{}", table(&["ID", "TIME", "ACTOR", "SOURCE", "OPERATION", "OBJECT", "CHANGED"], &rows));
        if let Some(next) = page.next {
            eprintln!("More records: add --after {next}.");
        }
        Ok(())
    })
}

fn row(r: &AuditRecordView) -> Vec<String> {
    vec![
        r.id.to_string(),
        utc_text(r.ts),
        r.actor.clone(),
        r.source.clone().unwrap_or_else(|| "-".into()),
        r.operation.clone(),
        format!("{} {}", r.noun, r.object),
        changed(r),
    ]
}

/// The fields that differ between before and after (or the note).
fn changed(r: &AuditRecordView) -> String {
    let mut out: Vec<String> = match (&r.before, &r.after) {
        (Some(serde_json::Value::Object(b)), Some(serde_json::Value::Object(a))) => {
            a.iter().filter(|(k, v)| b.get(*k) != Some(*v)).map(|(k, v)| format!("{k}={}", short(v))).collect()
        }
        _ => Vec::new(),
    };
    if let Some(n) = &r.note {
        out.push(n.clone());
    }
    if out.is_empty() { "-".into() } else { out.join("; ") }
}

fn short(v: &serde_json::Value) -> String {
    let s = match v {
        serde_json::Value::String(s) => s.clone(),
        v => v.to_string(),
    };
    if s.chars().count() > 40 { format!("{}…", s.chars().take(39).collect::<String>()) } else { s }
}

fn parse_since(s: &str) -> Result<i64, String> {
    crate::cli::parse_time(s, crate::cli::DayEnd::Start).map_err(|u| u.0)
}

/// A date alone as `--until` means the end of that day.
fn parse_until(s: &str) -> Result<i64, String> {
    crate::cli::parse_time(s, crate::cli::DayEnd::End).map_err(|u| u.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_alone_starts_its_day_for_since_and_ends_it_for_until() {
        assert_eq!(parse_since("2024-02-29"), Ok(1_709_164_800_000));
        assert_eq!(parse_until("2024-02-29"), Ok(1_709_251_199_999));
        assert!(parse_until("yesterday").is_err());
    }
}
