-- The columns come back empty: a release before this one shows the messages stored meanwhile
-- without To, Cc, Date, Message-ID, In-Reply-To, parse error or content limits (their raw
-- sources, downloads and header fields are whole).
ALTER TABLE messages
    ADD COLUMN to_addr jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN cc_addr jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN sent_at timestamptz,
    ADD COLUMN message_id text,
    ADD COLUMN in_reply_to text,
    ADD COLUMN parse_error text,
    ADD COLUMN content_limits text[] NOT NULL DEFAULT '{}';
