//! Read operations, run on pooled read-only connections (`compliance.db` attached as
//! `compliance`).

use std::collections::HashMap;

use longhall_core::change::{AuditQuery, AuditRecord};
use longhall_core::model::*;
use longhall_core::principal::Principal;
use longhall_core::{StoreError, StoreResult};
use rusqlite::{Connection, OptionalExtension, params};

use crate::conv::*;

type Lists = HashMap<(String, i64, String), Vec<Principal>>;

pub(crate) fn load_catalog(c: &Connection) -> StoreResult<CatalogData> {
    // One snapshot for the whole catalog, so lists and rows agree.
    c.execute_batch("BEGIN").db()?;
    let result = load_catalog_in(c);
    let _ = c.execute_batch("COMMIT");
    result
}

fn load_catalog_in(c: &Connection) -> StoreResult<CatalogData> {
    let mut lists: Lists = HashMap::new();
    {
        let mut st = c
            .prepare("SELECT owner_kind, owner_id, list, principal FROM principal_lists ORDER BY owner_kind, owner_id, list, pos")
            .db()?;
        let mut rows = st.query([]).db()?;
        while let Some(r) = rows.next().db()? {
            let key = (r.get(0).db()?, r.get(1).db()?, r.get(2).db()?);
            let p: String = r.get(3).db()?;
            lists.entry(key).or_default().push(parse_principal(&p)?);
        }
    }
    let mut take = |kind: &str, id: i64, list: &str| -> Vec<Principal> {
        lists.remove(&(kind.to_owned(), id, list.to_owned())).unwrap_or_default()
    };

    let mut users = Vec::new();
    let mut removed_users = Vec::new();
    {
        let mut st = c
            .prepare(
                "SELECT id, login, display_name, email, site, disabled, admin, policy, removed FROM users ORDER BY id",
            )
            .db()?;
        let mut rows = st.query([]).db()?;
        while let Some(r) = rows.next().db()? {
            let user = User {
                id: r.get(0).db()?,
                login: r.get(1).db()?,
                display_name: r.get(2).db()?,
                email: r.get(3).db()?,
                site: r.get(4).db()?,
                disabled: r.get(5).db()?,
                admin: r.get(6).db()?,
                policy: r.get(7).db()?,
            };
            if r.get::<_, bool>(8).db()? { removed_users.push(user) } else { users.push(user) }
        }
    }

    let groups = c
        .prepare("SELECT id, name FROM groups ORDER BY id")
        .db()?
        .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?
        .into_iter()
        .map(|(id, name)| Group { id, name, members: take("group", id, "members") })
        .collect();

    let categories = c
        .prepare("SELECT id, name, description, invitations, file_upload, chat_history FROM categories ORDER BY id")
        .db()?
        .query_map([], |r| {
            Ok(Category {
                id: r.get(0)?,
                name: r.get(1)?,
                description: r.get(2)?,
                invitations: r.get(3)?,
                file_upload: r.get(4)?,
                chat_history: r.get(5)?,
                allowed: Vec::new(),
                denied: Vec::new(),
                creators: Vec::new(),
            })
        })
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?
        .into_iter()
        .map(|mut k| {
            k.allowed = take("category", k.id, "allowed");
            k.denied = take("category", k.id, "denied");
            k.creators = take("category", k.id, "creators");
            k
        })
        .collect();

    let mut rooms = Vec::new();
    {
        let mut st = c
            .prepare(
                "SELECT id, name, description, category_id, privacy, room_type, invitations, addin_id, disabled, last_seq \
                 FROM rooms ORDER BY id",
            )
            .db()?;
        let mut rows = st.query([]).db()?;
        while let Some(r) = rows.next().db()? {
            let id: i64 = r.get(0).db()?;
            let room = Room {
                id,
                name: r.get(1).db()?,
                description: r.get(2).db()?,
                category: r.get(3).db()?,
                privacy: parse_privacy(&r.get::<_, String>(4).db()?)?,
                room_type: parse_room_type(&r.get::<_, String>(5).db()?)?,
                invitations: parse_invitations(&r.get::<_, String>(6).db()?)?,
                addin: r.get(7).db()?,
                disabled: r.get(8).db()?,
                members: take("room", id, "members"),
                managers: take("room", id, "managers"),
                presenters: take("room", id, "presenters"),
            };
            rooms.push((room, r.get::<_, i64>(9).db()?));
        }
    }

    let addins = c
        .prepare("SELECT id, name, url FROM addins ORDER BY id")
        .db()?
        .query_map([], |r| Ok(Addin { id: r.get(0)?, name: r.get(1)?, url: r.get(2)? }))
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;

    let mut policies = Vec::new();
    {
        let mut st =
            c.prepare("SELECT scope, enable_persistent_chat, description FROM policies ORDER BY scope").db()?;
        let mut rows = st.query([]).db()?;
        while let Some(r) = rows.next().db()? {
            policies.push(Policy {
                scope: parse_scope(&r.get::<_, String>(0).db()?)?,
                enable_persistent_chat: r.get(1).db()?,
                description: r.get(2).db()?,
            });
        }
    }

    let mut configs = Vec::new();
    {
        let mut st = c
            .prepare(
                "SELECT scope, default_chat_history, max_file_size_kb, participant_update_limit, room_management_url \
                 FROM configs ORDER BY scope",
            )
            .db()?;
        let mut rows = st.query([]).db()?;
        while let Some(r) = rows.next().db()? {
            configs.push(Config {
                scope: parse_scope(&r.get::<_, String>(0).db()?)?,
                default_chat_history: r.get(1).db()?,
                max_file_size_kb: r.get::<_, i64>(2).db()? as u64,
                participant_update_limit: r.get(3).db()?,
                room_management_url: r.get(4).db()?,
            });
        }
    }

    Ok(CatalogData { users, removed_users, groups, categories, rooms, addins, policies, configs })
}

