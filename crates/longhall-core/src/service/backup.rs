//! Online backup: a consistent snapshot of the stores and the files they refer to, streamed
//! as one archive (format in `crate::backup`) while users keep chatting.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use sha2::Digest;
use tokio::sync::mpsc;

use super::{Actor, Longhall};
use crate::backup::{EntryHead, Manifest, ManifestEntry, VERSION, end_line, entry_line, header, hex};
use crate::error::CoreResult;
use crate::ports::{ByteStream, FileStore, StoreSnapshot};

/// Chunks in flight between the archive writer and the client.
const CHANNEL_CHUNKS: usize = 8;

impl Longhall {
    /// Streams a backup archive of the whole deployment (administrators only). The snapshot is
    /// taken before the first byte; a failure after that ends the stream with an error, so a
    /// client never mistakes a cut-off archive for a whole one (its manifest is missing).
    pub async fn backup(&self, actor: &Actor) -> CoreResult<ByteStream> {
        actor.require_admin()?;
        let snapshot = self.store.snapshot().await?;
        let created = self.now();
        let files = self.files.clone();
        let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
        tokio::spawn(async move {
            if let Err(e) = write_archive(snapshot, files.as_ref(), created, &tx).await {
                tracing::warn!(error = %e, "backup stream ended early");
                let _ = tx.send(Err(e)).await;
            }
        });
        Ok(Box::pin(ChannelStream(rx)))
    }
}

type Chunks = mpsc::Sender<std::io::Result<Bytes>>;

async fn write_archive(
    snapshot: StoreSnapshot,
    files: &dyn FileStore,
    created: i64,
    tx: &Chunks,
) -> std::io::Result<()> {
    send(tx, Bytes::from(header())).await?;
    let mut manifest = Manifest { version: VERSION, created, entries: Vec::new() };
    for part in snapshot.parts {
        manifest.entries.push(write_entry(tx, part.name, part.size, part.bytes).await?);
    }
    for (key, size) in snapshot.files {
        match files.read(key.clone()).await {
            Ok(bytes) => manifest.entries.push(write_entry(tx, format!("files/{key}"), size, bytes).await?),
            // Removed (its room deleted) after the snapshot: the restored server answers
            // `file_not_found` for it, as the live one does now.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                tracing::info!(key, "backup: a file removed since the snapshot is left out");
            }
            Err(e) => return Err(e),
        }
    }
    send(tx, Bytes::from(end_line(&manifest))).await
}

async fn write_entry(tx: &Chunks, name: String, size: u64, mut bytes: ByteStream) -> std::io::Result<ManifestEntry> {
    send(tx, Bytes::from(entry_line(&EntryHead { name: name.clone(), size }))).await?;
    let mut hasher = sha2::Sha256::new();
    let mut sent = 0u64;
    while let Some(chunk) = std::future::poll_fn(|cx| bytes.as_mut().poll_next(cx)).await {
        let chunk = chunk?;
        sent += chunk.len() as u64;
        if sent > size {
            break;
        }
        hasher.update(&chunk);
        send(tx, chunk).await?;
    }
    if sent != size {
        return Err(std::io::Error::other(format!("{name} changed while it was backed up ({sent} bytes, not {size})")));
    }
    Ok(ManifestEntry { name, size, sha256: hex(&hasher.finalize()) })
}

async fn send(tx: &Chunks, chunk: Bytes) -> std::io::Result<()> {
    tx.send(Ok(chunk)).await.map_err(|_| std::io::Error::other("the backup's reader went away"))
}

/// The receiving end of the archive writer, as a byte stream.
struct ChannelStream(mpsc::Receiver<std::io::Result<Bytes>>);

impl Stream for ChannelStream {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}
