//! Compliance processing: the configuration (schema `chat`), and the watermark, lease,
//! publishing intent and run history (schema `compliance`, beside the events they describe).
//!
//! Writes (`*_w`) run on the writer's connection inside its transaction; reads on pooled
//! connections.

use longhall_core::model::*;
use longhall_core::{StoreError, StoreResult};

use crate::conn::{Conn, DbResult};
use crate::conv::*;
use crate::reads::in_snapshot;

/// How many runs the history keeps.
const KEPT_RUNS: i64 = 1000;

// ---- configuration

pub(crate) async fn config(c: &Conn, _: &()) -> StoreResult<Option<ComplianceConfig>> {
    let Some(r) = c
        .query_opt(
            "SELECT enabled, adapter, output_dir, run_interval_secs, one_chat_room_per_output_file, \
             add_chat_room_details, add_user_details, create_file_attachments_manifest, \
             custom_configuration, command FROM chat.compliance_config WHERE scope = 'global'",
            &[],
        )
        .await
        .db()?
    else {
        return Ok(None);
    };
    Ok(Some(ComplianceConfig {
        enabled: get(&r, 0)?,
        adapter: get(&r, 1)?,
        output_dir: get(&r, 2)?,
        run_interval_secs: get::<i64>(&r, 3)? as u64,
        one_chat_room_per_output_file: get(&r, 4)?,
        add_chat_room_details: get(&r, 5)?,
        add_user_details: get(&r, 6)?,
        create_file_attachments_manifest: get(&r, 7)?,
        custom_configuration: get(&r, 8)?,
        command: get(&r, 9)?,
    }))
}

pub(crate) async fn put_config_w(c: &Conn, k: &ComplianceConfig) -> StoreResult<()> {
    c.execute(
        "INSERT INTO chat.compliance_config (scope, enabled, adapter, output_dir, run_interval_secs, \
         one_chat_room_per_output_file, add_chat_room_details, add_user_details, \
         create_file_attachments_manifest, custom_configuration, command) \
         VALUES ('global', $1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (scope) DO UPDATE SET enabled = excluded.enabled, adapter = excluded.adapter, \
         output_dir = excluded.output_dir, run_interval_secs = excluded.run_interval_secs, \
         one_chat_room_per_output_file = excluded.one_chat_room_per_output_file, \
         add_chat_room_details = excluded.add_chat_room_details, add_user_details = excluded.add_user_details, \
         create_file_attachments_manifest = excluded.create_file_attachments_manifest, \
         custom_configuration = excluded.custom_configuration, command = excluded.command",
        &[
            &k.enabled,
            &k.adapter,
            &k.output_dir,
            &(k.run_interval_secs as i64),
            &k.one_chat_room_per_output_file,
            &k.add_chat_room_details,
            &k.add_user_details,
            &k.create_file_attachments_manifest,
            &k.custom_configuration,
            &k.command,
        ],
    )
    .await
    .db()?;
    Ok(())
}

// ---- state

struct Row {
    watermark: i64,
    holder: Option<String>,
    expires: i64,
}

async fn processing_row(c: &Conn) -> StoreResult<Row> {
    let r = c
        .query_opt("SELECT watermark, lease_holder, lease_expires FROM compliance.processing WHERE id = 1", &[])
        .await
        .db()?
        .ok_or_else(|| corrupt("the compliance processing row is missing"))?;
    Ok(Row { watermark: get(&r, 0)?, holder: get(&r, 1)?, expires: get(&r, 2)? })
}

async fn intent_row(c: &Conn) -> StoreResult<Option<PublishIntent>> {
    let Some(r) = c
        .query_opt(
            "SELECT batch_id, after_id, first_id, last_id, events, holder, started, files \
             FROM compliance.publish_intent WHERE id = 1",
            &[],
        )
        .await
        .db()?
    else {
        return Ok(None);
    };
    let files: serde_json::Value = get(&r, 7)?;
    let pairs: Vec<(String, String)> =
        serde_json::from_value(files).map_err(|e| corrupt(format!("publishing intent files: {e}")))?;
    Ok(Some(PublishIntent {
        batch_id: get(&r, 0)?,
        batch: BatchRange {
            after: get(&r, 1)?,
            first: get(&r, 2)?,
            last: get(&r, 3)?,
            events: get::<i64>(&r, 4)? as u64,
        },
        holder: get(&r, 5)?,
        started: get(&r, 6)?,
        files: pairs.into_iter().map(|(temp, final_path)| PublishFile { temp, final_path }).collect(),
    }))
}

