-- A message's To, Cc, Date, Message-ID and In-Reply-To headers, why it could not be parsed
-- and the limits its parsed parts were cut at are derived from its raw source when read, as
-- its bodies and header fields already are (the same code computes them at ingest and at
-- read). Lists, filters and sorting read none of them; storing them cost every message row's
-- insert about a tenth of its work (bench/write-cost, docs/performance.md).
-- Dropping a column is a catalog change: no row is rewritten, and the old rows' bytes go with
-- their expiry bucket's partition.
ALTER TABLE messages
    DROP COLUMN to_addr,
    DROP COLUMN cc_addr,
    DROP COLUMN sent_at,
    DROP COLUMN message_id,
    DROP COLUMN in_reply_to,
    DROP COLUMN parse_error,
    DROP COLUMN content_limits;
