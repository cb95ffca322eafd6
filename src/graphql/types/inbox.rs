use async_graphql::{Context, Object, Result, ID};
use chrono::{DateTime, Utc};

use super::message::{message_connection, MessageConnection};
use crate::{db::models::inbox as model, error::ApiResult};

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

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// After this instant the inbox is gone: it receives nothing and is no longer visible.
    async fn expires_at(&self) -> DateTime<Utc> {
        self.0.expires_at
    }

    /// The inbox's messages, newest first.
    async fn messages(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last message of the previous page.")] after: Option<String>,
    ) -> Result<MessageConnection> {
        message_connection(ctx, self.0.id, first, after).await.api()
    }
}
