-- Which of the content limits (nesting depth, sizes, counts) a message's parsed parts were cut
-- at; the raw source is always complete.
ALTER TABLE messages ADD COLUMN content_limits text[] NOT NULL DEFAULT '{}';
