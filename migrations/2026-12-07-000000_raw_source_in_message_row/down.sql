-- Every raw source back in raw_sources. A release before this one reads a message's source by
-- its raw_sha256 alone, so a source moved back is keyed by the SHA-256 of its stored (zstd)
-- bytes, which is as unique as the received bytes' and which no new mail can collide with.
ALTER TABLE messages DROP CONSTRAINT messages_raw_once;
UPDATE messages SET raw_sha256 = sha256(raw) WHERE raw IS NOT NULL;
INSERT INTO raw_sources (sha256, encoding, content, purge_at)
SELECT raw_sha256, 'zstd', raw, purge_at FROM messages WHERE raw IS NOT NULL
ON CONFLICT DO NOTHING;
DROP INDEX messages_raw_sha256_idx;
CREATE INDEX messages_raw_sha256_idx ON messages (raw_sha256);
ALTER TABLE messages DROP COLUMN raw, ALTER COLUMN raw_sha256 SET NOT NULL;
