//! `DirFileStore`: file objects as plain files in one directory.

use std::io;
use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use longhall_core::ports::{BoxFuture, ByteStream, FileStore, FileStoreError};
use tokio::io::AsyncWriteExt;

/// Big enough for few syscalls per file, small enough that many downloads fit in memory.
const READ_CHUNK: usize = 64 * 1024;

/// Stores each object as `<dir>/<key>`. Writes go to `<dir>/.tmp-<key>` first and are renamed
/// into place only when complete and synced, so a crash or an oversized upload never leaves
/// a partial object under a real key.
#[derive(Debug, Clone)]
pub struct DirFileStore {
    dir: PathBuf,
}

impl DirFileStore {
    /// The directory is created on the first write.
    pub fn new(dir: PathBuf) -> DirFileStore {
        DirFileStore { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Keys come from the server, but a key is still a path component: allow nothing that
    /// could leave the directory or collide with temporary files.
    fn path(&self, key: &str) -> io::Result<PathBuf> {
        let valid = !key.is_empty()
            && key.len() <= 200
            && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("invalid file key {key:?}")));
        }
        Ok(self.dir.join(key))
    }
}

/// Removes the temporary file unless the write completed, including when the write future
/// is dropped half-way (the uploader went away).
struct TempGuard {
    path: Option<PathBuf>,
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

impl FileStore for DirFileStore {
    fn write(&self, key: String, mut body: ByteStream, max_bytes: u64) -> BoxFuture<'_, Result<u64, FileStoreError>> {
        Box::pin(async move {
            let path = self.path(&key)?;
            tokio::fs::create_dir_all(&self.dir).await?;
            let tmp = self.dir.join(format!(".tmp-{key}"));
            let mut file = tokio::fs::File::create(&tmp).await?;
            let mut guard = TempGuard { path: Some(tmp.clone()) };
            let mut size: u64 = 0;
            while let Some(chunk) = body.next().await {
                let chunk = chunk?;
                size += chunk.len() as u64;
                if size > max_bytes {
                    drop(file);
                    return Err(FileStoreError::TooLarge { limit: max_bytes });
                }
                file.write_all(&chunk).await?;
            }
            file.flush().await?;
            file.sync_all().await?;
            drop(file);
            tokio::fs::rename(&tmp, &path).await?;
            guard.path = None;
            sync_dir(&self.dir).await?;
            Ok(size)
        })
    }

    fn read(&self, key: String) -> BoxFuture<'_, io::Result<ByteStream>> {
        Box::pin(async move {
            let file = tokio::fs::File::open(self.path(&key)?).await?;
            let stream: ByteStream = Box::pin(tokio_util::io::ReaderStream::with_capacity(file, READ_CHUNK));
            Ok(stream)
        })
    }

    /// Removing a missing object succeeds: the goal (no such object) is met.
    fn remove(&self, key: String) -> BoxFuture<'_, io::Result<()>> {
        Box::pin(async move {
            match tokio::fs::remove_file(self.path(&key)?).await {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            }
        })
    }

    /// The objects' bytes (temporary files of uploads in progress included); no directory yet
    /// is 0.
    fn used_bytes(&self) -> BoxFuture<'_, io::Result<u64>> {
        let dir = self.dir.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let entries = match std::fs::read_dir(&dir) {
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
                    other => other?,
                };
                let mut bytes = 0;
                for entry in entries {
                    let meta = entry?.metadata()?;
                    if meta.is_file() {
                        bytes += meta.len();
                    }
                }
                Ok(bytes)
            })
            .await
            .map_err(io::Error::other)?
        })
    }
}

/// Makes the rename itself durable: a new directory entry survives power loss only once the
/// directory is synced.
async fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        tokio::fs::File::open(dir).await?.sync_all().await?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}
