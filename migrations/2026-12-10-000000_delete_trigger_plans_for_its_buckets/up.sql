-- The delete trigger's statements name their bucket as a variable, which PL/pgSQL binds as a
-- parameter of plans it keeps for the session. PostgreSQL plans such a statement for its
-- values (pruned to the bucket's partitions) in its first five runs, then makes a generic plan
-- once to compare, over every partition of `attachments`, `raw_sources` and `messages`: 190 to
-- 260 ms with a week of hourly buckets, in the sixth `deleteMessage` on each connection
-- (`bench/by-id`). Plans for the values every run spare that; PostgreSQL would keep choosing
-- them over the generic plan with that many partitions anyway. A function's own setting is
-- restored when it returns, whatever happens in it. A later CREATE OR REPLACE of the function
-- must repeat this SET clause, or it is gone.
ALTER FUNCTION messages_deleted() SET plan_cache_mode = force_custom_plan;
