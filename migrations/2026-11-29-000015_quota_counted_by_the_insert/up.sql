-- The ingest writer counts a batch's mails against their tenants' quotas in the statement that
-- inserts them, pipelined with its COMMIT. When a tenant's mails do not all fit, that statement
-- raises this error: the transaction aborts, its COMMIT rolls back, and the writer stores the
-- batch again one mail at a time (see `message::insert_all`).
CREATE FUNCTION raise_quota_exceeded() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ephemail: a tenant''s quota would be exceeded';
END $$;
