-- The raw source is the only copy of a mail's content: the text and HTML bodies are derived
-- from it when read (as the header fields already were), with the same code that parsed them
-- at ingest. Storing them again cost PostgreSQL a TOAST compression per mail and about as
-- many bytes again as the compressed source (bench/storage, MIX=text).
-- Dropping a column is a catalog change: no row is rewritten, and the old rows' bytes go
-- with their expiry bucket's partition.
ALTER TABLE messages DROP COLUMN text_body, DROP COLUMN html_body;
