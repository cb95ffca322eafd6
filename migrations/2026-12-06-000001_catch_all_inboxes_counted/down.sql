DROP TRIGGER inboxes_made_by_mail_uncounted ON inboxes;
DROP TRIGGER inboxes_made_by_mail_counted ON inboxes;
DROP FUNCTION uncount_inboxes_made_by_mail();
DROP FUNCTION count_inboxes_made_by_mail();
ALTER TABLE tenant_usage DROP COLUMN mail_inboxes;
