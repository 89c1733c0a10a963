//! Compliance processing: the configuration (in `chat.db`), and the watermark, lease,
//! publishing intent and run history (in `compliance.db`, beside the events they describe, so
//! that moving the watermark and clearing the intent commit together).
//!
//! Writes (`*_w`) run on the writer's connections inside its transaction; reads on pooled
//! read connections, where `compliance.db` is attached as `compliance`.

use longhall_core::model::*;
use longhall_core::{StoreError, StoreResult};
use rusqlite::{Connection, OptionalExtension, params};

use crate::conv::*;
use crate::writer::Conns;

/// How many runs the history keeps.
const KEPT_RUNS: i64 = 1000;

// ---- configuration (chat.db)

pub(crate) fn config(c: &Connection) -> StoreResult<Option<ComplianceConfig>> {
    let row = c
        .prepare_cached(
            "SELECT enabled, adapter, output_dir, run_interval_secs, one_chat_room_per_output_file, \
             add_chat_room_details, add_user_details, create_file_attachments_manifest, \
             custom_configuration, command FROM compliance_config WHERE scope = 'global'",
        )
        .db()?
        .query_row([], |r| {
            Ok((
                ComplianceConfig {
                    enabled: r.get(0)?,
                    adapter: r.get(1)?,
                    output_dir: r.get(2)?,
                    run_interval_secs: r.get::<_, i64>(3)? as u64,
                    one_chat_room_per_output_file: r.get(4)?,
                    add_chat_room_details: r.get(5)?,
                    add_user_details: r.get(6)?,
                    create_file_attachments_manifest: r.get(7)?,
                    custom_configuration: r.get(8)?,
                    command: Vec::new(),
                },
                r.get::<_, String>(9)?,
            ))
        })
        .optional()
        .db()?;
    let Some((mut config, command)) = row else { return Ok(None) };
    config.command = serde_json::from_str(&command).map_err(|e| corrupt(format!("compliance command: {e}")))?;
    Ok(Some(config))
}

pub(crate) fn put_config_w(c: &Conns<'_>, k: &ComplianceConfig) -> StoreResult<()> {
    let command = serde_json::to_string(&k.command).map_err(|e| StoreError::Unavailable(e.to_string()))?;
    c.chat
        .execute(
            "INSERT OR REPLACE INTO compliance_config (scope, enabled, adapter, output_dir, run_interval_secs, \
             one_chat_room_per_output_file, add_chat_room_details, add_user_details, \
             create_file_attachments_manifest, custom_configuration, command) \
             VALUES ('global', ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                k.enabled,
                k.adapter,
                k.output_dir,
                k.run_interval_secs as i64,
                k.one_chat_room_per_output_file,
                k.add_chat_room_details,
                k.add_user_details,
                k.create_file_attachments_manifest,
                k.custom_configuration,
                command
            ],
        )
        .db()?;
    Ok(())
}

// ---- state (compliance.db)

struct Row {
    watermark: i64,
    holder: Option<String>,
    expires: i64,
}

fn processing_row(c: &Connection, schema: &str) -> StoreResult<Row> {
    c.prepare_cached(&format!("SELECT watermark, lease_holder, lease_expires FROM {schema}processing WHERE id = 1"))
        .db()?
        .query_row([], |r| Ok(Row { watermark: r.get(0)?, holder: r.get(1)?, expires: r.get(2)? }))
        .optional()
        .db()?
        .ok_or_else(|| corrupt("the compliance processing row is missing"))
}

fn intent_row(c: &Connection, schema: &str) -> StoreResult<Option<PublishIntent>> {
    let row = c
        .prepare_cached(&format!(
            "SELECT batch_id, after_id, first_id, last_id, events, holder, started, files \
             FROM {schema}publish_intent WHERE id = 1"
        ))
        .db()?
        .query_row([], |r| {
            Ok((
                PublishIntent {
                    batch_id: r.get(0)?,
                    batch: BatchRange {
                        after: r.get(1)?,
                        first: r.get(2)?,
                        last: r.get(3)?,
                        events: r.get::<_, i64>(4)? as u64,
                    },
                    holder: r.get(5)?,
                    started: r.get(6)?,
                    files: Vec::new(),
                },
                r.get::<_, String>(7)?,
            ))
        })
        .optional()
        .db()?;
    let Some((mut intent, files)) = row else { return Ok(None) };
    let pairs: Vec<(String, String)> =
        serde_json::from_str(&files).map_err(|e| corrupt(format!("publishing intent files: {e}")))?;
    intent.files = pairs.into_iter().map(|(temp, final_path)| PublishFile { temp, final_path }).collect();
    Ok(Some(intent))
}

