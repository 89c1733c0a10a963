-- Longhall chat store on PostgreSQL, schema version 4 (schema `chat`): the pool.

-- The server registry: every server of the pool registers at start and renews its heartbeat
-- every few seconds (times are the database's clock, ms since 1970, so servers' clocks don't
-- matter). `instance` is one process's random id: a second live process with the same server
-- id is refused at start.
CREATE TABLE chat.pool_servers (
    id          text PRIMARY KEY,
    url         text NOT NULL,
    instance    text NOT NULL,
    started     bigint NOT NULL,
    heartbeat   bigint NOT NULL,
    connections bigint NOT NULL DEFAULT 0
);

-- The pool's settings (state, active server list, members) as JSON, one row; the servers also
-- keep them in a file each, to work while this database is down. Newer revisions win.
CREATE TABLE chat.pool_settings (
    id       integer PRIMARY KEY CHECK (id = 1),
    revision bigint NOT NULL,
    settings jsonb NOT NULL
);

-- Every pool change a server made while using this database: who, when, what.
CREATE TABLE chat.pool_history (
    id       bigserial PRIMARY KEY,
    ts       bigint NOT NULL,
    actor    text NOT NULL,
    revision bigint NOT NULL,
    settings jsonb NOT NULL
);
