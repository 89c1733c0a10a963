//! What every administration command shares: where the server and token come from
//! (`ClientArgs`), the exit codes, how an error is printed, output helpers, and
//! `longhall login` / `longhall logout`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use longhall_client::api::ListEdit;
use longhall_client::credentials::{self, Credentials};
use longhall_client::{Client, ClientError};
use serde::Serialize;

/// The command did what was asked.
pub const OK: i32 = 0;
/// Any other failure (a local file, an unhealthy status, a failed compliance run).
pub const FAILED: i32 = 1;
/// The command line is wrong (clap's own code), or something it needs is missing (no token).
pub const USAGE: i32 = 2;
/// The server refused: its error code and sentence are printed as `code: message`.
pub const REFUSED: i32 = 3;
/// The server could not be reached (refused connection, unknown host, time-out).
pub const UNREACHABLE: i32 = 4;
/// `longhall test-message` only: a step of the synthetic transaction failed (the server
/// answered, but not as a working deployment should).
pub const TEST_FAILED: i32 = 5;

/// The old name of `LONGHALL_URL`, still read.
pub const URL_ALIAS_VAR: &str = "LONGHALL_SERVER";

#[derive(Args, Clone)]
pub struct ClientArgs {
    /// The server's address [default: $LONGHALL_URL (or $LONGHALL_SERVER), else the
    /// credentials file's, else http://127.0.0.1:8080].
    #[arg(long, visible_alias = "server", global = true, value_name = "URL")]
    pub url: Option<String>,
    /// The bearer token (an API token, or one from `longhall login`) [default: $LONGHALL_TOKEN,
    /// else the credentials file's].
    #[arg(long, global = true)]
    pub token: Option<String>,
    /// Print the server's JSON answer instead of text (for scripts).
    #[arg(long, global = true)]
    pub json: bool,
}

/// A command-line mistake found after parsing (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Usage(pub String);

/// The server refused (exit 3); displays `code: message` so scripts can match the code.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Refused {
    pub code: String,
    pub message: String,
}

/// A client error with the server's code kept visible (`code: message`).
pub fn explain(e: ClientError) -> anyhow::Error {
    match e {
        ClientError::Api { code_text, message, .. } => Refused { code: code_text, message }.into(),
        other => other.into(),
    }
}

/// The exit code of a failure: the first cause that says more than "failed" decides.
pub fn exit_code(e: &anyhow::Error) -> i32 {
    for cause in e.chain() {
        if cause.downcast_ref::<Usage>().is_some() {
            return USAGE;
        }
        if cause.downcast_ref::<Refused>().is_some() {
            return REFUSED;
        }
        match cause.downcast_ref::<ClientError>() {
            Some(ClientError::Api { .. }) => return REFUSED,
            Some(ClientError::Unreachable { .. }) => return UNREACHABLE,
            Some(ClientError::InvalidUrl(_)) => return USAGE,
            _ => {}
        }
    }
    FAILED
}

/// Prints a failure on stderr and exits with its code; exits 0 on success.
pub fn finish(command: &str, result: anyhow::Result<()>) -> ! {
    match result {
        Ok(()) => std::process::exit(OK),
        Err(e) => {
            eprintln!("longhall {command}: {e:#}");
            std::process::exit(exit_code(&e))
        }
    }
}

impl ClientArgs {
    /// The server and token: flags, then the environment, then the credentials file.
    pub fn credentials(&self) -> anyhow::Result<Credentials> {
        let file = credentials::default_path();
        let env = |name: &str| {
            let value = std::env::var(name).ok().filter(|v| !v.is_empty());
            if name == credentials::URL_VAR { value.or_else(|| std::env::var(URL_ALIAS_VAR).ok()) } else { value }
        };
        Ok(credentials::resolve_with(self.url.as_deref(), self.token.as_deref(), env, file.as_deref())?)
    }