pub(crate) fn password_hash(c: &Connection, user: UserId) -> StoreResult<Option<String>> {
    let hash: Option<Option<String>> = c
        .prepare_cached("SELECT password_hash FROM users WHERE id = ?1")
        .db()?
        .query_row([user], |r| r.get(0))
        .optional()
        .db()?;
    Ok(hash.flatten())
}

pub(crate) fn get_meta(c: &Connection, key: &str) -> StoreResult<Option<String>> {
    c.prepare_cached("SELECT value FROM meta WHERE key = ?1").db()?.query_row([key], |r| r.get(0)).optional().db()
}

// ---- tokens

const TOKEN_SELECT: &str = "SELECT id, user_id, kind, label, hash, created, expires FROM tokens ";

fn token_rows(st: &mut rusqlite::CachedStatement<'_>, p: impl rusqlite::Params) -> StoreResult<Vec<TokenRecord>> {
    let mut out = Vec::new();
    let mut rows = st.query(p).db()?;
    while let Some(r) = rows.next().db()? {
        out.push(TokenRecord {
            id: r.get(0).db()?,
            user: r.get(1).db()?,
            kind: parse_token_kind(&r.get::<_, String>(2).db()?)?,
            label: r.get(3).db()?,
            hash: r.get(4).db()?,
            created: r.get(5).db()?,
            expires: r.get(6).db()?,
        });
    }
    Ok(out)
}

pub(crate) fn find_token(c: &Connection, hash: &str) -> StoreResult<Option<TokenRecord>> {
    let mut st = c.prepare_cached(&format!("{TOKEN_SELECT} WHERE hash = ?1")).db()?;
    Ok(token_rows(&mut st, [hash])?.pop())
}

