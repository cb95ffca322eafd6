-- The sweeper finds expired inboxes, and messages past the retention age, by index: a backlog
-- is deleted in small batches, each of which must not scan the table.
CREATE INDEX inboxes_expires_at_idx ON inboxes (expires_at);
CREATE INDEX messages_received_at_idx ON messages (received_at);
