-- Longhall chat store, schema version 2: how compliance events are processed.
--
-- One row per scope; only `global` is used so far. `output_dir` NULL means the server's
-- default folder. `command` is a JSON array of strings (program, then arguments).
CREATE TABLE compliance_config (
    scope                            TEXT PRIMARY KEY,
    enabled                          INTEGER NOT NULL,
    adapter                          TEXT NOT NULL,
    output_dir                       TEXT,
    run_interval_secs                INTEGER NOT NULL,
    one_chat_room_per_output_file    INTEGER NOT NULL,
    add_chat_room_details            INTEGER NOT NULL,
    add_user_details                 INTEGER NOT NULL,
    create_file_attachments_manifest INTEGER NOT NULL,
    custom_configuration             TEXT,
    command                          TEXT NOT NULL
);
