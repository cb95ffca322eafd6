-- Inboxes that mail to a catch-all domain creates are counted apart from those the API creates:
-- mail from anyone on the internet must not fill the live-inbox quota that `createInbox` uses.
-- The partial index makes counting a tenant's mail-made inboxes cheap for its own bound.
ALTER TABLE inboxes ADD COLUMN created_by_mail boolean NOT NULL DEFAULT false;
CREATE INDEX inboxes_created_by_mail_idx ON inboxes (tenant_id, expires_at) WHERE created_by_mail;
