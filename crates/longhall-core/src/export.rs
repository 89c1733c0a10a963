//! Export and import: a deployment's directory, rooms and content in a portable, versioned,
//! streaming format that names no backend, read and written through the `Store` port only.
//!
//! Format, version 1 (documented in docs/operations.md): UTF-8 JSON Lines. The first line is
//! the header, the last the trailer; in between one object per line, in this order: users,
//! groups, add-ins, categories, rooms (or, at level `content`, room references), policies,
//! configurations, then for each room its files and its messages in sequence order.
//!
//! ```text
//! {"type":"header","format":"longhall-export","version":1,"created":…,"level":"all","categories":[],"since":null}
//! {"type":"user","id":1,"login":"admin@example.org",…}
//! {"type":"room","id":3,"name":"Lobby","category":"General",…,"last_seq":42}
//! {"type":"message","room":3,"seq":1,"ts":…,"author":"alice@example.org","text":"hello",…}
//! {"type":"end","counts":{"message":42,"room":1,…},"sha256":"<hex SHA-256 of every byte before this line>"}
//! ```
//!
//! Objects refer to each other by name (a room's category, a list's `user:<login>` or
//! `group:<name>`, a message's author login), so a file means the same in any deployment;
//! messages and files name their room by the room's id in the file. A file without its
//! trailer (truncated), whose checksum or counts don't match (altered), or of another version
//! is refused by the first pass of an import, before anything is written.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, Write};

use longhall_types::api::{FileRef, Privacy, RoomInvitations, RoomType};
use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::error::StoreError;
use crate::model::*;
use crate::ports::Store;
use crate::principal::Principal;

/// The `format` of every export's header.
pub const FORMAT: &str = "longhall-export";
/// The format version this Longhall writes and reads.
pub const VERSION: u32 = 1;
/// Longest line a reader accepts (a room with three full principal lists stays far below).
const MAX_LINE: usize = 4 * 1024 * 1024;
/// Messages read from the store per page.
const PAGE: u32 = 2_000;
/// Messages written to the store per transaction: each commit is synced, so fewer, larger ones
/// (a few MiB each, two at most in memory).
const WRITE_BATCH: usize = 20_000;

/// What an export holds (`Export-CsPersistentChatData -Level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    /// Everything below.
    All,
    /// Users, groups and policies.
    User,
    /// Categories and add-ins.
    Category,
    /// Categories, add-ins and rooms, without their content.
    RoomDirectory,
    /// The rooms' files and messages (rooms named by reference: they must exist where the file
    /// is imported).
    Content,
}

impl Level {
    pub const ALL: [Level; 5] = [Level::All, Level::User, Level::Category, Level::RoomDirectory, Level::Content];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::All => "all",
            Level::User => "user",
            Level::Category => "category",
            Level::RoomDirectory => "room-directory",
            Level::Content => "content",
        }
    }

    fn users(self) -> bool {
        matches!(self, Level::All | Level::User)
    }
    fn categories(self) -> bool {
        matches!(self, Level::All | Level::Category | Level::RoomDirectory)
    }
    fn rooms(self) -> bool {
        matches!(self, Level::All | Level::RoomDirectory)
    }
    fn configs(self) -> bool {
        matches!(self, Level::All)
    }
    fn content(self) -> bool {
        matches!(self, Level::All | Level::Content)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub format: String,
    pub version: u32,
    /// When the export started (ms since 1970).
    pub created: Millis,
    pub level: Level,
    /// The category scope; empty means every category.
    pub categories: Vec<String>,
    /// Content posted before this time (ms since 1970) was left out.
    pub since: Option<Millis>,
}

/// One line of the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    Header(Header),
    User {
        id: UserId,
        login: String,
        display_name: String,
        email: String,
        site: Option<String>,
        disabled: bool,
        admin: bool,
        policy: Option<String>,
    },
    Group {
        id: GroupId,
        name: String,
        members: Vec<String>,
    },
    Addin {
        id: AddinId,
        name: String,
        url: String,
    },
    Category {
        id: CategoryId,
        name: String,
        description: String,
        invitations: bool,
        file_upload: bool,
        chat_history: bool,
        allowed: Vec<String>,
        denied: Vec<String>,
        creators: Vec<String>,
    },
    Room {
        id: RoomId,
        name: String,
        description: String,
        category: String,
        privacy: Privacy,
        room_type: RoomType,
        invitations: RoomInvitations,
        addin: Option<String>,
        disabled: bool,
        members: Vec<String>,
        managers: Vec<String>,
        presenters: Vec<String>,
        last_seq: Seq,
    },
    /// A room whose content follows, at level `content`: it must exist (by name) where the file
    /// is imported.
    RoomRef {
        id: RoomId,
        name: String,
    },
    Policy {
        scope: String,
        enable_persistent_chat: bool,
        description: String,
    },
    Config {
        scope: String,
        default_chat_history: u32,
        max_file_size_kb: u64,
        participant_update_limit: u32,
        room_management_url: String,
    },
    /// An uploaded file's metadata; its bytes stay in the file store under `key`.
    File {
        id: FileId,
        room: RoomId,
        uploader: String,
        key: String,
        name: String,
        content_type: String,
        size: u64,
        ts: Millis,
    },
    Message {
        room: RoomId,
        seq: Seq,
        ts: Millis,
        author: String,
        text: String,
        alert: bool,
        story_title: Option<String>,
        file: Option<FileId>,
        replaced: bool,
    },
    End {
        counts: BTreeMap<String, u64>,
        sha256: String,
    },
}

