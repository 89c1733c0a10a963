//! The backup archive: one file holding a consistent copy of a deployment's stores and files,
//! with a manifest of checksums. Written as a stream by the server (`Longhall::backup`), read
//! by `longhall restore`, which verifies every checksum before it writes anything.
//!
//! Format, version 1 (documented in docs/operations.md):
//!
//! ```text
//! LONGHALL-BACKUP 1\n
//! ENTRY {"name":"chat.db","size":123}\n<123 bytes>
//! ENTRY {"name":"files/k1","size":9}\n<9 bytes>
//! …
//! END {"version":1,"created":1733230000000,"entries":[{"name":…,"size":…,"sha256":…},…]}\n
//! ```
//!
//! Entry names are `chat.db`, `compliance.db` and `files/<key>`; nothing may follow `END`.

use std::io::{BufRead, Read};

use serde::{Deserialize, Serialize};
use sha2::Digest;

/// The first line of every backup.
pub const MAGIC: &str = "LONGHALL-BACKUP";
/// The format version this server writes and reads.
pub const VERSION: u32 = 1;
/// Longest `ENTRY` line a reader accepts.
const MAX_ENTRY_LINE: usize = 4096;
/// Longest `END` line (the manifest) a reader accepts.
const MAX_END_LINE: usize = 64 * 1024 * 1024;

/// What one entry's header says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryHead {
    pub name: String,
    pub size: u64,
}

/// One entry as the manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

/// The trailer: what the archive holds, with checksums.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    /// When the snapshot was taken (ms since 1970).
    pub created: i64,
    pub entries: Vec<ManifestEntry>,
}

/// Why an archive can't be restored. Each message says what is wrong with the file.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("this is not a Longhall backup (it does not start with \"{MAGIC}\")")]
    NotABackup,
    #[error("this backup has format version {0}; this Longhall reads version {VERSION}: use a matching release")]
    Version(String),
    #[error("the backup is truncated: it ends inside {0}")]
    Truncated(String),
    #[error("the backup is damaged: {0}")]
    Damaged(String),
    #[error("reading the backup failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Whether `name` may appear in an archive (and so be written under a data directory).
pub fn valid_entry_name(name: &str) -> bool {
    match name.strip_prefix("files/") {
        Some(key) => {
            !key.is_empty()
                && key.len() <= 200
                && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        }
        None => name == "chat.db" || name == "compliance.db",
    }
}

/// The first line of an archive.
pub fn header() -> String {
    format!("{MAGIC} {VERSION}\n")
}

/// The line before an entry's bytes.
pub fn entry_line(head: &EntryHead) -> String {
    format!("ENTRY {}\n", serde_json::to_string(head).unwrap_or_default())
}

/// The last line of an archive.
pub fn end_line(manifest: &Manifest) -> String {
    format!("END {}\n", serde_json::to_string(manifest).unwrap_or_default())
}

/// Lower-case hex of a SHA-256 digest.
pub fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads a line of at most `max` bytes (without its `\n`); `None` at the end of the input.
fn read_line(r: &mut impl BufRead, max: usize, what: &str) -> Result<Option<String>, ArchiveError> {
    let mut line = Vec::new();
    let n = r.take(max as u64 + 1).read_until(b'\n', &mut line)?;
    if n == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        return Err(if line.len() > max {
            ArchiveError::Damaged(format!("{what} is longer than {max} bytes"))
        } else {
            ArchiveError::Truncated(what.to_owned())
        });
    }
    line.pop();
    String::from_utf8(line).map(Some).map_err(|_| ArchiveError::Damaged(format!("{what} is not text")))
}

