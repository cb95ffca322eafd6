-- Every read of `seq` is per inbox (the `(inbox_id, seq)` index), and the sequence alone keeps
-- the numbers unique: the global unique index was one more b-tree insert per stored message.
ALTER TABLE messages DROP CONSTRAINT messages_seq_key;
