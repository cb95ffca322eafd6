//! Batched loading, so that listing messages with their attachments costs one query, not one
//! per message.

use std::{collections::HashMap, sync::Arc};

use async_graphql::dataloader::Loader;
use uuid::Uuid;

use crate::{
    app::App,
    db::models::attachment::{self, Attachment},
    error::AppError,
};

pub struct AttachmentLoader {
    app: App,
}

impl AttachmentLoader {
    pub fn new(app: App) -> Self {
        Self { app }
    }
}

/// Keyed by message id; every requested message gets an entry, empty when it has none.
impl Loader<Uuid> for AttachmentLoader {
    type Value = Vec<Attachment>;
    type Error = Arc<AppError>;

    async fn load(
        &self,
        message_ids: &[Uuid],
    ) -> Result<HashMap<Uuid, Vec<Attachment>>, Self::Error> {
        let mut conn = self.app.pool.get().await.map_err(|e| Arc::new(e.into()))?;
        let rows = attachment::for_messages(&mut conn, message_ids)
            .await
            .map_err(|e| Arc::new(e.into()))?;
        let mut by_message: HashMap<Uuid, Vec<Attachment>> =
            message_ids.iter().map(|id| (*id, Vec::new())).collect();
        for row in rows {
            by_message.entry(row.message_id).or_default().push(row);
        }
        Ok(by_message)
    }
}
