-- The delete trigger named each deleted row's bucket through a join with the deleted rows, so
-- PostgreSQL could not narrow its statements to the buckets' partitions: in a store with one
-- partition per hour of its inboxes' lives (168 for a week), every delete set up, and often
-- read, every partition of `attachments` and `raw_sources`. Now it makes one pass per bucket
-- of the deleted rows and names the bucket as a variable, which its plans prune by. Raw
-- sources are locked bucket by bucket, then by hash: the order ingest's insert takes them in.
CREATE OR REPLACE FUNCTION messages_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bucket timestamptz;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM deleted_messages) THEN
        RETURN NULL;
    END IF;
    -- The counters rows in tenant order, as ingest locks them, so that the two cannot deadlock.
    PERFORM 1 FROM tenant_usage
    WHERE tenant_id IN (SELECT tenant_id FROM deleted_messages)
    ORDER BY tenant_id FOR UPDATE;
    UPDATE tenant_usage u SET stored_bytes = u.stored_bytes - removed.bytes
    FROM (SELECT tenant_id, sum(size) AS bytes FROM deleted_messages GROUP BY tenant_id) removed
    WHERE u.tenant_id = removed.tenant_id;
    FOR bucket IN SELECT DISTINCT purge_at FROM deleted_messages ORDER BY 1 LOOP
        DELETE FROM attachments a
        WHERE a.purge_at = bucket
          AND a.message_id IN (SELECT d.id FROM deleted_messages d WHERE d.purge_at = bucket);
        -- A writer storing another copy of the same mail holds its raw source's row until it
        -- commits (the insert's ON CONFLICT DO UPDATE locks it): wait for it, so that the check
        -- below, with the snapshot of its own statement, sees that copy's message.
        PERFORM 1 FROM raw_sources r
        WHERE r.purge_at = bucket
          AND r.sha256 IN (SELECT d.raw_sha256 FROM deleted_messages d WHERE d.purge_at = bucket)
        ORDER BY r.sha256
        FOR UPDATE OF r;
        DELETE FROM raw_sources r
        WHERE r.purge_at = bucket
          AND r.sha256 IN (SELECT d.raw_sha256 FROM deleted_messages d WHERE d.purge_at = bucket)
          AND NOT EXISTS (SELECT 1 FROM messages m
                          WHERE m.purge_at = bucket AND m.raw_sha256 = r.sha256);
    END LOOP;
    RETURN NULL;
END $$;
