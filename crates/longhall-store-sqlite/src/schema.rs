//! Opening the two database files and bringing their schemas up to date.

use std::path::Path;
use std::time::Duration;

use longhall_core::StoreError;
use rusqlite::{Connection, OpenFlags};

use crate::conv::DbResult;

/// Migrations of `chat.db`, in order; the schema version is the number applied
/// (`PRAGMA user_version`). Never edit a released one: add the next.
const CHAT_MIGRATIONS: &[&str] = &[
    include_str!("../migrations/chat/001_init.sql"),
    include_str!("../migrations/chat/002_compliance_config.sql"),
    include_str!("../migrations/chat/003_removed_users.sql"),
    include_str!("../migrations/chat/004_room_content_bytes.sql"),
    include_str!("../migrations/chat/005_fts_pending.sql"),
    include_str!("../migrations/chat/006_search_file.sql"),
];
const COMPLIANCE_MIGRATIONS: &[&str] = &[
    include_str!("../migrations/compliance/001_init.sql"),
    include_str!("../migrations/compliance/002_processing.sql"),
    include_str!("../migrations/compliance/003_probe_and_open_joins.sql"),
    include_str!("../migrations/compliance/004_audit.sql"),
];

/// Migrations of `search.db`, which holds nothing that can't be rebuilt from `chat.db`.
const SEARCH_MIGRATIONS: &[&str] = &[include_str!("../migrations/search/001_init.sql")];

pub(crate) const CHAT_FILE: &str = "chat.db";
pub(crate) const SEARCH_FILE: &str = "search.db";
pub(crate) const COMPLIANCE_FILE: &str = "compliance.db";

/// Long enough to ride out another process (a backup, the CLI) briefly holding a lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens a file for the writer and migrates it.
///
/// `synchronous=FULL` because an `Ok` promises the write survives power loss; WAL so readers
/// never block the writer.
pub(crate) fn open_writer(path: &Path, chat: bool) -> Result<Connection, StoreError> {
    let mut c = Connection::open(path).map_err(|e| open_error(path, e))?;
    c.busy_timeout(BUSY_TIMEOUT).db()?;
    let mode: String = c.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0)).db()?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Unavailable(format!(
            "{} cannot use write-ahead logging (journal mode {mode})",
            path.display()
        )));
    }
    c.pragma_update(None, "synchronous", "FULL").db()?;
    c.pragma_update(None, "foreign_keys", "ON").db()?;
    let (migrations, what) =
        if chat { (CHAT_MIGRATIONS, "chat store") } else { (COMPLIANCE_MIGRATIONS, "compliance store") };
    migrate(&mut c, migrations, what)?;
    Ok(c)
}

/// Opens `search.db` for the indexer and migrates it (creating it if missing).
///
/// `synchronous=NORMAL`: the index can always be rebuilt and its mark moves in the same
/// transaction as its rows, so a power loss may take back the last rounds of indexing (done
/// again at the next start) but never leaves the index and its mark apart.
pub(crate) fn open_search_writer(path: &Path) -> Result<Connection, StoreError> {
    let mut c = Connection::open(path).map_err(|e| open_error(path, e))?;
    c.busy_timeout(BUSY_TIMEOUT).db()?;
    let mode: String = c.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0)).db()?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Unavailable(format!(
            "{} cannot use write-ahead logging (journal mode {mode})",
            path.display()
        )));
    }
    c.pragma_update(None, "synchronous", "NORMAL").db()?;
    migrate(&mut c, SEARCH_MIGRATIONS, "search index")?;
    Ok(c)
}

/// Opens a read-only connection to `chat.db` with `compliance.db` attached as `compliance` and
/// `search.db` as `search`, so one pooled connection serves every read.
pub(crate) fn open_reader(chat: &Path, compliance: &Path, search: &Path) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let c = Connection::open_with_flags(chat, flags).map_err(|e| open_error(chat, e))?;
    c.busy_timeout(BUSY_TIMEOUT).db()?;
    let comp = compliance
        .to_str()
        .ok_or_else(|| StoreError::Unavailable(format!("{} is not a UTF-8 path", compliance.display())))?;
    // An attached database is opened with the main one's flags, so it is read-only too.
    c.execute("ATTACH DATABASE ?1 AS compliance", [comp]).map_err(|e| open_error(compliance, e))?;
    let search_path =
        search.to_str().ok_or_else(|| StoreError::Unavailable(format!("{} is not a UTF-8 path", search.display())))?;
    c.execute("ATTACH DATABASE ?1 AS search", [search_path]).map_err(|e| open_error(search, e))?;
    Ok(c)
}

fn open_error(path: &Path, e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(format!("cannot open {}: {e}", path.display()))
}

fn migrate(c: &mut Connection, migrations: &[&str], what: &str) -> Result<(), StoreError> {
    let version: i64 = c.query_row("PRAGMA user_version", [], |r| r.get(0)).db()?;
    let known = migrations.len() as i64;
    if version > known {
        return Err(StoreError::Unavailable(format!(
            "the {what} has schema version {version}, newer than this server's {known}; \
             run a newer Longhall"
        )));
    }
    for (i, sql) in migrations.iter().enumerate().skip(version as usize) {
        let tx = c.transaction().db()?;
        tx.execute_batch(sql)
            .map_err(|e| StoreError::Unavailable(format!("{what} migration {} failed: {e}", i + 1)))?;
        tx.pragma_update(None, "user_version", (i + 1) as i64).db()?;
        tx.commit().db()?;
        tracing::info!(store = what, version = i + 1, "applied schema migration");
    }
    Ok(())
}
