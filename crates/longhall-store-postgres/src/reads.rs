//! Read operations, run on pooled connections.

use std::collections::HashMap;

use longhall_core::change::{AuditQuery, AuditRecord, LoggedChange};
use longhall_core::model::*;
use longhall_core::principal::Principal;
use longhall_core::{StoreError, StoreResult};

use crate::conn::{Conn, DbResult};
use crate::conv::*;

/// Runs `f` in one read-only repeatable-read transaction, so everything it reads is one
/// snapshot. (A failed read drops its connection rather than returning it to the pool, so an
/// open transaction never leaks.)
pub(crate) async fn in_snapshot<T>(c: &Conn, f: impl Future<Output = StoreResult<T>>) -> StoreResult<T> {
    c.batch("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await?;
    let result = f.await?;
    c.batch("COMMIT").await?;
    Ok(result)
}

type Lists = HashMap<(String, i64, String), Vec<Principal>>;

pub(crate) async fn load_catalog(c: &Conn, _: &()) -> StoreResult<CatalogData> {
    in_snapshot(c, load_catalog_in(c)).await
}

async fn load_catalog_in(c: &Conn) -> StoreResult<CatalogData> {
    let mut lists: Lists = HashMap::new();
    for r in c
        .query(
            "SELECT owner_kind, owner_id, list, principal FROM chat.principal_lists \
             ORDER BY owner_kind, owner_id, list, pos",
            &[],
        )
        .await
        .db()?
    {
        let key = (get(&r, 0)?, get(&r, 1)?, get(&r, 2)?);
        lists.entry(key).or_default().push(parse_principal(get(&r, 3)?)?);
    }
    let mut take = |kind: &str, id: i64, list: &str| -> Vec<Principal> {
        lists.remove(&(kind.to_owned(), id, list.to_owned())).unwrap_or_default()
    };

    let (mut users, mut removed_users) = (Vec::new(), Vec::new());
    for r in c
        .query(
            "SELECT id, login, display_name, email, site, disabled, admin, policy, removed FROM chat.users ORDER BY id",
            &[],
        )
        .await
        .db()?
    {
        let list = if get::<bool>(&r, 8)? { &mut removed_users } else { &mut users };
        list.push(User {
            id: get(&r, 0)?,
            login: get(&r, 1)?,
            display_name: get(&r, 2)?,
            email: get(&r, 3)?,
            site: get(&r, 4)?,
            disabled: get(&r, 5)?,
            admin: get(&r, 6)?,
            policy: get(&r, 7)?,
        });
    }

    let mut groups = Vec::new();
    for r in c.query("SELECT id, name FROM chat.groups ORDER BY id", &[]).await.db()? {
        let id: i64 = get(&r, 0)?;
        groups.push(Group { id, name: get(&r, 1)?, members: take("group", id, "members") });
    }

    let mut categories = Vec::new();
    for r in c
        .query(
            "SELECT id, name, description, invitations, file_upload, chat_history FROM chat.categories ORDER BY id",
            &[],
        )
        .await
        .db()?
    {
        let id: i64 = get(&r, 0)?;
        categories.push(Category {
            id,
            name: get(&r, 1)?,
            description: get(&r, 2)?,
            invitations: get(&r, 3)?,
            file_upload: get(&r, 4)?,
            chat_history: get(&r, 5)?,
            allowed: take("category", id, "allowed"),
            denied: take("category", id, "denied"),
            creators: take("category", id, "creators"),
        });
    }

    let mut rooms = Vec::new();
    for r in c
        .query(
            "SELECT id, name, description, category_id, privacy, room_type, invitations, addin_id, disabled, last_seq \
             FROM chat.rooms ORDER BY id",
            &[],
        )
        .await
        .db()?
    {
        let id: i64 = get(&r, 0)?;
        let room = Room {
            id,
            name: get(&r, 1)?,
            description: get(&r, 2)?,
            category: get(&r, 3)?,
            privacy: parse_privacy(get(&r, 4)?)?,
            room_type: parse_room_type(get(&r, 5)?)?,
            invitations: parse_invitations(get(&r, 6)?)?,
            addin: get(&r, 7)?,
            disabled: get(&r, 8)?,
            members: take("room", id, "members"),
            managers: take("room", id, "managers"),
            presenters: take("room", id, "presenters"),
        };
        rooms.push((room, get::<i64>(&r, 9)?));
    }

    let mut addins = Vec::new();
    for r in c.query("SELECT id, name, url FROM chat.addins ORDER BY id", &[]).await.db()? {
        addins.push(Addin { id: get(&r, 0)?, name: get(&r, 1)?, url: get(&r, 2)? });
    }

    let mut policies = Vec::new();
    for r in c
        .query("SELECT scope, enable_persistent_chat, description FROM chat.policies ORDER BY scope", &[])
        .await
        .db()?
    {
        policies.push(Policy {
            scope: parse_scope(get(&r, 0)?)?,
            enable_persistent_chat: get(&r, 1)?,
            description: get(&r, 2)?,
        });
    }

    let mut configs = Vec::new();
    for r in c
        .query(
            "SELECT scope, default_chat_history, max_file_size_kb, participant_update_limit, room_management_url \
             FROM chat.configs ORDER BY scope",
            &[],
        )
        .await
        .db()?
    {
        configs.push(Config {
            scope: parse_scope(get(&r, 0)?)?,
            default_chat_history: u32::try_from(get::<i64>(&r, 1)?).map_err(corrupt)?,
            max_file_size_kb: get::<i64>(&r, 2)? as u64,
            participant_update_limit: u32::try_from(get::<i64>(&r, 3)?).map_err(corrupt)?,
            room_management_url: get(&r, 4)?,
        });
    }

    Ok(CatalogData { users, removed_users, groups, categories, rooms, addins, policies, configs })
}

pub(crate) async fn password_hash(c: &Conn, user: &UserId) -> StoreResult<Option<String>> {
    match c.query_opt("SELECT password_hash FROM chat.users WHERE id = $1", &[user]).await.db()? {
        Some(r) => get(&r, 0),
        None => Ok(None),
    }
}

pub(crate) async fn get_meta(c: &Conn, key: &String) -> StoreResult<Option<String>> {
    match c.query_opt("SELECT value FROM chat.meta WHERE key = $1", &[key]).await.db()? {
        Some(r) => Ok(Some(get(&r, 0)?)),
        None => Ok(None),
    }
}

// ---- tokens

fn token_rows(rows: &[tokio_postgres::Row]) -> StoreResult<Vec<TokenRecord>> {
    rows.iter()
        .map(|r| {
            Ok(TokenRecord {
                id: get(r, 0)?,
                user: get(r, 1)?,
                kind: parse_token_kind(get(r, 2)?)?,
                label: get(r, 3)?,
                hash: get(r, 4)?,
                created: get(r, 5)?,
                expires: get(r, 6)?,
            })
        })
        .collect()
}

pub(crate) async fn find_token(c: &Conn, hash: &String) -> StoreResult<Option<TokenRecord>> {
    let rows = c
        .query("SELECT id, user_id, kind, label, hash, created, expires FROM chat.tokens WHERE hash = $1", &[hash])
        .await
        .db()?;
    Ok(token_rows(&rows)?.pop())
}

pub(crate) async fn list_tokens(c: &Conn, user: &Option<UserId>) -> StoreResult<Vec<TokenRecord>> {
    let rows = c
        .query(
            "SELECT id, user_id, kind, label, hash, created, expires FROM chat.tokens \
             WHERE $1::bigint IS NULL OR user_id = $1 ORDER BY created, id",
            &[user],
        )
        .await
        .db()?;
    token_rows(&rows)
}

// ---- messages

pub(crate) async fn latest_messages(c: &Conn, (room, limit): &(RoomId, u32)) -> StoreResult<Vec<StoredMessage>> {
    let rows = c
        .query(
            concat!(message_select!(), "WHERE m.room_id = $1 ORDER BY m.seq DESC LIMIT $2"),
            &[room, &i64::from(*limit)],
        )
        .await
        .db()?;
    let mut v = message_rows(&rows)?;
    v.reverse();
    Ok(v)
}

pub(crate) async fn messages_before(
    c: &Conn,
    (room, before, limit): &(RoomId, Seq, u32),
) -> StoreResult<Vec<StoredMessage>> {
    let rows = c
        .query(
            concat!(message_select!(), "WHERE m.room_id = $1 AND m.seq < $2 ORDER BY m.seq DESC LIMIT $3"),
            &[room, before, &i64::from(*limit)],
        )
        .await
        .db()?;
    let mut v = message_rows(&rows)?;
    v.reverse();
    Ok(v)
}

pub(crate) async fn messages_after(
    c: &Conn,
    (room, after, limit): &(RoomId, Seq, u32),
) -> StoreResult<Vec<StoredMessage>> {
    let rows = c
        .query(
            concat!(message_select!(), "WHERE m.room_id = $1 AND m.seq > $2 ORDER BY m.seq ASC LIMIT $3"),
            &[room, after, &i64::from(*limit)],
        )
        .await
        .db()?;
    message_rows(&rows)
}

pub(crate) async fn count_messages_up_to(c: &Conn, (room, up_to): &(RoomId, Millis)) -> StoreResult<u64> {
    let r =
        c.query_one("SELECT count(*) FROM chat.messages WHERE room_id = $1 AND ts <= $2", &[room, up_to]).await.db()?;
    Ok(get::<i64>(&r, 0)? as u64)
}

pub(crate) async fn scan_messages(c: &Conn, q: &MessageScan) -> StoreResult<Vec<StoredMessage>> {
    let rows = c
        .query(
            concat!(
                message_select!(),
                "WHERE m.room_id = $1 AND m.seq > $2 AND ($3::bigint IS NULL OR m.author = $3) \
                 AND ($4::bigint IS NULL OR m.ts >= $4) AND ($5::bigint IS NULL OR m.ts <= $5) \
                 ORDER BY m.seq ASC LIMIT $6"
            ),
            &[&q.room, &q.after, &q.author, &q.from_ts, &q.to_ts, &i64::from(q.limit)],
        )
        .await
        .db()?;
    message_rows(&rows)
}

pub(crate) async fn rooms_larger_than(c: &Conn, bytes: &u64) -> StoreResult<Vec<(RoomId, u64)>> {
    c.query(
        "SELECT id, content_bytes FROM chat.rooms WHERE content_bytes > $1 ORDER BY id",
        &[&i64::try_from(*bytes).unwrap_or(i64::MAX)],
    )
    .await
    .db()?
    .iter()
    .map(|r| Ok((get(r, 0)?, get::<i64>(r, 1)? as u64)))
    .collect()
}

/// Three aggregate queries in one snapshot, so the figures agree with each other.
pub(crate) async fn usage(c: &Conn, (from_ts, to_ts): &(Millis, Millis)) -> StoreResult<UsageFigures> {
    in_snapshot(c, async {
        // Per room: two lookups in the (room, ts) index.
        let rooms = c
            .query(
                "SELECT r.id, \
                   (SELECT count(*) FROM chat.messages m WHERE m.room_id = r.id AND m.ts BETWEEN $1 AND $2), \
                   (SELECT max(m.ts) FROM chat.messages m WHERE m.room_id = r.id) \
                 FROM chat.rooms r ORDER BY r.id",
                &[from_ts, to_ts],
            )
            .await
            .db()?
            .iter()
            .map(|r| Ok(RoomUsage { room: get(r, 0)?, messages: get::<i64>(r, 1)? as u64, last_post: get(r, 2)? }))
            .collect::<StoreResult<Vec<_>>>()?;
        let users = c
            .query(
                "SELECT author, count(*) FROM chat.messages WHERE ts BETWEEN $1 AND $2 GROUP BY author ORDER BY author",
                &[from_ts, to_ts],
            )
            .await
            .db()?
            .iter()
            .map(|r| Ok((get(r, 0)?, get::<i64>(r, 1)? as u64)))
            .collect::<StoreResult<Vec<_>>>()?;
        // Days since 1970 rounded down, also before 1970 (`/` truncates toward zero).
        let days = c
            .query(
                "SELECT (ts - ((ts % 86400000) + 86400000) % 86400000) / 86400000 AS day, count(*) \
                 FROM chat.messages WHERE ts BETWEEN $1 AND $2 GROUP BY day ORDER BY day",
                &[from_ts, to_ts],
            )
            .await
            .db()?
            .iter()
            .map(|r| Ok((get(r, 0)?, get::<i64>(r, 1)? as u64)))
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(UsageFigures { rooms, users, days })
    })
    .await
}

/// Half the window before `ts` and the rest from `ts` on; when one side runs short the other
/// fills the window, so a caller asking for `limit` gets `limit` whenever the room has them.
pub(crate) async fn messages_around(
    c: &Conn,
    (room, ts, limit): &(RoomId, Millis, u32),
) -> StoreResult<Vec<StoredMessage>> {
    in_snapshot(c, async {
        let lim = i64::from(*limit);
        let before = c
            .query(
                concat!(
                    message_select!(),
                    "WHERE m.room_id = $1 AND m.ts < $2 ORDER BY m.ts DESC, m.seq DESC LIMIT $3"
                ),
                &[room, ts, &lim],
            )
            .await
            .db()?;
        let after = c
            .query(
                concat!(message_select!(), "WHERE m.room_id = $1 AND m.ts >= $2 ORDER BY m.ts ASC, m.seq ASC LIMIT $3"),
                &[room, ts, &lim],
            )
            .await
            .db()?;
        let (mut before, mut after) = (message_rows(&before)?, message_rows(&after)?);
        let limit = *limit as usize;
        let n_after = after.len().min(limit - before.len().min(limit / 2));
        let n_before = before.len().min(limit - n_after);
        after.truncate(n_after);
        before.truncate(n_before);
        before.reverse();
        before.extend(after);
        before.sort_by_key(|m| m.seq);
        Ok(before)
    })
    .await
}

/// Trigram search needs three characters; shorter texts are scanned newest first.
const TRIGRAM: usize = 3;

/// `text` as a LIKE pattern matching it anywhere: `%`, `_` and `\` lose their meaning.
fn like_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for ch in text.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(ch);
    }
    p.push('%');
    p
}

