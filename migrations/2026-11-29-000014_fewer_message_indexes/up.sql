-- Every stored mail updated five indexes of `messages`; two of them only served rare readers.
-- Unseen messages of an inbox (at most `--max-messages-per-inbox`) are found through
-- `messages_inbox_seq_idx`; the sweeper's `--max-message-age` deletes find old messages through
-- a BRIN index, which costs an insert almost nothing (rows arrive in `received_at` order).
DROP INDEX messages_inbox_unseen_idx;
DROP INDEX messages_received_at_idx;
CREATE INDEX messages_received_at_idx ON messages USING brin (received_at);
