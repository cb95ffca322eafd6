DROP TRIGGER messages_deleted_bytes ON messages;
DROP TRIGGER messages_inserted_bytes ON messages;
DROP FUNCTION account_deleted_bytes();
DROP FUNCTION account_inserted_bytes();

CREATE FUNCTION account_stored_bytes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE tenant_usage SET stored_bytes = stored_bytes + NEW.size WHERE tenant_id = NEW.tenant_id;
    ELSE
        UPDATE tenant_usage SET stored_bytes = stored_bytes - OLD.size WHERE tenant_id = OLD.tenant_id;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER messages_stored_bytes AFTER INSERT OR DELETE ON messages
    FOR EACH ROW EXECUTE FUNCTION account_stored_bytes();
