-- Longhall compliance store, schema version 1.
--
-- AUTOINCREMENT: exporters page with "events after id N", so an id must never come back,
-- even after old events are pruned.
CREATE TABLE events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT NOT NULL,
    ts         INTEGER NOT NULL,
    room_id    INTEGER NOT NULL,
    room_name  TEXT NOT NULL,
    user_id    INTEGER NOT NULL,
    user_login TEXT NOT NULL,
    seq        INTEGER,
    detail     TEXT NOT NULL
);