pub(crate) fn list_tokens(c: &Connection, user: Option<UserId>) -> StoreResult<Vec<TokenRecord>> {
    let mut st =
        c.prepare_cached(&format!("{TOKEN_SELECT} WHERE ?1 IS NULL OR user_id = ?1 ORDER BY created, id")).db()?;
    token_rows(&mut st, [user])
}

// ---- messages

fn messages(c: &Connection, sql: &str, p: impl rusqlite::Params) -> StoreResult<Vec<StoredMessage>> {
    c.prepare_cached(sql).db()?.query_map(p, message_row).db()?.collect::<rusqlite::Result<Vec<_>>>().db()
}

pub(crate) fn latest_messages(c: &Connection, room: RoomId, limit: u32) -> StoreResult<Vec<StoredMessage>> {
    let mut v = messages(
        c,
        concat!(message_select!(), "WHERE m.room_id = ?1 ORDER BY m.seq DESC LIMIT ?2"),
        params![room, limit],
    )?;
    v.reverse();
    Ok(v)
}

pub(crate) fn messages_before(
    c: &Connection,
    room: RoomId,
    before: Seq,
    limit: u32,
) -> StoreResult<Vec<StoredMessage>> {
    let mut v = messages(
        c,
        concat!(message_select!(), "WHERE m.room_id = ?1 AND m.seq < ?2 ORDER BY m.seq DESC LIMIT ?3"),
        params![room, before, limit],
    )?;
    v.reverse();
    Ok(v)
}

pub(crate) fn rooms_larger_than(c: &Connection, bytes: u64) -> StoreResult<Vec<(RoomId, u64)>> {
    c.prepare_cached("SELECT id, content_bytes FROM rooms WHERE content_bytes > ?1 ORDER BY id")
        .db()?
        .query_map([i64::try_from(bytes).unwrap_or(i64::MAX)], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))
        .db()?
        .collect::<Result<Vec<_>, _>>()
        .db()
}

/// Three aggregate queries in one read transaction, so the figures agree with each other.
pub(crate) fn usage(c: &Connection, from_ts: Millis, to_ts: Millis) -> StoreResult<UsageFigures> {
    c.execute_batch("BEGIN").db()?;
    let result = (|| {
        // Per room: two lookups in the (room, ts) index.
        let rooms = c
            .prepare_cached(
                "SELECT r.id, \
                   (SELECT COUNT(*) FROM messages m WHERE m.room_id = r.id AND m.ts BETWEEN ?1 AND ?2), \
                   (SELECT MAX(m.ts) FROM messages m WHERE m.room_id = r.id) \
                 FROM rooms r ORDER BY r.id",
            )
            .db()?
            .query_map(params![from_ts, to_ts], |r| {
                Ok(RoomUsage { room: r.get(0)?, messages: r.get::<_, i64>(1)? as u64, last_post: r.get(2)? })
            })
            .db()?
            .collect::<Result<Vec<_>, _>>()
            .db()?;
        let users = c
            .prepare_cached(
                "SELECT author, COUNT(*) FROM messages WHERE ts BETWEEN ?1 AND ?2 GROUP BY author ORDER BY author",
            )
            .db()?
            .query_map(params![from_ts, to_ts], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))
            .db()?
            .collect::<Result<Vec<_>, _>>()
            .db()?;
        let days = c
            .prepare_cached(
                "SELECT (ts - ((ts % 86400000) + 86400000) % 86400000) / 86400000 AS day, COUNT(*) \
                 FROM messages WHERE ts BETWEEN ?1 AND ?2 GROUP BY day ORDER BY day",
            )
            .db()?
            .query_map(params![from_ts, to_ts], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))
            .db()?
            .collect::<Result<Vec<_>, _>>()
            .db()?;
        Ok(UsageFigures { rooms, users, days })
    })();
    c.execute_batch("COMMIT").db()?;
    result
}

