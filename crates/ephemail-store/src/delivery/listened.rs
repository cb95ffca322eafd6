//! The events of mail stored in inboxes that have listeners in this process carry the message
//! and the `seq` of the inbox's message before it, so that a subscriber that has everything up
//! to that one takes the message from the event instead of reading it from the database (see
//! [`crate::events::MessageStored::follows`]). Only those inboxes' copies are built and looked
//! up; the others' events stay bare.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use diesel::QueryResult;
use diesel_async::AsyncPgConnection;
use futures::future::try_join_all;
use uuid::Uuid;

use crate::{events::MessageStored, models::message_insert};

/// A batch's listened inboxes: per inbox, its expiry bucket and how many copies it gets.
#[derive(Default)]
pub(super) struct Listened(HashMap<Uuid, (DateTime<Utc>, i32)>);

impl Listened {
    /// Of `copies` (inbox and its bucket, one per copy), those that `is_listened`.
    pub(super) fn of(
        copies: impl IntoIterator<Item = (Uuid, DateTime<Utc>)>,
        is_listened: impl Fn(Uuid) -> bool,
    ) -> Self {
        let mut listened: HashMap<Uuid, (DateTime<Utc>, i32)> = HashMap::new();
        for (inbox_id, purge_at) in copies {
            if let Some((_, count)) = listened.get_mut(&inbox_id) {
                *count += 1;
            } else if is_listened(inbox_id) {
                listened.insert(inbox_id, (purge_at, 1));
            }
        }
        Self(listened)
    }

    pub(super) fn contains(&self, inbox_id: Uuid) -> bool {
        self.0.contains_key(&inbox_id)
    }

    /// Each listened inbox's newest `seq`s, one more than its copies: read after the insert, in
    /// its transaction, a statement per expiry bucket (pipelined).
    pub(super) async fn newest(&self, conn: &AsyncPgConnection) -> QueryResult<Vec<(Uuid, i64)>> {
        let mut by_bucket: BTreeMap<DateTime<Utc>, Vec<(Uuid, i32)>> = BTreeMap::new();
        for (&inbox_id, &(purge_at, copies)) in &self.0 {
            by_bucket
                .entry(purge_at)
                .or_default()
                .push((inbox_id, copies + 1));
        }
        let newest = (by_bucket.iter())
            .map(|(&purge_at, inboxes)| message_insert::newest_seqs(conn, purge_at, inboxes));
        Ok(try_join_all(newest).await?.into_iter().flatten().collect())
    }

    /// Sets each listened event's `previous` from its inbox's `newest` seqs: the next older
    /// one, or 0 when the inbox has no older message. Left unset when that is not known (a
    /// copy the batch itself deleted from an overfull inbox, or one whose predecessor is
    /// beyond what was read).
    pub(super) fn link<'e>(
        &self,
        newest: Vec<(Uuid, i64)>,
        events: impl IntoIterator<Item = &'e mut MessageStored>,
    ) {
        let mut per_inbox: HashMap<Uuid, Vec<i64>> = HashMap::new();
        for (inbox_id, seq) in newest {
            per_inbox.entry(inbox_id).or_default().push(seq);
        }
        for seqs in per_inbox.values_mut() {
            seqs.sort_unstable_by(|a, b| b.cmp(a));
        }
        for event in events {
            let (Some(&(_, copies)), Some(seqs)) =
                (self.0.get(&event.inbox_id), per_inbox.get(&event.inbox_id))
            else {
                continue;
            };
            let Some(position) = seqs.iter().position(|&seq| seq == event.seq) else {
                continue;
            };
            event.previous = match seqs.get(position + 1) {
                Some(&previous) => Some(previous),
                // Fewer than were asked for: the inbox has nothing older.
                None if seqs.len() <= usize::try_from(copies).unwrap_or(usize::MAX) => Some(0),
                None => None,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(inbox_id: Uuid, seq: i64) -> MessageStored {
        MessageStored::bare(inbox_id, seq)
    }

    #[test]
    fn each_copy_is_linked_to_the_inbox_s_message_before_it() {
        let (busy, fresh, other) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let bucket = DateTime::UNIX_EPOCH;
        let listened = Listened::of(
            [
                (busy, bucket),
                (busy, bucket),
                (fresh, bucket),
                (other, bucket),
            ],
            |inbox| inbox != other,
        );
        assert!(listened.contains(busy) && listened.contains(fresh) && !listened.contains(other));
        // `busy` had message 3 before this batch's 7 and 9; `fresh` had none before its 8.
        let newest = vec![(busy, 7), (fresh, 8), (busy, 3), (busy, 9)];
        let mut events = [
            event(busy, 7),
            event(busy, 9),
            event(fresh, 8),
            event(other, 10),
        ];
        listened.link(newest, &mut events);
        let previous: Vec<Option<i64>> = events.iter().map(|e| e.previous).collect();
        assert_eq!(previous, [Some(3), Some(7), Some(0), None]);
    }

    #[test]
    fn a_predecessor_beyond_what_was_read_is_left_unknown() {
        let inbox = Uuid::new_v4();
        let bucket = DateTime::UNIX_EPOCH;
        let listened = Listened::of([(inbox, bucket), (inbox, bucket)], |_| true);
        // Three seqs were asked for; the batch's copy 5 was deleted (an overfull inbox), so the
        // oldest one read, 2, may have an older one before it.
        let mut events = [event(inbox, 5), event(inbox, 6), event(inbox, 2)];
        listened.link(vec![(inbox, 6), (inbox, 4), (inbox, 2)], &mut events);
        let previous: Vec<Option<i64>> = events.iter().map(|e| e.previous).collect();
        assert_eq!(previous, [None, Some(4), None]);
    }
}
