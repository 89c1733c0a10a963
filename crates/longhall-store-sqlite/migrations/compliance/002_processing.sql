-- Longhall compliance store, schema version 2: processing state.
--
-- A batch is read room by room (ordered by room, then id): the index serves that order.
CREATE INDEX events_by_room ON events(room_id);

-- One row. `watermark` is the id of the last processed event; the lease names the one server
-- allowed to process until `lease_expires` (ms since 1970).
CREATE TABLE processing (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    watermark     INTEGER NOT NULL,
    lease_holder  TEXT,
    lease_expires INTEGER NOT NULL
);
INSERT INTO processing (id, watermark, lease_holder, lease_expires) VALUES (1, 0, NULL, 0);

-- At most one row: a batch whose files are being renamed to their final names. `files` is a
-- JSON array of [temporary path, final path].
CREATE TABLE publish_intent (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    batch_id TEXT NOT NULL,
    after_id INTEGER NOT NULL,
    first_id INTEGER NOT NULL,
    last_id  INTEGER NOT NULL,
    events   INTEGER NOT NULL,
    holder   TEXT NOT NULL,
    started  INTEGER NOT NULL,
    files    TEXT NOT NULL
);

-- The run history (the latest 1000 are kept).
CREATE TABLE runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    server      TEXT NOT NULL,
    started     INTEGER NOT NULL,
    finished    INTEGER NOT NULL,
    batch_id    TEXT,
    first_event INTEGER,
    last_event  INTEGER,
    events      INTEGER NOT NULL,
    files       INTEGER NOT NULL,
    recovered   INTEGER NOT NULL,
    error       TEXT
);