pub(crate) fn count_messages_up_to(c: &Connection, room: RoomId, up_to: Millis) -> StoreResult<u64> {
    let n: i64 = c
        .prepare_cached("SELECT COUNT(*) FROM messages WHERE room_id = ?1 AND ts <= ?2")
        .db()?
        .query_row(params![room, up_to], |r| r.get(0))
        .db()?;
    Ok(n as u64)
}

pub(crate) fn scan_messages(c: &Connection, q: &MessageScan) -> StoreResult<Vec<StoredMessage>> {
    messages(
        c,
        concat!(
            message_select!(),
            "WHERE m.room_id = ?1 AND m.seq > ?2 \
             AND (?3 IS NULL OR m.author = ?3) AND (?4 IS NULL OR m.ts >= ?4) AND (?5 IS NULL OR m.ts <= ?5) \
             ORDER BY m.seq ASC LIMIT ?6"
        ),
        params![q.room, q.after, q.author, q.from_ts, q.to_ts, q.limit],
    )
}

pub(crate) fn messages_after(c: &Connection, room: RoomId, after: Seq, limit: u32) -> StoreResult<Vec<StoredMessage>> {
    messages(
        c,
        concat!(message_select!(), "WHERE m.room_id = ?1 AND m.seq > ?2 ORDER BY m.seq ASC LIMIT ?3"),
        params![room, after, limit],
    )
}

/// Half the window before `ts` and the rest from `ts` on; when one side runs short the other
/// fills the window, so a caller asking for `limit` gets `limit` whenever the room has them.
pub(crate) fn messages_around(c: &Connection, room: RoomId, ts: Millis, limit: u32) -> StoreResult<Vec<StoredMessage>> {
    c.execute_batch("BEGIN").db()?;
    let result = (|| {
        let mut before = messages(
            c,
            concat!(message_select!(), "WHERE m.room_id = ?1 AND m.ts < ?2 ORDER BY m.ts DESC, m.seq DESC LIMIT ?3"),
            params![room, ts, limit],
        )?;
        let mut after = messages(
            c,
            concat!(message_select!(), "WHERE m.room_id = ?1 AND m.ts >= ?2 ORDER BY m.ts ASC, m.seq ASC LIMIT ?3"),
            params![room, ts, limit],
        )?;
        let limit = limit as usize;
        let n_after = after.len().min(limit - before.len().min(limit / 2));
        let n_before = before.len().min(limit - n_after);
        after.truncate(n_after);
        before.truncate(n_before);
        before.reverse();
        before.extend(after);
        before.sort_by_key(|m| m.seq);
        Ok(before)
    })();
    let _ = c.execute_batch("COMMIT");
    result
}

// ---- following, invitations, files, compliance

pub(crate) fn followed(c: &Connection, user: UserId) -> StoreResult<Vec<Followed>> {
    c.prepare_cached("SELECT room_id, read_seq FROM follows WHERE user_id = ?1 AND followed ORDER BY room_id")
        .db()?
        .query_map([user], |r| Ok(Followed { room: r.get(0)?, read_seq: r.get(1)? }))
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()
}

pub(crate) fn invitations_after(c: &Connection, user: UserId, after: i64, limit: u32) -> StoreResult<Vec<Invitation>> {
    c.prepare_cached(
        "SELECT user_id, inv_id, room_id, ts FROM invitations WHERE user_id = ?1 AND inv_id > ?2 \
         ORDER BY inv_id LIMIT ?3",
    )
    .db()?
    .query_map(params![user, after, limit], |r| {
        Ok(Invitation { user: r.get(0)?, id: r.get(1)?, room: r.get(2)?, ts: r.get(3)? })
    })
    .db()?
    .collect::<rusqlite::Result<Vec<_>>>()
    .db()
}

