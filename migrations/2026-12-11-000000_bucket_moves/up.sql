-- A stored message's or attachment's id tells the expiry bucket it was stored in, and look-ups
-- by id read that bucket's partitions first. When an inbox's expiry moves its rows to another
-- bucket (`extendInbox`), a row records it here: rows stored in `from_bucket`, or moved into it
-- before, may now be in `to_bucket`. A look-up that misses the told bucket then reads the
-- buckets recorded for it, rather than every partition (tens of milliseconds with a week of
-- hourly buckets, for every id that is not there: deleted, mistyped, someone else's).
-- The sweeper forgets the moves into a bucket when it drops the bucket.
CREATE TABLE bucket_moves (
    from_bucket timestamptz NOT NULL,
    to_bucket timestamptz NOT NULL,
    PRIMARY KEY (from_bucket, to_bucket),
    CHECK (from_bucket <> to_bucket)
);
CREATE INDEX bucket_moves_to_bucket ON bucket_moves (to_bucket);
