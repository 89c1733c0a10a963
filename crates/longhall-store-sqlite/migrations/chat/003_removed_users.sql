-- A removed account keeps its row, so what it posted stays attributed to its login; its
-- login_key becomes '#removed:<id>' so the login is free for a new account.
ALTER TABLE users ADD COLUMN removed INTEGER NOT NULL DEFAULT 0;
