-- A tenant's stored bytes grow in the statement that counts its received mails against its
-- quotas (`quota::count_mails`, in the same transaction as the inserts), not in a trigger: the
-- trigger captured every inserted row (about 1 KB each) in a transition table only to sum one
-- column that ingest had already summed.
DROP TRIGGER messages_inserted_bytes ON messages;
DROP FUNCTION account_inserted_bytes();
