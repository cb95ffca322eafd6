-- Migration 14 gave `received_at` a BRIN index to save ingest a B-tree insert. But then each of
-- the sweeper's `--max-message-age` batches reads every page of the block ranges older than the
-- cutoff, the pages of rows that earlier batches deleted included, so batches get slower as a
-- backlog is worked off: `bench/age-sweep` (a million messages, the oldest 500,000 deleted in
-- batches of 1,000) measured 14 ms a quarter of the way in and 31 ms at the end, against 8 ms
-- throughout with a B-tree. Entries in `received_at` order go to the B-tree's rightmost leaf,
-- which costs ingest little.
DROP INDEX messages_received_at_idx;
CREATE INDEX messages_received_at_idx ON messages (received_at);
