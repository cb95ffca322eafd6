-- An attachment's bytes are stored once, however many messages carry them (a mail to fifty
-- recipients is fifty messages with one set of attachments). Rows in `attachments` keep the
-- per-message metadata and point at the content by its SHA-256. The sweeper deletes contents
-- no attachment points at any more.
CREATE TABLE attachment_contents (
    sha256  BYTEA PRIMARY KEY CHECK (length(sha256) = 32),
    content BYTEA NOT NULL
);
DO $$
BEGIN
    ALTER TABLE attachment_contents ALTER COLUMN content SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 is not available; attachment contents stay compressed with pglz';
END
$$;

INSERT INTO attachment_contents (sha256, content)
SELECT DISTINCT ON (sha256(content)) sha256(content), content FROM attachments;

ALTER TABLE attachments ADD COLUMN content_sha256 BYTEA REFERENCES attachment_contents (sha256);
UPDATE attachments SET content_sha256 = sha256(content);
ALTER TABLE attachments ALTER COLUMN content_sha256 SET NOT NULL;
ALTER TABLE attachments DROP COLUMN content;
CREATE INDEX attachments_content_sha256_idx ON attachments (content_sha256);
