-- Expired mail goes by the partition, not by the row. Messages, their attachments and raw
-- sources live in partitions by `purge_at`: the end of their inbox's expiry bucket (a
-- `--purge-bucket` wide slice of time, one hour by default). Once every inbox of a bucket has
-- expired, the sweeper drops the bucket's three partitions whole: no per-row deletion, no WAL
-- for each row, nothing for autovacuum to clean, so ingest beside it keeps its speed.
--
-- The invariant that makes dropping safe: every message of an inbox is in the inbox's own
-- `purge_at` partition, and `purge_at >= expires_at`. Extending an inbox moves its messages
-- (`inbox::set_expiry`); ingest reads the inbox row `FOR KEY SHARE`, so the two serialize.
-- The foreign keys of these tables go: a foreign key into a partitioned table would make every
-- partition drop check the referencing table, and dropping a partition with a foreign key to
-- `tenants` must lock `tenants` exclusively, which deadlocked with ingest (which reads it while
-- holding its tenants' counters). Statement triggers on `messages` delete a deleted message's
-- attachments and no longer used raw sources instead; messages of an inbox or tenant removed
-- otherwise stay, invisible, until their bucket is dropped.

ALTER TABLE inboxes ADD COLUMN purge_at TIMESTAMPTZ;
UPDATE inboxes SET purge_at = to_timestamp(ceil(extract(epoch FROM expires_at) / 3600) * 3600);
ALTER TABLE inboxes ALTER COLUMN purge_at SET NOT NULL;
ALTER TABLE inboxes ADD CONSTRAINT inboxes_purged_after_expiry CHECK (purge_at >= expires_at);

-- Creates the three partitions of one bucket if they do not exist yet. ATTACH instead of
-- CREATE TABLE ... PARTITION OF: it takes a weaker lock on the parent, so reads and ingest go on.
CREATE FUNCTION create_purge_partitions(bucket TIMESTAMPTZ) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    suffix CONSTANT TEXT := '_p' || to_char(bucket AT TIME ZONE 'UTC', 'YYYYMMDD"t"HH24MISS');
    parent TEXT;
BEGIN
    -- Several processes may ask for the same bucket at once: one creates, the others see it.
    PERFORM pg_advisory_xact_lock(7310302560386184563);
    FOREACH parent IN ARRAY ARRAY['messages', 'attachments', 'raw_sources'] LOOP
        IF to_regclass(parent || suffix) IS NULL THEN
            EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS '
                           'INCLUDING STORAGE INCLUDING COMPRESSION)', parent || suffix, parent);
            EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES IN (%L)',
                           parent, parent || suffix, bucket);
        END IF;
    END LOOP;
END $$;

-- The old tables make way for partitioned ones with the same columns and `purge_at`.
DROP TRIGGER messages_inserted_bytes ON messages;
DROP TRIGGER messages_deleted_bytes ON messages;
ALTER TABLE attachments RENAME TO attachments_unpartitioned;
ALTER TABLE messages RENAME TO messages_unpartitioned;
ALTER TABLE raw_sources RENAME TO raw_sources_unpartitioned;

CREATE TABLE messages (
    id              UUID NOT NULL,
    seq             BIGINT GENERATED ALWAYS AS IDENTITY,
    inbox_id        UUID NOT NULL,
    received_at     TIMESTAMPTZ NOT NULL,
    mail_from       TEXT,
    rcpt_to         TEXT[] NOT NULL,
    from_addr       JSONB NOT NULL,
    to_addr         JSONB NOT NULL,
    cc_addr         JSONB NOT NULL,
    subject         TEXT,
    sent_at         TIMESTAMPTZ,
    message_id      TEXT,
    text_body       TEXT,
    html_body       TEXT,
    size            INTEGER NOT NULL CHECK (size >= 0),
    parse_error     TEXT,
    tags            TEXT[] NOT NULL DEFAULT '{}',
    seen            BOOLEAN NOT NULL DEFAULT false,
    has_attachments BOOLEAN NOT NULL DEFAULT false,
    in_reply_to     TEXT,
    from_text       TEXT NOT NULL DEFAULT '',
    to_text         TEXT NOT NULL DEFAULT '',
    tenant_id       UUID NOT NULL,
    raw_sha256      BYTEA NOT NULL,
    content_limits  TEXT[] NOT NULL DEFAULT '{}',
    purge_at        TIMESTAMPTZ NOT NULL
) PARTITION BY LIST (purge_at);

CREATE TABLE attachments (
    id           UUID NOT NULL,
    message_id   UUID NOT NULL,
    position     INTEGER NOT NULL,
    filename     TEXT,
    content_type TEXT NOT NULL,
    content_id   TEXT,
    inline       BOOLEAN NOT NULL,
    size         INTEGER NOT NULL CHECK (size >= 0),
    purge_at     TIMESTAMPTZ NOT NULL
) PARTITION BY LIST (purge_at);

