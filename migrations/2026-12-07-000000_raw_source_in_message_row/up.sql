-- A mail's raw source is stored in its message's row when the mail has one message in its
-- expiry bucket, as nearly every mail does: a row of its own in raw_sources, with its index and
-- the messages' index on raw_sha256, cost a fifth of a batch's insert (bench/write-cost,
-- docs/performance.md). A mail to several inboxes of one bucket keeps one shared row in
-- raw_sources, as before, so that its copies do not store it again; only those messages have a
-- raw_sha256, and only they are indexed by it.
ALTER TABLE messages ADD COLUMN raw bytea, ALTER COLUMN raw_sha256 DROP NOT NULL;
-- Already compressed with zstd by ephemail: PostgreSQL need not try again.
ALTER TABLE messages ALTER COLUMN raw SET STORAGE EXTERNAL;
ALTER TABLE messages ADD CONSTRAINT messages_raw_once
    CHECK ((raw IS NULL) <> (raw_sha256 IS NULL));
DROP INDEX messages_raw_sha256_idx;
CREATE INDEX messages_raw_sha256_idx ON messages (raw_sha256) WHERE raw_sha256 IS NOT NULL;