pub(crate) async fn search(c: &Conn, q: &SearchQuery) -> StoreResult<Vec<StoredMessage>> {
    if q.rooms.is_empty() || q.limit == 0 {
        return Ok(Vec::new());
    }
    let limit = i64::from(q.limit);
    let text = q.text.as_deref().filter(|t| !t.is_empty());
    // Not prepared once per connection like the other statements: planned with the actual
    // pattern and rooms each time, the planner can choose between the trigram index and
    // walking the newest messages.
    let rows = match text {
        // Both sides lower-cased with the ICU root collation, as the index is.
        Some(t) if t.chars().count() >= TRIGRAM => c
            .client
            .query(
                concat!(
                    message_select!(),
                    "WHERE m.room_id = ANY($1) \
                     AND ($2::bigint IS NULL OR m.author = $2) AND ($3::bigint IS NULL OR m.ts >= $3) \
                     AND ($4::bigint IS NULL OR m.ts <= $4) \
                     AND lower(m.text COLLATE \"und-x-icu\") LIKE lower($5::text COLLATE \"und-x-icu\") \
                     ORDER BY m.id DESC LIMIT $6"
                ),
                &[&q.rooms, &q.author, &q.from_ts, &q.to_ts, &like_pattern(t), &limit],
            )
            .await
            .db()?,
        // Too short for trigrams (CJK words are often one or two characters): the newest
        // messages are scanned until `limit` match.
        Some(t) => c
            .client
            .query(
                concat!(
                    message_select!(),
                    "WHERE m.room_id = ANY($1) \
                     AND ($2::bigint IS NULL OR m.author = $2) AND ($3::bigint IS NULL OR m.ts >= $3) \
                     AND ($4::bigint IS NULL OR m.ts <= $4) \
                     AND strpos(lower(m.text COLLATE \"und-x-icu\"), lower($5::text COLLATE \"und-x-icu\")) > 0 \
                     ORDER BY m.id DESC LIMIT $6"
                ),
                &[&q.rooms, &q.author, &q.from_ts, &q.to_ts, &t, &limit],
            )
            .await
            .db()?,
        None => c
            .client
            .query(
                concat!(
                    message_select!(),
                    "WHERE m.room_id = ANY($1) \
                     AND ($2::bigint IS NULL OR m.author = $2) AND ($3::bigint IS NULL OR m.ts >= $3) \
                     AND ($4::bigint IS NULL OR m.ts <= $4) \
                     ORDER BY m.id DESC LIMIT $5"
                ),
                &[&q.rooms, &q.author, &q.from_ts, &q.to_ts, &limit],
            )
            .await
            .db()?,
    };
    message_rows(&rows)
}

