-- Bytes of each room's kept messages (text and story titles, in UTF-8), kept by triggers as
-- messages are posted, replaced, deleted and cleared: the directory's "content larger than"
-- filter reads this column instead of the messages.
ALTER TABLE rooms ADD COLUMN content_bytes INTEGER NOT NULL DEFAULT 0;

UPDATE rooms SET content_bytes = (
    SELECT COALESCE(SUM(length(CAST(m.text AS BLOB)) + COALESCE(length(CAST(m.story_title AS BLOB)), 0)), 0)
    FROM messages m WHERE m.room_id = rooms.id
);

CREATE TRIGGER messages_bytes_insert AFTER INSERT ON messages BEGIN
    UPDATE rooms
    SET content_bytes = content_bytes + length(CAST(new.text AS BLOB)) + COALESCE(length(CAST(new.story_title AS BLOB)), 0)
    WHERE id = new.room_id;
END;

CREATE TRIGGER messages_bytes_delete AFTER DELETE ON messages BEGIN
    UPDATE rooms
    SET content_bytes = content_bytes - length(CAST(old.text AS BLOB)) - COALESCE(length(CAST(old.story_title AS BLOB)), 0)
    WHERE id = old.room_id;
END;

CREATE TRIGGER messages_bytes_update AFTER UPDATE OF text ON messages BEGIN
    UPDATE rooms
    SET content_bytes = content_bytes - length(CAST(old.text AS BLOB)) + length(CAST(new.text AS BLOB))
    WHERE id = new.room_id;
END;