    /// The server and token from flags and the environment only.
    fn credentials_without_file(&self) -> Credentials {
        let env = |name: &str| {
            let value = std::env::var(name).ok().filter(|v| !v.is_empty());
            if name == credentials::URL_VAR { value.or_else(|| std::env::var(URL_ALIAS_VAR).ok()) } else { value }
        };
        credentials::resolve_with(self.url.as_deref(), self.token.as_deref(), env, None)
            .unwrap_or_else(|_| Credentials { url: credentials::DEFAULT_URL.into(), token: None })
    }

    /// A client with a token (a missing token is a usage error, found before any request);
    /// calls may take up to `timeout` (`None`: no limit).
    pub fn client(&self, timeout: Option<Duration>) -> anyhow::Result<Client> {
        let c = self.credentials()?;
        let Some(token) = c.token.filter(|t| !t.is_empty()) else {
            return Err(Usage(format!(
                "no token for {}: give --token, set LONGHALL_TOKEN, or run `longhall login --url {}`",
                c.url, c.url
            ))
            .into());
        };
        let mut builder = Client::builder(&c.url).token(token);
        if let Some(t) = timeout {
            builder = builder.timeout(t);
        }
        Ok(builder.build()?)
    }
}

/// A single-threaded runtime for one command.
pub fn block_on<T>(f: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(f)
}

/// How long one administration call may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);

pub fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Rows under a header, each column as wide as its widest cell (the last one unpadded).
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut out = String::new();
        for (i, cell) in cells.enumerate() {
            if i + 1 < widths.len() {
                out.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            } else {
                out.push_str(cell);
            }
        }
        out.trim_end().to_owned() + "\n"
    };
    let mut out = line(&mut header.iter().copied());
    for row in rows {
        out.push_str(&line(&mut row.iter().map(String::as_str)));
    }
    out
}

/// Users who may be put on a category's or room's lists.
pub fn eligible_table(users: &[longhall_client::api::EligibleUser]) -> String {
    let rows: Vec<Vec<String>> = users.iter().map(|u| vec![u.login.clone(), u.display_name.clone()]).collect();
    table(&["LOGIN", "DISPLAY NAME"], &rows)
}

/// `key  value` lines for one object.
pub fn fields(rows: &[(&str, String)]) -> String {
    let width = rows.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0);
    rows.iter().map(|(k, v)| format!("{k:<width$}  {v}\n")).collect()
}

pub fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// A list for a table cell.
pub fn list(items: &[String]) -> String {
    if items.is_empty() { "-".into() } else { items.join(", ") }
}

/// A list edit from `--add-X`, `--remove-X` and `--replace-X` (`None` when none was given;
/// empty names are dropped, so `--replace-X ""` empties the list).
pub fn list_edit(add: Vec<String>, remove: Vec<String>, replace: Option<Vec<String>>) -> Option<ListEdit> {
    let clean = |v: Vec<String>| v.into_iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect();
    if add.is_empty() && remove.is_empty() && replace.is_none() {
        return None;
    }
    Some(ListEdit { add: clean(add), remove: clean(remove), replace: replace.map(clean) })
}

/// One line of stdin, without its line end (a password piped in).
pub fn read_stdin_line(what: &str) -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).with_context(|| format!("reading the {what} from stdin"))?;
    let value = line.trim_end_matches(['\r', '\n']).to_owned();
    if value.is_empty() {
        return Err(
            Usage(format!("no {what} on stdin: pipe it in, e.g. `printf '%s\\n' \"$PASS\" | longhall …`")).into()
        );
    }
    Ok(value)
}

