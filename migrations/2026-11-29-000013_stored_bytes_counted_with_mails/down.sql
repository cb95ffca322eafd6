CREATE FUNCTION account_inserted_bytes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE tenant_usage u SET stored_bytes = u.stored_bytes + added.bytes
    FROM (SELECT tenant_id, sum(size) AS bytes FROM inserted_messages GROUP BY tenant_id) added
    WHERE u.tenant_id = added.tenant_id;
    RETURN NULL;
END $$;

CREATE TRIGGER messages_inserted_bytes AFTER INSERT ON messages
    REFERENCING NEW TABLE AS inserted_messages
    FOR EACH STATEMENT EXECUTE FUNCTION account_inserted_bytes();
