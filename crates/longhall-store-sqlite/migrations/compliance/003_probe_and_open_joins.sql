-- One row rewritten by the readiness check: proves the compliance file takes writes.
CREATE TABLE health_probe (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at INTEGER NOT NULL
);

-- Connections joined to rooms: a JOIN event adds its row, the PART event removes it, in the
-- same transaction. What is left at start was cut off by a crash and gets its PART then.
-- Without a rowid: one B-tree insert per JOIN, not two (a join storm writes hundreds of thousands).
CREATE TABLE open_joins (
    connection INTEGER NOT NULL,
    room_id    INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    PRIMARY KEY (connection, room_id)
) WITHOUT ROWID;
