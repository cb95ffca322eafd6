//! `bucket_moves`, and the look-ups by id that follow them. A stored row's id tells the expiry
//! bucket it was stored in (see [`crate::ids`]), so a look-up by id reads that bucket's
//! partition first. When `extendInbox` moves an inbox's rows to another bucket, a row here says
//! so, and a look-up that missed reads the buckets moved to, each one partition, rather than
//! every partition of the table (tens of milliseconds with a week of hourly buckets, for every
//! id that is not there at all). Only ids from before ids told their bucket are looked up in
//! every bucket. The sweeper forgets the moves into a bucket as it drops it
//! ([`crate::partitions::drop_ended`]).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use diesel::{prelude::*, sql_types::Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::{missing, MessageAt};
use crate::schema::bucket_moves;

/// Records that the rows stored in `from`, and those moved into `from` before, may now be in
/// `to`. In the transaction that moves them, so that a look-up sees both or neither.
pub(crate) async fn record(
    conn: &mut AsyncPgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::sql_query(
        "INSERT INTO bucket_moves (from_bucket, to_bucket)
         SELECT from_bucket, $2 FROM bucket_moves WHERE to_bucket = $1 AND from_bucket <> $2
         UNION SELECT $1, $2
         ON CONFLICT DO NOTHING",
    )
    .bind::<Timestamptz, _>(from)
    .bind::<Timestamptz, _>(to)
    .execute(conn)
    .await
    .map(drop)
}

/// Where the rows looked up by some ids may be, round by round: first the buckets their ids tell;
/// then the buckets recorded as moved to from those, read again after each round until they name
/// none not searched yet (so a row moved twice meanwhile is still found).
pub(crate) struct Search {
    first: bool,
    searched: HashSet<MessageAt>,
}

/// One round of a [`Search`]: each of `told` in its bucket's partition, `anywhere` in every
/// partition (ids that tell no bucket: from before ids told it).
pub(crate) struct Round {
    pub told: Vec<MessageAt>,
    pub anywhere: Vec<Uuid>,
}

impl Search {
    pub(crate) fn new() -> Self {
        Self {
            first: true,
            searched: HashSet::new(),
        }
    }

    /// Where to look next for `left`, the ids not found yet; `None` once nowhere is left.
    pub(crate) async fn next(
        &mut self,
        conn: &mut AsyncPgConnection,
        left: &[Uuid],
    ) -> QueryResult<Option<Round>> {
        let told = MessageAt::told_by(left);
        let round = if std::mem::take(&mut self.first) {
            let anywhere = missing(left.iter().copied(), told.iter().map(|at| at.id));
            Round { told, anywhere }
        } else {
            let stored_in: Vec<DateTime<Utc>> = MessageAt::by_bucket(&told).into_keys().collect();
            let moves: Vec<(DateTime<Utc>, DateTime<Utc>)> = if stored_in.is_empty() {
                Vec::new()
            } else {
                bucket_moves::table
                    .filter(bucket_moves::from_bucket.eq_any(stored_in))
                    .select((bucket_moves::from_bucket, bucket_moves::to_bucket))
                    .load(conn)
                    .await?
            };
            let candidates = (told.iter())
                .flat_map(|at| {
                    (moves.iter())
                        .filter(|(from, _)| *from == at.purge_at)
                        .map(|&(_, to)| MessageAt {
                            id: at.id,
                            purge_at: to,
                        })
                })
                .filter(|candidate| !self.searched.contains(candidate))
                .collect();
            Round {
                told: candidates,
                anywhere: Vec::new(),
            }
        };
        self.searched.extend(round.told.iter().copied());
        Ok((!round.told.is_empty() || !round.anywhere.is_empty()).then_some(round))
    }
}

/// A [`Search`] for one id, a bucket at a time (`None`: every bucket).
pub(crate) struct BucketSearch {
    id: Uuid,
    search: Search,
    queued: Vec<Option<DateTime<Utc>>>,
}

impl BucketSearch {
    pub(crate) fn new(id: Uuid) -> Self {
        Self {
            id,
            search: Search::new(),
            queued: Vec::new(),
        }
    }

    /// The next bucket to look in; `None` once nowhere is left. Call only while not found.
    pub(crate) async fn next(
        &mut self,
        conn: &mut AsyncPgConnection,
    ) -> QueryResult<Option<Option<DateTime<Utc>>>> {
        if self.queued.is_empty() {
            let Some(round) = self.search.next(conn, &[self.id]).await? else {
                return Ok(None);
            };
            self.queued = (round.told.iter().map(|at| Some(at.purge_at)))
                .chain((!round.anywhere.is_empty()).then_some(None))
                .collect();
        }
        Ok(self.queued.pop())
    }
}
