use async_graphql::{Context, ErrorExtensions, Object, Result, ID};

use crate::{
    db::models::inbox,
    error::{ApiResult, AppError},
    graphql::{
        types::{inbox::Inbox, parse_id},
        ContextExt,
    },
    mail::address::EmailAddress,
};

#[derive(Default)]
pub struct InboxQuery;

#[Object]
impl InboxQuery {
    /// A live inbox, by `id` or by `address` (give exactly one); null if none.
    async fn inbox(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
        address: Option<String>,
    ) -> Result<Option<Inbox>> {
        let app = ctx.app();
        let now = app.clock.now();
        let mut conn = app.pool.get().await.api()?;
        let found = match (id, address) {
            (Some(id), None) => inbox::find(&mut conn, parse_id(&id).api()?, now).await,
            (None, Some(address)) => {
                let address = EmailAddress::parse(&address)
                    .map_err(|e| AppError::BadUserInput(e.to_string()))
                    .api()?;
                inbox::find_by_address(&mut conn, &address.local, &address.domain, now).await
            }
            _ => {
                return Err(
                    AppError::BadUserInput("give exactly one of `id` and `address`".into())
                        .extend(),
                )
            }
        };
        Ok(found.api()?.map(Inbox))
    }
}
