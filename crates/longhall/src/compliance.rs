//! `longhall compliance …`: the administrators' commands that talk to a running server's admin
//! API (the processor `serve` runs is started by `longhall::deployment`).

use std::time::Duration;

use anyhow::{Context, bail};

use crate::cli::{ClientArgs, explain, print_json, yes};
use clap::{Args, Subcommand};
use longhall_client::Client;
use longhall_client::api::{ComplianceConfigPut, ComplianceConfigView, ComplianceRunView};

#[derive(Subcommand)]
pub enum ComplianceCommand {
    /// Show the compliance configuration.
    #[command(after_help = "Example:\n  longhall compliance get --json")]
    Get,
    /// Change the compliance configuration; options left out keep their value.
    #[command(after_help = "Example:\n  longhall compliance set --enabled true --adapter xml --run-interval 15m \
--output-dir /var/lib/longhall/archive")]
    Set(SetArgs),
    /// Process the waiting events now and show what was done.
    #[command(after_help = "Example:\n  longhall compliance run")]
    Run,
    /// Show the latest runs, newest first.
    #[command(after_help = "Example:\n  longhall compliance runs --limit 5")]
    Runs {
        /// How many (1–500).
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Apply an XSLT stylesheet to sample data and print its output.
    #[command(after_help = "Example:\n  longhall compliance test-stylesheet archive.xsl")]
    TestStylesheet {
        /// The stylesheet file.
        file: std::path::PathBuf,
    },
}

#[derive(Args)]
pub struct SetArgs {
    /// Process events (true) or only record them (false).
    #[arg(long)]
    enabled: Option<bool>,
    /// xml, jsonl, eml or command.
    #[arg(long)]
    adapter: Option<String>,
    /// Time between runs: 90s, 15m, 1h, 2d, 1h30m, or seconds (1 minute to 30 days).
    #[arg(long, value_parser = parse_interval)]
    run_interval: Option<u64>,
    /// Absolute folder for the output ("" for the default, <data_dir>/compliance-output).
    #[arg(long)]
    output_dir: Option<String>,
    #[arg(long)]
    one_chat_room_per_output_file: Option<bool>,
    #[arg(long)]
    add_chat_room_details: Option<bool>,
    #[arg(long)]
    add_user_details: Option<bool>,
    #[arg(long)]
    create_file_attachments_manifest: Option<bool>,
    /// XSLT 1.0 stylesheet file applied to the XML output.
    #[arg(long, conflicts_with = "no_stylesheet")]
    stylesheet: Option<std::path::PathBuf>,
    /// Remove the stylesheet.
    #[arg(long)]
    no_stylesheet: bool,
    /// Program and arguments of the command adapter, e.g. "/usr/local/bin/archive --vault a"
    /// (split at spaces; "" removes it).
    #[arg(long)]
    command: Option<String>,
}

/// A run interval in seconds, from `90s`, `15m`, `1h30m`, `2d` or a plain number of seconds.
pub fn parse_interval(text: &str) -> Result<u64, String> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(secs);
    }
    let bad = || format!("\"{text}\" is not a time such as 90s, 15m, 1h30m or 2d");
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(bad()),
        };
        let n: u64 = digits.parse().map_err(|_| bad())?;
        total = total.checked_add(n.checked_mul(unit).ok_or_else(bad)?).ok_or_else(bad)?;
        digits.clear();
    }
    if !digits.is_empty() || total == 0 && text.is_empty() {
        return Err(bad());
    }
    Ok(total)
}

/// `900` → `15m`, `5400` → `1h30m`.
pub(crate) fn interval_text(secs: u64) -> String {
    let mut out = String::new();
    let mut rest = secs;
    for (unit, name) in [(86_400, 'd'), (3600, 'h'), (60, 'm'), (1, 's')] {
        if rest >= unit {
            out.push_str(&format!("{}{name}", rest / unit));
            rest %= unit;
        }
    }
    if out.is_empty() { "0s".into() } else { out }
}

