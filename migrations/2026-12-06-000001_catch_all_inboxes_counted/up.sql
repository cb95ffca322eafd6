-- The catch-all quota (`--quota-catch-all-inboxes`) counted a tenant's live inboxes made by
-- mail for every new address: one index entry (and, for rows not yet all-visible, one heap
-- fetch) per inbox, so creating an inbox got slower as a tenant had more, to 350 µs of
-- PostgreSQL per mail at 5,000 (bench/ingest-profile). A counter per tenant now answers first.
-- It counts the inboxes made by mail that exist, live or expired and not yet deleted: never
-- fewer than the live ones, so below the limit it admits exactly what the count admitted, and
-- only at the limit is the live count taken as before.
ALTER TABLE tenant_usage ADD COLUMN mail_inboxes integer NOT NULL DEFAULT 0;
UPDATE tenant_usage u
SET mail_inboxes = (SELECT count(*) FROM inboxes i
                    WHERE i.tenant_id = u.tenant_id AND i.created_by_mail);

-- Statement triggers, so every way an inbox comes or goes keeps the count (ingest, the API,
-- the sweeper, a removed domain or tenant). Counters rows are locked in tenant order, as every
-- writer of them locks them.
CREATE FUNCTION count_inboxes_made_by_mail() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    -- +1 for each inbox inserted, -1 for each deleted; both triggers name their rows `changed`.
    delta CONSTANT integer := CASE TG_OP WHEN 'INSERT' THEN 1 ELSE -1 END;
BEGIN
    WITH made AS (
        SELECT tenant_id, count(*) AS n FROM changed WHERE created_by_mail GROUP BY tenant_id),
    locked AS (
        SELECT u.tenant_id FROM tenant_usage u JOIN made USING (tenant_id)
        ORDER BY u.tenant_id FOR NO KEY UPDATE OF u)
    UPDATE tenant_usage u SET mail_inboxes = u.mail_inboxes + delta * made.n
    FROM made JOIN locked USING (tenant_id)
    WHERE u.tenant_id = made.tenant_id;
    RETURN NULL;
END $$;

CREATE TRIGGER inboxes_made_by_mail_counted AFTER INSERT ON inboxes
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION count_inboxes_made_by_mail();
CREATE TRIGGER inboxes_made_by_mail_uncounted AFTER DELETE ON inboxes
    REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION count_inboxes_made_by_mail();

-- One index per tenant where there were two (every inbox made by mail updated both): by
-- tenant, whether made by mail, and expiry, it serves what each served (a tenant's inboxes, its
-- live ones made by mail or through the API, and the cascade when a tenant goes).
CREATE INDEX inboxes_tenant_made_by_mail_expiry_idx ON inboxes (tenant_id, created_by_mail, expires_at);
DROP INDEX inboxes_tenant_idx;
DROP INDEX inboxes_created_by_mail_idx;
