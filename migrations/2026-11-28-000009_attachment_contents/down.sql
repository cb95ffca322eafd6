ALTER TABLE attachments ADD COLUMN content BYTEA;
UPDATE attachments a SET content = c.content FROM attachment_contents c WHERE c.sha256 = a.content_sha256;
ALTER TABLE attachments ALTER COLUMN content SET NOT NULL;
DO $$
BEGIN
    ALTER TABLE attachments ALTER COLUMN content SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    NULL;
END
$$;
DROP INDEX attachments_content_sha256_idx;
ALTER TABLE attachments DROP COLUMN content_sha256;
DROP TABLE attachment_contents;
