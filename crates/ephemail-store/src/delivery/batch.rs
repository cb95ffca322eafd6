//! What the group-commit writer ([`super::writer`]) and its memory of earlier batches
//! ([`super::remembered`]) share: the mails of a batch, its recipient inboxes, and the spans of
//! its statements.

use std::collections::{HashMap, HashSet};
use std::future::Future;

use tokio::sync::oneshot;
use tracing::{instrument::Instrumented, Instrument};
use uuid::Uuid;

use super::{envelope::Delivery, prepare::PreparedMail, queue::Arriving};
use crate::models::inbox::Inbox;

/// One mail for the writer, and where to send what became of it.
pub(super) struct Job {
    pub(super) mail: PreparedMail,
    pub(super) done: oneshot::Sender<anyhow::Result<Delivery>>,
    /// Its announcement, until the writer takes it.
    pub(super) arriving: Option<Arriving>,
}

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