-- A raw source is stored once per bucket: the messages of one mail in inboxes of one bucket
-- (fifty recipients of one mail, created together) share it.
CREATE TABLE raw_sources (
    sha256   BYTEA NOT NULL CHECK (length(sha256) = 32),
    encoding TEXT NOT NULL CHECK (encoding IN ('zstd', 'plain')),
    content  BYTEA NOT NULL,
    purge_at TIMESTAMPTZ NOT NULL
) PARTITION BY LIST (purge_at);
-- Compressed by ephemail with zstd (see migration 9).
ALTER TABLE raw_sources ALTER COLUMN content SET STORAGE EXTERNAL;
DO $$
BEGIN
    ALTER TABLE messages
        ALTER COLUMN text_body SET COMPRESSION lz4,
        ALTER COLUMN html_body SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 is not available; mail bodies stay compressed with pglz';
END
$$;

SELECT create_purge_partitions(b) FROM (SELECT DISTINCT purge_at AS b FROM inboxes) buckets;

INSERT INTO messages (id, seq, inbox_id, received_at, mail_from, rcpt_to, from_addr, to_addr,
    cc_addr, subject, sent_at, message_id, text_body, html_body, size, parse_error, tags, seen,
    has_attachments, in_reply_to, from_text, to_text, tenant_id, raw_sha256, content_limits,
    purge_at)
OVERRIDING SYSTEM VALUE
SELECT m.id, m.seq, m.inbox_id, m.received_at, m.mail_from, m.rcpt_to, m.from_addr, m.to_addr,
    m.cc_addr, m.subject, m.sent_at, m.message_id, m.text_body, m.html_body, m.size,
    m.parse_error, m.tags, m.seen, m.has_attachments, m.in_reply_to, m.from_text, m.to_text,
    m.tenant_id, m.raw_sha256, m.content_limits, i.purge_at
FROM messages_unpartitioned m JOIN inboxes i ON i.id = m.inbox_id;
SELECT setval(pg_get_serial_sequence('messages', 'seq'),
              (SELECT COALESCE(max(seq), 0) + 1 FROM messages_unpartitioned), false);

INSERT INTO attachments
SELECT a.id, a.message_id, a.position, a.filename, a.content_type, a.content_id, a.inline,
    a.size, m.purge_at
FROM attachments_unpartitioned a JOIN messages m ON m.id = a.message_id;

INSERT INTO raw_sources
SELECT DISTINCT ON (r.sha256, m.purge_at) r.sha256, r.encoding, r.content, m.purge_at
FROM raw_sources_unpartitioned r JOIN messages m ON m.raw_sha256 = r.sha256;

DROP TABLE attachments_unpartitioned, messages_unpartitioned, raw_sources_unpartitioned;

ALTER TABLE messages ADD CONSTRAINT messages_pkey PRIMARY KEY (id, purge_at);
CREATE INDEX messages_inbox_seq_idx ON messages (inbox_id, seq DESC);
CREATE INDEX messages_inbox_unseen_idx ON messages (inbox_id, seq) WHERE NOT seen;
CREATE INDEX messages_received_at_idx ON messages (received_at);
CREATE INDEX messages_raw_sha256_idx ON messages (raw_sha256);
ALTER TABLE attachments ADD CONSTRAINT attachments_pkey PRIMARY KEY (id, purge_at);
ALTER TABLE attachments ADD CONSTRAINT attachments_message_position_key
    UNIQUE (message_id, position, purge_at);
ALTER TABLE raw_sources ADD CONSTRAINT raw_sources_pkey PRIMARY KEY (sha256, purge_at);

CREATE TRIGGER messages_inserted_bytes AFTER INSERT ON messages
    REFERENCING NEW TABLE AS inserted_messages
    FOR EACH STATEMENT EXECUTE FUNCTION account_inserted_bytes();

-- Whatever deletes messages row by row (the API, the per-inbox cap, the age limit) takes their
-- attachments and the raw sources no other message of the bucket uses with them. (A dropped
-- partition takes its rows without triggers; the sweeper accounts for their bytes itself.)
CREATE FUNCTION messages_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM deleted_messages) THEN
        RETURN NULL;
    END IF;
    -- The counters rows in tenant order, as ingest locks them, so that the two cannot deadlock.
    PERFORM 1 FROM tenant_usage
    WHERE tenant_id IN (SELECT tenant_id FROM deleted_messages)
    ORDER BY tenant_id FOR UPDATE;
    UPDATE tenant_usage u SET stored_bytes = u.stored_bytes - removed.bytes
    FROM (SELECT tenant_id, sum(size) AS bytes FROM deleted_messages GROUP BY tenant_id) removed
    WHERE u.tenant_id = removed.tenant_id;
    DELETE FROM attachments a USING deleted_messages d
    WHERE a.message_id = d.id AND a.purge_at = d.purge_at;
    DELETE FROM raw_sources r
    USING (SELECT DISTINCT raw_sha256, purge_at FROM deleted_messages) d
    WHERE r.sha256 = d.raw_sha256 AND r.purge_at = d.purge_at
      AND NOT EXISTS (SELECT 1 FROM messages m
                      WHERE m.raw_sha256 = r.sha256 AND m.purge_at = r.purge_at);
    RETURN NULL;
END $$;
DROP FUNCTION account_deleted_bytes();

CREATE TRIGGER messages_deleted AFTER DELETE ON messages
    REFERENCING OLD TABLE AS deleted_messages
    FOR EACH STATEMENT EXECUTE FUNCTION messages_deleted();
