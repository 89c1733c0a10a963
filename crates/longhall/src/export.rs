//! `longhall export FILE` and `longhall import FILE`: offline, on a stopped deployment's data
//! directory (the store's lock refuses a running server's), through the store port
//! (`longhall_core::export` holds the format and the rules). Progress on a terminal, a report
//! as text or JSON.

use std::io::{BufReader, BufWriter, IsTerminal};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use longhall::config::{Config, Overrides};
use longhall::deployment::{Stores, open_store};
use longhall_core::export::{ExportOptions, ExportReport, ImportReport, Level, Progress, export, import};
use longhall_core::model::Millis;

use crate::backup::sibling;

/// Where the deployment is: the same file, environment and flag as `serve`.
#[derive(Args)]
pub struct StoreArgs {
    /// Configuration file (TOML).
    #[arg(long, env = "LONGHALL_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory of the (stopped) deployment.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LevelArg {
    All,
    User,
    Category,
    RoomDirectory,
    Content,
}

impl From<LevelArg> for Level {
    fn from(l: LevelArg) -> Level {
        match l {
            LevelArg::All => Level::All,
            LevelArg::User => Level::User,
            LevelArg::Category => Level::Category,
            LevelArg::RoomDirectory => Level::RoomDirectory,
            LevelArg::Content => Level::Content,
        }
    }
}

#[derive(Args)]
#[command(
    after_help = "Example:\n  longhall export /var/backups/legal.lhx --level all --category Legal --since 2026-01-01 \
--data-dir /var/lib/longhall"
)]
pub struct ExportArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// The file to write (replaced only once the export is complete).
    file: PathBuf,
    /// What to export: all, user (users, groups, policies), category (categories, add-ins),
    /// room-directory (categories, add-ins, rooms) or content (the rooms' files and messages).
    #[arg(long, value_enum, default_value = "all")]
    level: LevelArg,
    /// Only these categories and their rooms (repeat for several); default all.
    #[arg(long = "category", value_name = "NAME")]
    categories: Vec<String>,
    /// Only content posted from this date (YYYY-MM-DD, UTC) or time (YYYY-MM-DDTHH:MM:SSZ).
    #[arg(long, value_parser = parse_date)]
    since: Option<Millis>,
    /// After the export, disable the exported rooms (cut-over to another deployment).
    #[arg(long)]
    disable_exported_rooms: bool,
}

#[derive(Args)]
#[command(after_help = "Example:\n  longhall import /var/backups/legal.lhx --dry-run --data-dir /var/lib/longhall")]
pub struct ImportArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// The file `longhall export` wrote.
    file: PathBuf,
    /// Check the file and list every conflict; write nothing.
    #[arg(long)]
    dry_run: bool,
}

/// The deployment's stores, opened on `rt` (a PostgreSQL store's connections run on it).
fn open(rt: &tokio::runtime::Runtime, args: &StoreArgs) -> anyhow::Result<Stores> {
    let config = Config::load(args.config.as_deref(), Overrides { data_dir: args.data_dir.clone(), listen: None })?;
    let (stores, _) = rt.block_on(open_store(&config)).context("export and import run on a stopped deployment")?;
    Ok(stores)
}

pub fn run_export(args: ExportArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let stores = open(&rt, &args.store)?;
    let store = stores.store();
    let partial = sibling(&args.file, "partial");
    let opts = ExportOptions {
        level: args.level.into(),
        categories: args.categories.clone(),
        since: args.since,
        disable_exported_rooms: args.disable_exported_rooms,
        created: now_ms(),
    };
    let result = rt.block_on(async {
        let f = std::fs::File::create(&partial).with_context(|| format!("creating {}", partial.display()))?;
        let mut out = BufWriter::with_capacity(1 << 20, f);
        let mut bar = Bar::new("export", args.store.json);
        let report = export(store.as_ref(), &mut out, &opts, &mut |p| bar.show(p)).await;
        bar.finish();
        let report = report?;
        let f = out.into_inner().map_err(|e| e.into_error())?;
        f.sync_all().with_context(|| format!("syncing {}", partial.display()))?;
        anyhow::Ok(report)
    });
    drop(store);
    rt.block_on(stores.close());
    match result {
        Ok(report) => {
            std::fs::rename(&partial, &args.file)
                .with_context(|| format!("moving the export into place at {}", args.file.display()))?;
            if args.store.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!("{}", export_text(&report, &args.file));
            }
            Ok(())
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}

pub fn run_import(args: ImportArgs) -> anyhow::Result<()> {
    let size = std::fs::metadata(&args.file).with_context(|| format!("reading {}", args.file.display()))?.len();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let stores = open(&rt, &args.store)?;
    let store = stores.store();
    let file = args.file.clone();
    let result = rt.block_on(async {
        let mut opener = || std::fs::File::open(&file).map(|f| BufReader::with_capacity(1 << 20, f));
        let mut bar = Bar::new("import", args.store.json);
        let report = import(store.as_ref(), &mut opener, size, args.dry_run, &mut |p| bar.show(p)).await;
        bar.finish();
        report
    });
    drop(store);
    rt.block_on(stores.close());
    let report = match result {
        Ok(r) => r,
        Err(longhall_core::export::ImportError::Blocked(conflicts)) => {
            for c in &conflicts {
                eprintln!("  {:<16} {}: {}", c.kind, c.object, c.detail);
            }
            bail!("{} conflict(s) stop the import; nothing was written", conflicts.len());
        }
        Err(e) => {
            return Err(anyhow::Error::new(e)
                .context(format!("{} was not imported (nothing was written)", args.file.display())));
        }
    };
    if args.store.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{}", import_text(&report, &args.file));
    }
    if report.blocked() {
        bail!("the import would be refused: resolve the blocking conflicts above first");
    }
    Ok(())
}

