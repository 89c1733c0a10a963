//! Write operations. Each runs inside the writer's transaction (and its own savepoint), so
//! an early `?` return leaves nothing behind.

use std::collections::HashMap;

use longhall_core::change::{AuditRecord, CatalogChange, ChangeOutcome};
use longhall_core::model::*;
use longhall_core::ports::Note;
use longhall_core::principal::Principal;
use longhall_core::{StoreError, StoreResult};
use serde_json::{Value, json};
use tokio_postgres::error::SqlState;

use crate::conn::{Conn, DbResult};
use crate::conv::*;

fn not_found(what: &str, id: i64) -> StoreError {
    StoreError::NotFound(format!("{what} {id}"))
}

/// Fails with `NotFound` unless the statement changed a row.
fn expect_row(changed: u64, what: &str, id: i64) -> StoreResult<()> {
    if changed == 0 { Err(not_found(what, id)) } else { Ok(()) }
}

// ---- principal lists

async fn put_lists(c: &Conn, kind: &str, id: i64, lists: &[(&str, &[Principal])]) -> StoreResult<()> {
    delete_lists(c, kind, id).await?;
    for (list, principals) in lists {
        for (pos, p) in principals.iter().enumerate() {
            c.execute(
                "INSERT INTO chat.principal_lists (owner_kind, owner_id, list, principal, pos) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                &[&kind, &id, list, &principal_text(p), &(pos as i64)],
            )
            .await
            .db()?;
        }
    }
    Ok(())
}

async fn delete_lists(c: &Conn, kind: &str, id: i64) -> StoreResult<()> {
    c.execute("DELETE FROM chat.principal_lists WHERE owner_kind = $1 AND owner_id = $2", &[&kind, &id]).await.db()?;
    Ok(())
}

// ---- category and room names (one namespace)

async fn claim_name(c: &Conn, kind: &str, id: i64, name: &str) -> StoreResult<()> {
    c.execute(
        "INSERT INTO chat.names (name_key, kind, owner_id) VALUES ($1, $2, $3) \
         ON CONFLICT (kind, owner_id) DO UPDATE SET name_key = excluded.name_key",
        &[&name_key(name), &kind, &id],
    )
    .await
    .unique(|| quoted("name", name))?;
    Ok(())
}

async fn release_name(c: &Conn, kind: &str, id: i64) -> StoreResult<()> {
    c.execute("DELETE FROM chat.names WHERE kind = $1 AND owner_id = $2", &[&kind, &id]).await.db()?;
    Ok(())
}

// ---- users and groups

async fn insert_user(c: &Conn, u: &User, password_hash: &str) -> StoreResult<UserId> {
    let row = c
        .query_one(
            "INSERT INTO chat.users (login, login_key, display_name, email, site, disabled, admin, policy, password_hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
            &[
                &u.login,
                &name_key(&u.login),
                &u.display_name,
                &u.email,
                &u.site,
                &u.disabled,
                &u.admin,
                &u.policy,
                &password_hash,
            ],
        )
        .await
        .unique(|| quoted("login", &u.login))?;
    get(&row, 0)
}

async fn update_user(c: &Conn, u: &User) -> StoreResult<()> {
    let n = c
        .execute(
            "UPDATE chat.users SET login = $2, login_key = $3, display_name = $4, email = $5, site = $6, \
             disabled = $7, admin = $8, policy = $9 WHERE id = $1 AND NOT removed",
            &[
                &u.id,
                &u.login,
                &name_key(&u.login),
                &u.display_name,
                &u.email,
                &u.site,
                &u.disabled,
                &u.admin,
                &u.policy,
            ],
        )
        .await
        .unique(|| quoted("login", &u.login))?;
    expect_row(n, "user", u.id)
}

async fn set_password(c: &Conn, user: UserId, hash: &str) -> StoreResult<()> {
    let n = c
        .execute("UPDATE chat.users SET password_hash = $2 WHERE id = $1 AND NOT removed", &[&user, &hash])
        .await
        .db()?;
    expect_row(n, "user", user)
}

/// Removes an account but keeps its row (what it posted stays attributed to its login): frees
/// the login, forgets the password, deletes its tokens, follows, read positions and invitations
/// and every list entry naming it. Returns how many tokens were deleted.
async fn remove_user(c: &Conn, id: UserId) -> StoreResult<u32> {
    let n = c
        .execute(
            "UPDATE chat.users SET removed = true, login_key = '#removed:' || id, password_hash = NULL, \
             disabled = true, admin = false WHERE id = $1 AND NOT removed",
            &[&id],
        )
        .await
        .db()?;
    expect_row(n, "user", id)?;
    let tokens = c.execute("DELETE FROM chat.tokens WHERE user_id = $1", &[&id]).await.db()?;
    c.execute("DELETE FROM chat.follows WHERE user_id = $1", &[&id]).await.db()?;
    c.execute("DELETE FROM chat.invitations WHERE user_id = $1", &[&id]).await.db()?;
    c.execute("DELETE FROM chat.principal_lists WHERE principal = $1", &[&principal_text(&Principal::User(id))])
        .await
        .db()?;
    Ok(tokens as u32)
}

