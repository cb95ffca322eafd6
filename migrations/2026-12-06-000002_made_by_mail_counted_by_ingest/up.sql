-- Inboxes are made by mail only by the ingest writer's statement, which now counts them itself
-- (`inbox::find_or_insert`). The statement trigger did the same work through PL/pgSQL for every
-- batch: 7 % of the writer's PostgreSQL CPU in a catch-all profile (bench/ingest-profile with
-- perf). Deletions, which come from many places (the sweeper, the API, a removed domain or
-- tenant), keep their trigger.
DROP TRIGGER inboxes_made_by_mail_counted ON inboxes;
