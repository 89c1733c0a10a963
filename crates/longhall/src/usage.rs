//! `longhall usage`: the usage report (`/api/v1/admin/usage`, the original's ChatUsageReport)
//! as text, JSON, or a self-contained HTML page with inline SVG charts (no script, no network).

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use longhall_client::api::{PeriodCount, RoomActivity, UsageQuery, UsageReport, UserActivity};

use crate::cli::{CALL_TIMEOUT, ClientArgs, DayEnd, block_on, explain, format_time, parse_time, table};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Html,
}

#[derive(Args)]
pub struct UsageArgs {
    /// Start of the period (a bare date: from its first moment) [default: the beginning].
    #[arg(long, value_name = "DATE")]
    since: Option<String>,
    /// End of the period, inclusive (a bare date: to its end) [default: now].
    #[arg(long, value_name = "DATE")]
    until: Option<String>,
    /// Length of each most/least active list (1–500).
    #[arg(long, default_value_t = 10)]
    top: u32,
    /// List rooms with no post since this date [default: --since].
    #[arg(long, value_name = "DATE")]
    inactive_since: Option<String>,
    /// text (tables), json (the server's answer) or html (a page with charts).
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Write the report to this file instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

pub fn run(args: ClientArgs, a: UsageArgs) -> anyhow::Result<()> {
    let q = UsageQuery {
        since: a.since.as_deref().map(|t| parse_time(t, DayEnd::Start)).transpose()?,
        until: a.until.as_deref().map(|t| parse_time(t, DayEnd::End)).transpose()?,
        top: Some(a.top),
        inactive_since: a.inactive_since.as_deref().map(|t| parse_time(t, DayEnd::Start)).transpose()?,
    };
    let report = block_on(async {
        let c = args.client(Some(CALL_TIMEOUT))?;
        c.usage_report(&q).await.map_err(explain)
    })?;
    let format = if args.json { Format::Json } else { a.format };
    let out = match format {
        Format::Json => serde_json::to_string_pretty(&report)? + "\n",
        Format::Text => text(&report),
        Format::Html => html(&report),
    };
    match a.output {
        Some(path) => {
            std::fs::write(&path, out).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
            eprintln!("Wrote {}.", path.display());
        }
        None => print!("{out}"),
    }
    Ok(())
}

fn period(r: &UsageReport) -> String {
    let since = r.since.map_or_else(|| "the beginning".to_owned(), |t| format!("{} UTC", format_time(t)));
    format!("{since} to {} UTC", format_time(r.until))
}

fn last_post(t: Option<i64>) -> String {
    t.map_or_else(|| "never".to_owned(), format_time)
}

fn room_rows(rooms: &[RoomActivity]) -> Vec<Vec<String>> {
    rooms
        .iter()
        .map(|r| vec![r.name.clone(), r.category.clone(), r.messages.to_string(), last_post(r.last_post)])
        .collect()
}

fn user_rows(users: &[UserActivity]) -> Vec<Vec<String>> {
    users.iter().map(|u| vec![u.login.clone(), u.display_name.clone(), u.messages.to_string()]).collect()
}

fn count_rows(counts: &[PeriodCount]) -> Vec<Vec<String>> {
    counts.iter().map(|c| vec![c.period.clone(), c.messages.to_string()]).collect()
}

/// The report as plain-text tables.
pub fn text(r: &UsageReport) -> String {
    let t = &r.totals;
    let mut s = format!("Usage from {}\n\n", period(r));
    let _ = writeln!(s, "Messages posted      {}", t.messages);
    let _ =
        writeln!(s, "Rooms                {} ({} enabled, {} with posts)", t.rooms, t.rooms_enabled, t.rooms_active);
    let _ = writeln!(s, "Users                {} ({} posted)", t.users, t.users_active);
    let room_header = ["ROOM", "CATEGORY", "MESSAGES", "LAST POST (UTC)"];
    let inactive = r.inactive_since.map_or_else(|| "ever (no message at all)".to_owned(), format_time);
    let sections: [(String, String); 8] = [
        ("Most active rooms".into(), table(&room_header, &room_rows(&r.most_active_rooms))),
        ("Least active rooms".into(), table(&room_header, &room_rows(&r.least_active_rooms))),
        ("Most active users".into(), table(&["LOGIN", "NAME", "MESSAGES"], &user_rows(&r.most_active_users))),
        ("Least active users".into(), table(&["LOGIN", "NAME", "MESSAGES"], &user_rows(&r.least_active_users))),
        (format!("Rooms inactive since {inactive}"), table(&room_header, &room_rows(&r.inactive_rooms))),
        ("Posts per day".into(), table(&["DAY", "MESSAGES"], &count_rows(&r.per_day))),
        ("Posts per week".into(), table(&["WEEK OF", "MESSAGES"], &count_rows(&r.per_week))),
        ("Posts per month".into(), table(&["MONTH", "MESSAGES"], &count_rows(&r.per_month))),
    ];
    for (title, body) in sections {
        let _ = write!(s, "\n{title}\n{body}");
    }
    s
}

fn esc(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A vertical bar chart of counts over time, as inline SVG.
fn column_chart(counts: &[PeriodCount]) -> String {
    if counts.is_empty() {
        return "<p class=\"none\">No posts in the period.</p>".into();
    }
    let max = counts.iter().map(|c| c.messages).max().unwrap_or(1).max(1) as f64;
    let (h, bar) = (160.0, (600.0 / counts.len() as f64).clamp(3.0, 40.0));
    let width = bar * counts.len() as f64 + 40.0;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" width=\"{width:.0}\" height=\"{:.0}\" viewBox=\"0 0 {width:.0} {:.0}\">",
        h + 40.0,
        h + 40.0
    );
    let _ = write!(svg, "<text x=\"0\" y=\"12\" class=\"axis\">{}</text>", max as u64);
    for (i, c) in counts.iter().enumerate() {
        let bh = (c.messages as f64 / max * h).max(1.0);
        let x = 30.0 + i as f64 * bar;
        let _ = write!(
            svg,
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\"><title>{}: {}</title></rect>",
            20.0 + h - bh,
            (bar - 1.0).max(1.0),
            esc(&c.period),
            c.messages
        );
    }
    let first = &counts[0].period;
    let last = &counts[counts.len() - 1].period;
    let _ = write!(
        svg,
        "<text x=\"30\" y=\"{:.0}\" class=\"axis\">{}</text><text x=\"{:.0}\" y=\"{:.0}\" class=\"axis\" text-anchor=\"end\">{}</text></svg>",
        h + 36.0,
        esc(first),
        width,
        h + 36.0,
        esc(last)
    );
    svg
}

/// Horizontal bars, one per named count, as inline SVG.
fn bar_chart(items: &[(String, u64)]) -> String {
    if items.is_empty() {
        return "<p class=\"none\">None.</p>".into();
    }
    let max = items.iter().map(|i| i.1).max().unwrap_or(1).max(1) as f64;
    let height = 22 * items.len() + 4;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" width=\"640\" height=\"{height}\" viewBox=\"0 0 640 {height}\">"
    );
    for (i, (name, n)) in items.iter().enumerate() {
        let y = 22 * i + 2;
        let w = (*n as f64 / max * 380.0).max(1.0);
        let _ = write!(
            svg,
            "<text x=\"0\" y=\"{}\">{}</text><rect x=\"200\" y=\"{y}\" width=\"{w:.1}\" height=\"18\"></rect>\
             <text x=\"{:.1}\" y=\"{}\">{n}</text>",
            y + 14,
            esc(&truncate(name, 28)),
            206.0 + w,
            y + 14
        );
    }
    svg + "</svg>"
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() > n { format!("{}…", s.chars().take(n - 1).collect::<String>()) } else { s.to_owned() }
}