async fn insert_group(c: &Conn, g: &Group) -> StoreResult<GroupId> {
    let row = c
        .query_one(
            "INSERT INTO chat.groups (name, name_key) VALUES ($1, $2) RETURNING id",
            &[&g.name, &name_key(&g.name)],
        )
        .await
        .unique(|| quoted("name", &g.name))?;
    let id: i64 = get(&row, 0)?;
    put_lists(c, "group", id, &[("members", &g.members)]).await?;
    Ok(id)
}

async fn update_group(c: &Conn, g: &Group) -> StoreResult<()> {
    let n = c
        .execute("UPDATE chat.groups SET name = $2, name_key = $3 WHERE id = $1", &[&g.id, &g.name, &name_key(&g.name)])
        .await
        .unique(|| quoted("name", &g.name))?;
    expect_row(n, "group", g.id)?;
    put_lists(c, "group", g.id, &[("members", &g.members)]).await
}

async fn delete_group(c: &Conn, id: &GroupId) -> StoreResult<()> {
    let n = c.execute("DELETE FROM chat.groups WHERE id = $1", &[id]).await.db()?;
    expect_row(n, "group", *id)?;
    delete_lists(c, "group", *id).await?;
    c.execute("DELETE FROM chat.principal_lists WHERE principal = $1", &[&principal_text(&Principal::Group(*id))])
        .await
        .db()?;
    Ok(())
}

// ---- categories, rooms, add-ins

async fn insert_category(c: &Conn, k: &Category) -> StoreResult<CategoryId> {
    let row = c
        .query_one(
            "INSERT INTO chat.categories (name, description, invitations, file_upload, chat_history) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
            &[&k.name, &k.description, &k.invitations, &k.file_upload, &k.chat_history],
        )
        .await
        .db()?;
    let id: i64 = get(&row, 0)?;
    claim_name(c, "category", id, &k.name).await?;
    put_category_lists(c, id, k).await?;
    Ok(id)
}

async fn put_category_lists(c: &Conn, id: CategoryId, k: &Category) -> StoreResult<()> {
    put_lists(c, "category", id, &[("allowed", &k.allowed), ("denied", &k.denied), ("creators", &k.creators)]).await
}

async fn update_category(c: &Conn, k: &Category) -> StoreResult<()> {
    let n = c
        .execute(
            "UPDATE chat.categories SET name = $2, description = $3, invitations = $4, file_upload = $5, \
             chat_history = $6 WHERE id = $1",
            &[&k.id, &k.name, &k.description, &k.invitations, &k.file_upload, &k.chat_history],
        )
        .await
        .db()?;
    expect_row(n, "category", k.id)?;
    claim_name(c, "category", k.id, &k.name).await?;
    put_category_lists(c, k.id, k).await
}

async fn delete_category(c: &Conn, id: &CategoryId) -> StoreResult<()> {
    let rooms: i64 = get(&c.query_one("SELECT count(*) FROM chat.rooms WHERE category_id = $1", &[id]).await.db()?, 0)?;
    if rooms > 0 {
        // The core removes only empty categories; this guards the rows, it is not a user error.
        return Err(StoreError::Unavailable(format!(
            "category {id} still holds {rooms} room(s) and cannot be removed"
        )));
    }
    let n = c.execute("DELETE FROM chat.categories WHERE id = $1", &[id]).await.db()?;
    expect_row(n, "category", *id)?;
    release_name(c, "category", *id).await?;
    delete_lists(c, "category", *id).await
}

async fn insert_room(c: &Conn, r: &Room) -> StoreResult<RoomId> {
    let row = c
        .query_one(
            "INSERT INTO chat.rooms (name, description, category_id, privacy, room_type, invitations, addin_id, disabled) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            &[
                &r.name,
                &r.description,
                &r.category,
                &privacy_text(r.privacy),
                &room_type_text(r.room_type),
                &invitations_text(r.invitations),
                &r.addin,
                &r.disabled,
            ],
        )
        .await
        .missing(|| room_reference_missing(r))?;
    let id: i64 = get(&row, 0)?;
    claim_name(c, "room", id, &r.name).await?;
    put_room_lists(c, id, r).await?;
    Ok(id)
}

/// A room names a category and maybe an add-in; say which may be missing.
fn room_reference_missing(r: &Room) -> StoreError {
    match r.addin {
        Some(a) => StoreError::NotFound(format!("category {} or add-in {a}", r.category)),
        None => not_found("category", r.category),
    }
}

async fn put_room_lists(c: &Conn, id: RoomId, r: &Room) -> StoreResult<()> {
    put_lists(c, "room", id, &[("members", &r.members), ("managers", &r.managers), ("presenters", &r.presenters)]).await
}

async fn update_room(c: &Conn, r: &Room) -> StoreResult<()> {
    let n = c
        .execute(
            "UPDATE chat.rooms SET name = $2, description = $3, category_id = $4, privacy = $5, room_type = $6, \
             invitations = $7, addin_id = $8, disabled = $9 WHERE id = $1",
            &[
                &r.id,
                &r.name,
                &r.description,
                &r.category,
                &privacy_text(r.privacy),
                &room_type_text(r.room_type),
                &invitations_text(r.invitations),
                &r.addin,
                &r.disabled,
            ],
        )
        .await
        .missing(|| room_reference_missing(r))?;
    expect_row(n, "room", r.id)?;
    claim_name(c, "room", r.id, &r.name).await?;
    put_room_lists(c, r.id, r).await
}

