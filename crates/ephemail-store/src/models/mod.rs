//! One file per table: its row types and its queries (`quota`: the tenants' limits and their
//! `tenant_usage` counters; `filters`: query fragments several tables share).

pub mod api_key;
pub mod attachment;
pub mod bucket_move;
pub mod domain;
pub mod filters;
pub mod inbox;
pub mod message;
pub mod message_by_id;
pub mod message_insert;
pub mod quota;
pub mod raw_source;
pub mod server_secret;
pub mod tenant;
pub mod webhook;

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::ids;

/// Whose data a query may touch. Every query that serves a client takes one, so ownership is
/// enforced at the data layer, not only in resolvers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer {
    /// The server itself: SMTP ingest, the sweeper, the CLI.
    System,
    /// A tenant's API key: that tenant's data only.
    Tenant(Uuid),
    /// An inbox token: that one inbox only.
    Inbox { tenant_id: Uuid, inbox_id: Uuid },
}

/// Where an inbox's messages are, as last seen: the inbox and its expiry bucket (`purge_at`, the
/// partition its messages, attachments and raw sources are stored in). The message reads bind
/// the bucket as a parameter, so that PostgreSQL sets up that one partition's scan when it starts
/// the statement (given by a subquery, every partition's is set up). The bucket moves when the
/// inbox's expiry does (`inbox::set_expiry`): each read also tells which bucket the inbox is in,
/// and after a move reads again there and keeps the new bucket here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InboxBucket {
    pub inbox_id: Uuid,
    pub purge_at: DateTime<Utc>,
}

/// A message's id and the expiry bucket it was read from, where its attachments and raw source
/// are unless its inbox has moved since.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MessageAt {
    pub id: Uuid,
    pub purge_at: DateTime<Utc>,
}

impl MessageAt {
    /// Those of `ids` that tell the bucket they were stored in (see [`crate::ids`]).
    pub fn told_by(ids: &[Uuid]) -> Vec<Self> {
        (ids.iter())
            .filter_map(|&id| {
                let purge_at = ids::bucket_of(id)?;
                Some(Self { id, purge_at })
            })
            .collect()
    }

    /// The ids of `messages` per bucket: a statement per bucket, each on one partition.
    pub fn by_bucket(messages: &[Self]) -> BTreeMap<DateTime<Utc>, Vec<Uuid>> {
        let mut buckets: BTreeMap<DateTime<Utc>, Vec<Uuid>> = BTreeMap::new();
        for message in messages {
            buckets
                .entry(message.purge_at)
                .or_default()
                .push(message.id);
        }
        buckets
    }

    /// The ids of `messages` that are not among `found`.
    pub fn missing(messages: &[Self], found: impl IntoIterator<Item = Uuid>) -> Vec<Uuid> {
        missing(messages.iter().map(|message| message.id), found)
    }
}

/// Those of `ids` that are not among `found`.
pub fn missing(
    ids: impl IntoIterator<Item = Uuid>,
    found: impl IntoIterator<Item = Uuid>,
) -> Vec<Uuid> {
    let found: HashSet<Uuid> = found.into_iter().collect();
    ids.into_iter().filter(|id| !found.contains(id)).collect()
}
