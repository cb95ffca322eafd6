-- An upper bound on each inbox's messages, kept in its row, so that ingest tells without
-- reading `messages` which inboxes a batch may fill past `--max-messages-per-inbox`. Looking
-- that up in `messages` for every batch (`keep_newest`) set up a scan and a delete over every
-- expiry partition: with 48 partitions it cost more than the rest of the batch
-- (`docs/performance.md`).
--
-- Ingest adds the messages it stores; its trim of an inbox past the cap counts what is left and
-- sets the bound to that. Other deletions (the API, the age limit, dropped partitions) leave it
-- high, which costs only a trim that finds nothing to delete and lowers it again. A process of
-- an earlier release does not add to it; an inbox it delivers to can go past the cap by as many
-- messages, until ingest's bound passes the cap and the trim counts again.
ALTER TABLE inboxes ADD COLUMN message_bound integer NOT NULL DEFAULT 0
    CONSTRAINT inboxes_message_bound_check CHECK (message_bound >= 0);
UPDATE inboxes i SET message_bound = c.n
FROM (SELECT inbox_id, count(*)::integer AS n FROM messages GROUP BY inbox_id) c
WHERE i.id = c.inbox_id;
