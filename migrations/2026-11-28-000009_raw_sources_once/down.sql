-- Neither zstd-compressed raw sources, attachment bytes nor header fields can be decoded in
-- SQL: run this only on a database without mail, or accept that those come back empty.
ALTER TABLE messages ADD COLUMN headers JSONB NOT NULL DEFAULT '[]';
ALTER TABLE messages ALTER COLUMN headers DROP DEFAULT;
ALTER TABLE attachments ADD COLUMN content BYTEA NOT NULL DEFAULT '';
ALTER TABLE attachments ALTER COLUMN content DROP DEFAULT;

ALTER TABLE messages ADD COLUMN raw BYTEA;
UPDATE messages m SET raw = CASE WHEN r.encoding = 'plain' THEN r.content ELSE '' END
FROM raw_sources r WHERE r.sha256 = m.raw_sha256;
ALTER TABLE messages ALTER COLUMN raw SET NOT NULL;
DROP INDEX messages_raw_sha256_idx;
ALTER TABLE messages DROP COLUMN raw_sha256;
DROP TABLE raw_sources;
DO $$
BEGIN
    ALTER TABLE messages ALTER COLUMN raw SET COMPRESSION lz4;
    ALTER TABLE attachments ALTER COLUMN content SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    NULL;
END
$$;
