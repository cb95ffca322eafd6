-- Labels an inbox was created with.
ALTER TABLE inboxes ADD COLUMN tags TEXT[] NOT NULL DEFAULT '{}';

-- Search and consume: plus-address tags, seen flag, and flattened address text for filters.
ALTER TABLE messages
    ADD COLUMN tags            TEXT[]  NOT NULL DEFAULT '{}',
    ADD COLUMN seen            BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN has_attachments BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN in_reply_to     TEXT,
    -- "Name <address>" of the From: header, for the `from` filter.
    ADD COLUMN from_text       TEXT    NOT NULL DEFAULT '',
    -- To:, Cc: and envelope recipients, for the `to` filter.
    ADD COLUMN to_text         TEXT    NOT NULL DEFAULT '';

UPDATE messages m
SET has_attachments = EXISTS (SELECT 1 FROM attachments a WHERE a.message_id = m.id);

-- Consuming waits look for the oldest unseen message of an inbox.
CREATE INDEX messages_inbox_unseen_idx ON messages (inbox_id, seq) WHERE NOT seen;