async fn delete_room(c: &Conn, id: &RoomId) -> StoreResult<Vec<String>> {
    let keys = c
        .query("SELECT key FROM chat.files WHERE room_id = $1 ORDER BY id", &[id])
        .await
        .db()?
        .iter()
        .map(|r| get::<String>(r, 0))
        .collect::<StoreResult<Vec<_>>>()?;
    c.execute("DELETE FROM chat.messages WHERE room_id = $1", &[id]).await.db()?;
    c.execute("DELETE FROM chat.follows WHERE room_id = $1", &[id]).await.db()?;
    c.execute("DELETE FROM chat.invitations WHERE room_id = $1", &[id]).await.db()?;
    c.execute("DELETE FROM chat.files WHERE room_id = $1", &[id]).await.db()?;
    let n = c.execute("DELETE FROM chat.rooms WHERE id = $1", &[id]).await.db()?;
    expect_row(n, "room", *id)?;
    release_name(c, "room", *id).await?;
    delete_lists(c, "room", *id).await?;
    Ok(keys)
}

async fn insert_addin(c: &Conn, a: &Addin) -> StoreResult<AddinId> {
    let row = c
        .query_one(
            "INSERT INTO chat.addins (name, name_key, url) VALUES ($1, $2, $3) RETURNING id",
            &[&a.name, &name_key(&a.name), &a.url],
        )
        .await
        .unique(|| quoted("name", &a.name))?;
    get(&row, 0)
}

async fn update_addin(c: &Conn, a: &Addin) -> StoreResult<()> {
    let n = c
        .execute(
            "UPDATE chat.addins SET name = $2, name_key = $3, url = $4 WHERE id = $1",
            &[&a.id, &a.name, &name_key(&a.name), &a.url],
        )
        .await
        .unique(|| quoted("name", &a.name))?;
    expect_row(n, "add-in", a.id)
}

/// Rooms that used the add-in lose it (`ON DELETE SET NULL`) rather than blocking the delete.
async fn delete_addin(c: &Conn, id: &AddinId) -> StoreResult<()> {
    let n = c.execute("DELETE FROM chat.addins WHERE id = $1", &[id]).await.db()?;
    expect_row(n, "add-in", *id)
}

// ---- policies, configuration, meta

async fn put_policy(c: &Conn, p: &Policy) -> StoreResult<()> {
    c.execute(
        "INSERT INTO chat.policies (scope, enable_persistent_chat, description) VALUES ($1, $2, $3) \
         ON CONFLICT (scope) DO UPDATE SET enable_persistent_chat = excluded.enable_persistent_chat, \
         description = excluded.description",
        &[&p.scope.to_string(), &p.enable_persistent_chat, &p.description],
    )
    .await
    .db()?;
    Ok(())
}

async fn delete_policy(c: &Conn, scope: &Scope) -> StoreResult<()> {
    c.execute("DELETE FROM chat.policies WHERE scope = $1", &[&scope.to_string()]).await.db()?;
    Ok(())
}

async fn put_config(c: &Conn, k: &Config) -> StoreResult<()> {
    c.execute(
        "INSERT INTO chat.configs (scope, default_chat_history, max_file_size_kb, participant_update_limit, \
         room_management_url) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (scope) DO UPDATE SET default_chat_history = excluded.default_chat_history, \
         max_file_size_kb = excluded.max_file_size_kb, participant_update_limit = excluded.participant_update_limit, \
         room_management_url = excluded.room_management_url",
        &[
            &k.scope.to_string(),
            &i64::from(k.default_chat_history),
            &(k.max_file_size_kb as i64),
            &i64::from(k.participant_update_limit),
            &k.room_management_url,
        ],
    )
    .await
    .db()?;
    Ok(())
}

async fn delete_config(c: &Conn, scope: &Scope) -> StoreResult<()> {
    c.execute("DELETE FROM chat.configs WHERE scope = $1", &[&scope.to_string()]).await.db()?;
    Ok(())
}

pub(crate) async fn put_meta(c: &Conn, (key, value): &(String, String)) -> StoreResult<()> {
    c.execute(
        "INSERT INTO chat.meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        &[key, value],
    )
    .await
    .db()?;
    Ok(())
}

// ---- tokens

async fn insert_token(c: &Conn, t: &TokenRecord) -> StoreResult<TokenId> {
    let row = c
        .query_one(
            "INSERT INTO chat.tokens (user_id, kind, label, hash, created, expires) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            &[&t.user, &t.kind.as_str(), &t.label, &t.hash, &t.created, &t.expires],
        )
        .await
        .map_err(|e| match e.code() {
            Some(&tokio_postgres::error::SqlState::FOREIGN_KEY_VIOLATION) => not_found("user", t.user),
            Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) => StoreError::Conflict("the token".to_owned()),
            _ => crate::conn::unavailable(e),
        })?;
    get(&row, 0)
}

async fn delete_token(c: &Conn, id: &TokenId) -> StoreResult<bool> {
    Ok(c.execute("DELETE FROM chat.tokens WHERE id = $1", &[id]).await.db()? > 0)
}

