DROP TRIGGER messages_stored_bytes ON messages;
DROP FUNCTION account_stored_bytes();
ALTER TABLE messages DROP COLUMN tenant_id;
DROP TABLE tenant_usage;
ALTER TABLE tenants
    DROP COLUMN max_inboxes,
    DROP COLUMN max_mails_per_day,
    DROP COLUMN max_requests_per_minute,
    DROP COLUMN max_stored_bytes,
    DROP COLUMN max_ttl_seconds,
    DROP COLUMN max_message_size;
