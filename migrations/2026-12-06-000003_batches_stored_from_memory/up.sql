-- The ingest writer remembers the inboxes and tenants' limits of the batches it stored, so that
-- a batch to the same inboxes (or to new catch-all addresses) can be stored in one round trip
-- without reading them first. The batch's first statement checks what was remembered: every
-- inbox still live, in the same expiry bucket, and every tenant's limits unchanged. When one
-- is not, it raises this error: the transaction aborts and the writer reads them again (see
-- `message_insert::remembered_still_hold`).
CREATE FUNCTION raise_remembered_changed() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ephemail: a batch''s remembered inboxes or limits changed';
END $$;
