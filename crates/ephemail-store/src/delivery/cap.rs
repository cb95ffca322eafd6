//! The cap on each inbox's messages (`--max-messages-per-inbox`): which inboxes a batch trims to
//! it, and their bounds once it committed (migration `inbox_message_bounds`). Most batches trim
//! none, and so never read `messages` for it.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::models::inbox::Inbox;

/// Which inboxes a batch trims to the cap after its insert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Trim {
    /// Those whose bound, as the writer knows it, and copies come to more than the cap. The
    /// insert fails if another one goes past it: another process stored in it meanwhile.
    PastBound,
    /// Every inbox the batch did not make, which no bound can fail.
    Every,
}

/// The inboxes a batch stores copies in, each with how many, by id.
pub(super) struct Copies<'a>(BTreeMap<Uuid, (&'a Inbox, i32)>);

impl<'a> Copies<'a> {
    /// One item per copy.
    pub(super) fn of(copies: impl IntoIterator<Item = &'a Inbox>) -> Self {
        let mut per_inbox: BTreeMap<Uuid, (&Inbox, i32)> = BTreeMap::new();
        for inbox in copies {
            per_inbox.entry(inbox.id).or_insert((inbox, 0)).1 += 1;
        }
        Self(per_inbox)
    }

    /// The inboxes to trim after the insert, by `trim`, by expiry bucket. Those the batch
    /// `created` have no copies but its own.
    pub(super) fn to_trim(
        &self,
        created: &HashSet<Uuid>,
        keep: i32,
        trim: Trim,
    ) -> BTreeMap<DateTime<Utc>, Vec<Uuid>> {
        let mut to_trim: BTreeMap<DateTime<Utc>, Vec<Uuid>> = BTreeMap::new();
        for &(inbox, copies) in self.0.values() {
            let bound_holds = trim == Trim::PastBound || created.contains(&inbox.id);
            if !bound_holds || inbox.message_bound.saturating_add(copies) > keep {
                to_trim.entry(inbox.purge_at).or_default().push(inbox.id);
            }
        }
        to_trim
    }

    /// The inboxes' bounds once the batch committed: as the trim counted them, else as known
    /// plus the copies.
    pub(super) fn bounds_after(&self, trimmed: Vec<(Uuid, i32)>) -> HashMap<Uuid, i32> {
        let mut bounds: HashMap<Uuid, i32> = (self.0.iter())
            .map(|(&id, &(inbox, copies))| (id, inbox.message_bound.saturating_add(copies)))
            .collect();
        bounds.extend(trimmed);
        bounds
    }
}
