//! API keys.

use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use uuid::Uuid;

use ephemail_store::{events::EventBus, models::api_key};

/// Revokes key `id`; false if it did not exist or was already revoked. Work running under the
/// key stops in this process at once and in the other processes on the database when they hear
/// the notification sent with the revocation.
pub async fn revoke(
    conn: &mut AsyncPgConnection,
    events: &EventBus,
    id: Uuid,
    now: DateTime<Utc>,
) -> diesel::QueryResult<bool> {
    let revoked = conn
        .transaction(async |conn| {
            let revoked = api_key::revoke(conn, id, now).await?;
            if revoked {
                let revoked = ephemail_store::events::Changes {
                    revoked: &[id],
                    ..Default::default()
                };
                events.notify_others(conn, revoked).await?;
            }
            Ok::<_, diesel::result::Error>(revoked)
        })
        .await?;
    if revoked {
        events.key_revoked(id);
    }
    Ok(revoked)
}
