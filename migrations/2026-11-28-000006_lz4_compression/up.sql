-- Mail bodies are compressed with lz4 rather than PostgreSQL's default pglz: several times
-- cheaper in CPU on ingest (pglz was the largest single cost of storing a mail), at a similar
-- ratio for mail text. A server built without lz4 keeps pglz.
DO $$
BEGIN
    ALTER TABLE messages
        ALTER COLUMN raw SET COMPRESSION lz4,
        ALTER COLUMN text_body SET COMPRESSION lz4,
        ALTER COLUMN html_body SET COMPRESSION lz4,
        ALTER COLUMN headers SET COMPRESSION lz4;
    ALTER TABLE attachments ALTER COLUMN content SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 is not available; mail bodies stay compressed with pglz';
END
$$;
