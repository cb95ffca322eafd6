//! Ids of stored messages and attachments. Such an id starts with the millisecond it was made
//! in (as a UUIDv7 does), so rows arrive in id order and their primary keys' inserts go to the
//! rightmost pages. It also tells the expiry bucket its row was stored in (a UUIDv8 of this
//! layout), so that a look-up by id alone reads that bucket's partition instead of every
//! bucket's: with a week of hourly buckets, PostgreSQL spent 15 to 100 ms planning the 168
//! partitions of such a look-up, or 1 to 3 ms running a generic plan over them.
//!
//! The row may have moved since, when its inbox's expiry moved it to another bucket, and ids
//! made before this layout (UUIDv7) tell no bucket: look-ups search every bucket for those.
//!
//! Layout, in bytes: 0-5 the Unix time in milliseconds; 6-8 random (less the version and
//! variant bits); 9-12 the bucket's Unix time in seconds; 13-15 random. The 42 random bits
//! keep ids unguessable within a millisecond (and every read checks the viewer anyway).

use chrono::{DateTime, Utc};
use uuid::{Builder, Uuid};

const BUCKET: std::ops::Range<usize> = 9..13;

/// A new id for a row stored at `now` in the bucket `purge_at`. A bucket that is not a whole
/// second within `u32`'s range gets a UUIDv7, which tells none.
pub fn stored(now: DateTime<Utc>, purge_at: DateTime<Utc>) -> Uuid {
    let millis = u64::try_from(now.timestamp_millis()).unwrap_or_default();
    let mut bytes: [u8; 16] = rand::random();
    let whole_second = purge_at.timestamp_subsec_nanos() == 0;
    let Some(bucket) = u32::try_from(purge_at.timestamp())
        .ok()
        .filter(|_| whole_second)
    else {
        let random = bytes[6..].try_into().unwrap_or_default();
        return Builder::from_unix_timestamp_millis(millis, &random).into_uuid();
    };
    bytes[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
    bytes[BUCKET].copy_from_slice(&bucket.to_be_bytes());
    Builder::from_custom_bytes(bytes).into_uuid()
}

/// The bucket `id` was stored in, if it tells one (see the module's note).
pub fn bucket_of(id: Uuid) -> Option<DateTime<Utc>> {
    if id.get_version_num() != 8 {
        return None;
    }
    let seconds = u32::from_be_bytes(id.as_bytes()[BUCKET].try_into().ok()?);
    DateTime::from_timestamp(i64::from(seconds), 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64, nanos: u32) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, nanos).unwrap_or_default()
    }

    #[test]
    fn ids_of_later_rows_sort_after_earlier_ones_and_differ_within_an_instant() {
        let (now, bucket) = (at(1_796_000_000, 5_000_000), at(1_796_003_600, 0));
        let (first, second) = (stored(now, bucket), stored(now, bucket));
        assert_ne!(first, second);
        let later = stored(now + chrono::Duration::milliseconds(1), bucket);
        assert!(later > first && later > second);
    }

    #[test]
    fn an_id_tells_its_bucket() {
        let now = at(1_796_000_000, 5_000_000);
        for bucket in [at(1_796_003_600, 0), at(0, 0), at(i64::from(u32::MAX), 0)] {
            let id = stored(now, bucket);
            assert_eq!(id.get_version_num(), 8);
            assert_eq!(bucket_of(id), Some(bucket));
        }
    }

    #[test]
    fn a_bucket_an_id_cannot_hold_gets_an_id_that_tells_none() {
        let now = at(1_796_000_000, 5_000_000);
        for bucket in [at(1_796_003_600, 1_000), at(i64::from(u32::MAX) + 1, 0)] {
            let id = stored(now, bucket);
            assert_eq!(id.get_version_num(), 7);
            assert_eq!(bucket_of(id), None);
        }
        assert_eq!(bucket_of(Uuid::new_v4()), None);
    }
}
