//! The domains ephemail receives mail for.

use chrono::{DateTime, Utc};
use diesel::QueryResult;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use uuid::Uuid;

use ephemail_mail::address::DomainName;
use ephemail_store::{
    events::{Changes, EventBus},
    models::{
        domain::{self, Domain, DomainMode},
        Viewer,
    },
};

pub enum AddOutcome {
    /// Served now as the domain says (its `created_at` is that of this call, also when it was
    /// served before and only changed).
    Added(Domain),
    /// A catch-all domain creates inboxes by itself, so it belongs to a tenant.
    CatchAllNeedsTenant,
}

/// Serves `name` in `mode`, private to the tenant `owner` or shared by all tenants; a domain
/// served already gets the new mode and owner.
pub async fn add(
    conn: &mut AsyncPgConnection,
    name: &DomainName,
    mode: DomainMode,
    owner: Option<Uuid>,
    now: DateTime<Utc>,
) -> QueryResult<AddOutcome> {
    if mode == DomainMode::CatchAll && owner.is_none() {
        return Ok(AddOutcome::CatchAllNeedsTenant);
    }
    let added = Domain {
        name: name.as_str().to_owned(),
        mode,
        created_at: now,
        tenant_id: owner,
    };
    domain::upsert(conn, &added).await?;
    Ok(AddOutcome::Added(added))
}

/// The domains `viewer` may create inboxes on, by name: all of them for the system.
pub async fn list(conn: &mut AsyncPgConnection, viewer: Viewer) -> QueryResult<Vec<Domain>> {
    domain::list(conn, viewer).await
}

/// Stops serving the domain `name` (in any case) and deletes its inboxes (their messages, no
/// longer readable, go with their expiry buckets); false if it was not served. The inboxes'
/// subscribers and waits end with `NOT_FOUND`, here and, through the notification sent with the
/// removal, in the other processes on the database.
pub async fn remove(
    conn: &mut AsyncPgConnection,
    events: &EventBus,
    name: &str,
) -> QueryResult<bool> {
    let name = name.to_ascii_lowercase();
    let inboxes = conn
        .transaction(async |conn| {
            let inboxes = domain::delete(conn, &name).await?;
            if let Some(deleted) = &inboxes {
                let deleted = Changes {
                    deleted,
                    ..Default::default()
                };
                events.notify_others(conn, deleted).await?;
            }
            Ok::<_, diesel::result::Error>(inboxes)
        })
        .await?;
    for &id in inboxes.iter().flatten() {
        events.inbox_deleted(id);
    }
    Ok(inboxes.is_some())
}
