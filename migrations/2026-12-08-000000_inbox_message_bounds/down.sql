ALTER TABLE inboxes DROP COLUMN message_bound;
