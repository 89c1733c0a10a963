-- Longhall chat store, schema version 6: the search index leaves this file.
--
-- Messages are indexed for search in `search.db` beside this file, by a thread of its own and
-- off the commit path: it indexes the messages past its own mark (message ids follow commit
-- order). A message whose text changes or that is deleted is named in `search_queue`, in the
-- same transaction as the change, so the index can catch up with it; the queue's numbers are
-- never reused (AUTOINCREMENT), so "done up to N" stays true after the indexer prunes it.
--
-- `fts_pending` (migration 005) now only marks an import that put off the messages' secondary
-- indexes: while its row exists, the import is building them at its end.
DROP TRIGGER IF EXISTS messages_fts_insert;
DROP TRIGGER IF EXISTS messages_fts_delete;
DROP TRIGGER IF EXISTS messages_fts_update;
DROP TABLE IF EXISTS messages_fts;

CREATE TABLE search_queue (
    qid        INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id INTEGER NOT NULL
);

CREATE TRIGGER search_queue_update AFTER UPDATE OF text ON messages BEGIN
    INSERT INTO search_queue (message_id) VALUES (new.id);
END;
CREATE TRIGGER search_queue_delete AFTER DELETE ON messages BEGIN
    INSERT INTO search_queue (message_id) VALUES (old.id);
END;