/// A password: asked for without echo on a terminal, else (or with `from_stdin`) one line of stdin.
pub fn read_password(prompt: &str, from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin || !std::io::stdin().is_terminal() {
        return read_stdin_line("password");
    }
    eprint!("{prompt}");
    std::io::stderr().flush().ok();
    // `stty` switches the terminal's echo off and back on (no unsafe terminal calls here).
    let stty = |arg: &str| std::process::Command::new("stty").arg(arg).status().is_ok_and(|s| s.success());
    let hidden = stty("-echo");
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    if hidden {
        stty("echo");
    }
    eprintln!();
    read.context("reading the password")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

// ---- login and logout

#[derive(Args)]
#[command(after_help = "The token is saved with the server's address in the credentials file \
($XDG_CONFIG_HOME/longhall/credentials, else ~/.config/longhall/credentials, mode 0600); later \
commands use it when no --token or LONGHALL_TOKEN is given.\n\nExamples:\n  longhall login --url \
http://chat.example.org:8080 --login admin@example.org\n  printf '%s\\n' \"$PASS\" | longhall login \
--url http://chat.example.org:8080 --login admin@example.org --password-stdin")]
pub struct LoginArgs {
    /// The server's address [default: $LONGHALL_URL, else the credentials file's, else
    /// http://127.0.0.1:8080].
    #[arg(long, visible_alias = "server", value_name = "URL")]
    pub url: Option<String>,
    /// Who signs in (name@domain); asked for on a terminal if left out.
    #[arg(long)]
    pub login: Option<String>,
    /// Read the password from the first line of stdin even on a terminal.
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Args)]
#[command(after_help = "Only the credentials file's token is revoked: a token given with --token or \
LONGHALL_TOKEN (a bot's API token, say) is never touched; revoke those with `longhall tokens revoke`.\n\n\
Example:\n  longhall logout")]
pub struct LogoutArgs {}

fn credentials_path() -> anyhow::Result<PathBuf> {
    credentials::default_path()
        .ok_or_else(|| anyhow::anyhow!("neither XDG_CONFIG_HOME nor HOME is set: no place for the credentials file"))
}

/// Signs in and saves the server's address and the token in the credentials file.
pub fn login(args: LoginArgs) -> anyhow::Result<()> {
    let given = ClientArgs { url: args.url.clone(), token: None, json: false };
    // A broken or too-open file must not stop the sign-in that replaces it.
    let url = match given.credentials() {
        Ok(c) => c.url,
        Err(_) => given.credentials_without_file().url,
    };
    let login = match args.login.filter(|l| !l.is_empty()) {
        Some(l) => l,
        None if std::io::stdin().is_terminal() && !args.password_stdin => {
            eprint!("Login: ");
            std::io::stderr().flush().ok();
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line).context("reading the login")?;
            line.trim().to_owned()
        }
        None => return Err(Usage("give the login with --login name@domain".into()).into()),
    };
    let password = read_password(&format!("Password for {login}: "), args.password_stdin)?;
    let path = credentials_path()?;
    // The token this sign-in replaces; revoked once the new one is saved, so repeated sign-ins
    // don't leave live tokens nobody holds. Read even from a file others could read (which
    // `credentials::read` refuses): such a token is the one most in need of revoking.
    let replaced = std::fs::read(&path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Credentials>(&bytes).ok())
        .and_then(|c| c.token.map(|t| (c.url, t)));
    block_on(async {
        let client = Client::builder(&url).timeout(CALL_TIMEOUT).build()?;
        let signed_in = client.sign_in(&login, &password).await.map_err(explain)?;
        credentials::write(&path, &Credentials { url: url.clone(), token: Some(signed_in.token) })?;
        println!("Signed in to {url} as {}; the token is saved in {}.", signed_in.me.user.login, path.display());
        if let Some((old_url, old_token)) = replaced {
            let old = Client::builder(&old_url).token(old_token).timeout(CALL_TIMEOUT).build()?;
            match old.sign_out().await {
                Ok(()) => println!("Revoked the token it replaces."),
                Err(e) if e.is(longhall_client::ErrorCode::Unauthenticated) => {}
                Err(e) => eprintln!("longhall login: the token it replaces was not revoked ({e})."),
            }
        }
        Ok(())
    })
}

