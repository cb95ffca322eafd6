DROP INDEX inboxes_created_by_mail_idx;
ALTER TABLE inboxes DROP COLUMN created_by_mail;
