//! The test helper: an inbox that is deleted when the guard goes out of scope.

use std::ops::Deref;

use crate::{
    client::{Client, Inbox},
    error::{ErrorCode, Result},
    options::CreateInbox,
};

/// A fresh inbox for one test, deleted on drop (in the background: drop cannot wait).
/// Call [`InboxGuard::delete`] to delete it and see the outcome.
///
/// ```no_run
/// # async fn example() -> ephemail_client::Result<()> {
/// let client = ephemail_client::Client::from_env()?;
/// let inbox = client.temporary_inbox(Default::default()).await?;
/// let code = client.wait_for_code(ephemail_client::Wait::inbox(&inbox.id)).await?;
/// # Ok(()) }
/// ```
pub struct InboxGuard {
    client: Client,
    inbox: Option<Inbox>,
}

impl Client {
    /// A new inbox wrapped in a guard that deletes it when dropped.
    pub async fn temporary_inbox(&self, options: CreateInbox) -> Result<InboxGuard> {
        Ok(InboxGuard { client: self.clone(), inbox: Some(self.create_inbox(options).await?) })
    }
}

impl InboxGuard {
    /// Deletes the inbox now; one that is already gone counts as deleted.
    pub async fn delete(mut self) -> Result<()> {
        match self.inbox.take() {
            Some(inbox) => match self.client.delete_inbox(&inbox.id).await {
                Err(error) if error.code != ErrorCode::NotFound => Err(error),
                _ => Ok(()),
            },
            None => Ok(()),
        }
    }
}

impl Deref for InboxGuard {
    type Target = Inbox;

    fn deref(&self) -> &Inbox {
        // Only `delete` (which consumes the guard) takes the inbox out.
        self.inbox.as_ref().unwrap_or_else(|| unreachable!("inbox taken before drop"))
    }
}

impl Drop for InboxGuard {
    fn drop(&mut self) {
        if let (Some(inbox), Ok(runtime)) =
            (self.inbox.take(), tokio::runtime::Handle::try_current())
        {
            let client = self.client.clone();
            runtime.spawn(async move {
                let _ = client.delete_inbox(&inbox.id).await;
            });
        }
    }
}
