//! Query fragments that several tables' queries share: which inboxes (and so which messages
//! and attachments) a viewer may see, a message's join to its raw source, and search patterns.
//! Kept apart so that the models depend on this, not on each other.

use chrono::{DateTime, Utc};
use diesel::{pg::Pg, prelude::*, sql_types::Uuid as SqlUuid};

use super::Viewer;
use crate::schema::{inboxes, messages, raw_sources};

/// `expires_at > now`, in a form PostgreSQL cannot answer from the expiry index. With
/// statistics from before a wave of expiries (or a clock jump) it estimates that hardly any
/// inbox is live and walks that index through every live one, instead of finding the inbox by
/// its id, address or tenant.
pub fn live_at(
    now: DateTime<Utc>,
) -> Box<dyn BoxableExpression<inboxes::table, Pg, SqlType = diesel::sql_types::Bool>> {
    let no_time = diesel::pg::data_types::PgInterval::from_microseconds(0);
    Box::new((inboxes::expires_at + no_time).gt(now))
}

/// The live inboxes `viewer` may see: expired inboxes are invisible even before they are
/// deleted, and a tenant sees only its own.
pub fn visible(viewer: Viewer, now: DateTime<Utc>) -> inboxes::BoxedQuery<'static, Pg> {
    let query = inboxes::table.filter(live_at(now)).into_boxed();
    match viewer {
        Viewer::System => query,
        Viewer::Tenant(tenant_id) => query.filter(inboxes::tenant_id.eq(tenant_id)),
        Viewer::Inbox {
            tenant_id,
            inbox_id,
        } => query
            .filter(inboxes::tenant_id.eq(tenant_id))
            .filter(inboxes::id.eq(inbox_id)),
    }
}

/// `%text%` for ILIKE, with the pattern characters in `text` taken literally.
pub fn contains_pattern(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// The condition that a message's inbox is live and `viewer` may see it: a message disappears
/// with its inbox.
pub fn in_visible_inbox(
    viewer: Viewer,
    now: DateTime<Utc>,
) -> diesel::dsl::EqAny<messages::inbox_id, inboxes::BoxedQuery<'static, Pg, SqlUuid>> {
    messages::inbox_id.eq_any(visible(viewer, now).select(inboxes::id))
}

/// Join condition: a message's raw source, stored in the message's bucket.
pub fn source_of_message() -> diesel::dsl::And<
    diesel::dsl::Eq<raw_sources::sha256, messages::raw_sha256>,
    diesel::dsl::Eq<raw_sources::purge_at, messages::purge_at>,
> {
    raw_sources::sha256
        .eq(messages::raw_sha256)
        .and(raw_sources::purge_at.eq(messages::purge_at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_match_literally() {
        assert_eq!(contains_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }
}
