DROP INDEX messages_received_at_idx;
CREATE INDEX messages_received_at_idx ON messages (received_at);
CREATE INDEX messages_inbox_unseen_idx ON messages (inbox_id, seq) WHERE NOT seen;