// ---- the one catalog-write path

/// Writes one catalog change and its audit record, in the same transaction.
/// A catalog change to commit: the change, its audit record, the revision it was validated
/// at (`None`: no check) and whether to announce it with NOTIFY.
pub(crate) type ChangeJob = (CatalogChange, Option<AuditRecord>, Option<i64>, bool);

/// Log entries kept behind the newest revision (a server further behind reloads nothing:
/// servers of a pool read the log within moments of each change).
const CHANGE_LOG_KEPT: i64 = 100_000;

/// The channel every server of a pool LISTENs on.
pub const CHANNEL: &str = "longhall";

pub(crate) async fn catalog_revision(c: &Conn) -> StoreResult<i64> {
    let row = c.query_one("SELECT coalesce(max(revision), 0) FROM chat.catalog_changes", &[]).await.db()?;
    get(&row, 0)
}

/// Logs a committed change (under the write lock, so revisions are dense and in commit
/// order) and announces it; returns its revision.
async fn log_change(c: &Conn, change: &CatalogChange, id: i64, announce: bool) -> StoreResult<i64> {
    let text = serde_json::to_string(&change.for_log())
        .map_err(|e| StoreError::Unavailable(format!("a catalog change could not be written: {e}")))?;
    let row = c
        .query_one(
            "INSERT INTO chat.catalog_changes (revision, change, object_id) \
             SELECT coalesce(max(revision), 0) + 1, $1, $2 FROM chat.catalog_changes RETURNING revision",
            &[&text, &id],
        )
        .await
        .db()?;
    let revision: i64 = get(&row, 0)?;
    if revision % 1000 == 0 {
        c.execute("DELETE FROM chat.catalog_changes WHERE revision <= $1", &[&(revision - CHANGE_LOG_KEPT)])
            .await
            .db()?;
    }
    if announce {
        let note = Note::Catalog { revision }.to_text();
        c.execute("SELECT pg_notify('longhall', $1)", &[&note]).await.db()?;
    }
    Ok(revision)
}

pub(crate) async fn commit_change(c: &Conn, (change, audit, at, announce): &ChangeJob) -> StoreResult<ChangeOutcome> {
    use CatalogChange as C;
    if let Some(at) = at {
        let current = catalog_revision(c).await?;
        if current != *at {
            return Err(StoreError::Stale(current));
        }
    }
    let mut out = ChangeOutcome { found: true, ..ChangeOutcome::default() };
    match change {
        C::InsertUser { user, password_hash } => out.id = insert_user(c, user, password_hash).await?,
        C::UpdateUser { user, password_hash } => {
            update_user(c, user).await?;
            if let Some(h) = password_hash {
                set_password(c, user.id, h).await?;
            }
        }
        C::RemoveUser { id } => out.tokens_removed = remove_user(c, *id).await?,
        C::InsertGroup { group } => out.id = insert_group(c, group).await?,
        C::UpdateGroup { group } => update_group(c, group).await?,
        C::DeleteGroup { id } => delete_group(c, id).await?,
        C::InsertCategory { category } => out.id = insert_category(c, category).await?,
        C::UpdateCategory { category } => update_category(c, category).await?,
        C::DeleteCategory { id } => delete_category(c, id).await?,
        C::InsertRoom { room } => out.id = insert_room(c, room).await?,
        C::UpdateRoom { room } => update_room(c, room).await?,
        C::DeleteRoom { id } => out.removed_files = delete_room(c, id).await?,
        C::InsertAddin { addin } => out.id = insert_addin(c, addin).await?,
        C::UpdateAddin { addin } => update_addin(c, addin).await?,
        C::DeleteAddin { id } => delete_addin(c, id).await?,
        C::PutPolicy { policy } => put_policy(c, policy).await?,
        C::DeletePolicy { scope } => delete_policy(c, scope).await?,
        C::PutConfig { config } => put_config(c, config).await?,
        C::DeleteConfig { scope } => delete_config(c, scope).await?,
        C::PutComplianceConfig { config } => crate::processing::put_config_w(c, config).await?,
        C::InsertToken { token } => out.id = insert_token(c, token).await?,
        C::DeleteToken { id } => out.found = delete_token(c, id).await?,
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
        write_audit(c, &a).await?;
    }
    if change.is_logged() {
        out.revision = log_change(c, change, out.id, *announce).await?;
    }
    Ok(out)
}

async fn write_audit(c: &Conn, a: &AuditRecord) -> StoreResult<()> {
    c.execute(
        "INSERT INTO compliance.audit_log \
         (ts, actor, token_id, source, noun, object, object_id, operation, before, after, note) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        &[
            &a.ts,
            &a.actor,
            &a.token_id,
            &a.source,
            &a.noun,
            &a.object,
            &a.object_id,
            &a.operation,
            &a.before,
            &a.after,
            &a.note,
        ],
    )
    .await
    .db()?;
    Ok(())
}

// ---- compliance

