-- A mail's raw source is stored once, however many inboxes it went to (a mail to fifty
-- recipients is fifty messages sharing one source), under its SHA-256. The raw source is the
-- source of truth: attachment bytes and header fields are decoded from it when asked for
-- instead of being stored a second time. The sweeper deletes sources no message points at any more.
CREATE TABLE raw_sources (
    sha256   BYTEA PRIMARY KEY CHECK (length(sha256) = 32),
    -- How `content` holds the raw bytes: compressed by ephemail with zstd, or as they were
    -- before this migration.
    encoding TEXT NOT NULL CHECK (encoding IN ('zstd', 'plain')),
    content  BYTEA NOT NULL
);
-- ephemail compresses with zstd itself (it entropy-codes base64 attachments, which lz4 and pglz
-- leave almost as they are); PostgreSQL need not try again.
ALTER TABLE raw_sources ALTER COLUMN content SET STORAGE EXTERNAL;

INSERT INTO raw_sources (sha256, encoding, content)
SELECT DISTINCT ON (sha256(raw)) sha256(raw), 'plain', raw FROM messages;

ALTER TABLE messages ADD COLUMN raw_sha256 BYTEA REFERENCES raw_sources (sha256);
UPDATE messages SET raw_sha256 = sha256(raw);
ALTER TABLE messages ALTER COLUMN raw_sha256 SET NOT NULL;
ALTER TABLE messages DROP COLUMN raw;
CREATE INDEX messages_raw_sha256_idx ON messages (raw_sha256);

ALTER TABLE attachments DROP COLUMN content;
-- Header fields are read from the raw source when asked for.
ALTER TABLE messages DROP COLUMN headers;
