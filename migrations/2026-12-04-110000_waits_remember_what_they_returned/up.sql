-- When a `waitForMessage` last returned the message (null: never). A wait without a cursor
-- returns the oldest message of the last `--wait-lookback` seconds that no wait has returned
-- yet, so two waits in a row get two mails and a test run never gets an earlier run's mail.
-- Nullable without a default: PostgreSQL adds it to every partition without rewriting a row.
ALTER TABLE messages ADD COLUMN waited_at timestamptz;
