ALTER TABLE messages ADD CONSTRAINT messages_seq_key UNIQUE (seq);
