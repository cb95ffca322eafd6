CREATE TABLE tenants (
    id         UUID PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE CHECK (name <> ''),
    created_at TIMESTAMPTZ NOT NULL
);

-- Only a hash of each key is stored; `prefix` (the first characters) lets people recognize a key.
CREATE TABLE api_keys (
    id         UUID PRIMARY KEY,
    tenant_id  UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    prefix     TEXT NOT NULL,
    token_hash BYTEA NOT NULL UNIQUE,
    scopes     TEXT[] NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX api_keys_tenant_idx ON api_keys (tenant_id);

-- A domain is private to one tenant, or shared (NULL) so that any tenant may create inboxes.
ALTER TABLE domains ADD COLUMN tenant_id UUID REFERENCES tenants (id) ON DELETE CASCADE;
ALTER TABLE domains ADD CONSTRAINT domains_catch_all_owned
    CHECK (mode <> 'catch_all' OR tenant_id IS NOT NULL);

-- Data from before tenancy belongs to a tenant named "default".
INSERT INTO tenants (id, name, created_at)
SELECT gen_random_uuid(), 'default', now()
WHERE EXISTS (SELECT 1 FROM inboxes) OR EXISTS (SELECT 1 FROM domains WHERE mode = 'catch_all');
UPDATE domains SET tenant_id = (SELECT id FROM tenants WHERE name = 'default') WHERE mode = 'catch_all';

ALTER TABLE inboxes ADD COLUMN tenant_id UUID REFERENCES tenants (id) ON DELETE CASCADE;
UPDATE inboxes SET tenant_id = (SELECT id FROM tenants WHERE name = 'default');
ALTER TABLE inboxes ALTER COLUMN tenant_id SET NOT NULL;
CREATE INDEX inboxes_tenant_idx ON inboxes (tenant_id);