// ---- following, invitations, files, compliance

pub(crate) async fn followed(c: &Conn, user: &UserId) -> StoreResult<Vec<Followed>> {
    c.query("SELECT room_id, read_seq FROM chat.follows WHERE user_id = $1 AND followed ORDER BY room_id", &[user])
        .await
        .db()?
        .iter()
        .map(|r| Ok(Followed { room: get(r, 0)?, read_seq: get(r, 1)? }))
        .collect()
}

pub(crate) async fn invitations_after(
    c: &Conn,
    (user, after, limit): &(UserId, i64, u32),
) -> StoreResult<Vec<Invitation>> {
    c.query(
        "SELECT user_id, inv_id, room_id, ts FROM chat.invitations WHERE user_id = $1 AND inv_id > $2 \
         ORDER BY inv_id LIMIT $3",
        &[user, after, &i64::from(*limit)],
    )
    .await
    .db()?
    .iter()
    .map(|r| Ok(Invitation { user: get(r, 0)?, id: get(r, 1)?, room: get(r, 2)?, ts: get(r, 3)? }))
    .collect()
}

pub(crate) async fn count_alerts_after(c: &Conn, (room, after): &(RoomId, Seq)) -> StoreResult<u64> {
    let r = c
        .query_one("SELECT count(*) FROM chat.messages WHERE room_id = $1 AND seq > $2 AND alert", &[room, after])
        .await
        .db()?;
    Ok(get::<i64>(&r, 0)? as u64)
}

