-- Statements on one inbox's messages name its expiry bucket, so that PostgreSQL reads only that
-- bucket's partition of `messages` (in a store with a partition per hour of its inboxes'
-- lives, not naming it set every partition up). The bucket is then a condition on every row
-- the inbox's index finds; carried in the index, it is checked there, and a look-up that needs
-- no other column (the cap's cutoff and count, the newest `seq`s) stays an index-only scan.
CREATE INDEX messages_inbox_seq_bucket_idx ON messages (inbox_id, seq DESC) INCLUDE (purge_at);
DROP INDEX messages_inbox_seq_idx;
ALTER INDEX messages_inbox_seq_bucket_idx RENAME TO messages_inbox_seq_idx;