/// Revokes the credentials file's token and removes the file. Tokens from flags or the
/// environment are left alone: they may be a bot's, which signing out must not end.
pub fn logout(_: LogoutArgs) -> anyhow::Result<()> {
    let path = credentials_path()?;
    let Some(saved) = credentials::read(&path)? else {
        println!("Not signed in: there is no {}.", path.display());
        return Ok(());
    };
    block_on(async {
        if let Some(token) = saved.token.clone() {
            let client = Client::builder(&saved.url).token(token).timeout(CALL_TIMEOUT).build()?;
            match client.sign_out().await {
                Ok(()) => {}
                // Already revoked or expired: forgetting it is all that is left to do.
                Err(e) if e.is(longhall_client::ErrorCode::Unauthenticated) => {}
                Err(e) => {
                    return Err(explain(e).context(format!(
                        "the token was not revoked; {} is kept so that `longhall logout` can try again",
                        path.display()
                    )));
                }
            }
        }
        std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        println!("Signed out of {}; removed {}.", saved.url, path.display());
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_on_the_widest_cell() {
        let t = table(&["LOGIN", "NAME"], &[vec!["a@x".into(), "Ann".into()], vec!["bobby@x".into(), "B".into()]]);
        assert_eq!(t, "LOGIN    NAME\na@x      Ann\nbobby@x  B\n");
    }

    #[test]
    fn each_failure_has_its_exit_code() {
        let refused = explain(ClientError::Api {
            status: 403,
            code: None,
            code_text: "admin_required".into(),
            message: "Ask an administrator.".into(),
            retry_after: None,
        });
        assert_eq!(refused.to_string(), "admin_required: Ask an administrator.");
        assert_eq!(exit_code(&refused.context("changing the user")), REFUSED);
        let unreachable = explain(ClientError::Unreachable { url: "http://x".into(), reason: "refused".into() });
        assert_eq!(exit_code(&unreachable), UNREACHABLE);
        assert_eq!(exit_code(&Usage("no token".into()).into()), USAGE);
        assert_eq!(exit_code(&anyhow::anyhow!("disk full")), FAILED);
    }
}

/// Which end of a day a bare date stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayEnd {
    /// 00:00:00.000 UTC (a range's start).
    Start,
    /// 23:59:59.999 UTC (a range's end, "up to and including").
    End,
}

/// A time given as `YYYY-MM-DD` (a whole UTC day; `end` says which end), RFC 3339
/// (`2026-03-01T09:30:00Z`, `2026-03-01T09:30:00.250+01:00`; without a zone, or without
/// seconds, it is UTC: `2026-03-01T09:30`), or milliseconds since 1970 — in ms since 1970.
/// Every command that takes a date or time reads it here.
pub fn parse_time(text: &str, end: DayEnd) -> Result<i64, Usage> {
    let bad = || {
        Usage(format!(
            "\"{text}\" is not a date: write YYYY-MM-DD, RFC 3339 (2026-03-01T09:30:00Z) or milliseconds since 1970"
        ))
    };
    let t = text.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse().map_err(|_| bad());
    }
    let num = |s: &str| -> Result<i64, Usage> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        s.parse().map_err(|_| bad())
    };
    let date = t.get(..10).ok_or_else(bad)?;
    let parts: Vec<&str> = date.split('-').collect();
    if parts.len() != 3 || parts[0].len() != 4 || parts[1].len() != 2 || parts[2].len() != 2 {
        return Err(bad());
    }
    let (y, m, d) = (num(parts[0])?, num(parts[1])?, num(parts[2])?);
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return Err(bad());
    }
    let day_ms = days_from_civil(y, m, d) * 86_400_000;
    let rest = &t[10..];
    if rest.is_empty() {
        return Ok(match end {
            DayEnd::Start => day_ms,
            DayEnd::End => day_ms + 86_400_000 - 1,
        });
    }
    let rest = rest.strip_prefix(['T', 't', ' ']).ok_or_else(bad)?;
    // HH:MM[:SS], optional fraction, then Z, ±HH:MM or nothing (UTC).
    let (clock, zone) = match rest.find(['Z', 'z', '+', '-']) {
        Some(i) => rest.split_at(i),
        None => (rest, "Z"),
    };
    let (hms, frac) = match clock.split_once('.') {
        Some((hms, frac)) => (hms, Some(frac)),
        None => (clock, None),
    };
    let hms: Vec<&str> = hms.split(':').collect();
    if !(2..=3).contains(&hms.len()) || hms.iter().any(|p| p.len() != 2) || (hms.len() == 2 && frac.is_some()) {
        return Err(bad());
    }
    let (h, mi) = (num(hms[0])?, num(hms[1])?);
    let s = match hms.get(2) {
        Some(s) => num(s)?,
        None => 0,
    };
    if h > 23 || mi > 59 || s > 60 {
        return Err(bad());
    }
    let ms = match frac {
        Some(f) => {
            num(f)?;
            let f3: String = f.chars().chain("000".chars()).take(3).collect();
            num(&f3)?
        }
        None => 0,
    };
    let offset = match zone {
        "Z" | "z" => 0,
        z => {
            let sign = if z.starts_with('-') { -1 } else { 1 };
            let (oh, om) = z[1..].split_once(':').ok_or_else(bad)?;
            if oh.len() != 2 || om.len() != 2 {
                return Err(bad());
            }
            sign * (num(oh)? * 60 + num(om)?) * 60_000
        }
    };
    Ok(day_ms + ((h * 60 + mi) * 60 + s) * 1000 + ms - offset)
}

