DROP INDEX inboxes_tenant_idx;
ALTER TABLE inboxes DROP COLUMN tenant_id;
ALTER TABLE domains DROP CONSTRAINT domains_catch_all_owned;
ALTER TABLE domains DROP COLUMN tenant_id;
DROP TABLE api_keys;
DROP TABLE tenants;
