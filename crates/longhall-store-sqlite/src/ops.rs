//! Write operations. Each runs inside the writer's transaction (and its own savepoint), so
//! an early `?` return leaves nothing behind.

use longhall_core::change::{AuditRecord, CatalogChange, ChangeOutcome};
use longhall_core::model::*;
use longhall_core::principal::Principal;
use longhall_core::{StoreError, StoreResult};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Value, json};

use crate::conv::*;
use crate::writer::Conns;

fn not_found(what: &str, id: i64) -> StoreError {
    StoreError::NotFound(format!("{what} {id}"))
}

/// Fails with `NotFound` unless the statement changed a row.
fn expect_row(changed: usize, what: &str, id: i64) -> StoreResult<()> {
    if changed == 0 { Err(not_found(what, id)) } else { Ok(()) }
}

// ---- principal lists

fn put_lists(c: &Connection, kind: &str, id: i64, lists: &[(&str, &[Principal])]) -> StoreResult<()> {
    delete_lists(c, kind, id)?;
    let mut insert = c
        .prepare_cached(
            "INSERT OR IGNORE INTO principal_lists (owner_kind, owner_id, list, principal, pos) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .db()?;
    for (list, principals) in lists {
        for (pos, p) in principals.iter().enumerate() {
            insert.execute(params![kind, id, list, principal_text(p), pos as i64]).db()?;
        }
    }
    Ok(())
}

fn delete_lists(c: &Connection, kind: &str, id: i64) -> StoreResult<()> {
    c.prepare_cached("DELETE FROM principal_lists WHERE owner_kind = ?1 AND owner_id = ?2")
        .db()?
        .execute(params![kind, id])
        .db()?;
    Ok(())
}

// ---- category and room names (one namespace)

fn claim_name(c: &Connection, kind: &str, id: i64, name: &str) -> StoreResult<()> {
    c.prepare_cached(
        "INSERT INTO names (name_key, kind, owner_id) VALUES (?1, ?2, ?3) \
         ON CONFLICT (kind, owner_id) DO UPDATE SET name_key = excluded.name_key",
    )
    .db()?
    .execute(params![name_key(name), kind, id])
    .unique(|| quoted("name", name))?;
    Ok(())
}

fn release_name(c: &Connection, kind: &str, id: i64) -> StoreResult<()> {
    c.prepare_cached("DELETE FROM names WHERE kind = ?1 AND owner_id = ?2").db()?.execute(params![kind, id]).db()?;
    Ok(())
}

// ---- users and groups

pub(crate) fn insert_user(c: &Conns<'_>, u: &User, password_hash: &str) -> StoreResult<UserId> {
    c.chat
        .prepare_cached(
            "INSERT INTO users (login, login_key, display_name, email, site, disabled, admin, policy, password_hash) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .db()?
        .execute(params![
            u.login,
            name_key(&u.login),
            u.display_name,
            u.email,
            u.site,
            u.disabled,
            u.admin,
            u.policy,
            password_hash
        ])
        .unique(|| quoted("login", &u.login))?;
    Ok(c.chat.last_insert_rowid())
}

pub(crate) fn update_user(c: &Conns<'_>, u: &User) -> StoreResult<()> {
    let n = c
        .chat
        .prepare_cached(
            "UPDATE users SET login = ?2, login_key = ?3, display_name = ?4, email = ?5, site = ?6, \
             disabled = ?7, admin = ?8, policy = ?9 WHERE id = ?1 AND removed = 0",
        )
        .db()?
        .execute(params![
            u.id,
            u.login,
            name_key(&u.login),
            u.display_name,
            u.email,
            u.site,
            u.disabled,
            u.admin,
            u.policy
        ])
        .unique(|| quoted("login", &u.login))?;
    expect_row(n, "user", u.id)
}

pub(crate) fn set_password(c: &Conns<'_>, user: UserId, hash: &str) -> StoreResult<()> {
    let n = c
        .chat
        .prepare_cached("UPDATE users SET password_hash = ?2 WHERE id = ?1 AND removed = 0")
        .db()?
        .execute(params![user, hash])
        .db()?;
    expect_row(n, "user", user)
}

/// Removes an account but keeps its row (what it posted stays attributed to its login): frees
/// the login, forgets the password, deletes its tokens, follows, read positions and invitations
/// and every list entry naming it. Returns how many tokens were deleted.
pub(crate) fn remove_user(c: &Conns<'_>, id: UserId) -> StoreResult<u32> {
    let n = c
        .chat
        .execute(
            "UPDATE users SET removed = 1, login_key = '#removed:' || id, password_hash = NULL, disabled = 1, \
             admin = 0 WHERE id = ?1 AND removed = 0",
            [id],
        )
        .db()?;
    expect_row(n, "user", id)?;
    let tokens = c.chat.execute("DELETE FROM tokens WHERE user_id = ?1", [id]).db()?;
    c.chat.execute("DELETE FROM follows WHERE user_id = ?1", [id]).db()?;
    c.chat.execute("DELETE FROM invitations WHERE user_id = ?1", [id]).db()?;
    c.chat.execute("DELETE FROM principal_lists WHERE principal = ?1", [principal_text(&Principal::User(id))]).db()?;
    Ok(tokens as u32)
}

pub(crate) fn insert_group(c: &Conns<'_>, g: &Group) -> StoreResult<GroupId> {
    c.chat
        .prepare_cached("INSERT INTO groups (name, name_key) VALUES (?1, ?2)")
        .db()?
        .execute(params![g.name, name_key(&g.name)])
        .unique(|| quoted("name", &g.name))?;
    let id = c.chat.last_insert_rowid();
    put_lists(c.chat, "group", id, &[("members", &g.members)])?;
    Ok(id)
}

pub(crate) fn update_group(c: &Conns<'_>, g: &Group) -> StoreResult<()> {
    let n = c
        .chat
        .prepare_cached("UPDATE groups SET name = ?2, name_key = ?3 WHERE id = ?1")
        .db()?
        .execute(params![g.id, g.name, name_key(&g.name)])
        .unique(|| quoted("name", &g.name))?;
    expect_row(n, "group", g.id)?;
    put_lists(c.chat, "group", g.id, &[("members", &g.members)])
}

pub(crate) fn delete_group(c: &Conns<'_>, id: GroupId) -> StoreResult<()> {
    let n = c.chat.execute("DELETE FROM groups WHERE id = ?1", [id]).db()?;
    expect_row(n, "group", id)?;
    delete_lists(c.chat, "group", id)?;
    c.chat.execute("DELETE FROM principal_lists WHERE principal = ?1", [principal_text(&Principal::Group(id))]).db()?;
    Ok(())
}

// ---- categories, rooms, add-ins

pub(crate) fn insert_category(c: &Conns<'_>, k: &Category) -> StoreResult<CategoryId> {
    c.chat
        .prepare_cached(
            "INSERT INTO categories (name, description, invitations, file_upload, chat_history) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .db()?
        .execute(params![k.name, k.description, k.invitations, k.file_upload, k.chat_history])
        .db()?;
    let id = c.chat.last_insert_rowid();
    claim_name(c.chat, "category", id, &k.name)?;
    put_category_lists(c.chat, id, k)?;
    Ok(id)
}

fn put_category_lists(c: &Connection, id: CategoryId, k: &Category) -> StoreResult<()> {
    put_lists(c, "category", id, &[("allowed", &k.allowed), ("denied", &k.denied), ("creators", &k.creators)])
}

pub(crate) fn update_category(c: &Conns<'_>, k: &Category) -> StoreResult<()> {
    let n = c
        .chat
        .prepare_cached(
            "UPDATE categories SET name = ?2, description = ?3, invitations = ?4, file_upload = ?5, \
             chat_history = ?6 WHERE id = ?1",
        )
        .db()?
        .execute(params![k.id, k.name, k.description, k.invitations, k.file_upload, k.chat_history])
        .db()?;
    expect_row(n, "category", k.id)?;
    claim_name(c.chat, "category", k.id, &k.name)?;
    put_category_lists(c.chat, k.id, k)
}

pub(crate) fn delete_category(c: &Conns<'_>, id: CategoryId) -> StoreResult<()> {
    let rooms: i64 = c.chat.query_row("SELECT count(*) FROM rooms WHERE category_id = ?1", [id], |r| r.get(0)).db()?;
    if rooms > 0 {
        // The core removes only empty categories; this guards the rows, it is not a user error.
        return Err(StoreError::Unavailable(format!(
            "category {id} still holds {rooms} room(s) and cannot be removed"
        )));
    }
    let n = c.chat.execute("DELETE FROM categories WHERE id = ?1", [id]).db()?;
    expect_row(n, "category", id)?;
    release_name(c.chat, "category", id)?;
    delete_lists(c.chat, "category", id)
}

pub(crate) fn insert_room(c: &Conns<'_>, r: &Room) -> StoreResult<RoomId> {
    c.chat
        .prepare_cached(
            "INSERT INTO rooms (name, description, category_id, privacy, room_type, invitations, addin_id, disabled) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .db()?
        .execute(params![
            r.name,
            r.description,
            r.category,
            privacy_text(r.privacy),
            room_type_text(r.room_type),
            invitations_text(r.invitations),
            r.addin,
            r.disabled
        ])
        .missing(|| room_reference_missing(r))?;
    let id = c.chat.last_insert_rowid();
    claim_name(c.chat, "room", id, &r.name)?;
    put_room_lists(c.chat, id, r)?;
    Ok(id)
}

/// A room names a category and maybe an add-in; say which may be missing.
fn room_reference_missing(r: &Room) -> StoreError {
    match r.addin {
        Some(a) => StoreError::NotFound(format!("category {} or add-in {a}", r.category)),
        None => not_found("category", r.category),
    }
}

fn put_room_lists(c: &Connection, id: RoomId, r: &Room) -> StoreResult<()> {
    put_lists(c, "room", id, &[("members", &r.members), ("managers", &r.managers), ("presenters", &r.presenters)])
}

pub(crate) fn update_room(c: &Conns<'_>, r: &Room) -> StoreResult<()> {
    let n = c
        .chat
        .prepare_cached(
            "UPDATE rooms SET name = ?2, description = ?3, category_id = ?4, privacy = ?5, room_type = ?6, \
             invitations = ?7, addin_id = ?8, disabled = ?9 WHERE id = ?1",
        )
        .db()?
        .execute(params![
            r.id,
            r.name,
            r.description,
            r.category,
            privacy_text(r.privacy),
            room_type_text(r.room_type),
            invitations_text(r.invitations),
            r.addin,
            r.disabled
        ])
        .missing(|| room_reference_missing(r))?;
    expect_row(n, "room", r.id)?;
    claim_name(c.chat, "room", r.id, &r.name)?;
    put_room_lists(c.chat, r.id, r)
}

pub(crate) fn delete_room(c: &Conns<'_>, id: RoomId) -> StoreResult<Vec<String>> {
    let keys = c
        .chat
        .prepare_cached("SELECT key FROM files WHERE room_id = ?1 ORDER BY id")
        .db()?
        .query_map([id], |r| r.get::<_, String>(0))
        .db()?
        .collect::<Result<Vec<_>, _>>()
        .db()?;
    for sql in [
        "DELETE FROM messages WHERE room_id = ?1",
        "DELETE FROM follows WHERE room_id = ?1",
        "DELETE FROM invitations WHERE room_id = ?1",
        "DELETE FROM files WHERE room_id = ?1",
    ] {
        c.chat.execute(sql, [id]).db()?;
    }
    let n = c.chat.execute("DELETE FROM rooms WHERE id = ?1", [id]).db()?;
    expect_row(n, "room", id)?;
    release_name(c.chat, "room", id)?;
    delete_lists(c.chat, "room", id)?;
    Ok(keys)
}

pub(crate) fn insert_addin(c: &Conns<'_>, a: &Addin) -> StoreResult<AddinId> {
    c.chat
        .prepare_cached("INSERT INTO addins (name, name_key, url) VALUES (?1, ?2, ?3)")
        .db()?
        .execute(params![a.name, name_key(&a.name), a.url])
        .unique(|| quoted("name", &a.name))?;
    Ok(c.chat.last_insert_rowid())
}

pub(crate) fn update_addin(c: &Conns<'_>, a: &Addin) -> StoreResult<()> {
    let n = c
        .chat
        .prepare_cached("UPDATE addins SET name = ?2, name_key = ?3, url = ?4 WHERE id = ?1")
        .db()?
        .execute(params![a.id, a.name, name_key(&a.name), a.url])
        .unique(|| quoted("name", &a.name))?;
    expect_row(n, "add-in", a.id)
}

/// Rooms that used the add-in lose it (`ON DELETE SET NULL`) rather than blocking the delete.
pub(crate) fn delete_addin(c: &Conns<'_>, id: AddinId) -> StoreResult<()> {
    let n = c.chat.execute("DELETE FROM addins WHERE id = ?1", [id]).db()?;
    expect_row(n, "add-in", id)
}

// ---- policies, configuration, meta

pub(crate) fn put_policy(c: &Conns<'_>, p: &Policy) -> StoreResult<()> {
    c.chat
        .execute(
            "INSERT OR REPLACE INTO policies (scope, enable_persistent_chat, description) VALUES (?1, ?2, ?3)",
            params![p.scope.to_string(), p.enable_persistent_chat, p.description],
        )
        .db()?;
    Ok(())
}

pub(crate) fn delete_policy(c: &Conns<'_>, scope: &Scope) -> StoreResult<()> {
    c.chat.execute("DELETE FROM policies WHERE scope = ?1", [scope.to_string()]).db()?;
    Ok(())
}

pub(crate) fn put_config(c: &Conns<'_>, k: &Config) -> StoreResult<()> {
    c.chat
        .execute(
            "INSERT OR REPLACE INTO configs (scope, default_chat_history, max_file_size_kb, \
             participant_update_limit, room_management_url) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                k.scope.to_string(),
                k.default_chat_history,
                k.max_file_size_kb as i64,
                k.participant_update_limit,
                k.room_management_url
            ],
        )
        .db()?;
    Ok(())
}

pub(crate) fn delete_config(c: &Conns<'_>, scope: &Scope) -> StoreResult<()> {
    c.chat.execute("DELETE FROM configs WHERE scope = ?1", [scope.to_string()]).db()?;
    Ok(())
}

pub(crate) fn put_meta(c: &Conns<'_>, key: &str, value: &str) -> StoreResult<()> {
    c.chat.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)", params![key, value]).db()?;
    Ok(())
}

// ---- tokens

pub(crate) fn insert_token(c: &Conns<'_>, t: &TokenRecord) -> StoreResult<TokenId> {
    c.chat
        .execute(
            "INSERT INTO tokens (user_id, kind, label, hash, created, expires) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![t.user, t.kind.as_str(), t.label, t.hash, t.created, t.expires],
        )
        .map_err(|e| match e {
            rusqlite::Error::SqliteFailure(f, _) if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY => {
                not_found("user", t.user)
            }
            rusqlite::Error::SqliteFailure(f, _) if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE => {
                StoreError::Conflict("the token".to_owned())
            }
            e => unavailable(e),
        })?;
    Ok(c.chat.last_insert_rowid())
}

pub(crate) fn delete_token(c: &Conns<'_>, id: TokenId) -> StoreResult<bool> {
    Ok(c.chat.execute("DELETE FROM tokens WHERE id = ?1", [id]).db()? > 0)
}

// ---- the one catalog-write path

/// Writes one catalog change and its audit record (in the same transaction pair).
pub(crate) fn commit_change(
    c: &Conns<'_>,
    change: &CatalogChange,
    audit: Option<&AuditRecord>,
) -> StoreResult<ChangeOutcome> {
    use CatalogChange as C;
    let mut out = ChangeOutcome { found: true, ..ChangeOutcome::default() };
    match change {
        C::InsertUser { user, password_hash } => out.id = insert_user(c, user, password_hash)?,
        C::UpdateUser { user, password_hash } => {
            update_user(c, user)?;
            if let Some(h) = password_hash {
                set_password(c, user.id, h)?;
            }
        }
        C::RemoveUser { id } => out.tokens_removed = remove_user(c, *id)?,
        C::InsertGroup { group } => out.id = insert_group(c, group)?,
        C::UpdateGroup { group } => update_group(c, group)?,
        C::DeleteGroup { id } => delete_group(c, *id)?,
        C::InsertCategory { category } => out.id = insert_category(c, category)?,
        C::UpdateCategory { category } => update_category(c, category)?,
        C::DeleteCategory { id } => delete_category(c, *id)?,
        C::InsertRoom { room } => out.id = insert_room(c, room)?,
        C::UpdateRoom { room } => update_room(c, room)?,
        C::DeleteRoom { id } => out.removed_files = delete_room(c, *id)?,
        C::InsertAddin { addin } => out.id = insert_addin(c, addin)?,
        C::UpdateAddin { addin } => update_addin(c, addin)?,
        C::DeleteAddin { id } => delete_addin(c, *id)?,
        C::PutPolicy { policy } => put_policy(c, policy)?,
        C::DeletePolicy { scope } => delete_policy(c, scope)?,
        C::PutConfig { config } => put_config(c, config)?,
        C::DeleteConfig { scope } => delete_config(c, scope)?,
        C::PutComplianceConfig { config } => crate::processing::put_config_w(c, config)?,
        C::InsertToken { token } => out.id = insert_token(c, token)?,
        C::DeleteToken { id } => out.found = delete_token(c, *id)?,
    }
    if let Some(a) = audit {
        let mut a = a.clone();
        if a.object_id == Some(0) && out.id != 0 {
            a.object_id = Some(out.id);
            if let Some(Value::Object(after)) = &mut a.after
                && after.contains_key("id")
            {
                after.insert("id".into(), json!(out.id));
            }
        }
        write_audit(c, &a)?;
    }
    Ok(out)
}

fn write_audit(c: &Conns<'_>, a: &AuditRecord) -> StoreResult<()> {
    c.comp
        .prepare_cached(
            "INSERT INTO audit_log (ts, actor, token_id, source, noun, object, object_id, operation, before, after, note) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )
        .db()?
        .execute(params![
            a.ts,
            a.actor,
            a.token_id,
            a.source,
            a.noun,
            a.object,
            a.object_id,
            a.operation,
            a.before.as_ref().map(Value::to_string),
            a.after.as_ref().map(Value::to_string),
            a.note
        ])
        .db()?;
    Ok(())
}

// ---- compliance

pub(crate) fn record_event(c: &Conns<'_>, e: &ComplianceEvent) -> StoreResult<i64> {
    c.comp
        .prepare_cached(
            "INSERT INTO events (kind, ts, room_id, room_name, user_id, user_login, seq, detail) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .db()?
        .execute(params![e.kind.as_str(), e.ts, e.room, e.room_name, e.user, e.user_login, e.seq, e.detail.to_string()])
        .db()?;
    let id = c.comp.last_insert_rowid();
    // Keep the open participations with the events that open and close them.
    let connection = e.detail.get("connection").and_then(Value::as_i64);
    match (e.kind, connection) {
        (ComplianceKind::Join, Some(conn)) => {
            c.comp
                .prepare_cached("INSERT OR REPLACE INTO open_joins (connection, room_id, user_id) VALUES (?1, ?2, ?3)")
                .db()?
                .execute(params![conn, e.room, e.user])
                .db()?;
        }
        (ComplianceKind::Part, Some(conn)) => {
            c.comp
                .prepare_cached("DELETE FROM open_joins WHERE connection = ?1 AND room_id = ?2")
                .db()?
                .execute(params![conn, e.room])
                .db()?;
        }
        _ => {}
    }
    Ok(id)
}

/// Forgets every open participation.
pub(crate) fn clear_open_participations(c: &Conns<'_>) -> StoreResult<()> {
    c.comp.execute("DELETE FROM open_joins", []).db()?;
    Ok(())
}

/// The event's detail as an object with `extra` merged over it (a non-object detail is
/// kept under `"detail"` rather than lost).
fn detail_with(base: &Value, extra: Value) -> Value {
    let mut map = match base {
        Value::Object(m) => m.clone(),
        Value::Null => serde_json::Map::new(),
        other => serde_json::Map::from_iter([("detail".to_owned(), other.clone())]),
    };
    if let Value::Object(extra) = extra {
        map.extend(extra);
    }
    Value::Object(map)
}

// ---- messages

pub(crate) fn commit_posts(c: &Conns<'_>, posts: &[NewPost]) -> StoreResult<Vec<Seq>> {
    let mut next_seq =
        c.chat.prepare_cached("UPDATE rooms SET last_seq = last_seq + 1 WHERE id = ?1 RETURNING last_seq").db()?;
    let mut insert = c
        .chat
        .prepare_cached(
            "INSERT INTO messages (room_id, seq, ts, author, text, alert, story_title, file_id) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .db()?;
    let mut seqs = Vec::with_capacity(posts.len());
    for p in posts {
        let seq: Seq =
            next_seq.query_row([p.room], |r| r.get(0)).optional().db()?.ok_or_else(|| not_found("room", p.room))?;
        if p.keep {
            insert.execute(params![p.room, seq, p.ts, p.author, p.text, p.alert, p.story_title, p.file]).db()?;
        }
        record_event(
            c,
            &ComplianceEvent {
                kind: ComplianceKind::Chat,
                ts: p.ts,
                room: p.room,
                room_name: p.room_name.clone(),
                user: p.author,
                user_login: p.author_login.clone(),
                seq: Some(seq),
                detail: json!({
                    "text": p.text,
                    "alert": p.alert,
                    "story_title": p.story_title,
                    "file": p.file,
                }),
            },
        )?;
        seqs.push(seq);
    }
    Ok(seqs)
}

pub(crate) fn replace_messages(
    c: &Conns<'_>,
    room: RoomId,
    seqs: &[Seq],
    text: &str,
    event: &ComplianceEvent,
) -> StoreResult<Vec<StoredMessage>> {
    let mut seqs = seqs.to_vec();
    seqs.sort_unstable();
    seqs.dedup();
    let mut before = Vec::with_capacity(seqs.len());
    for seq in seqs {
        let old = c
            .chat
            .prepare_cached(concat!(message_select!(), "WHERE m.room_id = ?1 AND m.seq = ?2"))
            .db()?
            .query_row(params![room, seq], message_row)
            .optional()
            .db()?;
        // A message that is not kept (cleared, or never stored) has nothing to replace.
        let Some(old) = old else { continue };
        c.chat
            .prepare_cached("UPDATE messages SET text = ?3, replaced = 1 WHERE room_id = ?1 AND seq = ?2")
            .db()?
            .execute(params![room, seq, text])
            .db()?;
        let mut e = event.clone();
        e.room = room;
        e.seq = Some(seq);
        e.detail = detail_with(&event.detail, json!({ "original": old.text, "replacement": text }));
        record_event(c, &e)?;
        before.push(old);
    }
    Ok(before)
}

pub(crate) fn delete_messages(
    c: &Conns<'_>,
    room: RoomId,
    seqs: &[Seq],
    event: &ComplianceEvent,
) -> StoreResult<Vec<StoredMessage>> {
    let mut seqs = seqs.to_vec();
    seqs.sort_unstable();
    seqs.dedup();
    let mut before = Vec::with_capacity(seqs.len());
    for seq in seqs {
        let old = c
            .chat
            .prepare_cached(concat!(message_select!(), "WHERE m.room_id = ?1 AND m.seq = ?2"))
            .db()?
            .query_row(params![room, seq], message_row)
            .optional()
            .db()?;
        let Some(old) = old else { continue };
        c.chat
            .prepare_cached("DELETE FROM messages WHERE room_id = ?1 AND seq = ?2")
            .db()?
            .execute(params![room, seq])
            .db()?;
        let mut e = event.clone();
        e.room = room;
        e.seq = Some(seq);
        e.detail = detail_with(&event.detail, json!({ "original": old.text }));
        record_event(c, &e)?;
        before.push(old);
    }
    Ok(before)
}

pub(crate) fn clear_room(
    c: &Conns<'_>,
    room: RoomId,
    up_to: Millis,
    limit: u32,
    event: &ComplianceEvent,
) -> StoreResult<u64> {
    let exists: Option<i64> =
        c.chat.query_row("SELECT id FROM rooms WHERE id = ?1", [room], |r| r.get(0)).optional().db()?;
    if exists.is_none() {
        return Err(not_found("room", room));
    }
    // Oldest first by the (room, ts) index, so each batch is a short write.
    let count = c
        .chat
        .execute(
            "DELETE FROM messages WHERE id IN \
             (SELECT id FROM messages WHERE room_id = ?1 AND ts <= ?2 ORDER BY ts LIMIT ?3)",
            params![room, up_to, limit],
        )
        .db()? as u64;
    if count > 0 {
        let mut e = event.clone();
        e.detail = detail_with(&event.detail, json!({ "count": count }));
        record_event(c, &e)?;
    }
    Ok(count)
}

// ---- following, read positions, invitations

pub(crate) fn set_followed(c: &Conns<'_>, user: UserId, room: RoomId, follow: bool) -> StoreResult<()> {
    c.chat
        .prepare_cached(
            "INSERT INTO follows (user_id, room_id, followed) VALUES (?1, ?2, ?3) \
             ON CONFLICT (user_id, room_id) DO UPDATE SET followed = excluded.followed",
        )
        .db()?
        .execute(params![user, room, follow])
        .missing(|| user_room_missing(user, room))?;
    Ok(())
}

pub(crate) fn set_read(c: &Conns<'_>, user: UserId, room: RoomId, seq: Seq) -> StoreResult<()> {
    c.chat
        .prepare_cached(
            "INSERT INTO follows (user_id, room_id, read_seq) VALUES (?1, ?2, ?3) \
             ON CONFLICT (user_id, room_id) DO UPDATE SET read_seq = max(read_seq, excluded.read_seq)",
        )
        .db()?
        .execute(params![user, room, seq])
        .missing(|| user_room_missing(user, room))?;
    Ok(())
}

fn user_room_missing(user: UserId, room: RoomId) -> StoreError {
    StoreError::NotFound(format!("user {user} or room {room}"))
}

pub(crate) fn add_invitations(
    c: &Conns<'_>,
    room: RoomId,
    users: &[UserId],
    ts: Millis,
) -> StoreResult<Vec<Invitation>> {
    let mut next_id = c
        .chat
        .prepare_cached(
            "UPDATE users SET last_invitation = last_invitation + 1 WHERE id = ?1 RETURNING last_invitation",
        )
        .db()?;
    let mut put = c
        .chat
        .prepare_cached(
            "INSERT INTO invitations (user_id, inv_id, room_id, ts) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (user_id, room_id) DO UPDATE SET inv_id = excluded.inv_id, ts = excluded.ts",
        )
        .db()?;
    let mut out = Vec::with_capacity(users.len());
    for &user in users {
        let id: i64 =
            next_id.query_row([user], |r| r.get(0)).optional().db()?.ok_or_else(|| not_found("user", user))?;
        put.execute(params![user, id, room, ts]).missing(|| not_found("room", room))?;
        out.push(Invitation { user, id, room, ts });
    }
    Ok(out)
}

pub(crate) fn delete_invitation(c: &Conns<'_>, user: UserId, id: i64) -> StoreResult<()> {
    c.chat
        .prepare_cached("DELETE FROM invitations WHERE user_id = ?1 AND inv_id = ?2")
        .db()?
        .execute(params![user, id])
        .db()?;
    Ok(())
}

// ---- files

pub(crate) fn insert_file(c: &Conns<'_>, f: &FileMeta, event: &ComplianceEvent) -> StoreResult<FileId> {
    c.chat
        .execute(
            "INSERT INTO files (room_id, uploader, key, name, content_type, size, ts) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![f.room, f.uploader, f.key, f.name, f.content_type, f.size as i64, f.ts],
        )
        .missing(|| not_found("room", f.room))?;
    let id = c.chat.last_insert_rowid();
    let mut e = event.clone();
    e.detail = detail_with(&event.detail, json!({ "file_id": id }));
    record_event(c, &e)?;
    Ok(id)
}

// ---- import

/// Puts every object of the batch at its id (insert, or replace the row with that id), then
/// the files and messages; one savepoint, so a failure leaves nothing of the batch.
pub(crate) fn import_batch(c: &Conns<'_>, b: &ImportBatch) -> StoreResult<()> {
    for u in &b.users {
        c.chat
            .prepare_cached(
                "INSERT INTO users (id, login, login_key, display_name, email, site, disabled, admin, policy) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (id) DO UPDATE SET login = ?2, \
                 login_key = ?3, display_name = ?4, email = ?5, site = ?6, disabled = ?7, admin = ?8, policy = ?9",
            )
            .db()?
            .execute(params![
                u.id,
                u.login,
                name_key(&u.login),
                u.display_name,
                u.email,
                u.site,
                u.disabled,
                u.admin,
                u.policy
            ])
            .unique(|| quoted("login", &u.login))?;
    }
    for g in &b.groups {
        c.chat
            .prepare_cached(
                "INSERT INTO groups (id, name, name_key) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (id) DO UPDATE SET name = ?2, name_key = ?3",
            )
            .db()?
            .execute(params![g.id, g.name, name_key(&g.name)])
            .unique(|| quoted("name", &g.name))?;
        put_lists(c.chat, "group", g.id, &[("members", &g.members)])?;
    }
    for a in &b.addins {
        c.chat
            .prepare_cached(
                "INSERT INTO addins (id, name, name_key, url) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (id) DO UPDATE SET name = ?2, name_key = ?3, url = ?4",
            )
            .db()?
            .execute(params![a.id, a.name, name_key(&a.name), a.url])
            .unique(|| quoted("name", &a.name))?;
    }
    for k in &b.categories {
        c.chat
            .prepare_cached(
                "INSERT INTO categories (id, name, description, invitations, file_upload, chat_history) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (id) DO UPDATE SET name = ?2, description = ?3, \
                 invitations = ?4, file_upload = ?5, chat_history = ?6",
            )
            .db()?
            .execute(params![k.id, k.name, k.description, k.invitations, k.file_upload, k.chat_history])
            .db()?;
        claim_name(c.chat, "category", k.id, &k.name)?;
        put_category_lists(c.chat, k.id, k)?;
    }
    for (r, last_seq) in &b.rooms {
        c.chat
            .prepare_cached(
                "INSERT INTO rooms (id, name, description, category_id, privacy, room_type, invitations, addin_id, \
                 disabled, last_seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT (id) DO UPDATE \
                 SET name = ?2, description = ?3, category_id = ?4, privacy = ?5, room_type = ?6, invitations = ?7, \
                 addin_id = ?8, disabled = ?9, last_seq = max(last_seq, ?10)",
            )
            .db()?
            .execute(params![
                r.id,
                r.name,
                r.description,
                r.category,
                privacy_text(r.privacy),
                room_type_text(r.room_type),
                invitations_text(r.invitations),
                r.addin,
                r.disabled,
                last_seq
            ])
            .missing(|| room_reference_missing(r))?;
        claim_name(c.chat, "room", r.id, &r.name)?;
        put_room_lists(c.chat, r.id, r)?;
    }
    for p in &b.policies {
        put_policy(c, p)?;
    }
    for k in &b.configs {
        put_config(c, k)?;
    }
    for f in &b.files {
        c.chat
            .prepare_cached(
                "INSERT INTO files (id, room_id, uploader, key, name, content_type, size, ts) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .db()?
            .execute(params![f.id, f.room, f.uploader, f.key, f.name, f.content_type, f.size as i64, f.ts])
            .unique(|| format!("file {}", f.id))?;
    }
    if !b.messages.is_empty() {
        defer_message_indexes(c.chat)?;
    }
    let mut insert = c
        .chat
        .prepare_cached(
            "INSERT INTO messages (room_id, seq, ts, author, text, alert, story_title, file_id, replaced) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .db()?;
    // A batch holds pages of a few rooms: move each room's last number once.
    let mut last: Vec<(RoomId, Seq)> = Vec::new();
    for m in &b.messages {
        insert
            .execute(params![
                m.room,
                m.seq,
                m.ts,
                m.author,
                m.text,
                m.alert,
                m.story_title,
                m.file.as_ref().map(|f| f.id),
                m.replaced
            ])
            .unique(|| format!("message {} of room {}", m.seq, m.room))?;
        match last.iter_mut().find(|(r, _)| *r == m.room) {
            Some((_, seq)) => *seq = (*seq).max(m.seq),
            None => last.push((m.room, m.seq)),
        }
    }
    let mut bump = c.chat.prepare_cached("UPDATE rooms SET last_seq = max(last_seq, ?2) WHERE id = ?1").db()?;
    for (room, seq) in last {
        let n = bump.execute(params![room, seq]).db()?;
        expect_row(n, "room", room)?;
    }
    Ok(())
}

// ---- message indexes put off by an import (migration 005)

/// The secondary indexes of migration 001, dropped by an import into an empty store.
const MESSAGE_INDEXES: &str = "CREATE INDEX IF NOT EXISTS messages_by_room_ts ON messages(room_id, ts); \
     CREATE INDEX IF NOT EXISTS messages_by_author_ts ON messages(author, ts);";

/// Into a store without messages, the two secondary message indexes are built once at the end
/// of the import (a sort) instead of row by row (random B-tree inserts: half of the writing's
/// time). The `fts_pending` row marks that they are put off; all of it is part of the batch's
/// transaction, so a crash can't separate them.
fn defer_message_indexes(chat: &Connection) -> StoreResult<()> {
    let pending: Option<i64> = chat.query_row("SELECT after FROM fts_pending", [], |r| r.get(0)).optional().db()?;
    if pending.is_some() {
        return Ok(());
    }
    let any: bool = chat.query_row("SELECT EXISTS (SELECT 1 FROM messages)", [], |r| r.get(0)).db()?;
    if !any {
        chat.execute_batch(
            "DROP INDEX IF EXISTS messages_by_room_ts; DROP INDEX IF EXISTS messages_by_author_ts; \
             INSERT INTO fts_pending (id, after) VALUES (1, 0);",
        )
        .db()?;
    }
    Ok(())
}

/// Builds the message indexes an import put off, if any, and removes the marker. Runs inside
/// the caller's transaction.
pub(crate) fn finish_message_indexes(chat: &Connection) -> StoreResult<bool> {
    let pending: Option<i64> = chat.query_row("SELECT after FROM fts_pending", [], |r| r.get(0)).optional().db()?;
    if pending.is_none() {
        return Ok(false);
    }
    chat.execute_batch(&format!("{MESSAGE_INDEXES} DELETE FROM fts_pending;")).db()?;
    Ok(true)
}

/// [`finish_message_indexes`] in a transaction of its own, on a connection no writer uses yet
/// (the store being opened).
pub(crate) fn finish_message_indexes_at_open(chat: &Connection) -> StoreResult<bool> {
    chat.execute_batch("BEGIN IMMEDIATE").db()?;
    match finish_message_indexes(chat) {
        Ok(done) => {
            chat.execute_batch("COMMIT").db()?;
            Ok(done)
        }
        Err(e) => {
            let _ = chat.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}
