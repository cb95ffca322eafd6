DROP INDEX messages_received_at_idx;
CREATE INDEX messages_received_at_idx ON messages USING brin (received_at);