/// `2024-05-01 12:00:00 UTC` from ms since 1970.
pub(crate) fn utc_text(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Days to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// A client of the admin API with the administrator's token; calls wait up to an hour (a run
/// over a large backlog takes long).
fn admin_client(args: &ClientArgs) -> anyhow::Result<Client> {
    args.client(Some(Duration::from_secs(3600)))
}

fn print_config(c: &ComplianceConfigView) {
    let stylesheet = match &c.custom_configuration {
        Some(s) => format!("{} characters", s.chars().count()),
        None => "none".into(),
    };
    let rows = [
        ("enabled", yes(c.enabled).to_owned()),
        ("adapter", c.adapter.clone()),
        ("output_dir", c.output_dir.clone()),
        ("run_interval", format!("{} ({} s)", interval_text(c.run_interval_secs), c.run_interval_secs)),
        ("one_chat_room_per_output_file", yes(c.one_chat_room_per_output_file).into()),
        ("add_chat_room_details", yes(c.add_chat_room_details).into()),
        ("add_user_details", yes(c.add_user_details).into()),
        ("create_file_attachments_manifest", yes(c.create_file_attachments_manifest).into()),
        ("custom_configuration", stylesheet),
        ("command", if c.command.is_empty() { "none".into() } else { c.command.join(" ") }),
    ];
    for (k, v) in rows {
        println!("{k:<34}{v}");
    }
}

pub(crate) fn run_line(r: &ComplianceRunView) -> String {
    let took = (r.finished - r.started).max(0) as f64 / 1000.0;
    let result = match (&r.error, r.recovered) {
        (Some(e), _) => format!("FAILED: {e}"),
        (None, true) => "ok (completed an interrupted run)".into(),
        (None, false) => "ok".into(),
    };
    let batch = match (r.first_event, r.last_event) {
        (Some(a), Some(b)) => format!("{a}-{b}"),
        _ => "-".into(),
    };
    format!(
        "{:<6} {:<24} {:>8.1}s {:>8} {:>6}  {:<24} {result}",
        r.id,
        utc_text(r.started),
        took,
        r.events,
        r.files,
        batch
    )
}

fn runs_header() -> String {
    format!("{:<6} {:<24} {:>9} {:>8} {:>6}  {:<24} RESULT", "RUN", "STARTED", "TOOK", "EVENTS", "FILES", "EVENT IDS")
}

/// Runs `longhall compliance …`; an error carries the server's code and message.
pub fn run(client: ClientArgs, command: ComplianceCommand) -> anyhow::Result<()> {
    crate::cli::block_on(run_async(client, command))
}

async fn run_async(args: ClientArgs, command: ComplianceCommand) -> anyhow::Result<()> {
    let c = admin_client(&args)?;
    match command {
        ComplianceCommand::Get => {
            let v = c.get_compliance_config().await.map_err(explain)?;
            if args.json { print_json(&v)? } else { print_config(&v) }
        }
        ComplianceCommand::Set(s) => {
            let custom_configuration = match (&s.stylesheet, s.no_stylesheet) {
                (Some(f), _) => Some(
                    std::fs::read_to_string(f).with_context(|| format!("reading the stylesheet {}", f.display()))?,
                ),
                (None, true) => Some(String::new()),
                (None, false) => None,
            };
            let put = ComplianceConfigPut {
                enabled: s.enabled,
                adapter: s.adapter,
                output_dir: s.output_dir,
                run_interval_secs: s.run_interval,
                one_chat_room_per_output_file: s.one_chat_room_per_output_file,
                add_chat_room_details: s.add_chat_room_details,
                add_user_details: s.add_user_details,
                create_file_attachments_manifest: s.create_file_attachments_manifest,
                custom_configuration,
                command: s.command.map(|cmd| cmd.split_whitespace().map(str::to_owned).collect()),
            };
            let v = c.put_compliance_config(&put).await.map_err(explain)?;
            if args.json { print_json(&v)? } else { print_config(&v) }
        }
        ComplianceCommand::Run => {
            let r = c.run_compliance().await.map_err(explain)?;
            if args.json {
                print_json(&r)?;
            } else {
                println!("{}", runs_header());
                for run in &r.runs {
                    println!("{}", run_line(run));
                }
                println!("Processed {} event(s) into {} file(s).", r.events, r.files);
            }
            if let Some(e) = r.error {
                bail!("the run failed (its events are retried next run): {e}");
            }
        }
        ComplianceCommand::Runs { limit } => {
            let runs = c.compliance_runs(Some(limit)).await.map_err(explain)?;
            if args.json {
                print_json(&runs)?;
            } else if runs.is_empty() {
                println!("No compliance run yet.");
            } else {
                println!("{}", runs_header());
                for run in &runs {
                    println!("{}", run_line(run));
                }
            }
        }
        ComplianceCommand::TestStylesheet { file } => {
            let stylesheet =
                std::fs::read_to_string(&file).with_context(|| format!("reading the stylesheet {}", file.display()))?;
            let out = c.test_stylesheet(&stylesheet).await.map_err(explain)?;
            if args.json { print_json(&out)? } else { print!("{}", out.output) }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_read_the_way_people_write_them() {
        for (text, secs) in
            [("900", 900), ("90s", 90), ("15m", 900), ("1h30m", 5400), ("2d", 172_800), ("30d", 2_592_000)]
        {
            assert_eq!(parse_interval(text), Ok(secs), "{text}");
            assert_eq!(parse_interval(&interval_text(secs)), Ok(secs), "{text} round trip");
        }
        for bad in ["", "m", "15x", "1.5h", "h1"] {
            assert!(parse_interval(bad).is_err(), "{bad:?} should be refused");
        }
        assert_eq!(interval_text(900), "15m");
        assert_eq!(interval_text(5400), "1h30m");
    }

    #[test]
    fn times_print_in_utc() {
        assert_eq!(utc_text(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc_text(1_356_998_460_000), "2013-01-01 00:01:00 UTC");
        assert_eq!(utc_text(1_709_251_199_999), "2024-02-29 23:59:59 UTC");
    }
}
