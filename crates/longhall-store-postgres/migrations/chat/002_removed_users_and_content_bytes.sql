-- Longhall chat store on PostgreSQL, schema version 2 (schema `chat`).

-- A removed account keeps its row, so what it posted stays attributed to its login; its
-- login_key becomes '#removed:<id>' so the login is free for a new account.
ALTER TABLE chat.users ADD COLUMN removed boolean NOT NULL DEFAULT false;

-- Bytes of each room's kept messages (text and story titles, in UTF-8), kept by triggers as
-- messages are posted, replaced, deleted and cleared: the directory's "content larger than"
-- filter reads this column instead of the messages. The triggers run once per statement over
-- its rows (transition tables), so a batch of posts moves each room's figure once.
ALTER TABLE chat.rooms ADD COLUMN content_bytes bigint NOT NULL DEFAULT 0;

UPDATE chat.rooms r SET content_bytes = coalesce((
    SELECT sum(octet_length(m.text) + coalesce(octet_length(m.story_title), 0))
    FROM chat.messages m WHERE m.room_id = r.id
), 0);

CREATE FUNCTION chat.messages_bytes_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE chat.rooms r SET content_bytes = r.content_bytes + n.bytes
    FROM (SELECT room_id, sum(octet_length(text) + coalesce(octet_length(story_title), 0)) AS bytes
          FROM new_rows GROUP BY room_id) n
    WHERE r.id = n.room_id;
    RETURN NULL;
END
$$;

CREATE FUNCTION chat.messages_bytes_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE chat.rooms r SET content_bytes = r.content_bytes - o.bytes
    FROM (SELECT room_id, sum(octet_length(text) + coalesce(octet_length(story_title), 0)) AS bytes
          FROM old_rows GROUP BY room_id) o
    WHERE r.id = o.room_id;
    RETURN NULL;
END
$$;

CREATE FUNCTION chat.messages_bytes_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE chat.rooms r SET content_bytes = r.content_bytes + d.bytes
    FROM (SELECT n.room_id,
                 sum(octet_length(n.text) + coalesce(octet_length(n.story_title), 0)
                     - octet_length(o.text) - coalesce(octet_length(o.story_title), 0)) AS bytes
          FROM new_rows n JOIN old_rows o ON o.id = n.id GROUP BY n.room_id) d
    WHERE r.id = d.room_id AND d.bytes <> 0;
    RETURN NULL;
END
$$;

CREATE TRIGGER messages_bytes_insert AFTER INSERT ON chat.messages
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION chat.messages_bytes_insert();
CREATE TRIGGER messages_bytes_delete AFTER DELETE ON chat.messages
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION chat.messages_bytes_delete();
CREATE TRIGGER messages_bytes_update AFTER UPDATE ON chat.messages
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION chat.messages_bytes_update();