/// Records one event; a JOIN or PART with a `detail.connection` opens or closes its open
/// participation in the same statement (one round trip: a join storm writes one per join).
pub(crate) async fn record_event(c: &Conn, e: &ComplianceEvent) -> StoreResult<i64> {
    let connection = e.detail.get("connection").and_then(Value::as_i64);
    let p: [&(dyn tokio_postgres::types::ToSql + Sync); 9] =
        [&e.kind.as_str(), &e.ts, &e.room, &e.room_name, &e.user, &e.user_login, &e.seq, &e.detail, &connection];
    let row = match (e.kind, connection) {
        (ComplianceKind::Join, Some(_)) => {
            c.query_one(
                "WITH e AS (INSERT INTO compliance.events (kind, ts, room_id, room_name, user_id, user_login, seq, detail) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id), \
                 j AS (INSERT INTO compliance.open_joins (connection, room_id, user_id) VALUES ($9, $3, $5) \
                 ON CONFLICT (connection, room_id) DO UPDATE SET user_id = excluded.user_id) \
                 SELECT id FROM e",
                &p,
            )
            .await
        }
        (ComplianceKind::Part, Some(_)) => {
            c.query_one(
                "WITH e AS (INSERT INTO compliance.events (kind, ts, room_id, room_name, user_id, user_login, seq, detail) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id), \
                 p AS (DELETE FROM compliance.open_joins WHERE connection = $9 AND room_id = $3) \
                 SELECT id FROM e",
                &p,
            )
            .await
        }
        _ => {
            c.query_one(
                "INSERT INTO compliance.events (kind, ts, room_id, room_name, user_id, user_login, seq, detail) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                &p[..8],
            )
            .await
        }
    };
    get(&row.db()?, 0)
}

pub(crate) async fn record_events(c: &Conn, events: &Vec<ComplianceEvent>) -> StoreResult<()> {
    for e in events {
        record_event(c, e).await?;
    }
    Ok(())
}

