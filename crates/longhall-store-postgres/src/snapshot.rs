//! A consistent copy of both schemas while the server keeps writing.
//!
//! One read-only repeatable-read transaction copies every table with `COPY … TO STDOUT`, so
//! the chat and the compliance parts are of one moment. Each part is a psql script of data:
//! it empties the tables, loads the rows, and moves the id sequences past them; it is loaded
//! with `psql --single-transaction -f` into a database Longhall has migrated (opened) once.
//! The parts are spooled to unlinked temporary files, since a part's size is announced
//! before its bytes.

use futures_util::StreamExt;
use longhall_core::ports::{ByteStream, SnapshotPart, StoreSnapshot};
use longhall_core::{StoreError, StoreResult};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use crate::conn::{Conn, DbResult};
use crate::conv::get;

/// Tables of each schema in an order that satisfies their foreign keys, each with whether it
/// has an identity `id`.
const CHAT_TABLES: &[(&str, bool)] = &[
    ("users", true),
    ("groups", true),
    ("addins", true),
    ("categories", true),
    ("rooms", true),
    ("names", false),
    ("principal_lists", false),
    ("policies", false),
    ("configs", false),
    ("meta", false),
    ("tokens", true),
    ("files", true),
    ("messages", true),
    ("follows", false),
    ("invitations", false),
    ("compliance_config", false),
];
const COMPLIANCE_TABLES: &[(&str, bool)] = &[
    ("events", true),
    ("processing", false),
    ("publish_intent", false),
    ("runs", true),
    ("health_probe", false),
    ("open_joins", false),
    ("audit_log", true),
];

/// Big enough for few syscalls, small enough for many concurrent streams.
const READ_CHUNK: usize = 256 * 1024;

pub(crate) async fn take(c: &Conn) -> StoreResult<StoreSnapshot> {
    c.batch("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await?;
    let files = c
        .query("SELECT key, size FROM chat.files ORDER BY id", &[])
        .await
        .db()?
        .iter()
        .map(|r| Ok((get::<String>(r, 0)?, get::<i64>(r, 1)? as u64)))
        .collect::<StoreResult<Vec<_>>>()?;
    let chat = dump(c, "chat", CHAT_TABLES).await?;
    let compliance = dump(c, "compliance", COMPLIANCE_TABLES).await?;
    c.batch("COMMIT").await?;
    Ok(StoreSnapshot { parts: vec![chat, compliance], files })
}

fn io_error(e: std::io::Error) -> StoreError {
    StoreError::Unavailable(format!("cannot write the snapshot's spool file: {e}"))
}

async fn dump(c: &Conn, schema: &str, tables: &[(&str, bool)]) -> StoreResult<SnapshotPart> {
    let spool = tempfile::tempfile().map_err(io_error)?;
    let mut out = tokio::io::BufWriter::new(tokio::fs::File::from_std(spool));
    let names: Vec<String> = tables.iter().map(|(t, _)| format!("{schema}.{t}")).collect();
    let header = format!(
        "-- Longhall {schema} store data. Load with psql --single-transaction into a database\n\
         -- Longhall has opened once (so its schema exists at the same version).\n\
         SET client_encoding = 'UTF8';\n\
         TRUNCATE {} CASCADE;\n",
        names.join(", ")
    );
    out.write_all(header.as_bytes()).await.map_err(io_error)?;
    for (name, _) in names.iter().zip(tables) {
        out.write_all(format!("COPY {name} FROM stdin;\n").as_bytes()).await.map_err(io_error)?;
        let stream = c.client.copy_out(format!("COPY {name} TO STDOUT").as_str()).await.db()?;
        let mut stream = std::pin::pin!(stream);
        while let Some(chunk) = stream.next().await {
            out.write_all(&chunk.db()?).await.map_err(io_error)?;
        }
        out.write_all(b"\\.\n").await.map_err(io_error)?;
    }
    // Sequences are not transactional: their current value may be past the copied rows,
    // which only skips ids, never reuses one.
    for (name, _) in names.iter().zip(tables).filter(|(_, (_, identity))| *identity) {
        let r = c.client.query_one("SELECT pg_get_serial_sequence($1, 'id')", &[name]).await.db()?;
        let seq: String = get(&r, 0)?;
        let r = c.client.query_one(&format!("SELECT last_value, is_called FROM {seq}"), &[]).await.db()?;
        let (last, called): (i64, bool) = (get(&r, 0)?, get(&r, 1)?);
        out.write_all(format!("SELECT pg_catalog.setval('{seq}', {last}, {called});\n").as_bytes())
            .await
            .map_err(io_error)?;
    }
    // Loading the messages ran the content-size triggers over rooms copied with their sizes:
    // the sizes are counted again from the rows.
    if schema == "chat" {
        out.write_all(
            b"UPDATE chat.rooms r SET content_bytes = coalesce((SELECT sum(octet_length(m.text) \
              + coalesce(octet_length(m.story_title), 0)) FROM chat.messages m WHERE m.room_id = r.id), 0);\n",
        )
        .await
        .map_err(io_error)?;
    }
    out.flush().await.map_err(io_error)?;
    let mut file = out.into_inner();
    let size = file.metadata().await.map_err(io_error)?.len();
    file.rewind().await.map_err(io_error)?;
    let bytes: ByteStream = Box::pin(tokio_util::io::ReaderStream::with_capacity(file, READ_CHUNK));
    Ok(SnapshotPart { name: format!("{schema}.sql"), size, bytes })
}
