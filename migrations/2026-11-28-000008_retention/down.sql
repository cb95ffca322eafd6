DROP INDEX messages_received_at_idx;
DROP INDEX inboxes_expires_at_idx;