/// Reads a whole archive: calls `entry` for each entry with a reader of exactly its bytes,
/// checks each entry's size and checksum against the manifest, and returns the manifest.
/// `entry` must read its reader to the end (or not at all: what it leaves is skipped).
pub fn read_archive<R: BufRead>(
    mut r: R,
    mut entry: impl FnMut(&EntryHead, &mut dyn Read) -> std::io::Result<()>,
) -> Result<Manifest, ArchiveError> {
    // Anything that does not start with the header line is not ours (a zip, a text file…).
    let first = match read_line(&mut r, 64, "the header") {
        Ok(Some(line)) => line,
        Ok(None) | Err(ArchiveError::Truncated(_) | ArchiveError::Damaged(_)) => return Err(ArchiveError::NotABackup),
        Err(e) => return Err(e),
    };
    let version = first.strip_prefix(MAGIC).map(str::trim).ok_or(ArchiveError::NotABackup)?;
    if version != VERSION.to_string() {
        return Err(ArchiveError::Version(version.to_owned()));
    }
    let mut seen: Vec<ManifestEntry> = Vec::new();
    loop {
        let line = read_line(&mut r, MAX_END_LINE, "the list of entries")?
            .ok_or_else(|| ArchiveError::Truncated("the list of entries (no END line)".into()))?;
        if let Some(json) = line.strip_prefix("ENTRY ") {
            if line.len() > MAX_ENTRY_LINE {
                return Err(ArchiveError::Damaged("an entry header is too long".into()));
            }
            let head: EntryHead = serde_json::from_str(json)
                .map_err(|e| ArchiveError::Damaged(format!("an entry header is unreadable: {e}")))?;
            if !valid_entry_name(&head.name) {
                return Err(ArchiveError::Damaged(format!("an entry has the name {:?}", head.name)));
            }
            if seen.iter().any(|e| e.name == head.name) {
                return Err(ArchiveError::Damaged(format!("{} appears twice", head.name)));
            }
            let mut hashing = HashingReader { inner: (&mut r).take(head.size), hasher: sha2::Sha256::new(), read: 0 };
            entry(&head, &mut hashing)?;
            std::io::copy(&mut hashing, &mut std::io::sink())?;
            if hashing.read != head.size {
                return Err(ArchiveError::Truncated(head.name.clone()));
            }
            seen.push(ManifestEntry { name: head.name, size: head.size, sha256: hex(&hashing.hasher.finalize()) });
        } else if let Some(json) = line.strip_prefix("END ") {
            let manifest: Manifest = serde_json::from_str(json)
                .map_err(|e| ArchiveError::Damaged(format!("the manifest is unreadable: {e}")))?;
            if manifest.version != VERSION {
                return Err(ArchiveError::Version(manifest.version.to_string()));
            }
            if manifest.entries != seen {
                let wrong = manifest
                    .entries
                    .iter()
                    .zip(&seen)
                    .find(|(listed, got)| listed != got)
                    .map(|(listed, _)| listed.name.clone())
                    .unwrap_or_else(|| "the number of entries".into());
                return Err(ArchiveError::Damaged(format!("{wrong} does not match its checksum in the manifest")));
            }
            let mut rest = [0u8; 1];
            if r.read(&mut rest)? != 0 {
                return Err(ArchiveError::Damaged("something follows the manifest".into()));
            }
            return Ok(manifest);
        } else {
            return Err(ArchiveError::Damaged("a line is neither an entry nor the manifest".into()));
        }
    }
}

struct HashingReader<R> {
    inner: R,
    hasher: sha2::Sha256,
    read: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = header().into_bytes();
        let mut manifest = Manifest { version: VERSION, created: 7, entries: vec![] };
        for (name, bytes) in entries {
            out.extend(entry_line(&EntryHead { name: (*name).into(), size: bytes.len() as u64 }).bytes());
            out.extend_from_slice(bytes);
            manifest.entries.push(ManifestEntry {
                name: (*name).into(),
                size: bytes.len() as u64,
                sha256: hex(&sha2::Sha256::digest(bytes)),
            });
        }
        out.extend(end_line(&manifest).bytes());
        out
    }

    fn read_all(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, ArchiveError> {
        let mut got = Vec::new();
        read_archive(bytes, |head, r| {
            let mut b = Vec::new();
            r.read_to_end(&mut b)?;
            got.push((head.name.clone(), b));
            Ok(())
        })?;
        Ok(got)
    }

    #[test]
    fn entries_come_back_with_their_bytes() {
        let a = archive(&[("chat.db", b"chat bytes\n\nwith newlines"), ("files/k-1", b""), ("compliance.db", b"c")]);
        let got = read_all(&a).unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], ("chat.db".into(), b"chat bytes\n\nwith newlines".to_vec()));
        assert_eq!(got[1].1, b"");
    }

    #[test]
    fn every_kind_of_damage_is_refused_with_what_is_wrong() {
        let good = archive(&[("chat.db", b"0123456789"), ("files/abc", b"file")]);
        let cut = |n: usize| read_all(&good[..good.len() - n]).unwrap_err().to_string();
        assert!(cut(1).contains("truncated"), "{}", cut(1));
        assert!(cut(60).contains("truncated"), "{}", cut(60));
        let mut altered = good.clone();
        let at = altered.windows(4).position(|w| w == b"0123").unwrap();
        altered[at] = b'9';
        assert!(read_all(&altered).unwrap_err().to_string().contains("chat.db does not match"));
        let mut extra = good.clone();
        extra.extend_from_slice(b"more");
        assert!(read_all(&extra).unwrap_err().to_string().contains("follows the manifest"));
        let newer = String::from_utf8_lossy(&good).replacen("LONGHALL-BACKUP 1", "LONGHALL-BACKUP 2", 1);
        assert!(matches!(read_all(newer.as_bytes()), Err(ArchiveError::Version(v)) if v == "2"));
        assert!(matches!(read_all(b"PK\x03\x04 a zip file"), Err(ArchiveError::NotABackup)));
        let escaping = archive(&[("files/../../etc/passwd", b"x")]);
        assert!(read_all(&escaping).unwrap_err().to_string().contains("has the name"));
    }
}