fn html_table(header: &[&str], rows: &[Vec<String>]) -> String {
    if rows.is_empty() {
        return "<p class=\"none\">None.</p>".into();
    }
    let mut s = String::from("<table><tr>");
    for h in header {
        let _ = write!(s, "<th>{}</th>", esc(h));
    }
    s.push_str("</tr>");
    for row in rows {
        s.push_str("<tr>");
        for cell in row {
            let _ = write!(s, "<td>{}</td>", esc(cell));
        }
        s.push_str("</tr>");
    }
    s + "</table>"
}

/// The report as one HTML page: styles and charts inline, nothing fetched, no script.
pub fn html(r: &UsageReport) -> String {
    let t = &r.totals;
    let rooms =
        |list: &[RoomActivity]| -> Vec<(String, u64)> { list.iter().map(|x| (x.name.clone(), x.messages)).collect() };
    let users =
        |list: &[UserActivity]| -> Vec<(String, u64)> { list.iter().map(|x| (x.login.clone(), x.messages)).collect() };
    let room_header = ["Room", "Category", "Messages", "Last post (UTC)"];
    let mut s = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Longhall usage report</title>\
         <style>body{font-family:sans-serif;margin:2em;color:#222}h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em}\
         table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}\
         rect{fill:#3b6ea5}text{font-size:12px;fill:#222}.axis{fill:#666}.none{color:#666}\
         dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}dt{font-weight:bold}</style></head><body>",
    );
    let _ = write!(s, "<h1>Longhall usage report</h1><p>From {}.</p>", esc(&period(r)));
    let _ = write!(
        s,
        "<h2>Totals</h2><dl><dt>Messages posted</dt><dd>{}</dd><dt>Rooms</dt><dd>{} ({} enabled, {} with posts)</dd>\
         <dt>Users</dt><dd>{} ({} posted)</dd></dl>",
        t.messages, t.rooms, t.rooms_enabled, t.rooms_active, t.users, t.users_active
    );
    let _ = write!(s, "<h2>Posts per day</h2>{}", column_chart(&r.per_day));
    let _ = write!(s, "<h2>Posts per week</h2>{}", column_chart(&r.per_week));
    let _ = write!(s, "<h2>Posts per month</h2>{}", column_chart(&r.per_month));
    let _ = write!(s, "<h2>Most active rooms</h2>{}", bar_chart(&rooms(&r.most_active_rooms)));
    let _ = write!(s, "{}", html_table(&room_header, &room_rows(&r.most_active_rooms)));
    let _ = write!(s, "<h2>Least active rooms</h2>{}", html_table(&room_header, &room_rows(&r.least_active_rooms)));
    let _ = write!(s, "<h2>Most active users</h2>{}", bar_chart(&users(&r.most_active_users)));
    let _ = write!(s, "{}", html_table(&["Login", "Name", "Messages"], &user_rows(&r.most_active_users)));
    let _ = write!(
        s,
        "<h2>Least active users</h2>{}",
        html_table(&["Login", "Name", "Messages"], &user_rows(&r.least_active_users))
    );
    let since = r.inactive_since.map_or_else(|| "ever (no message at all)".to_owned(), format_time);
    let _ = write!(
        s,
        "<h2>Rooms inactive since {}</h2>{}",
        esc(&since),
        html_table(&room_header, &room_rows(&r.inactive_rooms))
    );
    s + "</body></html>\n"
}
