-- The audit log: one row per administrative change, written in the same commit as the change.
-- `before` and `after` are JSON wire views (never secrets). Never pruned.
CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    ts        INTEGER NOT NULL,
    actor     TEXT NOT NULL,
    token_id  INTEGER,
    source    TEXT,
    noun      TEXT NOT NULL,
    object    TEXT NOT NULL,
    object_id INTEGER,
    operation TEXT NOT NULL,
    before    TEXT,
    after     TEXT,
    note      TEXT
);
CREATE INDEX audit_log_by_actor ON audit_log(actor COLLATE NOCASE, id);
CREATE INDEX audit_log_by_object ON audit_log(object COLLATE NOCASE, id);
CREATE INDEX audit_log_by_ts ON audit_log(ts);
