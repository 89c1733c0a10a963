-- Search indexing put off by an import: while this row exists, the search index holds every
-- message with id <= `after` and none after it, and the insert trigger `messages_fts_insert`
-- is dropped. The import indexes the rest in bulk at its end; a store opened with the row
-- still here (an import that was interrupted) finishes the indexing before it serves.
CREATE TABLE fts_pending (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    after INTEGER NOT NULL
);
