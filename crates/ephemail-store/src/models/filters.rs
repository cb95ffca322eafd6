//! Query fragments that several tables' queries share: which inboxes (and so which messages
//! and attachments) a viewer may see, a message's join to its raw source, and search patterns.
//! Kept apart so that the models depend on this, not on each other.

use chrono::{DateTime, Utc};
use diesel::{
    pg::Pg,
    prelude::*,
    sql_types::{Nullable, Timestamptz, Uuid as SqlUuid},
};

use super::Viewer;
use crate::{
    prepared::Prepared,
    schema::{inboxes, messages, raw_sources},
};

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

/// [`visible`] for prepared statements on `inboxes`: the inbox is live at `$2` and visible to
/// a viewer limited to tenant `$3` and to inbox `$4`, each NULL when it is not limited
/// ([`bind_viewer`] binds them; `$1` is the statement's own).
macro_rules! visible_at_2_to_4 {
    () => {
        "expires_at + interval '0' > $2 AND ($3::uuid IS NULL OR tenant_id = $3)
         AND ($4::uuid IS NULL OR id = $4)"
    };
}
pub(crate) use visible_at_2_to_4;

/// Binds `$2` to `$4` of a statement with [`visible_at_2_to_4`], after its `$1`.
pub fn bind_viewer(
    statement: Prepared<'static>,
    viewer: Viewer,
    now: DateTime<Utc>,
) -> Prepared<'static> {
    let (tenant_id, only_inbox) = match viewer {
        Viewer::System => (None, None),
        Viewer::Tenant(tenant_id) => (Some(tenant_id), None),
        Viewer::Inbox {
            tenant_id,
            inbox_id,
        } => (Some(tenant_id), Some(inbox_id)),
    };
    statement
        .bind::<Timestamptz, _>(now)
        .bind::<Nullable<SqlUuid>, _>(tenant_id)
        .bind::<Nullable<SqlUuid>, _>(only_inbox)
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

/// Join condition: the raw source a message shares, stored in the message's bucket.
pub fn source_of_message() -> diesel::dsl::And<
    diesel::dsl::Eq<diesel::dsl::Nullable<raw_sources::sha256>, messages::raw_sha256>,
    diesel::dsl::Eq<raw_sources::purge_at, messages::purge_at>,
> {
    (raw_sources::sha256.nullable())
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