/// Walks the room's (room_id, seq) index from `after` on: the cost is the unread range.
pub(crate) fn count_alerts_after(c: &Connection, room: RoomId, after: Seq) -> StoreResult<u64> {
    c.prepare_cached("SELECT count(*) FROM messages WHERE room_id = ?1 AND seq > ?2 AND alert")
        .db()?
        .query_row(params![room, after], |r| r.get::<_, i64>(0))
        .db()
        .map(|n| n as u64)
}

fn file_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<FileMeta> {
    Ok(FileMeta {
        id: r.get(0)?,
        room: r.get(1)?,
        uploader: r.get(2)?,
        key: r.get(3)?,
        name: r.get(4)?,
        content_type: r.get(5)?,
        size: r.get::<_, i64>(6)? as u64,
        ts: r.get(7)?,
    })
}

pub(crate) fn get_file(c: &Connection, id: FileId) -> StoreResult<Option<FileMeta>> {
    c.prepare_cached("SELECT id, room_id, uploader, key, name, content_type, size, ts FROM files WHERE id = ?1")
        .db()?
        .query_row([id], file_row)
        .optional()
        .db()
}

pub(crate) fn room_files(c: &Connection, room: RoomId) -> StoreResult<Vec<FileMeta>> {
    c.prepare_cached(
        "SELECT id, room_id, uploader, key, name, content_type, size, ts FROM files WHERE room_id = ?1 ORDER BY id",
    )
    .db()?
    .query_map([room], file_row)
    .db()?
    .collect::<rusqlite::Result<Vec<_>>>()
    .db()
}

pub(crate) fn compliance_events(c: &Connection, after: i64, limit: u32) -> StoreResult<Vec<(i64, ComplianceEvent)>> {
    let raw = c
        .prepare_cached(
            "SELECT id, kind, ts, room_id, room_name, user_id, user_login, seq, detail \
             FROM compliance.events WHERE id > ?1 ORDER BY id LIMIT ?2",
        )
        .db()?
        .query_map(params![after, limit], raw_event_row)
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    raw.into_iter().map(RawEvent::into_event).collect::<Result<_, StoreError>>()
}

/// Participations whose JOIN has no PART yet.
pub(crate) fn open_participations(c: &Connection) -> StoreResult<Vec<OpenParticipation>> {
    let mut stmt = c
        .prepare("SELECT connection, room_id, user_id FROM compliance.open_joins ORDER BY connection, room_id")
        .db()?;
    let rows = stmt
        .query_map([], |r| Ok(OpenParticipation { connection: r.get(0)?, room: r.get(1)?, user: r.get(2)? }))
        .db()?;
    rows.collect::<Result<Vec<_>, _>>().db()
}

/// Audit records matching `q`, oldest first.
pub(crate) fn audit_records(c: &Connection, q: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
    let json = |v: Option<String>| v.and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
    c.prepare_cached(
        "SELECT id, ts, actor, token_id, source, noun, object, object_id, operation, before, after, note \
         FROM compliance.audit_log \
         WHERE id > ?1 AND (?2 IS NULL OR actor = ?2 COLLATE NOCASE) \
           AND (?3 IS NULL OR object = ?3 COLLATE NOCASE OR noun || ':' || object_id = ?3 COLLATE NOCASE) \
           AND (?4 IS NULL OR ts >= ?4) AND (?5 IS NULL OR ts <= ?5) \
         ORDER BY id LIMIT ?6",
    )
    .db()?
    .query_map(params![q.after, q.actor, q.object, q.since, q.until, q.limit], |r| {
        Ok(AuditRecord {
            id: r.get(0)?,
            ts: r.get(1)?,
            actor: r.get(2)?,
            token_id: r.get(3)?,
            source: r.get(4)?,
            noun: r.get(5)?,
            object: r.get(6)?,
            object_id: r.get(7)?,
            operation: r.get(8)?,
            before: json(r.get(9)?),
            after: json(r.get(10)?),
            note: r.get(11)?,
        })
    })
    .db()?
    .collect::<rusqlite::Result<Vec<_>>>()
    .db()
}
