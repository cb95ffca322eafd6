-- A mail's raw source is stored once, however many inboxes it went to (a mail to fifty
-- recipients is fifty messages sharing one source), under its SHA-256. The raw source is the
-- source of truth: attachment bytes are decoded from it on download instead of being stored a
-- second time. The sweeper deletes sources no message points at any more.
CREATE TABLE raw_sources (
    sha256 BYTEA PRIMARY KEY CHECK (length(sha256) = 32),
    raw    BYTEA NOT NULL
);
DO $$
BEGIN
    ALTER TABLE raw_sources ALTER COLUMN raw SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 is not available; raw sources stay compressed with pglz';
END
$$;

INSERT INTO raw_sources (sha256, raw)
SELECT DISTINCT ON (sha256(raw)) sha256(raw), raw FROM messages;

ALTER TABLE messages ADD COLUMN raw_sha256 BYTEA REFERENCES raw_sources (sha256);
UPDATE messages SET raw_sha256 = sha256(raw);
ALTER TABLE messages ALTER COLUMN raw_sha256 SET NOT NULL;
ALTER TABLE messages DROP COLUMN raw;
CREATE INDEX messages_raw_sha256_idx ON messages (raw_sha256);

ALTER TABLE attachments DROP COLUMN content;
