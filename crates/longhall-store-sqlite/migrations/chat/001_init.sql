-- Longhall chat store, schema version 1.
--
-- Ids use AUTOINCREMENT so a deleted room, group or token id is never handed out again:
-- compliance records, client caches and principal lists refer to ids long after a delete.
-- `*_key` columns hold the name lower-cased by the server (Unicode-aware, unlike NOCASE),
-- and carry the uniqueness rules.

CREATE TABLE users (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    login           TEXT NOT NULL,
    login_key       TEXT NOT NULL UNIQUE,
    display_name    TEXT NOT NULL,
    email           TEXT NOT NULL,
    site            TEXT,
    disabled        INTEGER NOT NULL DEFAULT 0,
    admin           INTEGER NOT NULL DEFAULT 0,
    policy          TEXT,
    password_hash   TEXT,
    -- The last invitation id handed to this user (ids are per user).
    last_invitation INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE groups (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    name     TEXT NOT NULL,
    name_key TEXT NOT NULL UNIQUE
);

CREATE TABLE addins (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    name     TEXT NOT NULL,
    name_key TEXT NOT NULL UNIQUE,
    url      TEXT NOT NULL
);

CREATE TABLE categories (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL,
    invitations  INTEGER NOT NULL,
    file_upload  INTEGER NOT NULL,
    chat_history INTEGER NOT NULL
);

CREATE TABLE rooms (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    category_id INTEGER NOT NULL REFERENCES categories(id),
    privacy     TEXT NOT NULL,
    room_type   TEXT NOT NULL,
    invitations TEXT NOT NULL,
    addin_id    INTEGER REFERENCES addins(id) ON DELETE SET NULL,
    disabled    INTEGER NOT NULL,
    -- Last sequence number handed out; survives clearing so numbers are never reused.
    last_seq    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX rooms_by_category ON rooms(category_id);
CREATE INDEX rooms_by_addin ON rooms(addin_id);

-- Categories and rooms share one namespace; one row per category or room name.
CREATE TABLE names (
    name_key TEXT PRIMARY KEY,
    kind     TEXT NOT NULL CHECK (kind IN ('category', 'room')),
    owner_id INTEGER NOT NULL,
    UNIQUE (kind, owner_id)
) WITHOUT ROWID;

-- Every principal list: group members, category allowed/denied/creators, room
-- members/managers/presenters. `principal` is `user:<id>`, `group:<id>`, `domain:<name>` or
-- `everyone`; ids rather than names so renames never break a list.
CREATE TABLE principal_lists (
    owner_kind TEXT NOT NULL,
    owner_id   INTEGER NOT NULL,
    list       TEXT NOT NULL,
    principal  TEXT NOT NULL,
    pos        INTEGER NOT NULL,
    PRIMARY KEY (owner_kind, owner_id, list, principal)
) WITHOUT ROWID;
CREATE INDEX principal_lists_by_principal ON principal_lists(principal);

CREATE TABLE policies (
    scope                  TEXT PRIMARY KEY,
    enable_persistent_chat INTEGER NOT NULL,
    description            TEXT NOT NULL
);

CREATE TABLE configs (
    scope                    TEXT PRIMARY KEY,
    default_chat_history     INTEGER NOT NULL,
    max_file_size_kb         INTEGER NOT NULL,
    participant_update_limit INTEGER NOT NULL,
    room_management_url      TEXT NOT NULL
);

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE tokens (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users(id),
    kind    TEXT NOT NULL,
    label   TEXT NOT NULL,
    hash    TEXT NOT NULL UNIQUE,
    created INTEGER NOT NULL,
    expires INTEGER
);
CREATE INDEX tokens_by_user ON tokens(user_id);

CREATE TABLE files (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id      INTEGER NOT NULL REFERENCES rooms(id),
    uploader     INTEGER NOT NULL,
    key          TEXT NOT NULL,
    name         TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         INTEGER NOT NULL,
    ts           INTEGER NOT NULL
);
CREATE INDEX files_by_room ON files(room_id);

-- `id` exists only to key the full-text index; messages are addressed by (room_id, seq).
CREATE TABLE messages (
    id          INTEGER PRIMARY KEY,
    room_id     INTEGER NOT NULL REFERENCES rooms(id),
    seq         INTEGER NOT NULL,
    ts          INTEGER NOT NULL,
    author      INTEGER NOT NULL,
    text        TEXT NOT NULL,
    alert       INTEGER NOT NULL,
    story_title TEXT,
    file_id     INTEGER,
    replaced    INTEGER NOT NULL DEFAULT 0,
    UNIQUE (room_id, seq)
);
CREATE INDEX messages_by_room_ts ON messages(room_id, ts);
CREATE INDEX messages_by_author_ts ON messages(author, ts);

-- Trigram index: finds any substring of three or more characters in any script (CJK has
-- no word breaks), case-insensitively. Contentless, so the text is not stored twice.
CREATE VIRTUAL TABLE messages_fts USING fts5(
    text,
    content = '',
    contentless_delete = 1,
    tokenize = 'trigram'
);

CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts(rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    DELETE FROM messages_fts WHERE rowid = old.id;
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages BEGIN
    DELETE FROM messages_fts WHERE rowid = old.id;
    INSERT INTO messages_fts(rowid, text) VALUES (new.id, new.text);
END;

-- Follows and read positions in one row: unread counts need the read position of every
-- followed room, and a read position outlives an unfollow.
CREATE TABLE follows (
    user_id  INTEGER NOT NULL REFERENCES users(id),
    room_id  INTEGER NOT NULL REFERENCES rooms(id),
    followed INTEGER NOT NULL DEFAULT 0,
    read_seq INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, room_id)
) WITHOUT ROWID;
CREATE INDEX follows_by_room ON follows(room_id);

-- One invitation per user and room: inviting again gives the row a fresh id.
CREATE TABLE invitations (
    user_id INTEGER NOT NULL REFERENCES users(id),
    inv_id  INTEGER NOT NULL,
    room_id INTEGER NOT NULL REFERENCES rooms(id),
    ts      INTEGER NOT NULL,
    PRIMARY KEY (user_id, inv_id),
    UNIQUE (user_id, room_id)
) WITHOUT ROWID;
CREATE INDEX invitations_by_room ON invitations(room_id);
