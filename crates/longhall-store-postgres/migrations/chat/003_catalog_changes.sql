-- The catalog's change log, for the servers of a pool: each catalog change (without password
-- or token hashes) with the revision it made. A server applies the changes after its own
-- revision; a change is committed only at the newest revision, so two servers can't silently
-- overwrite each other's changes. Old entries are pruned: a server never lags far behind.
CREATE TABLE chat.catalog_changes (
    revision bigint PRIMARY KEY,
    change text NOT NULL,
    object_id bigint NOT NULL
);
