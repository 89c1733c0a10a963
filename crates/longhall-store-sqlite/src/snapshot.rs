//! A consistent copy of both database files while the server keeps writing.
//!
//! `VACUUM INTO` copies one database as of one read transaction, without blocking the writer
//! (WAL). The chat file is copied first, then the compliance file: a post's compliance record
//! is committed before its message, so every message in the copy has its record.

use std::path::Path;

use longhall_core::ports::{ByteStream, SnapshotPart, StoreSnapshot};
use longhall_core::{StoreError, StoreResult};
use rusqlite::{Connection, OpenFlags};

use crate::conv::DbResult;
use crate::schema;

/// Big enough for few syscalls, small enough for many concurrent streams.
const READ_CHUNK: usize = 256 * 1024;

pub(crate) fn take(chat: &Path, compliance: &Path) -> StoreResult<StoreSnapshot> {
    let dir = chat.parent().unwrap_or(Path::new("."));
    // Beside the stores: same file system, and never a shared /tmp that may be small.
    let work = work_dir(dir)?;
    let result = copy_both(chat, compliance, &work);
    let _ = std::fs::remove_dir_all(&work);
    result
}

/// Removes the work folders of snapshots a crash interrupted (called at open, under the data
/// directory's lock, so no snapshot is running).
pub(crate) fn remove_leftovers(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().starts_with(WORK_PREFIX) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Names of snapshot work folders in the data directory.
const WORK_PREFIX: &str = ".snapshot-";

fn work_dir(dir: &Path) -> StoreResult<std::path::PathBuf> {
    let nonce = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let work = dir.join(format!("{WORK_PREFIX}{}-{nonce}", std::process::id()));
    std::fs::create_dir(&work)
        .map_err(|e| StoreError::Unavailable(format!("cannot create {}: {e}", work.display())))?;
    Ok(work)
}

fn copy_both(chat: &Path, compliance: &Path, work: &Path) -> StoreResult<StoreSnapshot> {
    let mut parts = Vec::new();
    let chat_copy = work.join(schema::CHAT_FILE);
    vacuum_into(chat, &chat_copy)?;
    let files = file_records(&chat_copy)?;
    parts.push(part(schema::CHAT_FILE, &chat_copy)?);
    let comp_copy = work.join(schema::COMPLIANCE_FILE);
    vacuum_into(compliance, &comp_copy)?;
    parts.push(part(schema::COMPLIANCE_FILE, &comp_copy)?);
    Ok(StoreSnapshot { parts, files })
}

fn vacuum_into(from: &Path, to: &Path) -> StoreResult<()> {
    let c = Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", from.display())))?;
    let target = to.to_str().ok_or_else(|| StoreError::Unavailable(format!("{} is not a UTF-8 path", to.display())))?;
    c.execute("VACUUM INTO ?1", [target]).db()?;
    Ok(())
}

/// The file-store keys (and sizes) the copied chat file refers to.
fn file_records(chat_copy: &Path) -> StoreResult<Vec<(String, u64)>> {
    let c = Connection::open_with_flags(chat_copy, OpenFlags::SQLITE_OPEN_READ_ONLY).db()?;
    let mut stmt = c.prepare("SELECT key, size FROM files ORDER BY id").db()?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))).db()?;
    rows.collect::<Result<Vec<_>, _>>().db()
}

/// Opens the copy for streaming and unlinks it: the open file lives until the stream is done.
fn part(name: &str, path: &Path) -> StoreResult<SnapshotPart> {
    let file = std::fs::File::open(path)
        .map_err(|e| StoreError::Unavailable(format!("cannot read {}: {e}", path.display())))?;
    let size = file.metadata().map(|m| m.len()).map_err(|e| StoreError::Unavailable(e.to_string()))?;
    let _ = std::fs::remove_file(path);
    let bytes: ByteStream =
        Box::pin(tokio_util::io::ReaderStream::with_capacity(tokio::fs::File::from_std(file), READ_CHUNK));
    Ok(SnapshotPart { name: name.to_owned(), size, bytes })
}
