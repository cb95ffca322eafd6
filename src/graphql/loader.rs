//! Batched loading, so that listing messages with their attachments or contents (bodies,
//! header fields) costs one query for the page, not one per message. Both are keyed by message
//! id and bucket ([`MessageAt`]), of messages the request has already been allowed to see.

use std::{collections::HashMap, sync::Arc};

use async_graphql::dataloader::Loader;
use uuid::Uuid;

use crate::{api::Api, error::AppError};
use ephemail_mail::parse::MailContent;
use ephemail_store::models::{
    attachment::{self, Attachment},
    MessageAt,
};

fn failed(error: impl Into<AppError>) -> Arc<AppError> {
    Arc::new(error.into())
}

pub struct AttachmentLoader {
    app: Api,
}

impl AttachmentLoader {
    pub fn new(app: Api) -> Self {
        Self { app }
    }
}

/// Every requested message gets an entry, empty when it has none. Ask only for messages that
/// have attachments (`has_attachments`).
impl Loader<MessageAt> for AttachmentLoader {
    type Value = Vec<Attachment>;
    type Error = Arc<AppError>;

    async fn load(
        &self,
        messages: &[MessageAt],
    ) -> Result<HashMap<MessageAt, Vec<Attachment>>, Self::Error> {
        let mut conn = self.app.pool.get().await.map_err(failed)?;
        let rows = attachment::for_messages(&mut conn, messages)
            .await
            .map_err(failed)?;
        let mut by_message: HashMap<Uuid, Vec<Attachment>> = HashMap::new();
        for row in rows {
            by_message.entry(row.message_id).or_default().push(row);
        }
        Ok(messages
            .iter()
            .map(|message| {
                let rows = by_message.get(&message.id).cloned().unwrap_or_default();
                (*message, rows)
            })
            .collect())
    }
}

pub struct ContentLoader {
    app: Api,
}

impl ContentLoader {
    pub fn new(app: Api) -> Self {
        Self { app }
    }
}

/// Derived from raw sources ([`crate::content`]); a message deleted meanwhile has no entry.
impl Loader<MessageAt> for ContentLoader {
    type Value = Arc<MailContent>;
    type Error = Arc<AppError>;

    async fn load(
        &self,
        messages: &[MessageAt],
    ) -> Result<HashMap<MessageAt, Arc<MailContent>>, Self::Error> {
        let mut conn = self.app.pool.get().await.map_err(failed)?;
        let contents = (self.app.contents.load(&mut conn, messages).await)
            .map_err(|error| failed(AppError::Internal(error)))?;
        Ok(messages
            .iter()
            .filter_map(|message| Some((*message, contents.get(&message.id)?.clone())))
            .collect())
    }
}
