-- Back to unpartitioned tables with foreign keys (messages of inboxes already deleted, which
-- waited for their bucket to be dropped, are left out).
DROP TRIGGER messages_inserted_bytes ON messages;
DROP TRIGGER messages_deleted ON messages;
DROP FUNCTION messages_deleted();
ALTER TABLE messages RENAME TO messages_partitioned;
ALTER TABLE attachments RENAME TO attachments_partitioned;
ALTER TABLE raw_sources RENAME TO raw_sources_partitioned;
ALTER TABLE messages_partitioned RENAME CONSTRAINT messages_pkey TO messages_partitioned_pkey;
ALTER TABLE attachments_partitioned RENAME CONSTRAINT attachments_pkey TO attachments_partitioned_pkey;
ALTER TABLE attachments_partitioned
    RENAME CONSTRAINT attachments_message_position_key TO attachments_partitioned_position_key;
ALTER TABLE raw_sources_partitioned RENAME CONSTRAINT raw_sources_pkey TO raw_sources_partitioned_pkey;
ALTER INDEX messages_inbox_seq_idx RENAME TO messages_partitioned_inbox_seq_idx;
ALTER INDEX messages_inbox_unseen_idx RENAME TO messages_partitioned_inbox_unseen_idx;
ALTER INDEX messages_received_at_idx RENAME TO messages_partitioned_received_at_idx;
ALTER INDEX messages_raw_sha256_idx RENAME TO messages_partitioned_raw_sha256_idx;

CREATE TABLE raw_sources (
    sha256   BYTEA PRIMARY KEY CHECK (length(sha256) = 32),
    encoding TEXT NOT NULL CHECK (encoding IN ('zstd', 'plain')),
    content  BYTEA NOT NULL
);
ALTER TABLE raw_sources ALTER COLUMN content SET STORAGE EXTERNAL;
INSERT INTO raw_sources SELECT DISTINCT ON (sha256) sha256, encoding, content FROM raw_sources_partitioned;

CREATE TABLE messages (LIKE messages_partitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS
                       INCLUDING STORAGE INCLUDING COMPRESSION);
ALTER TABLE messages DROP COLUMN purge_at;
INSERT INTO messages
SELECT m.id, m.seq, m.inbox_id, m.received_at, m.mail_from, m.rcpt_to, m.from_addr, m.to_addr,
    m.cc_addr, m.subject, m.sent_at, m.message_id, m.text_body, m.html_body, m.size,
    m.parse_error, m.tags, m.seen, m.has_attachments, m.in_reply_to, m.from_text, m.to_text,
    m.tenant_id, m.raw_sha256, m.content_limits
FROM messages_partitioned m JOIN inboxes i ON i.id = m.inbox_id;
ALTER TABLE messages ALTER COLUMN seq ADD GENERATED ALWAYS AS IDENTITY;
SELECT setval(pg_get_serial_sequence('messages', 'seq'),
              (SELECT COALESCE(max(seq), 0) + 1 FROM messages), false);
ALTER TABLE messages ADD PRIMARY KEY (id);
ALTER TABLE messages ADD FOREIGN KEY (inbox_id) REFERENCES inboxes (id) ON DELETE CASCADE;
ALTER TABLE messages ADD FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE;
ALTER TABLE messages ADD FOREIGN KEY (raw_sha256) REFERENCES raw_sources (sha256);
CREATE INDEX messages_inbox_seq_idx ON messages (inbox_id, seq DESC);
CREATE INDEX messages_inbox_unseen_idx ON messages (inbox_id, seq) WHERE NOT seen;
CREATE INDEX messages_received_at_idx ON messages (received_at);
CREATE INDEX messages_raw_sha256_idx ON messages (raw_sha256);

CREATE TABLE attachments (
    id           UUID PRIMARY KEY,
    message_id   UUID NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    position     INTEGER NOT NULL,
    filename     TEXT,
    content_type TEXT NOT NULL,
    content_id   TEXT,
    inline       BOOLEAN NOT NULL,
    size         INTEGER NOT NULL CHECK (size >= 0),
    CONSTRAINT attachments_message_position_key UNIQUE (message_id, position)
);
INSERT INTO attachments
SELECT a.id, a.message_id, a.position, a.filename, a.content_type, a.content_id, a.inline, a.size
FROM attachments_partitioned a JOIN messages m ON m.id = a.message_id;

DROP TABLE messages_partitioned, attachments_partitioned, raw_sources_partitioned;
DROP FUNCTION create_purge_partitions(TIMESTAMPTZ);
ALTER TABLE inboxes DROP CONSTRAINT inboxes_purged_after_expiry;
ALTER TABLE inboxes DROP COLUMN purge_at;

CREATE FUNCTION account_deleted_bytes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE tenant_usage u SET stored_bytes = u.stored_bytes - removed.bytes
    FROM (SELECT tenant_id, sum(size) AS bytes FROM deleted_messages GROUP BY tenant_id) removed
    WHERE u.tenant_id = removed.tenant_id;
    RETURN NULL;
END $$;
CREATE TRIGGER messages_inserted_bytes AFTER INSERT ON messages
    REFERENCING NEW TABLE AS inserted_messages
    FOR EACH STATEMENT EXECUTE FUNCTION account_inserted_bytes();
CREATE TRIGGER messages_deleted_bytes AFTER DELETE ON messages
    REFERENCING OLD TABLE AS deleted_messages
    FOR EACH STATEMENT EXECUTE FUNCTION account_deleted_bytes();