/// Runs `f` inside one read transaction, so everything it reads is one snapshot.
fn snapshot<T>(c: &Connection, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
    c.execute_batch("BEGIN").db()?;
    let result = f(c);
    let _ = c.execute_batch("COMMIT");
    result
}

pub(crate) fn state(c: &Connection) -> StoreResult<ComplianceState> {
    snapshot(c, |c| {
        let row = processing_row(c, "compliance.")?;
        Ok(ComplianceState {
            watermark: row.watermark,
            lease: row.holder.map(|holder| ComplianceLease { holder, expires: row.expires }),
            intent: intent_row(c, "compliance.")?,
        })
    })
}

pub(crate) fn acquire_lease_w(c: &Conns<'_>, holder: &str, now: Millis, ttl: i64) -> StoreResult<bool> {
    let n = c
        .comp
        .prepare_cached(
            "UPDATE processing SET lease_holder = ?1, lease_expires = ?2 + ?3 \
             WHERE id = 1 AND (lease_holder IS NULL OR lease_holder = ?1 OR lease_expires <= ?2)",
        )
        .db()?
        .execute(params![holder, now, ttl])
        .db()?;
    Ok(n == 1)
}

pub(crate) fn renew_lease_w(c: &Conns<'_>, holder: &str, now: Millis, ttl: i64) -> StoreResult<bool> {
    let n = c
        .comp
        .prepare_cached(
            "UPDATE processing SET lease_expires = ?2 + ?3 WHERE id = 1 AND lease_holder = ?1 AND lease_expires > ?2",
        )
        .db()?
        .execute(params![holder, now, ttl])
        .db()?;
    Ok(n == 1)
}

pub(crate) fn release_lease_w(c: &Conns<'_>, holder: &str) -> StoreResult<()> {
    c.comp
        .prepare_cached(
            "UPDATE processing SET lease_holder = NULL, lease_expires = 0 WHERE id = 1 AND lease_holder = ?1",
        )
        .db()?
        .execute([holder])
        .db()?;
    Ok(())
}