/// ms since 1970 as `YYYY-MM-DD HH:MM:SS` UTC.
pub fn format_time(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let secs = ms.rem_euclid(86_400_000) / 1000;
    let (y, m, d) = longhall_core::service::civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod date_tests {
    use super::*;

    #[test]
    fn dates_and_rfc3339_times() {
        assert_eq!(parse_time("1970-01-01", DayEnd::Start).unwrap(), 0);
        assert_eq!(parse_time("1970-01-01", DayEnd::End).unwrap(), 86_399_999);
        assert_eq!(parse_time("2026-03-01T09:30:00Z", DayEnd::Start).unwrap(), 1_772_357_400_000);
        assert_eq!(parse_time("2026-03-01T10:30:00.25+01:00", DayEnd::End).unwrap(), 1_772_357_400_250);
        // Without a zone or seconds: UTC; digits alone: milliseconds.
        assert_eq!(parse_time("2013-01-01T00:01", DayEnd::Start).unwrap(), 1_356_998_460_000);
        assert_eq!(parse_time("2024-02-29 23:59:59", DayEnd::Start).unwrap(), 1_709_251_199_000);
        assert_eq!(parse_time("2024-02-29", DayEnd::End).unwrap(), 1_709_251_199_999);
        assert_eq!(parse_time("12345", DayEnd::End).unwrap(), 12345);
        for bad in ["yesterday", "2024-13-01", "2024-02-30", "2026-03-01T09", "2026-03-01T09:30.5Z", ""] {
            assert!(parse_time(bad, DayEnd::Start).is_err(), "{bad}");
        }
        assert_eq!(format_time(1_772_357_400_250), "2026-03-01 09:30:00");
        assert_eq!(parse_time("2024-02-29", DayEnd::Start).map(format_time).unwrap(), "2024-02-29 00:00:00");
        for bad in ["2026-02-30", "2026-3-01", "yesterday", "2026-03-01T25:00:00Z", "2026-03-01T09:30:00+1", ""] {
            assert!(parse_time(bad, DayEnd::Start).is_err(), "{bad}");
        }
    }
}
