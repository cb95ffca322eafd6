use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::schema::server_secrets;

/// The secret called `name`: the stored one, or `candidate` if none was stored yet. Several
/// processes starting at once all end up with the same value.
pub async fn get_or_insert(
    conn: &mut AsyncPgConnection,
    name: &str,
    candidate: &[u8],
    now: DateTime<Utc>,
) -> QueryResult<Vec<u8>> {
    diesel::insert_into(server_secrets::table)
        .values((
            server_secrets::name.eq(name),
            server_secrets::value.eq(candidate),
            server_secrets::created_at.eq(now),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    server_secrets::table
        .find(name)
        .select(server_secrets::value)
        .first(conn)
        .await
}
