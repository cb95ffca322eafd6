ALTER TABLE messages DROP COLUMN waited_at;