/// Forgets every open participation.
pub(crate) async fn clear_open_participations(c: &Conn, _: &()) -> StoreResult<()> {
    c.execute("DELETE FROM compliance.open_joins", &[]).await.db()?;
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

/// Three statements for the whole batch, whatever its size: the rooms' counters move by
/// their number of posts (sequence numbers are handed out from there in batch order), then
/// the kept messages and every CHAT record are inserted from arrays.
pub(crate) async fn commit_posts(c: &Conn, (posts, announce): &(Vec<NewPost>, bool)) -> StoreResult<Vec<Seq>> {
    if posts.is_empty() {
        return Ok(Vec::new());
    }
    let rooms: Vec<RoomId> = posts.iter().map(|p| p.room).collect();
    let mut next: HashMap<RoomId, Seq> = HashMap::new();
    for r in c
        .query(
            "UPDATE chat.rooms r SET last_seq = r.last_seq + n.count \
             FROM (SELECT room_id, count(*) AS count FROM unnest($1::bigint[]) AS room_id GROUP BY room_id) n \
             WHERE r.id = n.room_id RETURNING r.id, r.last_seq - n.count",
            &[&rooms],
        )
        .await
        .db()?
    {
        next.insert(get(&r, 0)?, get(&r, 1)?);
    }
    let mut seqs = Vec::with_capacity(posts.len());
    for p in posts {
        let last = next.get_mut(&p.room).ok_or_else(|| not_found("room", p.room))?;
        *last += 1;
        seqs.push(*last);
    }

    let kept: Vec<(&NewPost, Seq)> = posts.iter().zip(&seqs).filter(|(p, _)| p.keep).map(|(p, s)| (p, *s)).collect();
    if !kept.is_empty() {
        let col = |f: fn(&NewPost) -> i64| kept.iter().map(|(p, _)| f(p)).collect::<Vec<i64>>();
        let kept_seqs: Vec<Seq> = kept.iter().map(|(_, s)| *s).collect();
        let texts: Vec<&str> = kept.iter().map(|(p, _)| p.text.as_str()).collect();
        let alerts: Vec<bool> = kept.iter().map(|(p, _)| p.alert).collect();
        let titles: Vec<Option<&str>> = kept.iter().map(|(p, _)| p.story_title.as_deref()).collect();
        let files: Vec<Option<FileId>> = kept.iter().map(|(p, _)| p.file).collect();
        c.execute(
            "INSERT INTO chat.messages (room_id, seq, ts, author, text, alert, story_title, file_id) \
             SELECT room_id, seq, ts, author, text, alert, story_title, file_id \
             FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[], $6::boolean[], \
             $7::text[], $8::bigint[]) WITH ORDINALITY \
             AS p(room_id, seq, ts, author, text, alert, story_title, file_id) ORDER BY ordinality",
            &[&col(|p| p.room), &kept_seqs, &col(|p| p.ts), &col(|p| p.author), &texts, &alerts, &titles, &files],
        )
        .await
        .db()?;
    }

    let ts: Vec<Millis> = posts.iter().map(|p| p.ts).collect();
    let room_names: Vec<&str> = posts.iter().map(|p| p.room_name.as_str()).collect();
    let authors: Vec<UserId> = posts.iter().map(|p| p.author).collect();
    let logins: Vec<&str> = posts.iter().map(|p| p.author_login.as_str()).collect();
    let details: Vec<Value> = posts
        .iter()
        .map(|p| json!({ "text": p.text, "alert": p.alert, "story_title": p.story_title, "file": p.file }))
        .collect();
    // Ids are drawn in batch order (ORDER BY ordinality), so the records of a room's posts
    // ascend with their sequence numbers.
    c.execute(
        "INSERT INTO compliance.events (kind, ts, room_id, room_name, user_id, user_login, seq, detail) \
         SELECT $1, ts, room_id, room_name, user_id, user_login, seq, detail \
         FROM unnest($2::bigint[], $3::bigint[], $4::text[], $5::bigint[], $6::text[], $7::bigint[], $8::jsonb[]) \
         WITH ORDINALITY AS p(ts, room_id, room_name, user_id, user_login, seq, detail) ORDER BY ordinality",
        &[&ComplianceKind::Chat.as_str(), &ts, &rooms, &room_names, &authors, &logins, &seqs, &details],
    )
    .await
    .db()?;
    if *announce {
        // Delivered to the listening servers when (and only if) the batch commits.
        let notes: Vec<String> = next.iter().map(|(&room, &seq)| Note::Message { room, seq }.to_text()).collect();
        c.execute("SELECT pg_notify('longhall', n) FROM unnest($1::text[]) AS n", &[&notes]).await.db()?;
    }
    Ok(seqs)
}

pub(crate) struct Replace {
    pub room: RoomId,
    pub seqs: Vec<Seq>,
    pub text: String,
    pub event: ComplianceEvent,
}

pub(crate) async fn replace_messages(c: &Conn, r: &Replace) -> StoreResult<Vec<StoredMessage>> {
    let mut seqs = r.seqs.clone();
    seqs.sort_unstable();
    seqs.dedup();
    let mut before = Vec::with_capacity(seqs.len());
    for seq in seqs {
        let old = c
            .query_opt(concat!(message_select!(), "WHERE m.room_id = $1 AND m.seq = $2"), &[&r.room, &seq])
            .await
            .db()?;
        // A message that is not kept (cleared, or never stored) has nothing to replace.
        let Some(old) = old else { continue };
        let old = message_row(&old)?;
        c.execute(
            "UPDATE chat.messages SET text = $3, replaced = true WHERE room_id = $1 AND seq = $2",
            &[&r.room, &seq, &r.text],
        )
        .await
        .db()?;
        let mut e = r.event.clone();
        e.room = r.room;
        e.seq = Some(seq);
        e.detail = detail_with(&r.event.detail, json!({ "original": old.text, "replacement": r.text }));
        record_event(c, &e).await?;
        before.push(old);
    }
    Ok(before)
}

pub(crate) async fn delete_messages(
    c: &Conn,
    (room, seqs, event): &(RoomId, Vec<Seq>, ComplianceEvent),
) -> StoreResult<Vec<StoredMessage>> {
    let mut seqs = seqs.clone();
    seqs.sort_unstable();
    seqs.dedup();
    let mut before = Vec::with_capacity(seqs.len());
    for seq in seqs {
        let old =
            c.query_opt(concat!(message_select!(), "WHERE m.room_id = $1 AND m.seq = $2"), &[room, &seq]).await.db()?;
        let Some(old) = old else { continue };
        let old = message_row(&old)?;
        c.execute("DELETE FROM chat.messages WHERE room_id = $1 AND seq = $2", &[room, &seq]).await.db()?;
        let mut e = event.clone();
        e.room = *room;
        e.seq = Some(seq);
        e.detail = detail_with(&event.detail, json!({ "original": old.text }));
        record_event(c, &e).await?;
        before.push(old);
    }
    Ok(before)
}

pub(crate) async fn clear_room(
    c: &Conn,
    (room, up_to, limit, event): &(RoomId, Millis, u32, ComplianceEvent),
) -> StoreResult<u64> {
    if c.query_opt("SELECT id FROM chat.rooms WHERE id = $1", &[room]).await.db()?.is_none() {
        return Err(not_found("room", *room));
    }
    // Oldest first by the (room, ts) index, so each batch is a short write.
    let count = c
        .execute(
            "DELETE FROM chat.messages WHERE id IN \
             (SELECT id FROM chat.messages WHERE room_id = $1 AND ts <= $2 ORDER BY ts, seq LIMIT $3)",
            &[room, up_to, &i64::from(*limit)],
        )
        .await
        .db()?;
    if count > 0 {
        let mut e = event.clone();
        e.detail = detail_with(&event.detail, json!({ "count": count }));
        record_event(c, &e).await?;
    }
    Ok(count)
}

// ---- following, read positions, invitations

fn user_room_missing(user: UserId, room: RoomId) -> StoreError {
    StoreError::NotFound(format!("user {user} or room {room}"))
}

pub(crate) async fn set_followed(c: &Conn, (user, room, follow): &(UserId, RoomId, bool)) -> StoreResult<()> {
    c.execute(
        "INSERT INTO chat.follows (user_id, room_id, followed) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id, room_id) DO UPDATE SET followed = excluded.followed",
        &[user, room, follow],
    )
    .await
    .missing(|| user_room_missing(*user, *room))?;
    Ok(())
}

pub(crate) async fn set_read(c: &Conn, (user, room, seq): &(UserId, RoomId, Seq)) -> StoreResult<()> {
    c.execute(
        "INSERT INTO chat.follows (user_id, room_id, read_seq) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id, room_id) DO UPDATE SET read_seq = greatest(chat.follows.read_seq, excluded.read_seq)",
        &[user, room, seq],
    )
    .await
    .missing(|| user_room_missing(*user, *room))?;
    Ok(())
}

pub(crate) async fn add_invitations(
    c: &Conn,
    (room, users, ts): &(RoomId, Vec<UserId>, Millis),
) -> StoreResult<Vec<Invitation>> {
    let mut out = Vec::with_capacity(users.len());
    for &user in users {
        let id: i64 = match c
            .query_opt(
                "UPDATE chat.users SET last_invitation = last_invitation + 1 WHERE id = $1 RETURNING last_invitation",
                &[&user],
            )
            .await
            .db()?
        {
            Some(row) => get(&row, 0)?,
            None => return Err(not_found("user", user)),
        };
        c.execute(
            "INSERT INTO chat.invitations (user_id, inv_id, room_id, ts) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (user_id, room_id) DO UPDATE SET inv_id = excluded.inv_id, ts = excluded.ts",
            &[&user, &id, room, ts],
        )
        .await
        .missing(|| not_found("room", *room))?;
        out.push(Invitation { user, id, room: *room, ts: *ts });
    }
    Ok(out)
}

/// Removes a user's invitation (dismissed); nothing when there is none.
pub(crate) async fn delete_invitation(c: &Conn, (user, id): &(UserId, i64)) -> StoreResult<()> {
    c.execute("DELETE FROM chat.invitations WHERE user_id = $1 AND inv_id = $2", &[user, id]).await.db()?;
    Ok(())
}

// ---- files

pub(crate) async fn insert_file(c: &Conn, (f, event): &(FileMeta, ComplianceEvent)) -> StoreResult<FileId> {
    let row = c
        .query_one(
            "INSERT INTO chat.files (room_id, uploader, key, name, content_type, size, ts) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            &[&f.room, &f.uploader, &f.key, &f.name, &f.content_type, &(f.size as i64), &f.ts],
        )
        .await
        .missing(|| not_found("room", f.room))?;
    let id: i64 = get(&row, 0)?;
    let mut e = event.clone();
    e.detail = detail_with(&event.detail, json!({ "file_id": id }));
    record_event(c, &e).await?;
    Ok(id)
}

/// The readiness probe: one small row in each schema, committed like a post.
pub(crate) async fn probe(c: &Conn, now: &Millis) -> StoreResult<()> {
    c.execute(
        "INSERT INTO compliance.health_probe (id, at) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET at = excluded.at",
        &[now],
    )
    .await
    .db()?;
    put_meta(c, &("health_probe".to_owned(), now.to_string())).await
}

// ---- import

/// Moves the identity sequence of `table` past `max_id` (ids put by an import), never back:
/// later inserts must not take an imported id.
async fn advance_ids(c: &Conn, table: &'static str, max_id: Option<i64>) -> StoreResult<()> {
    let Some(max_id) = max_id else { return Ok(()) };
    c.query(
        "SELECT setval(s, $2) FROM (SELECT pg_get_serial_sequence($1, 'id')::regclass AS s) q \
         WHERE $2 > coalesce(pg_sequence_last_value(s), 0)",
        &[&table, &max_id],
    )
    .await
    .db()?;
    Ok(())
}

/// Puts every object of the batch at its id (insert, or replace the row with that id), then
/// the files and messages, in the writer's transaction: a failure leaves nothing of the batch.
pub(crate) async fn import_batch(c: &Conn, b: &ImportBatch) -> StoreResult<()> {
    for u in &b.users {
        c.execute(
            "INSERT INTO chat.users (id, login, login_key, display_name, email, site, disabled, admin, policy) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO UPDATE SET login = excluded.login, \
             login_key = excluded.login_key, display_name = excluded.display_name, email = excluded.email, \
             site = excluded.site, disabled = excluded.disabled, admin = excluded.admin, policy = excluded.policy",
            &[
                &u.id,
                &u.login,
                &name_key(&u.login),
                &u.display_name,
                &u.email,
                &u.site,
                &u.disabled,
                &u.admin,
                &u.policy,
            ],
        )
        .await
        .unique(|| quoted("login", &u.login))?;
    }
    for g in &b.groups {
        c.execute(
            "INSERT INTO chat.groups (id, name, name_key) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, name_key = excluded.name_key",
            &[&g.id, &g.name, &name_key(&g.name)],
        )
        .await
        .unique(|| quoted("name", &g.name))?;
        put_lists(c, "group", g.id, &[("members", &g.members)]).await?;
    }
    for a in &b.addins {
        c.execute(
            "INSERT INTO chat.addins (id, name, name_key, url) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, name_key = excluded.name_key, url = excluded.url",
            &[&a.id, &a.name, &name_key(&a.name), &a.url],
        )
        .await
        .unique(|| quoted("name", &a.name))?;
    }
    for k in &b.categories {
        c.execute(
            "INSERT INTO chat.categories (id, name, description, invitations, file_upload, chat_history) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO UPDATE SET name = excluded.name, \
             description = excluded.description, invitations = excluded.invitations, \
             file_upload = excluded.file_upload, chat_history = excluded.chat_history",
            &[&k.id, &k.name, &k.description, &k.invitations, &k.file_upload, &k.chat_history],
        )
        .await
        .db()?;
        claim_name(c, "category", k.id, &k.name).await?;
        put_category_lists(c, k.id, k).await?;
    }
    for (r, last_seq) in &b.rooms {
        c.execute(
            "INSERT INTO chat.rooms (id, name, description, category_id, privacy, room_type, invitations, addin_id, \
             disabled, last_seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO UPDATE \
             SET name = excluded.name, description = excluded.description, category_id = excluded.category_id, \
             privacy = excluded.privacy, room_type = excluded.room_type, invitations = excluded.invitations, \
             addin_id = excluded.addin_id, disabled = excluded.disabled, \
             last_seq = greatest(chat.rooms.last_seq, excluded.last_seq)",
            &[
                &r.id,
                &r.name,
                &r.description,
                &r.category,
                &privacy_text(r.privacy),
                &room_type_text(r.room_type),
                &invitations_text(r.invitations),
                &r.addin,
                &r.disabled,
                last_seq,
            ],
        )
        .await
        .missing(|| room_reference_missing(r))?;
        claim_name(c, "room", r.id, &r.name).await?;
        put_room_lists(c, r.id, r).await?;
    }
    for p in &b.policies {
        put_policy(c, p).await?;
    }
    for k in &b.configs {
        put_config(c, k).await?;
    }
    for f in &b.files {
        c.execute(
            "INSERT INTO chat.files (id, room_id, uploader, key, name, content_type, size, ts) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[&f.id, &f.room, &f.uploader, &f.key, &f.name, &f.content_type, &(f.size as i64), &f.ts],
        )
        .await
        .map_err(|e| match e.code() {
            Some(&SqlState::UNIQUE_VIOLATION) => StoreError::Conflict(format!("file {}", f.id)),
            Some(&SqlState::FOREIGN_KEY_VIOLATION) => not_found("room", f.room),
            _ => crate::conn::unavailable(e),
        })?;
    }
    if !b.messages.is_empty() {
        let m = &b.messages;
        let col = |f: fn(&StoredMessage) -> i64| m.iter().map(f).collect::<Vec<i64>>();
        let texts: Vec<&str> = m.iter().map(|m| m.text.as_str()).collect();
        let alerts: Vec<bool> = m.iter().map(|m| m.alert).collect();
        let titles: Vec<Option<&str>> = m.iter().map(|m| m.story_title.as_deref()).collect();
        let files: Vec<Option<FileId>> = m.iter().map(|m| m.file.as_ref().map(|f| f.id)).collect();
        let replaced: Vec<bool> = m.iter().map(|m| m.replaced).collect();
        // One statement for the whole batch, in batch order (message ids follow it).
        c.execute(
            "INSERT INTO chat.messages (room_id, seq, ts, author, text, alert, story_title, file_id, replaced) \
             SELECT room_id, seq, ts, author, text, alert, story_title, file_id, replaced \
             FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[], $6::boolean[], \
             $7::text[], $8::bigint[], $9::boolean[]) WITH ORDINALITY \
             AS p(room_id, seq, ts, author, text, alert, story_title, file_id, replaced) ORDER BY ordinality",
            &[
                &col(|m| m.room),
                &col(|m| m.seq),
                &col(|m| m.ts),
                &col(|m| m.author),
                &texts,
                &alerts,
                &titles,
                &files,
                &replaced,
            ],
        )
        .await
        .map_err(|e| match e.code() {
            Some(&SqlState::UNIQUE_VIOLATION) => {
                StoreError::Conflict("a message at a sequence number its room already has".to_owned())
            }
            Some(&SqlState::FOREIGN_KEY_VIOLATION) => StoreError::NotFound("the room of an imported message".into()),
            _ => crate::conn::unavailable(e),
        })?;
        // A batch holds pages of a few rooms: each room's last number moves once.
        let mut last: HashMap<RoomId, Seq> = HashMap::new();
        for m in m {
            let seq = last.entry(m.room).or_insert(m.seq);
            *seq = (*seq).max(m.seq);
        }
        let (rooms, seqs): (Vec<RoomId>, Vec<Seq>) = last.into_iter().unzip();
        c.execute(
            "UPDATE chat.rooms r SET last_seq = greatest(r.last_seq, l.seq) \
             FROM unnest($1::bigint[], $2::bigint[]) AS l(room_id, seq) WHERE r.id = l.room_id",
            &[&rooms, &seqs],
        )
        .await
        .db()?;
    }
    advance_ids(c, "chat.users", b.users.iter().map(|u| u.id).max()).await?;
    advance_ids(c, "chat.groups", b.groups.iter().map(|g| g.id).max()).await?;
    advance_ids(c, "chat.addins", b.addins.iter().map(|a| a.id).max()).await?;
    advance_ids(c, "chat.categories", b.categories.iter().map(|k| k.id).max()).await?;
    advance_ids(c, "chat.rooms", b.rooms.iter().map(|(r, _)| r.id).max()).await?;
    advance_ids(c, "chat.files", b.files.iter().map(|f| f.id).max()).await?;
    Ok(())
}
