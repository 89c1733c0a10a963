-- Longhall search index, schema version 1 (`search.db`, beside `chat.db`).
--
-- Everything here can be rebuilt from `chat.db`: a missing or deleted file is recreated empty
-- and filled again by the indexer. `state.mark`: every message of chat.db with an id up to it
-- is indexed (as of `state.done`) and no id above it is; `state.done`: the last entry of
-- chat.db's `search_queue` applied. Both move in the transaction that writes the index rows.
CREATE TABLE state (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    mark INTEGER NOT NULL,
    done INTEGER NOT NULL
);
INSERT INTO state (id, mark, done) VALUES (1, 0, 0);

-- Trigrams of the folded text (each character lower-cased on its own): candidates for queries
-- of three characters or more. Contentless and without positions (`detail=none`): a query
-- asks for each of its trigrams and the store checks the candidates' text.
CREATE VIRTUAL TABLE trigrams USING fts5(
    text,
    content = '',
    contentless_delete = 1,
    detail = none,
    tokenize = 'trigram'
);

-- For one- and two-character queries (CJK words are often that short): each non-ASCII
-- character of the folded text, and each pair of neighbours of which one is non-ASCII, as the
-- hex of its UTF-8. Short ASCII-only queries scan instead (they match most messages, so a scan
-- newest first stops early).
CREATE VIRTUAL TABLE grams USING fts5(
    g,
    content = '',
    contentless_delete = 1,
    detail = none,
    tokenize = 'ascii'
);

-- The in-memory buffer of pending index entries: an indexing round of up to a chunk of
-- messages stays in memory and is written as one segment.
INSERT INTO trigrams (trigrams, rank) VALUES ('hashsize', 33554432);
INSERT INTO grams (grams, rank) VALUES ('hashsize', 16777216);
