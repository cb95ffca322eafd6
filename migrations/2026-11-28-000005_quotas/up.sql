-- Per-tenant overrides of the server's default quotas (NULL: the default).
ALTER TABLE tenants
    ADD COLUMN max_inboxes             INTEGER CHECK (max_inboxes >= 0),
    ADD COLUMN max_mails_per_day       INTEGER CHECK (max_mails_per_day >= 0),
    ADD COLUMN max_requests_per_minute INTEGER CHECK (max_requests_per_minute >= 0),
    ADD COLUMN max_stored_bytes        BIGINT  CHECK (max_stored_bytes >= 0),
    ADD COLUMN max_ttl_seconds         INTEGER CHECK (max_ttl_seconds > 0),
    ADD COLUMN max_message_size        INTEGER CHECK (max_message_size > 0);

-- Usage counters, one row per tenant, updated in single conditional statements so that limits
-- hold under concurrency and across processes.
CREATE TABLE tenant_usage (
    tenant_id         UUID PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    mail_day          DATE NOT NULL,
    mails_today       INTEGER NOT NULL CHECK (mails_today >= 0),
    stored_bytes      BIGINT NOT NULL,
    -- Token bucket for API requests.
    request_tokens    DOUBLE PRECISION NOT NULL,
    tokens_updated_at TIMESTAMPTZ NOT NULL
);

-- Messages carry their tenant so that storage can be accounted even when an inbox's messages
-- go by cascade (the inbox row is gone by then).
ALTER TABLE messages ADD COLUMN tenant_id UUID REFERENCES tenants (id) ON DELETE CASCADE;
UPDATE messages m SET tenant_id = i.tenant_id FROM inboxes i WHERE i.id = m.inbox_id;
ALTER TABLE messages ALTER COLUMN tenant_id SET NOT NULL;

INSERT INTO tenant_usage (tenant_id, mail_day, mails_today, stored_bytes, request_tokens, tokens_updated_at)
SELECT t.id, CURRENT_DATE, 0, COALESCE((SELECT sum(size) FROM messages m WHERE m.tenant_id = t.id), 0),
       'Infinity', now() -- a full bucket: it is capped at the limit on first use
FROM tenants t;

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