/// Columns of a file record, in the order `file_row` reads them.
macro_rules! file_select {
    () => {
        "SELECT id, room_id, uploader, key, name, content_type, size, ts FROM chat.files "
    };
}

fn file_row(r: &tokio_postgres::Row) -> StoreResult<FileMeta> {
    Ok(FileMeta {
        id: get(r, 0)?,
        room: get(r, 1)?,
        uploader: get(r, 2)?,
        key: get(r, 3)?,
        name: get(r, 4)?,
        content_type: get(r, 5)?,
        size: get::<i64>(r, 6)? as u64,
        ts: get(r, 7)?,
    })
}

pub(crate) async fn get_file(c: &Conn, id: &FileId) -> StoreResult<Option<FileMeta>> {
    c.query_opt(concat!(file_select!(), "WHERE id = $1"), &[id]).await.db()?.as_ref().map(file_row).transpose()
}

pub(crate) async fn room_files(c: &Conn, room: &RoomId) -> StoreResult<Vec<FileMeta>> {
    c.query(concat!(file_select!(), "WHERE room_id = $1 ORDER BY id"), &[room])
        .await
        .db()?
        .iter()
        .map(file_row)
        .collect()
}

pub(crate) async fn compliance_events(
    c: &Conn,
    (after, limit): &(i64, u32),
) -> StoreResult<Vec<(i64, ComplianceEvent)>> {
    let rows = c
        .query(
            concat!("SELECT ", event_columns!(), " FROM compliance.events WHERE id > $1 ORDER BY id LIMIT $2"),
            &[after, &i64::from(*limit)],
        )
        .await
        .db()?;
    event_rows(&rows)
}

