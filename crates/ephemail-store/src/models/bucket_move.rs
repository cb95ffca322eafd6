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
use crate::{prepared::Prepared, schema::bucket_moves};

/// Records that the rows stored in `from`, and those moved into `from` before, may now be in
/// `to`. In the transaction that moves them, so that a look-up sees both or neither; in key
/// order, so that two moves into one bucket never wait for each other's rows crosswise.
pub(crate) async fn record(
    conn: &mut AsyncPgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> QueryResult<()> {
    Prepared::new(
        "INSERT INTO bucket_moves (from_bucket, to_bucket)
         SELECT from_bucket, $2 FROM bucket_moves WHERE to_bucket = $1 AND from_bucket <> $2
         UNION SELECT $1, $2
         ORDER BY 1
         ON CONFLICT DO NOTHING",
    )
    .bind::<Timestamptz, _>(from)
    .bind::<Timestamptz, _>(to)
    .execute(conn)
    .await
    .map(drop)
}

/// Past this many buckets to read one by one, a round reads every partition in one statement
/// instead (where inboxes are extended often, a bucket's rows may have gone to many).
const MOST_BUCKETS_ONE_BY_ONE: usize = 8;

/// Where the rows looked up by some ids may be, round by round: first the buckets their ids tell;
/// then the buckets recorded as moved to from those, read again after each round until they name
/// none not searched yet (so a row moved twice meanwhile is still found). An id looked for in
/// every partition (in one statement, so in one snapshot) is not looked for again.
pub(crate) struct Search {
    first: bool,
    searched: HashSet<MessageAt>,
    searched_anywhere: HashSet<Uuid>,
}

/// One round of a [`Search`]: each of `told` in its bucket's partition, `anywhere` in every
/// partition (ids that tell no bucket, from before ids told it, or that may be in too many).
pub(crate) struct Round {
    pub told: Vec<MessageAt>,
    pub anywhere: Vec<Uuid>,
}

impl Search {
    pub(crate) fn new() -> Self {
        Self {
            first: true,
            searched: HashSet::new(),
            searched_anywhere: HashSet::new(),
        }
    }

    /// Where to look next for `left`, the ids not found yet; `None` once nowhere is left.
    pub(crate) async fn next(
        &mut self,
        conn: &mut AsyncPgConnection,
        left: &[Uuid],
    ) -> QueryResult<Option<Round>> {
        let left = missing(left.iter().copied(), self.searched_anywhere.iter().copied());
        let told = MessageAt::told_by(&left);
        let round = if std::mem::take(&mut self.first) {
            let anywhere = missing(left, told.iter().map(|at| at.id));
            Round { told, anywhere }
        } else {
            let candidates: Vec<MessageAt> = (moves_from(conn, &told).await?.into_iter())
                .filter(|candidate| !self.searched.contains(candidate))
                .collect();
            if MessageAt::by_bucket(&candidates).len() > MOST_BUCKETS_ONE_BY_ONE {
                let mut anywhere: Vec<Uuid> = candidates.iter().map(|at| at.id).collect();
                anywhere.sort_unstable();
                anywhere.dedup();
                Round {
                    told: Vec::new(),
                    anywhere,
                }
            } else {
                Round {
                    told: candidates,
                    anywhere: Vec::new(),
                }
            }
        };
        self.searched.extend(round.told.iter().copied());
        self.searched_anywhere
            .extend(round.anywhere.iter().copied());
        Ok((!round.told.is_empty() || !round.anywhere.is_empty()).then_some(round))
    }
}

/// Where each of `told` may have moved to: an id with each bucket recorded for its own.
async fn moves_from(
    conn: &mut AsyncPgConnection,
    told: &[MessageAt],
) -> QueryResult<Vec<MessageAt>> {
    let stored_in: Vec<DateTime<Utc>> = MessageAt::by_bucket(told).into_keys().collect();
    if stored_in.is_empty() {
        return Ok(Vec::new());
    }
    let moves: Vec<(DateTime<Utc>, DateTime<Utc>)> = bucket_moves::table
        .filter(bucket_moves::from_bucket.eq_any(stored_in))
        .select((bucket_moves::from_bucket, bucket_moves::to_bucket))
        .load(conn)
        .await?;
    Ok((told.iter())
        .flat_map(|at| {
            (moves.iter())
                .filter(|(from, _)| *from == at.purge_at)
                .map(|&(_, to)| MessageAt {
                    id: at.id,
                    purge_at: to,
                })
        })
        .collect())
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