impl Record {
    /// The name counted in the trailer.
    fn kind(&self) -> &'static str {
        match self {
            Record::Header(_) => "header",
            Record::User { .. } => "user",
            Record::Group { .. } => "group",
            Record::Addin { .. } => "addin",
            Record::Category { .. } => "category",
            Record::Room { .. } => "room",
            Record::RoomRef { .. } => "room_ref",
            Record::Policy { .. } => "policy",
            Record::Config { .. } => "config",
            Record::File { .. } => "file",
            Record::Message { .. } => "message",
            Record::End { .. } => "end",
        }
    }
}

// ------------------------------------------------------------------------------------------
// Export

/// What to export.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    pub level: Level,
    /// Category names (any case); empty: all.
    pub categories: Vec<String>,
    /// Leave out content posted before this time.
    pub since: Option<Millis>,
    /// After a complete export, disable the exported rooms (cut-over to another deployment).
    pub disable_exported_rooms: bool,
    /// The header's time.
    pub created: Millis,
}

/// Where an export or import is: `done` of about `total` messages (the rooms' last sequence
/// numbers: an upper bound) and the bytes read or written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    pub messages: u64,
    pub messages_total: u64,
    pub bytes: u64,
    pub bytes_total: u64,
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportReport {
    pub level: Level,
    pub categories: Vec<String>,
    pub since: Option<Millis>,
    /// Objects written, per kind.
    pub counts: BTreeMap<String, u64>,
    pub bytes: u64,
    pub sha256: String,
    /// Rooms disabled after the export (`--disable-exported-rooms`).
    pub disabled_rooms: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("there is no category {0:?}; name existing categories (longhall categories list)")]
    UnknownCategory(String),
    #[error("writing the export: {0}")]
    Io(#[from] std::io::Error),
    #[error("reading the store: {0}")]
    Store(#[from] StoreError),
}

/// Writes lines, hashing and counting them.
struct LineWriter<'a> {
    out: &'a mut dyn Write,
    hash: sha2::Sha256,
    bytes: u64,
    counts: BTreeMap<String, u64>,
    buf: Vec<u8>,
}

impl LineWriter<'_> {
    fn put(&mut self, r: &Record) -> std::io::Result<()> {
        self.buf.clear();
        serde_json::to_writer(&mut self.buf, r)?;
        self.buf.push(b'\n');
        self.hash.update(&self.buf);
        self.out.write_all(&self.buf)?;
        self.bytes += self.buf.len() as u64;
        if !matches!(r, Record::Header(_)) {
            *self.counts.entry(r.kind().to_owned()).or_default() += 1;
        }
        Ok(())
    }
}

/// Names of principals as the file writes them.
struct Names {
    users: HashMap<UserId, String>,
    groups: HashMap<GroupId, String>,
}

impl Names {
    fn principal(&self, p: &Principal) -> Option<String> {
        match p {
            Principal::User(id) => self.users.get(id).map(|l| format!("user:{l}")),
            Principal::Group(id) => self.groups.get(id).map(|n| format!("group:{n}")),
            Principal::Domain(d) => Some(format!("domain:{d}")),
            Principal::Everyone => Some("everyone".to_owned()),
        }
    }

    fn list(&self, ps: &[Principal]) -> Vec<String> {
        ps.iter().filter_map(|p| self.principal(p)).collect()
    }

    fn user(&self, id: UserId) -> String {
        // A message outlives its author's account only as an id: keep it readable.
        self.users.get(&id).cloned().unwrap_or_else(|| format!("#{id}"))
    }
}