fn counts(map: &std::collections::BTreeMap<String, u64>) -> String {
    if map.is_empty() {
        return "nothing".into();
    }
    map.iter().map(|(k, n)| format!("{n} {k}")).collect::<Vec<_>>().join(", ")
}

fn export_text(r: &ExportReport, file: &Path) -> String {
    let mut s = format!(
        "export: {} ({} bytes, level {}): {}; sha256 {}",
        file.display(),
        r.bytes,
        r.level.as_str(),
        counts(&r.counts),
        r.sha256
    );
    if !r.disabled_rooms.is_empty() {
        s.push_str(&format!("\nexport: disabled {} room(s): {}", r.disabled_rooms.len(), r.disabled_rooms.join(", ")));
    }
    s
}

fn import_text(r: &ImportReport, file: &Path) -> String {
    let verb = if r.dry_run { "would write" } else { "wrote" };
    let mut s = format!(
        "import{}: {} (level {}): {verb} {} new; replaced {}",
        if r.dry_run { " --dry-run" } else { "" },
        file.display(),
        r.level.as_str(),
        counts(&r.inserted),
        counts(&r.replaced),
    );
    s.push_str(&format!("\n{} conflict(s)", r.conflicts.len()));
    for c in &r.conflicts {
        let mark = if c.blocking { " (blocks the import)" } else { "" };
        s.push_str(&format!("\n  {:<16} {}: {}{mark}", c.kind, c.object, c.detail));
    }
    s
}

/// A progress line on standard error, only when it is a terminal: done, rate and ETA.
struct Bar {
    what: &'static str,
    on: bool,
    started: Instant,
    last: Option<Instant>,
    drawn: bool,
}

impl Bar {
    fn new(what: &'static str, json: bool) -> Bar {
        Bar { what, on: !json && std::io::stderr().is_terminal(), started: Instant::now(), last: None, drawn: false }
    }

    fn show(&mut self, p: Progress) {
        if !self.on || self.last.is_some_and(|t| t.elapsed() < Duration::from_millis(200)) {
            return;
        }
        self.last = Some(Instant::now());
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let (done, total, unit) = if p.messages_total > 0 {
            (p.messages, p.messages_total, "messages")
        } else {
            (p.bytes, p.bytes_total, "bytes")
        };
        let rate = done as f64 / secs;
        let fraction = if total > 0 { (done as f64 / total as f64).min(1.0) } else { 0.0 };
        let eta = if rate > 0.0 && total > done { format!("{:.0}s", (total - done) as f64 / rate) } else { "-".into() };
        let filled = (fraction * 30.0) as usize;
        eprint!(
            "\r{} [{}{}] {:>3.0}% {done} {unit} {:.0}/s ETA {eta}   ",
            self.what,
            "=".repeat(filled),
            " ".repeat(30 - filled),
            fraction * 100.0,
            rate
        );
        self.drawn = true;
    }

    fn finish(&mut self) {
        if self.drawn {
            eprintln!();
        }
    }
}

fn now_ms() -> Millis {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as Millis)
}

/// `--since`: a date (its first moment, UTC) or a time, as every command reads them.
pub fn parse_date(text: &str) -> Result<Millis, String> {
    crate::cli::parse_time(text, crate::cli::DayEnd::Start).map_err(|u| u.0)
}

#[cfg(test)]
mod tests {
    use super::parse_date;

    #[test]
    fn dates_are_utc_days_or_times() {
        assert_eq!(parse_date("1970-01-01"), Ok(0));
        assert_eq!(parse_date("2026-12-03"), Ok(1_796_256_000_000));
        assert_eq!(parse_date("2026-12-03T01:02:03Z"), Ok(1_796_256_000_000 + 3_723_000));
        for bad in ["2026-13-01", "2026-1-1", "yesterday", "2026-12-03T25:00:00Z"] {
            assert!(parse_date(bad).is_err(), "{bad}");
        }
    }
}
