//! One file per table: its row types and its queries.

pub mod api_key;
pub mod attachment;
pub mod domain;
pub mod inbox;
pub mod message;
pub mod raw_source;
pub mod server_secret;
pub mod tenant;

use chrono::{DateTime, Utc};
use diesel::QueryResult;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

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

/// Runs one of the sweeper's bounded deletes (`$1` a time, `$2` the row limit).
async fn delete_batch(
    conn: &mut AsyncPgConnection,
    statement: &str,
    time: DateTime<Utc>,
    limit: i64,
) -> QueryResult<usize> {
    diesel::sql_query(statement)
        .bind::<diesel::sql_types::Timestamptz, _>(time)
        .bind::<diesel::sql_types::BigInt, _>(limit)
        .execute(conn)
        .await
}