/// Exports from `store` into `out` (streamed: memory holds the catalog and one page of
/// messages). The store must not change meanwhile (export runs offline).
pub async fn export(
    store: &dyn Store,
    out: &mut dyn Write,
    opts: &ExportOptions,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<ExportReport, ExportError> {
    let mut catalog = store.load_catalog().await?;
    catalog.users.sort_by_key(|u| u.id);
    catalog.groups.sort_by_key(|g| g.id);
    catalog.addins.sort_by_key(|a| a.id);
    catalog.categories.sort_by_key(|c| c.id);
    catalog.rooms.sort_by_key(|(r, _)| r.id);
    catalog.policies.sort_by_key(|p| p.scope.to_string());
    catalog.configs.sort_by_key(|c| c.scope.to_string());
    let names = Names {
        users: catalog.users.iter().map(|u| (u.id, u.login.clone())).collect(),
        groups: catalog.groups.iter().map(|g| (g.id, g.name.clone())).collect(),
    };
    let mut scope = HashSet::new();
    for wanted in &opts.categories {
        let found = catalog.categories.iter().find(|c| c.name.to_lowercase() == wanted.to_lowercase());
        scope.insert(found.ok_or_else(|| ExportError::UnknownCategory(wanted.clone()))?.id);
    }
    let in_scope = |c: CategoryId| scope.is_empty() || scope.contains(&c);
    let category_names: HashMap<CategoryId, &str> =
        catalog.categories.iter().map(|c| (c.id, c.name.as_str())).collect();
    let addin_names: HashMap<AddinId, &str> = catalog.addins.iter().map(|a| (a.id, a.name.as_str())).collect();
    let rooms: Vec<&(Room, Seq)> = catalog.rooms.iter().filter(|(r, _)| in_scope(r.category)).collect();

    let mut w = LineWriter { out, hash: sha2::Sha256::new(), bytes: 0, counts: BTreeMap::new(), buf: Vec::new() };
    let header = Header {
        format: FORMAT.into(),
        version: VERSION,
        created: opts.created,
        level: opts.level,
        categories: opts.categories.clone(),
        since: opts.since,
    };
    w.put(&Record::Header(header))?;
    let level = opts.level;
    if level.users() {
        for u in &catalog.users {
            w.put(&Record::User {
                id: u.id,
                login: u.login.clone(),
                display_name: u.display_name.clone(),
                email: u.email.clone(),
                site: u.site.clone(),
                disabled: u.disabled,
                admin: u.admin,
                policy: u.policy.clone(),
            })?;
        }
        for g in &catalog.groups {
            w.put(&Record::Group { id: g.id, name: g.name.clone(), members: names.list(&g.members) })?;
        }
    }
    if level.categories() {
        for a in &catalog.addins {
            w.put(&Record::Addin { id: a.id, name: a.name.clone(), url: a.url.clone() })?;
        }
        for c in catalog.categories.iter().filter(|c| in_scope(c.id)) {
            w.put(&Record::Category {
                id: c.id,
                name: c.name.clone(),
                description: c.description.clone(),
                invitations: c.invitations,
                file_upload: c.file_upload,
                chat_history: c.chat_history,
                allowed: names.list(&c.allowed),
                denied: names.list(&c.denied),
                creators: names.list(&c.creators),
            })?;
        }
    }
    if level.rooms() {
        for (r, last_seq) in &rooms {
            w.put(&Record::Room {
                id: r.id,
                name: r.name.clone(),
                description: r.description.clone(),
                category: category_names.get(&r.category).copied().unwrap_or_default().to_owned(),
                privacy: r.privacy,
                room_type: r.room_type,
                invitations: r.invitations,
                addin: r.addin.and_then(|a| addin_names.get(&a)).map(|n| (*n).to_owned()),
                disabled: r.disabled,
                members: names.list(&r.members),
                managers: names.list(&r.managers),
                presenters: names.list(&r.presenters),
                last_seq: *last_seq,
            })?;
        }
    } else if level.content() {
        for (r, _) in &rooms {
            w.put(&Record::RoomRef { id: r.id, name: r.name.clone() })?;
        }
    }
    if level.users() {
        for p in &catalog.policies {
            w.put(&Record::Policy {
                scope: p.scope.to_string(),
                enable_persistent_chat: p.enable_persistent_chat,
                description: p.description.clone(),
            })?;
        }
    }
    if level.configs() {
        for c in &catalog.configs {
            w.put(&Record::Config {
                scope: c.scope.to_string(),
                default_chat_history: c.default_chat_history,
                max_file_size_kb: c.max_file_size_kb,
                participant_update_limit: c.participant_update_limit,
                room_management_url: c.room_management_url.clone(),
            })?;
        }
    }
    let mut p = Progress { messages_total: rooms.iter().map(|(_, s)| *s as u64).sum(), ..Progress::default() };
    if level.content() {
        let since = opts.since.unwrap_or(Millis::MIN);
        for (r, _) in &rooms {
            for f in store.room_files(r.id).await? {
                w.put(&Record::File {
                    id: f.id,
                    room: f.room,
                    uploader: names.user(f.uploader),
                    key: f.key,
                    name: f.name,
                    content_type: f.content_type,
                    size: f.size,
                    ts: f.ts,
                })?;
            }
            let mut after = 0;
            loop {
                let page = store.messages_after(r.id, after, PAGE).await?;
                let Some(last) = page.last() else { break };
                after = last.seq;
                let n = page.len() as u64;
                for m in page.into_iter().filter(|m| m.ts >= since) {
                    w.put(&Record::Message {
                        room: m.room,
                        seq: m.seq,
                        ts: m.ts,
                        author: names.user(m.author),
                        text: m.text,
                        alert: m.alert,
                        story_title: m.story_title,
                        file: m.file.map(|f| f.id),
                        replaced: m.replaced,
                    })?;
                }
                p.messages += n;
                p.bytes = w.bytes;
                progress(p);
            }
        }
    }
    let sha256 = crate::backup::hex(&w.hash.clone().finalize());
    let counts = w.counts.clone();
    w.put(&Record::End { counts: counts.clone(), sha256: sha256.clone() })?;
    w.out.flush()?;
    let mut disabled_rooms = Vec::new();
    if opts.disable_exported_rooms && (level.rooms() || level.content()) {
        for (r, _) in &rooms {
            if !r.disabled {
                // A cut-over is an administrative change: recorded like any other, by the
                // offline command in place of a signed-in actor.
                let audit = crate::change::AuditRecord {
                    id: 0,
                    ts: opts.created,
                    actor: "longhall export (offline)".into(),
                    token_id: None,
                    source: None,
                    noun: "room".into(),
                    object: r.name.clone(),
                    object_id: Some(r.id),
                    operation: "update".into(),
                    before: Some(serde_json::json!({ "id": r.id, "name": r.name, "disabled": false })),
                    after: Some(serde_json::json!({ "id": r.id, "name": r.name, "disabled": true })),
                    note: Some("disabled at cut-over (--disable-exported-rooms)".into()),
                };
                let change = crate::change::CatalogChange::UpdateRoom { room: Room { disabled: true, ..r.clone() } };
                store.commit_change(&change, Some(&audit)).await?;
                disabled_rooms.push(r.name.clone());
            }
        }
    }
    p.bytes = w.bytes;
    progress(p);
    Ok(ExportReport {
        level,
        categories: opts.categories.clone(),
        since: opts.since,
        counts,
        bytes: w.bytes,
        sha256,
        disabled_rooms,
    })
}

// ------------------------------------------------------------------------------------------
// Import

/// Something in the file that meets something in the deployment. `blocking` ones stop the
/// import (a dry run lists them); the others say how they were resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    /// `replaced` (same name: the imported object wins), `renumbered` (its id is taken),
    /// `appended` (the room already has messages where the file's are: the imported ones
    /// follow them),
    /// `dropped` (a list entry or add-in that names nothing here), or a blocking kind:
    /// `missing_room`, `missing_category`, `unknown_author`, `name_kind` (a category's name
    /// is a room's here, or the reverse).
    pub kind: String,
    /// What it is about, e.g. `room "Lobby"`.
    pub object: String,
    pub detail: String,
    pub blocking: bool,
}

