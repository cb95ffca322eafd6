//! What the group-commit writer ([`super::writer`]) and its memory of earlier batches
//! ([`super::remembered`]) share: a batch's recipient inboxes, and the spans of its statements.

use std::collections::{HashMap, HashSet};
use std::future::Future;

use tracing::{instrument::Instrumented, Instrument};
use uuid::Uuid;

use crate::models::inbox::Inbox;

/// A span for one of the writer's database statements (or pipelined round trips), at debug
/// level: there are a few per batch, on the hot path.
pub(super) fn statement<F: Future>(name: &'static str, future: F) -> Instrumented<F> {
    future.instrument(tracing::debug_span!("db.statement", statement = name))
}

/// A batch's live recipient inboxes, by address, which of them the batch created, the expired
/// inboxes it replaced at catch-all addresses, and the catch-all addresses whose tenant had no
/// room for another inbox made by mail (with that tenant).
pub(super) struct BatchInboxes {
    pub(super) by_address: HashMap<String, Inbox>,
    pub(super) created: HashSet<Uuid>,
    pub(super) replaced: Vec<Uuid>,
    pub(super) over_catch_all_quota: HashMap<String, Uuid>,
}