pub(crate) fn next_batch(c: &Connection, max_events: u32) -> StoreResult<Option<BatchRange>> {
    snapshot(c, |c| {
        let after = processing_row(c, "compliance.")?.watermark;
        let (events, first, last): (i64, Option<i64>, Option<i64>) = c
            .prepare_cached(
                "SELECT count(*), min(id), max(id) FROM \
                 (SELECT id FROM compliance.events WHERE id > ?1 ORDER BY id LIMIT ?2)",
            )
            .db()?
            .query_row(params![after, max_events], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .db()?;
        Ok(match (first, last) {
            (Some(first), Some(last)) if events > 0 => Some(BatchRange { after, first, last, events: events as u64 }),
            _ => None,
        })
    })
}

/// Room by room: an exact index seek for the rest of the current room's events in the batch,
/// then a seek to the next room that has events at all. (One range scan over `(room, id)`
/// would also walk each room's events outside the batch: a large backlog behind a batch.)
pub(crate) fn batch_page(
    c: &Connection,
    batch: BatchRange,
    cursor: (RoomId, i64),
    limit: u32,
) -> StoreResult<Vec<(i64, ComplianceEvent)>> {
    let mut in_room = c
        .prepare_cached(
            "SELECT id, kind, ts, room_id, room_name, user_id, user_login, seq, detail \
             FROM compliance.events INDEXED BY events_by_room \
             WHERE room_id = ?1 AND id > ?2 AND id <= ?3 ORDER BY id LIMIT ?4",
        )
        .db()?;
    let mut next_room = c
        .prepare_cached(
            "SELECT room_id FROM compliance.events INDEXED BY events_by_room \
             WHERE room_id > ?1 ORDER BY room_id LIMIT 1",
        )
        .db()?;
    let limit = limit as usize;
    let (mut room, mut after) = cursor;
    let mut raw = Vec::new();
    while raw.len() < limit {
        let rows = in_room
            .query_map(params![room, after.max(batch.after), batch.last, (limit - raw.len()) as i64], raw_event_row)
            .db()?
            .collect::<rusqlite::Result<Vec<_>>>()
            .db()?;
        raw.extend(rows);
        if raw.len() >= limit {
            break;
        }
        match next_room.query_row([room], |r| r.get::<_, RoomId>(0)).optional().db()? {
            Some(r) => (room, after) = (r, i64::MIN),
            None => break,
        }
    }
    raw.into_iter().map(RawEvent::into_event).collect()
}

fn conflict(what: impl Into<String>) -> StoreError {
    StoreError::Conflict(what.into())
}

pub(crate) fn begin_publish_w(c: &Conns<'_>, intent: &PublishIntent, now: Millis) -> StoreResult<()> {
    let row = processing_row(c.comp, "")?;
    if row.holder.as_deref() != Some(intent.holder.as_str()) || row.expires <= now {
        return Err(conflict(format!("the compliance lease (server {} does not hold it)", intent.holder)));
    }
    if row.watermark != intent.batch.after {
        return Err(conflict(format!(
            "the compliance batch {} (events after {} were processed meanwhile)",
            intent.batch_id, row.watermark
        )));
    }
    if let Some(existing) = intent_row(c.comp, "")?
        && (existing.batch_id != intent.batch_id || existing.batch != intent.batch)
    {
        return Err(conflict(format!("the compliance output (batch {} is being published)", existing.batch_id)));
    }
    let files: Vec<(&str, &str)> = intent.files.iter().map(|f| (f.temp.as_str(), f.final_path.as_str())).collect();
    let files = serde_json::to_string(&files).map_err(|e| StoreError::Unavailable(e.to_string()))?;
    c.comp
        .prepare_cached(
            "INSERT OR REPLACE INTO publish_intent (id, batch_id, after_id, first_id, last_id, events, holder, started, files) \
             VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .db()?
        .execute(params![
            intent.batch_id,
            intent.batch.after,
            intent.batch.first,
            intent.batch.last,
            intent.batch.events as i64,
            intent.holder,
            intent.started,
            files
        ])
        .db()?;
    Ok(())
}

pub(crate) fn finish_run_w(c: &Conns<'_>, run: &ComplianceRun, batch: Option<BatchRange>) -> StoreResult<i64> {
    if let Some(batch) = batch {
        let row = processing_row(c.comp, "")?;
        if row.watermark != batch.after {
            return Err(conflict(format!(
                "the compliance batch {}-{} (the watermark is {}, not {})",
                batch.first, batch.last, row.watermark, batch.after
            )));
        }
        if let Some(existing) = intent_row(c.comp, "")?
            && existing.batch != batch
        {
            return Err(conflict(format!("the compliance output (batch {} is being published)", existing.batch_id)));
        }
        c.comp.execute("UPDATE processing SET watermark = ?1 WHERE id = 1", [batch.last]).db()?;
        c.comp.execute("DELETE FROM publish_intent", []).db()?;
    }
    c.comp
        .prepare_cached(
            "INSERT INTO runs (server, started, finished, batch_id, first_event, last_event, events, files, recovered, error) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )
        .db()?
        .execute(params![
            run.server,
            run.started,
            run.finished,
            run.batch_id,
            run.first_event,
            run.last_event,
            run.events as i64,
            run.files as i64,
            run.recovered,
            run.error
        ])
        .db()?;
    let id = c.comp.last_insert_rowid();
    c.comp.prepare_cached("DELETE FROM runs WHERE id <= ?1").db()?.execute([id - KEPT_RUNS]).db()?;
    Ok(id)
}

pub(crate) fn runs(c: &Connection, limit: u32) -> StoreResult<Vec<ComplianceRun>> {
    c.prepare_cached(
        "SELECT id, server, started, finished, batch_id, first_event, last_event, events, files, recovered, error \
         FROM compliance.runs ORDER BY id DESC LIMIT ?1",
    )
    .db()?
    .query_map([limit], |r| {
        Ok(ComplianceRun {
            id: r.get(0)?,
            server: r.get(1)?,
            started: r.get(2)?,
            finished: r.get(3)?,
            batch_id: r.get(4)?,
            first_event: r.get(5)?,
            last_event: r.get(6)?,
            events: r.get::<_, i64>(7)? as u64,
            files: r.get::<_, i64>(8)? as u64,
            recovered: r.get(9)?,
            error: r.get(10)?,
        })
    })
    .db()?
    .collect::<rusqlite::Result<Vec<_>>>()
    .db()
}

pub(crate) fn prune_w(c: &Conns<'_>, limit: u32) -> StoreResult<u64> {
    let n = c
        .comp
        .prepare_cached(
            "DELETE FROM events WHERE id IN (SELECT id FROM events \
             WHERE id <= (SELECT watermark FROM processing WHERE id = 1) ORDER BY id LIMIT ?1)",
        )
        .db()?
        .execute([limit])
        .db()?;
    Ok(n as u64)
}