/// What an import did (or, in a dry run, would do).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReport {
    pub dry_run: bool,
    pub level: Level,
    pub created: Millis,
    /// Objects in the file, per kind.
    pub counts: BTreeMap<String, u64>,
    /// Objects written as new, per kind.
    pub inserted: BTreeMap<String, u64>,
    /// Objects that replaced one of the same name, per kind.
    pub replaced: BTreeMap<String, u64>,
    pub conflicts: Vec<Conflict>,
}

impl ImportReport {
    pub fn blocked(&self) -> bool {
        self.conflicts.iter().any(|c| c.blocking)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("this is not a Longhall export (its first line is not a \"{FORMAT}\" header)")]
    NotAnExport,
    #[error("this export has format version {0}; this Longhall reads version {VERSION}: use a matching release")]
    WrongVersion(u32),
    #[error("the export is truncated: its trailer is missing (copy it again from where it was written)")]
    Truncated,
    #[error("the export was altered: {0}")]
    Altered(String),
    #[error("line {line} of the export is not valid: {why}")]
    Corrupt { line: u64, why: String },
    #[error("{} conflict(s) stop the import; run it with --dry-run to see them", .0.len())]
    Blocked(Vec<Conflict>),
    #[error("reading the export: {0}")]
    Io(#[from] std::io::Error),
    #[error("the store: {0}")]
    Store(#[from] StoreError),
}

/// Reads lines with a length bound, hashing every byte before the trailer.
struct LineReader<R> {
    input: R,
    line: Vec<u8>,
    number: u64,
    hash: sha2::Sha256,
    bytes: u64,
}

impl<R: BufRead> LineReader<R> {
    fn new(input: R) -> Self {
        LineReader { input, line: Vec::new(), number: 0, hash: sha2::Sha256::new(), bytes: 0 }
    }

    /// The next record, `None` at the end of the input.
    fn next(&mut self) -> Result<Option<Record>, ImportError> {
        self.line.clear();
        let n = std::io::Read::take(&mut self.input, MAX_LINE as u64 + 1).read_until(b'\n', &mut self.line)?;
        if n == 0 {
            return Ok(None);
        }
        self.number += 1;
        self.bytes += n as u64;
        if self.line.last() != Some(&b'\n') {
            if n > MAX_LINE {
                return Err(self.corrupt(format!("longer than {MAX_LINE} bytes")));
            }
            // The last line lacks its newline: the file was cut off.
            return Err(ImportError::Truncated);
        }
        let record: Record = match serde_json::from_slice(&self.line) {
            Ok(r) => r,
            Err(e) if self.number == 1 => {
                let _ = e;
                return Err(ImportError::NotAnExport);
            }
            Err(e) => return Err(self.corrupt(e.to_string())),
        };
        if !matches!(record, Record::End { .. }) {
            self.hash.update(&self.line);
        }
        Ok(Some(record))
    }

    fn corrupt(&self, why: String) -> ImportError {
        ImportError::Corrupt { line: self.number, why }
    }
}

/// The catalog part of a file, and what the first pass learned about the rest.
#[derive(Default)]
struct Scanned {
    header: Option<Header>,
    users: Vec<Record>,
    groups: Vec<Record>,
    addins: Vec<Record>,
    categories: Vec<Record>,
    rooms: Vec<Record>,
    room_refs: Vec<(RoomId, String)>,
    policies: Vec<Record>,
    configs: Vec<Record>,
    /// Files: id → (room, uploader).
    files: HashMap<FileId, (RoomId, String)>,
    /// Rooms with messages in the file: how many, and the smallest sequence number.
    messages: HashMap<RoomId, (u64, Seq)>,
    authors: HashSet<String>,
    counts: BTreeMap<String, u64>,
    bytes: u64,
}

/// First pass: checks the whole file (header, every line, counts, checksum) and keeps the
/// catalog; messages are only counted.
fn scan(input: impl BufRead, total: u64, progress: &mut (dyn FnMut(Progress) + Send)) -> Result<Scanned, ImportError> {
    let mut r = LineReader::new(input);
    let mut s = Scanned::default();
    match r.next()? {
        Some(Record::Header(h)) if h.format == FORMAT => {
            if h.version != VERSION {
                return Err(ImportError::WrongVersion(h.version));
            }
            s.header = Some(h);
        }
        _ => return Err(ImportError::NotAnExport),
    }
    let mut rooms_seen = HashSet::new();
    let mut end = None;
    while let Some(rec) = r.next()? {
        if end.is_some() {
            return Err(ImportError::Altered(format!("line {} follows the trailer", r.number)));
        }
        if !matches!(rec, Record::End { .. }) {
            *s.counts.entry(rec.kind().to_owned()).or_default() += 1;
        }
        match rec {
            Record::Header(_) => return Err(r.corrupt("a second header".into())),
            Record::User { .. } => s.users.push(rec),
            Record::Group { .. } => s.groups.push(rec),
            Record::Addin { .. } => s.addins.push(rec),
            Record::Category { .. } => s.categories.push(rec),
            Record::Room { id, .. } => {
                rooms_seen.insert(id);
                s.rooms.push(rec);
            }
            Record::RoomRef { id, name } => {
                rooms_seen.insert(id);
                s.room_refs.push((id, name));
            }
            Record::Policy { .. } => s.policies.push(rec),
            Record::Config { .. } => s.configs.push(rec),
            Record::File { id, room, uploader, .. } => {
                if !rooms_seen.contains(&room) {
                    return Err(r.corrupt(format!("file {id} names room {room}, which the file does not hold")));
                }
                s.authors.insert(uploader.clone());
                s.files.insert(id, (room, uploader));
            }
            Record::Message { room, seq, author, file, .. } => {
                if !rooms_seen.contains(&room) {
                    return Err(r.corrupt(format!("message {seq} names room {room}, which the file does not hold")));
                }
                if let Some(f) = file
                    && !s.files.contains_key(&f)
                {
                    return Err(r.corrupt(format!("message {seq} names file {f}, which the file does not hold")));
                }
                if !s.authors.contains(&author) {
                    s.authors.insert(author);
                }
                let e = s.messages.entry(room).or_insert((0, seq));
                e.0 += 1;
                e.1 = e.1.min(seq);
                if s.counts["message"] % u64::from(PAGE) == 0 {
                    progress(Progress { bytes: r.bytes, bytes_total: total, ..Progress::default() });
                }
            }
            Record::End { counts, sha256 } => end = Some((counts, sha256)),
        }
    }
    let Some((counts, sha256)) = end else { return Err(ImportError::Truncated) };
    let ours = crate::backup::hex(&r.hash.clone().finalize());
    if ours != sha256 {
        return Err(ImportError::Altered(format!("its checksum is {ours}, its trailer says {sha256}")));
    }
    if counts != s.counts {
        return Err(ImportError::Altered(format!("it holds {:?}, its trailer says {counts:?}", s.counts)));
    }
    s.bytes = r.bytes;
    progress(Progress { bytes: r.bytes, bytes_total: total, ..Progress::default() });
    Ok(s)
}

/// Ids for objects whose own id is taken: above every id of the file and of the deployment.
struct Ids(i64);

impl Ids {
    fn above<'a>(ids: impl Iterator<Item = &'a i64>) -> Ids {
        Ids(ids.copied().max().unwrap_or(0))
    }
    fn next(&mut self) -> i64 {
        self.0 += 1;
        self.0
    }
}

/// How the file's objects land in the deployment.
struct Plan {
    batch: ImportBatch,
    /// File room id → (deployment room id, how much its sequence numbers move).
    rooms: HashMap<RoomId, (RoomId, Seq)>,
    /// Login (lower case) → deployment user id, after the import.
    logins: HashMap<String, UserId>,
    report: ImportReport,
}

fn conflict(kind: &str, object: String, detail: String, blocking: bool) -> Conflict {
    Conflict { kind: kind.into(), object, detail, blocking }
}

fn bump(map: &mut BTreeMap<String, u64>, kind: &str) {
    *map.entry(kind.to_owned()).or_default() += 1;
}

/// Puts an object of the file at an id: the one of the deployment's object of the same name
/// (`existing`: it is replaced), else its own if free, else a new one.
fn place(
    kind: &str,
    object: &str,
    id: i64,
    existing: Option<i64>,
    taken: &dyn Fn(i64) -> bool,
    ids: &mut Ids,
    report: &mut ImportReport,
) -> i64 {
    match existing {
        Some(target) => {
            bump(&mut report.replaced, kind);
            report.conflicts.push(conflict(
                "replaced",
                format!("{kind} {object:?}"),
                format!("the imported {kind} replaces the existing one (id {target})"),
                false,
            ));
            target
        }
        None if taken(id) => {
            let new = ids.next();
            bump(&mut report.inserted, kind);
            report.conflicts.push(conflict(
                "renumbered",
                format!("{kind} {object:?}"),
                format!("id {id} belongs to another {kind} here: imported as id {new}"),
                false,
            ));
            new
        }
        None => {
            bump(&mut report.inserted, kind);
            id
        }
    }
}

/// Resolves the file's principal names to the deployment's ids; names that match nothing
/// are dropped and reported.
fn principals(
    names: &[String],
    logins: &HashMap<String, UserId>,
    groups: &HashMap<String, GroupId>,
    owner: &str,
    report: &mut ImportReport,
) -> Vec<Principal> {
    let mut out = Vec::new();
    for n in names {
        let p = match n.split_once(':') {
            None if n == "everyone" => Some(Principal::Everyone),
            Some(("user", l)) => logins.get(&l.to_lowercase()).map(|id| Principal::User(*id)),
            Some(("group", g)) => groups.get(&g.to_lowercase()).map(|id| Principal::Group(*id)),
            Some(("domain", d)) => Some(Principal::Domain(d.to_owned())),
            _ => None,
        };
        match p {
            Some(p) => out.push(p),
            None => report.conflicts.push(conflict(
                "dropped",
                owner.to_owned(),
                format!("{n} names nothing here and was left out of the list"),
                false,
            )),
        }
    }
    out
}

async fn plan(store: &dyn Store, s: &Scanned, dry_run: bool) -> Result<Plan, ImportError> {
    let header = s.header.clone().ok_or(ImportError::NotAnExport)?;
    let target = store.load_catalog().await?;
    let mut report = ImportReport {
        dry_run,
        level: header.level,
        created: header.created,
        counts: s.counts.clone(),
        inserted: BTreeMap::new(),
        replaced: BTreeMap::new(),
        conflicts: Vec::new(),
    };
    let mut batch = ImportBatch::default();

    // Users.
    let mut logins: HashMap<String, UserId> = target.users.iter().map(|u| (u.login.to_lowercase(), u.id)).collect();
    let user_ids: HashSet<i64> = target.users.iter().map(|u| u.id).collect();
    let mut ids = Ids::above(user_ids.iter().chain(s.users.iter().filter_map(|r| match r {
        Record::User { id, .. } => Some(id),
        _ => None,
    })));
    for r in &s.users {
        let Record::User { id, login, display_name, email, site, disabled, admin, policy } = r else { continue };
        let existing = logins.get(&login.to_lowercase()).copied();
        let new = place("user", login, *id, existing, &|i| user_ids.contains(&i), &mut ids, &mut report);
        logins.insert(login.to_lowercase(), new);
        batch.users.push(User {
            id: new,
            login: login.clone(),
            display_name: display_name.clone(),
            email: email.clone(),
            site: site.clone(),
            disabled: *disabled,
            admin: *admin,
            policy: policy.clone(),
        });
    }

    // Groups: placed first, members resolved once every group has its id.
    let mut groups: HashMap<String, GroupId> = target.groups.iter().map(|g| (g.name.to_lowercase(), g.id)).collect();
    let group_ids: HashSet<i64> = target.groups.iter().map(|g| g.id).collect();
    let mut ids = Ids::above(group_ids.iter().chain(s.groups.iter().filter_map(|r| match r {
        Record::Group { id, .. } => Some(id),
        _ => None,
    })));
    let mut placed = Vec::new();
    for r in &s.groups {
        let Record::Group { id, name, members } = r else { continue };
        let existing = groups.get(&name.to_lowercase()).copied();
        let new = place("group", name, *id, existing, &|i| group_ids.contains(&i), &mut ids, &mut report);
        groups.insert(name.to_lowercase(), new);
        placed.push((new, name, members));
    }
    for (id, name, members) in placed {
        let members = principals(members, &logins, &groups, &format!("group {name:?}"), &mut report);
        batch.groups.push(Group { id, name: name.clone(), members });
    }

    // Add-ins.
    let mut addins: HashMap<String, AddinId> = target.addins.iter().map(|a| (a.name.to_lowercase(), a.id)).collect();
    let addin_ids: HashSet<i64> = target.addins.iter().map(|a| a.id).collect();
    let mut ids = Ids::above(addin_ids.iter().chain(s.addins.iter().filter_map(|r| match r {
        Record::Addin { id, .. } => Some(id),
        _ => None,
    })));
    for r in &s.addins {
        let Record::Addin { id, name, url } = r else { continue };
        let existing = addins.get(&name.to_lowercase()).copied();
        let new = place("addin", name, *id, existing, &|i| addin_ids.contains(&i), &mut ids, &mut report);
        addins.insert(name.to_lowercase(), new);
        batch.addins.push(Addin { id: new, name: name.clone(), url: url.clone() });
    }

    // Categories and rooms share one namespace.
    let room_names: HashMap<String, (RoomId, Seq)> =
        target.rooms.iter().map(|(r, last)| (r.name.to_lowercase(), (r.id, *last))).collect();
    let mut categories: HashMap<String, CategoryId> =
        target.categories.iter().map(|c| (c.name.to_lowercase(), c.id)).collect();
    let category_ids: HashSet<i64> = target.categories.iter().map(|c| c.id).collect();
    let mut ids = Ids::above(category_ids.iter().chain(s.categories.iter().filter_map(|r| match r {
        Record::Category { id, .. } => Some(id),
        _ => None,
    })));
    for r in &s.categories {
        let Record::Category {
            id,
            name,
            description,
            invitations,
            file_upload,
            chat_history,
            allowed,
            denied,
            creators,
        } = r
        else {
            continue;
        };
        if room_names.contains_key(&name.to_lowercase()) {
            report.conflicts.push(conflict(
                "name_kind",
                format!("category {name:?}"),
                "a room here has this name; rename one of them first".into(),
                true,
            ));
            continue;
        }
        let existing = categories.get(&name.to_lowercase()).copied();
        let new = place("category", name, *id, existing, &|i| category_ids.contains(&i), &mut ids, &mut report);
        categories.insert(name.to_lowercase(), new);
        let owner = format!("category {name:?}");
        batch.categories.push(Category {
            id: new,
            name: name.clone(),
            description: description.clone(),
            invitations: *invitations,
            file_upload: *file_upload,
            chat_history: *chat_history,
            allowed: principals(allowed, &logins, &groups, &owner, &mut report),
            denied: principals(denied, &logins, &groups, &owner, &mut report),
            creators: principals(creators, &logins, &groups, &owner, &mut report),
        });
    }

    let mut rooms = HashMap::new();
    let room_ids: HashSet<i64> = target.rooms.iter().map(|(r, _)| r.id).collect();
    let mut ids = Ids::above(room_ids.iter().chain(s.rooms.iter().filter_map(|r| match r {
        Record::Room { id, .. } => Some(id),
        _ => None,
    })));
    for r in &s.rooms {
        let Record::Room {
            id,
            name,
            description,
            category,
            privacy,
            room_type,
            invitations,
            addin,
            disabled,
            members,
            managers,
            presenters,
            last_seq,
        } = r
        else {
            continue;
        };
        let object = format!("room {name:?}");
        if categories.contains_key(&name.to_lowercase()) {
            report.conflicts.push(conflict(
                "name_kind",
                object,
                "a category has this name; rename one of them first".into(),
                true,
            ));
            continue;
        }
        let Some(&category_id) = categories.get(&category.to_lowercase()) else {
            report.conflicts.push(conflict(
                "missing_category",
                object,
                format!("its category {category:?} is neither in the file nor here"),
                true,
            ));
            continue;
        };
        let addin_id = match addin {
            Some(a) => match addins.get(&a.to_lowercase()) {
                Some(id) => Some(*id),
                None => {
                    report.conflicts.push(conflict(
                        "dropped",
                        object.clone(),
                        format!("its add-in {a:?} is neither in the file nor here: imported without one"),
                        false,
                    ));
                    None
                }
            },
            None => None,
        };
        let existing = room_names.get(&name.to_lowercase()).copied();
        let new = place("room", name, *id, existing.map(|e| e.0), &|i| room_ids.contains(&i), &mut ids, &mut report);
        let shift = shift_for(store, existing, s.messages.get(id).copied()).await?;
        note_appended(&mut report, &object, s.messages.get(id).copied(), shift);
        rooms.insert(*id, (new, shift));
        batch.rooms.push((
            Room {
                id: new,
                name: name.clone(),
                description: description.clone(),
                category: category_id,
                privacy: *privacy,
                room_type: *room_type,
                invitations: *invitations,
                addin: addin_id,
                disabled: *disabled,
                members: principals(members, &logins, &groups, &object, &mut report),
                managers: principals(managers, &logins, &groups, &object, &mut report),
                presenters: principals(presenters, &logins, &groups, &object, &mut report),
            },
            last_seq + shift,
        ));
    }
    for (id, name) in &s.room_refs {
        let object = format!("room {name:?}");
        match room_names.get(&name.to_lowercase()) {
            Some(&(target_id, last)) => {
                let shift = shift_for(store, Some((target_id, last)), s.messages.get(id).copied()).await?;
                note_appended(&mut report, &object, s.messages.get(id).copied(), shift);
                rooms.insert(*id, (target_id, shift));
            }
            None => report.conflicts.push(conflict(
                "missing_room",
                object,
                "its content is in the file but the room is not here; import its room directory first".into(),
                true,
            )),
        }
    }

    for r in &s.policies {
        let Record::Policy { scope, enable_persistent_chat, description } = r else { continue };
        let Some(parsed) = Scope::parse(scope) else {
            return Err(ImportError::Corrupt { line: 0, why: format!("policy scope {scope:?}") });
        };
        if target.policies.iter().any(|p| p.scope == parsed) {
            bump(&mut report.replaced, "policy");
        } else {
            bump(&mut report.inserted, "policy");
        }
        batch.policies.push(Policy {
            scope: parsed,
            enable_persistent_chat: *enable_persistent_chat,
            description: description.clone(),
        });
    }
    for r in &s.configs {
        let Record::Config {
            scope,
            default_chat_history,
            max_file_size_kb,
            participant_update_limit,
            room_management_url,
        } = r
        else {
            continue;
        };
        let Some(parsed) = Scope::parse(scope) else {
            return Err(ImportError::Corrupt { line: 0, why: format!("configuration scope {scope:?}") });
        };
        if target.configs.iter().any(|c| c.scope == parsed) {
            bump(&mut report.replaced, "config");
        } else {
            bump(&mut report.inserted, "config");
        }
        batch.configs.push(Config {
            scope: parsed,
            default_chat_history: *default_chat_history,
            max_file_size_kb: *max_file_size_kb,
            participant_update_limit: *participant_update_limit,
            room_management_url: room_management_url.clone(),
        });
    }

    let mut unknown: Vec<&String> = s.authors.iter().filter(|a| !logins.contains_key(&a.to_lowercase())).collect();
    unknown.sort();
    for a in unknown {
        report.conflicts.push(conflict(
            "unknown_author",
            format!("user {a:?}"),
            "posted or uploaded in the file but is neither in the file nor here; import the users first".into(),
            true,
        ));
    }
    Ok(Plan { batch, rooms, logins, report })
}

/// How far the file's messages of a room move in the deployment's room `target` (whose last
/// number is `last`): not at all when no message there has a number from the file's first on
/// (a new or empty room, or one whose directory came from the same source), else past `last`.
async fn shift_for(
    store: &dyn Store,
    target: Option<(RoomId, Seq)>,
    file: Option<(u64, Seq)>,
) -> Result<Seq, StoreError> {
    let (Some((room, last)), Some((_, first))) = (target, file) else { return Ok(0) };
    let taken = !store.messages_after(room, first - 1, 1).await?.is_empty();
    Ok(if taken { last } else { 0 })
}

fn note_appended(report: &mut ImportReport, object: &str, messages: Option<(u64, Seq)>, shift: Seq) {
    let messages = messages.map_or(0, |m| m.0);
    if messages > 0 && shift > 0 {
        report.conflicts.push(conflict(
            "appended",
            object.to_owned(),
            format!(
                "it already has messages up to {shift}: the {messages} imported ones follow, numbered from {shift} on"
            ),
            false,
        ));
    }
}

/// Files keep their ids where free; a taken one gets the next free id above the file's.
async fn place_files(
    store: &dyn Store,
    s: &Scanned,
    report: &mut ImportReport,
) -> Result<HashMap<FileId, FileId>, ImportError> {
    let mut map = HashMap::new();
    let mut next = s.files.keys().copied().max().unwrap_or(0);
    let mut ids: Vec<FileId> = s.files.keys().copied().collect();
    ids.sort();
    for id in ids {
        if store.get_file(id).await?.is_none() {
            map.insert(id, id);
            continue;
        }
        loop {
            next += 1;
            if store.get_file(next).await?.is_none() {
                break;
            }
        }
        report.conflicts.push(conflict(
            "renumbered",
            format!("file {id}"),
            format!("id {id} belongs to another file here: imported as id {next}"),
            false,
        ));
        map.insert(id, next);
    }
    Ok(map)
}

/// Imports a file: `open` opens it (twice: once to check it whole, once to write). With
/// `dry_run`, or when a conflict can't be resolved, nothing is written and the report lists
/// every conflict. A file that doesn't check is refused before anything is written.
pub async fn import<R: BufRead>(
    store: &dyn Store,
    open: &mut (dyn FnMut() -> std::io::Result<R> + Send),
    total_bytes: u64,
    dry_run: bool,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<ImportReport, ImportError> {
    let scanned = scan(open()?, total_bytes, progress)?;
    let mut plan = plan(store, &scanned, dry_run).await?;
    let files = place_files(store, &scanned, &mut plan.report).await?;
    for kind in ["file", "message"] {
        if let Some(n) = scanned.counts.get(kind) {
            plan.report.inserted.insert(kind.to_owned(), *n);
        }
    }
    if dry_run {
        return Ok(plan.report);
    }
    if plan.report.blocked() {
        return Err(ImportError::Blocked(plan.report.conflicts.into_iter().filter(|c| c.blocking).collect()));
    }
    let catalog = std::mem::take(&mut plan.batch);
    if !catalog.is_empty() {
        store.import_batch(catalog).await?;
    }
    // Second pass: files and messages, a page per transaction.
    let messages_total = scanned.counts.get("message").copied().unwrap_or(0);
    let mut r = LineReader::new(open()?);
    let mut batch = ImportBatch::default();
    let mut done = 0u64;
    let mut writing = None;
    let user = |login: &str| plan.logins.get(&login.to_lowercase()).copied().unwrap_or_default();
    while let Some(rec) = r.next()? {
        match rec {
            Record::File { id, room, uploader, key, name, content_type, size, ts } => {
                let (room, _) = plan.rooms[&room];
                batch.files.push(FileMeta {
                    id: files[&id],
                    room,
                    uploader: user(&uploader),
                    key,
                    name,
                    content_type,
                    size,
                    ts,
                });
            }
            Record::Message { room, seq, ts, author, text, alert, story_title, file, replaced } => {
                let (room, shift) = plan.rooms[&room];
                let file =
                    file.map(|f| FileRef { id: files[&f], name: String::new(), size: 0, content_type: String::new() });
                batch.messages.push(StoredMessage {
                    room,
                    seq: seq + shift,
                    ts,
                    author: user(&author),
                    text,
                    alert,
                    story_title,
                    file,
                    replaced,
                });
                if batch.messages.len() >= WRITE_BATCH {
                    // One write in flight while the next page is read and parsed.
                    if let Some(p) = writing.take() {
                        p.await?;
                    }
                    done += batch.messages.len() as u64;
                    writing = Some(store.import_batch(std::mem::take(&mut batch)));
                    progress(Progress { messages: done, messages_total, bytes: r.bytes, bytes_total: total_bytes });
                }
            }
            _ => {}
        }
    }
    if let Some(p) = writing.take() {
        p.await?;
    }
    if !batch.is_empty() {
        done += batch.messages.len() as u64;
        store.import_batch(batch).await?;
    }
    store.finish_import().await?;
    progress(Progress { messages: done, messages_total, bytes: r.bytes, bytes_total: total_bytes });
    if r.bytes != scanned.bytes {
        return Err(ImportError::Altered("the file changed while it was imported".into()));
    }
    Ok(plan.report)
}
