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
    parse_time(s, false)
}

fn parse_until(s: &str) -> Result<i64, String> {
    parse_time(s, true)
}

/// `YYYY-MM-DD` (with `end_of_day`, its last millisecond), `YYYY-MM-DDTHH:MM[:SS]` (UTC; a
/// trailing `Z` and a space for `T` are accepted) or milliseconds since 1970.
fn parse_time(s: &str, end_of_day: bool) -> Result<i64, String> {
    let s = s.trim();
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    let bad = || format!("\"{s}\" is not a time; write YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS] (UTC) or milliseconds");
    let s = s.trim_end_matches('Z');
    let (date, time) = match s.split_once(['T', ' ']) {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let d: Vec<i64> = date.split('-').map(|p| p.parse::<i64>()).collect::<Result<_, _>>().map_err(|_| bad())?;
    let [y, m, day] = d[..] else { return Err(bad()) };
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return Err(bad());
    }
    let secs = match time {
        Some(t) => {
            let p: Vec<i64> = t.split(':').map(|p| p.parse::<i64>()).collect::<Result<_, _>>().map_err(|_| bad())?;
            let (h, mi, se) = match p[..] {
                [h, mi] => (h, mi, 0),
                [h, mi, se] => (h, mi, se),
                _ => return Err(bad()),
            };
            if !(0..24).contains(&h) || !(0..60).contains(&mi) || !(0..60).contains(&se) {
                return Err(bad());
            }
            h * 3600 + mi * 60 + se
        }
        None => 0,
    };
    let ms = (days_from_civil(y, m, day) * 86_400 + secs) * 1000;
    Ok(if end_of_day && time.is_none() { ms + 86_400_000 - 1 } else { ms })
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_as_utc_and_a_date_alone_ends_its_day_for_until() {
        assert_eq!(parse_time("1970-01-01", false), Ok(0));
        assert_eq!(parse_time("2013-01-01T00:01", false), Ok(1_356_998_460_000));
        assert_eq!(parse_time("2024-02-29", true), Ok(1_709_251_199_999));
        assert_eq!(parse_time("2024-02-29 23:59:59Z", false), Ok(1_709_251_199_000));
        assert_eq!(parse_time("12345", true), Ok(12345));
        assert!(parse_time("yesterday", false).is_err());
        assert!(parse_time("2024-13-01", false).is_err());
    }
}
