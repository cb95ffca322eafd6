-- Stored bytes are accounted once per statement instead of once per row: ingest inserts a whole
-- batch of messages in one statement, and a per-row trigger updated the tenant's counters row
-- once for every message of it.
DROP TRIGGER messages_stored_bytes ON messages;
DROP FUNCTION account_stored_bytes();

CREATE FUNCTION account_inserted_bytes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE tenant_usage u SET stored_bytes = u.stored_bytes + added.bytes
    FROM (SELECT tenant_id, sum(size) AS bytes FROM inserted_messages GROUP BY tenant_id) added
    WHERE u.tenant_id = added.tenant_id;
    RETURN NULL;
END $$;

CREATE FUNCTION account_deleted_bytes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE tenant_usage u SET stored_bytes = u.stored_bytes - removed.bytes
    FROM (SELECT tenant_id, sum(size) AS bytes FROM deleted_messages GROUP BY tenant_id) removed
    WHERE u.tenant_id = removed.tenant_id;
    RETURN NULL;
END $$;

CREATE TRIGGER messages_inserted_bytes AFTER INSERT ON messages
    REFERENCING NEW TABLE AS inserted_messages
    FOR EACH STATEMENT EXECUTE FUNCTION account_inserted_bytes();
CREATE TRIGGER messages_deleted_bytes AFTER DELETE ON messages
    REFERENCING OLD TABLE AS deleted_messages
    FOR EACH STATEMENT EXECUTE FUNCTION account_deleted_bytes();
