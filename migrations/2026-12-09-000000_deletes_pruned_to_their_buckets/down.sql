-- The trigger as migration 2026-12-04-100001 left it.
CREATE OR REPLACE FUNCTION messages_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
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
    DELETE FROM attachments a USING deleted_messages d
    WHERE a.message_id = d.id AND a.purge_at = d.purge_at;
    -- A writer storing another copy of the same mail holds its raw source's row until it
    -- commits (the insert's ON CONFLICT DO UPDATE locks it): wait for it, so that the check
    -- below, with the snapshot of its own statement, sees that copy's message.
    PERFORM 1 FROM raw_sources r
    JOIN (SELECT DISTINCT raw_sha256, purge_at FROM deleted_messages) d
      ON r.sha256 = d.raw_sha256 AND r.purge_at = d.purge_at
    ORDER BY r.sha256, r.purge_at
    FOR UPDATE OF r;
    DELETE FROM raw_sources r
    USING (SELECT DISTINCT raw_sha256, purge_at FROM deleted_messages) d
    WHERE r.sha256 = d.raw_sha256 AND r.purge_at = d.purge_at
      AND NOT EXISTS (SELECT 1 FROM messages m
                      WHERE m.raw_sha256 = r.sha256 AND m.purge_at = r.purge_at);
    RETURN NULL;
END $$;
