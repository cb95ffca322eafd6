CREATE INDEX messages_inbox_seq_plain_idx ON messages (inbox_id, seq DESC);
DROP INDEX messages_inbox_seq_idx;
ALTER INDEX messages_inbox_seq_plain_idx RENAME TO messages_inbox_seq_idx;