pub(crate) async fn state(c: &Conn, _: &()) -> StoreResult<ComplianceState> {
    in_snapshot(c, async {
        let row = processing_row(c).await?;
        Ok(ComplianceState {
            watermark: row.watermark,
            lease: row.holder.map(|holder| ComplianceLease { holder, expires: row.expires }),
            intent: intent_row(c).await?,
        })
    })
    .await
}

pub(crate) async fn acquire_lease_w(c: &Conn, (holder, now, ttl): &(String, Millis, i64)) -> StoreResult<bool> {
    let n = c
        .execute(
            "UPDATE compliance.processing SET lease_holder = $1, lease_expires = $2 + $3 \
             WHERE id = 1 AND (lease_holder IS NULL OR lease_holder = $1 OR lease_expires <= $2)",
            &[holder, now, ttl],
        )
        .await
        .db()?;
    Ok(n == 1)
}

pub(crate) async fn renew_lease_w(c: &Conn, (holder, now, ttl): &(String, Millis, i64)) -> StoreResult<bool> {
    let n = c
        .execute(
            "UPDATE compliance.processing SET lease_expires = $2 + $3 \
             WHERE id = 1 AND lease_holder = $1 AND lease_expires > $2",
            &[holder, now, ttl],
        )
        .await
        .db()?;
    Ok(n == 1)
}

pub(crate) async fn release_lease_w(c: &Conn, holder: &String) -> StoreResult<()> {
    c.execute(
        "UPDATE compliance.processing SET lease_holder = NULL, lease_expires = 0 WHERE id = 1 AND lease_holder = $1",
        &[holder],
    )
    .await
    .db()?;
    Ok(())
}

pub(crate) async fn next_batch(c: &Conn, max_events: &u32) -> StoreResult<Option<BatchRange>> {
    in_snapshot(c, async {
        let after = processing_row(c).await?.watermark;
        let r = c
            .query_one(
                "SELECT count(*), min(id), max(id) FROM \
                 (SELECT id FROM compliance.events WHERE id > $1 ORDER BY id LIMIT $2) b",
                &[&after, &i64::from(*max_events)],
            )
            .await
            .db()?;
        let (events, first, last): (i64, Option<i64>, Option<i64>) = (get(&r, 0)?, get(&r, 1)?, get(&r, 2)?);
        Ok(match (first, last) {
            (Some(first), Some(last)) if events > 0 => Some(BatchRange { after, first, last, events: events as u64 }),
            _ => None,
        })
    })
    .await
}

/// Room by room: an index seek for the rest of the current room's events in the batch, then
/// a seek to the next room that has events at all (one range scan over `(room, id)` would
/// also walk each room's events outside the batch).
pub(crate) async fn batch_page(
    c: &Conn,
    (batch, cursor, limit): &(BatchRange, (RoomId, i64), u32),
) -> StoreResult<Vec<(i64, ComplianceEvent)>> {
    let limit = *limit as usize;
    let (mut room, mut after) = *cursor;
    let mut out = Vec::new();
    while out.len() < limit {
        let rows = c
            .query(
                concat!(
                    "SELECT ",
                    event_columns!(),
                    " FROM compliance.events WHERE room_id = $1 AND id > $2 AND id <= $3 ORDER BY id LIMIT $4"
                ),
                &[&room, &after.max(batch.after), &batch.last, &((limit - out.len()) as i64)],
            )
            .await
            .db()?;
        out.extend(event_rows(&rows)?);
        if out.len() >= limit {
            break;
        }
        match c
            .query_opt("SELECT room_id FROM compliance.events WHERE room_id > $1 ORDER BY room_id LIMIT 1", &[&room])
            .await
            .db()?
        {
            Some(r) => (room, after) = (get(&r, 0)?, i64::MIN),
            None => break,
        }
    }
    Ok(out)
}

fn conflict(what: impl Into<String>) -> StoreError {
    StoreError::Conflict(what.into())
}

