DROP INDEX messages_inbox_unseen_idx;
ALTER TABLE messages
    DROP COLUMN tags,
    DROP COLUMN seen,
    DROP COLUMN has_attachments,
    DROP COLUMN in_reply_to,
    DROP COLUMN from_text,
    DROP COLUMN to_text;
ALTER TABLE inboxes DROP COLUMN tags;
