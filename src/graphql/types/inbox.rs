use async_graphql::{Context, Object, Result, ID};
use chrono::{DateTime, Duration, Utc};

use super::{
    message::{
        encode_cursor, message_connection, page_complexity, MessageConnection, MessageFilterInput,
    },
    parse_id,
};
use crate::{
    auth::Scope,
    db::models::Viewer,
    db::models::{
        domain::{self, DomainMode},
        inbox as model, message,
    },
    error::{ApiResult, AppError},
    graphql::ContextExt,
    mail::address::EmailAddress,
};

/// A disposable mailbox: one address, until it expires.
pub struct Inbox(pub model::Inbox);

#[Object]
impl Inbox {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// The full address, lower-case.
    async fn address(&self) -> String {
        self.0.address()
    }

    async fn local_part(&self) -> &str {
        &self.0.local_part
    }

    async fn domain(&self) -> &str {
        &self.0.domain
    }

    /// Labels given at creation.
    async fn tags(&self) -> Vec<&str> {
        self.0.tags.iter().flatten().map(String::as_str).collect()
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// After this instant the inbox is gone: it receives nothing and is no longer visible.
    async fn expires_at(&self) -> DateTime<Utc> {
        self.0.expires_at
    }

    /// Cursor of the newest message (of the empty inbox, if none): pass it as `after` to
    /// `messageReceived` or `waitForMessage` to get exactly the messages stored from now on.
    async fn latest_cursor(&self, ctx: &Context<'_>) -> Result<String> {
        ctx.viewer(Scope::Read).api()?;
        let mut conn = ctx.app().pool.get().await.api()?;
        let seq = message::latest_seq(&mut conn, self.0.id).await.api()?;
        Ok(encode_cursor(seq))
    }

    /// The inbox's messages, newest first.
    #[graphql(complexity = "page_complexity(first, child_complexity)")]
    async fn messages(
        &self,
        ctx: &Context<'_>,
        filter: Option<MessageFilterInput>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last message of the previous page.")] after: Option<String>,
    ) -> Result<MessageConnection> {
        let viewer = ctx.viewer(Scope::Read).api()?;
        message_connection(ctx, viewer, self.0.id, filter.into(), first, after)
            .await
            .api()
    }
}

/// The live inbox named by `id` or `address` (exactly one must be given) that `viewer` may see,
/// or `NOT_FOUND`. With `create_on_catch_all`, an address on a catch-all domain of the viewer's
/// tenant names its inbox even before its first mail: the inbox is created, as the first mail
/// would.
pub async fn resolve(
    ctx: &Context<'_>,
    viewer: Viewer,
    id: Option<ID>,
    address: Option<String>,
    create_on_catch_all: bool,
) -> Result<model::Inbox, AppError> {
    let app = ctx.app();
    let now = app.clock.now();
    let mut conn = app.pool.get().await?;
    let found = match (id, address) {
        (Some(id), None) => model::find(&mut conn, viewer, parse_id(&id)?, now).await?,
        (None, Some(address)) => {
            let address =
                EmailAddress::parse(&address).map_err(|e| AppError::BadUserInput(e.to_string()))?;
            let local = &address.local;
            match model::find_by_address(&mut conn, viewer, local, &address.domain, now).await? {
                Some(inbox) => Some(inbox),
                None if create_on_catch_all => {
                    // Only the owner of a catch-all domain may call its inboxes into being.
                    match domain::find(&mut conn, address.domain.as_str()).await? {
                        Some(domain::Domain {
                            mode: DomainMode::CatchAll,
                            tenant_id: Some(owner),
                            ..
                        }) if Viewer::Tenant(owner) == viewer => {
                            let ttl = Duration::seconds(i64::from(app.config.inbox.default_ttl));
                            let (inbox, replaced) = model::find_or_create(
                                &mut conn,
                                &address,
                                owner,
                                now,
                                ttl,
                                &app.buckets,
                            )
                            .await?;
                            app.events.inboxes_deleted(&conn, &replaced).await;
                            Some(inbox)
                        }
                        _ => None,
                    }
                }
                None => None,
            }
        }
        _ => {
            return Err(AppError::BadUserInput(
                "give exactly one of the inbox's id and address".into(),
            ))
        }
    };
    found.ok_or(AppError::NotFound("inbox"))
}
