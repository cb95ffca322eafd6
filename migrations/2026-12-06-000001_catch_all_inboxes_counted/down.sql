CREATE INDEX inboxes_tenant_idx ON inboxes (tenant_id);
CREATE INDEX inboxes_created_by_mail_idx ON inboxes (tenant_id, expires_at) WHERE created_by_mail;
DROP INDEX inboxes_tenant_made_by_mail_expiry_idx;
DROP TRIGGER inboxes_made_by_mail_uncounted ON inboxes;
DROP TRIGGER inboxes_made_by_mail_counted ON inboxes;
DROP FUNCTION count_inboxes_made_by_mail();
ALTER TABLE tenant_usage DROP COLUMN mail_inboxes;