/// Participations whose JOIN has no PART yet.
pub(crate) async fn open_participations(c: &Conn, _: &()) -> StoreResult<Vec<OpenParticipation>> {
    c.query("SELECT connection, room_id, user_id FROM compliance.open_joins ORDER BY connection, room_id", &[])
        .await
        .db()?
        .iter()
        .map(|r| Ok(OpenParticipation { connection: get(r, 0)?, room: get(r, 1)?, user: get(r, 2)? }))
        .collect::<Result<_, StoreError>>()
}

/// Audit records matching `q`, oldest first. Logins and names compare with Unicode case
/// folding (the ICU root collation, as the indexes are built).
pub(crate) async fn audit_records(c: &Conn, q: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
    c.query(
        "SELECT id, ts, actor, token_id, source, noun, object, object_id, operation, before, after, note \
         FROM compliance.audit_log \
         WHERE id > $1 \
           AND ($2::text IS NULL OR lower(actor COLLATE \"und-x-icu\") = lower($2::text COLLATE \"und-x-icu\")) \
           AND ($3::text IS NULL OR lower(object COLLATE \"und-x-icu\") = lower($3::text COLLATE \"und-x-icu\") \
                OR lower((noun || ':' || object_id) COLLATE \"und-x-icu\") = lower($3::text COLLATE \"und-x-icu\")) \
           AND ($4::bigint IS NULL OR ts >= $4) AND ($5::bigint IS NULL OR ts <= $5) \
         ORDER BY id LIMIT $6",
        &[&q.after, &q.actor, &q.object, &q.since, &q.until, &i64::from(q.limit)],
    )
    .await
    .db()?
    .iter()
    .map(|r| {
        Ok(AuditRecord {
            id: get(r, 0)?,
            ts: get(r, 1)?,
            actor: get(r, 2)?,
            token_id: get(r, 3)?,
            source: get(r, 4)?,
            noun: get(r, 5)?,
            object: get(r, 6)?,
            object_id: get(r, 7)?,
            operation: get(r, 8)?,
            before: get(r, 9)?,
            after: get(r, 10)?,
            note: get(r, 11)?,
        })
    })
    .collect()
}

/// Logged catalog changes after `after`, in revision order.
pub(crate) async fn catalog_changes(c: &Conn, &(after, limit): &(i64, u32)) -> StoreResult<Vec<LoggedChange>> {
    let rows = c
        .query(
            "SELECT revision, change, object_id FROM chat.catalog_changes WHERE revision > $1 \
             ORDER BY revision LIMIT $2",
            &[&after, &i64::from(limit)],
        )
        .await
        .db()?;
    rows.iter()
        .map(|r| {
            let text: String = get(r, 1)?;
            let change = serde_json::from_str(&text).map_err(|e| {
                StoreError::Unavailable(format!("a logged catalog change could not be read (a newer server's?): {e}"))
            })?;
            Ok(LoggedChange { revision: get(r, 0)?, change, id: get(r, 2)? })
        })
        .collect()
}