pub(crate) async fn begin_publish_w(c: &Conn, (intent, now): &(PublishIntent, Millis)) -> StoreResult<()> {
    let row = processing_row(c).await?;
    if row.holder.as_deref() != Some(intent.holder.as_str()) || row.expires <= *now {
        return Err(conflict(format!("the compliance lease (server {} does not hold it)", intent.holder)));
    }
    if row.watermark != intent.batch.after {
        return Err(conflict(format!(
            "the compliance batch {} (events after {} were processed meanwhile)",
            intent.batch_id, row.watermark
        )));
    }
    if let Some(existing) = intent_row(c).await?
        && (existing.batch_id != intent.batch_id || existing.batch != intent.batch)
    {
        return Err(conflict(format!("the compliance output (batch {} is being published)", existing.batch_id)));
    }
    let files: Vec<(&str, &str)> = intent.files.iter().map(|f| (f.temp.as_str(), f.final_path.as_str())).collect();
    let files = serde_json::to_value(&files).map_err(|e| StoreError::Unavailable(e.to_string()))?;
    c.execute(
        "INSERT INTO compliance.publish_intent (id, batch_id, after_id, first_id, last_id, events, holder, started, files) \
         VALUES (1, $1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (id) DO UPDATE SET batch_id = excluded.batch_id, after_id = excluded.after_id, \
         first_id = excluded.first_id, last_id = excluded.last_id, events = excluded.events, \
         holder = excluded.holder, started = excluded.started, files = excluded.files",
        &[
            &intent.batch_id,
            &intent.batch.after,
            &intent.batch.first,
            &intent.batch.last,
            &(intent.batch.events as i64),
            &intent.holder,
            &intent.started,
            &files,
        ],
    )
    .await
    .db()?;
    Ok(())
}

pub(crate) async fn finish_run_w(c: &Conn, (run, batch): &(ComplianceRun, Option<BatchRange>)) -> StoreResult<i64> {
    if let Some(batch) = batch {
        let row = processing_row(c).await?;
        if row.watermark != batch.after {
            return Err(conflict(format!(
                "the compliance batch {}-{} (the watermark is {}, not {})",
                batch.first, batch.last, row.watermark, batch.after
            )));
        }
        if let Some(existing) = intent_row(c).await?
            && existing.batch != *batch
        {
            return Err(conflict(format!("the compliance output (batch {} is being published)", existing.batch_id)));
        }
        c.execute("UPDATE compliance.processing SET watermark = $1 WHERE id = 1", &[&batch.last]).await.db()?;
        c.execute("DELETE FROM compliance.publish_intent", &[]).await.db()?;
    }
    let r = c
        .query_one(
            "INSERT INTO compliance.runs (server, started, finished, batch_id, first_event, last_event, events, \
             files, recovered, error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
            &[
                &run.server,
                &run.started,
                &run.finished,
                &run.batch_id,
                &run.first_event,
                &run.last_event,
                &(run.events as i64),
                &(run.files as i64),
                &run.recovered,
                &run.error,
            ],
        )
        .await
        .db()?;
    let id: i64 = get(&r, 0)?;
    c.execute("DELETE FROM compliance.runs WHERE id <= $1", &[&(id - KEPT_RUNS)]).await.db()?;
    Ok(id)
}

pub(crate) async fn runs(c: &Conn, limit: &u32) -> StoreResult<Vec<ComplianceRun>> {
    c.query(
        "SELECT id, server, started, finished, batch_id, first_event, last_event, events, files, recovered, error \
         FROM compliance.runs ORDER BY id DESC LIMIT $1",
        &[&i64::from(*limit)],
    )
    .await
    .db()?
    .iter()
    .map(|r| {
        Ok(ComplianceRun {
            id: get(r, 0)?,
            server: get(r, 1)?,
            started: get(r, 2)?,
            finished: get(r, 3)?,
            batch_id: get(r, 4)?,
            first_event: get(r, 5)?,
            last_event: get(r, 6)?,
            events: get::<i64>(r, 7)? as u64,
            files: get::<i64>(r, 8)? as u64,
            recovered: get(r, 9)?,
            error: get(r, 10)?,
        })
    })
    .collect()
}

pub(crate) async fn prune_w(c: &Conn, limit: &u32) -> StoreResult<u64> {
    c.execute(
        "DELETE FROM compliance.events WHERE id IN (SELECT id FROM compliance.events \
         WHERE id <= (SELECT watermark FROM compliance.processing WHERE id = 1) ORDER BY id LIMIT $1)",
        &[&i64::from(*limit)],
    )
    .await
    .db()
}
