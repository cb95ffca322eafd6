//! The client: one generated operation per method, plus the cursor each wait continues after.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use cynic::{GraphQlResponse, MutationBuilder, Operation, QueryBuilder};
use serde::{de::DeserializeOwned, Serialize};
use tokio::sync::OnceCell;

use crate::{
    error::{Error, ErrorCode, Result},
    generated::{
        self, CreateInboxInput, CreateInboxStatus, CreateInboxVariables, DeleteInboxVariables,
        DeleteMessageVariables, DeleteStatus, ExtendInboxInput, ExtendInboxStatus,
        ExtendInboxVariables, InboxFields, MessageVariables, MessagesVariables,
        WaitForMessageVariables,
    },
    options::{CreateInbox, Filter, Target, Wait},
};

const DEFAULT_MAX_RETRIES: u32 = 3;

/// A message as the server returns it.
pub type Message = generated::MessageFields;

/// An inbox; `token` (from `create_inbox`) reads and deletes this inbox only.
#[derive(Debug, Clone)]
pub struct Inbox {
    pub id: String,
    pub address: String,
    pub local_part: String,
    pub domain: String,
    pub tags: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Pass as `after` to get exactly the messages stored from when the inbox was read.
    pub latest_cursor: String,
    pub token: Option<String>,
}

impl Inbox {
    fn new(fields: InboxFields, token: Option<String>) -> Self {
        Self {
            id: fields.id.into_inner(),
            address: fields.address,
            local_part: fields.local_part,
            domain: fields.domain,
            tags: fields.tags,
            created_at: fields.created_at,
            expires_at: fields.expires_at,
            latest_cursor: fields.latest_cursor,
            token,
        }
    }
}

/// The ephemail client. Cheap to clone: clones share the connection pool and the cursors.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) url: String,
    pub(crate) api_key: Option<String>,
    http: reqwest::Client,
    max_retries: u32,
    /// Per inbox (by id, or by address when only that is known): the cursor the next wait
    /// continues after.
    cursors: Mutex<HashMap<Target, String>>,
    ids_by_address: Mutex<HashMap<String, String>>,
    default_domain: OnceCell<String>,
}

impl Client {
    /// `url` is the server's base URL (`http://127.0.0.1:8080`), `api_key` an API key or an
    /// inbox token.
    pub fn new(url: impl Into<String>, api_key: impl Into<String>) -> Self {
        Self::build(url.into(), Some(api_key.into()), DEFAULT_MAX_RETRIES)
    }

    /// From `EPHEMAIL_URL` and `EPHEMAIL_API_KEY` (the key may be unset).
    pub fn from_env() -> Result<Self> {
        let url = std::env::var("EPHEMAIL_URL")
            .map_err(|_| Error::new(ErrorCode::BadUserInput, "EPHEMAIL_URL is not set"))?;
        let api_key = std::env::var("EPHEMAIL_API_KEY").ok();
        Ok(Self::build(url, api_key, DEFAULT_MAX_RETRIES))
    }

    fn build(url: String, api_key: Option<String>, max_retries: u32) -> Self {
        Self {
            inner: Arc::new(Inner {
                url: url.trim_end_matches('/').to_owned(),
                api_key,
                http: reqwest::Client::new(),
                max_retries,
                cursors: Mutex::default(),
                ids_by_address: Mutex::default(),
                default_domain: OnceCell::new(),
            }),
        }
    }

    /// How often HTTP 429 is retried after its `Retry-After` (default 3). A new client: the
    /// cursors start empty.
    pub fn with_max_retries(self, max_retries: u32) -> Self {
        Self::build(self.inner.url.clone(), self.inner.api_key.clone(), max_retries)
    }

    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// Sends a request, retrying HTTP 429 after its `Retry-After` up to the bound.
    async fn send(
        &self,
        request: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response> {
        let mut attempt = 0;
        loop {
            let mut builder = request();
            if let Some(key) = &self.inner.api_key {
                builder = builder.bearer_auth(key);
            }
            let response = builder.send().await?;
            if response.status() != reqwest::StatusCode::TOO_MANY_REQUESTS
                || attempt >= self.inner.max_retries
            {
                return Ok(response);
            }
            tokio::time::sleep(Duration::from_secs(retry_after(&response).unwrap_or(1))).await;
            attempt += 1;
        }
    }

    /// Runs one generated operation; GraphQL errors become an [`Error`].
    pub async fn run<Response, Variables>(
        &self,
        operation: Operation<Response, Variables>,
    ) -> Result<Response>
    where
        Response: DeserializeOwned,
        Variables: Serialize,
    {
        let url = format!("{}/graphql", self.inner.url);
        let response = self.send(|| self.inner.http.post(&url).json(&operation)).await?;
        let status = response.status().as_u16();
        let retry = retry_after(&response);
        let body: GraphQlResponse<Response, serde_json::Value> = response
            .json()
            .await
            .map_err(|_| Error::from_http_status(status, "POST /graphql", retry))?;
        if let Some(error) = body.errors.as_ref().and_then(|errors| errors.first()) {
            return Err(Error::from_graphql(error));
        }
        body.data.ok_or_else(|| Error::from_http_status(status, "POST /graphql", retry))
    }

    /// A new inbox; any status but `CREATED` is an error carrying that `status`.
    pub async fn create_inbox(&self, options: CreateInbox) -> Result<Inbox> {
        let domain = match &options.domain {
            Some(domain) => domain.clone(),
            None => self.first_domain().await?,
        };
        let payload = self
            .run(generated::CreateInbox::build(CreateInboxVariables {
                input: CreateInboxInput {
                    domain: &domain,
                    local_part: options.local_part.as_deref(),
                    tags: options.tags.iter().map(String::as_str).collect(),
                    ttl_seconds: options.ttl_seconds,
                },
            }))
            .await?
            .create_inbox;
        let inbox = match (payload.status, payload.inbox) {
            (CreateInboxStatus::Created, Some(inbox)) => Inbox::new(inbox, payload.token),
            (status, _) => {
                return Err(Error::new(
                    ErrorCode::BadUserInput,
                    format!("create_inbox: {status:?}"),
                )
                .with_status(status))
            }
        };
        self.lock_cursors().insert(Target::Id(inbox.id.clone()), inbox.latest_cursor.clone());
        self.lock_ids().insert(inbox.address.clone(), inbox.id.clone());
        Ok(inbox)
    }

    async fn first_domain(&self) -> Result<String> {
        self.inner
            .default_domain
            .get_or_try_init(|| async {
                let domains = self.run(generated::Domains::build(())).await?.domains;
                domains.into_iter().next().map(|domain| domain.name).ok_or_else(|| {
                    Error::new(
                        ErrorCode::NotFound,
                        "the server serves no domain this caller may use",
                    )
                })
            })
            .await
            .cloned()
    }

    fn lock_cursors(&self) -> std::sync::MutexGuard<'_, HashMap<Target, String>> {
        self.inner.cursors.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock_ids(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.inner.ids_by_address.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The key the cursor of `target` is kept under: an inbox this client created by its id.
    fn cursor_key(&self, target: &Target) -> Target {
        match target {
            Target::Address(address) => {
                let address = address.to_lowercase();
                match self.lock_ids().get(&address) {
                    Some(id) => Target::Id(id.clone()),
                    None => Target::Address(address),
                }
            }
            Target::Id(_) => target.clone(),
        }
    }

    /// The cursor the next wait on `target` continues after, if this client holds one.
    pub(crate) fn known_cursor(&self, target: &Target) -> Option<String> {
        let key = self.cursor_key(target);
        self.lock_cursors().get(&key).cloned()
    }

    /// The next message after the inbox was created or after this client's previous wait on it
    /// (without either, the server's default); `TIMEOUT` when none arrives in time.
    pub async fn wait_for_message(&self, wait: Wait) -> Result<Message> {
        let key = self.cursor_key(&wait.target);
        let after = self.lock_cursors().get(&key).cloned();
        let id = wait.target.id();
        let filter = wait.filter.as_ref().map(Filter::variables);
        let message = self
            .run(generated::WaitForMessage::build(WaitForMessageVariables {
                inbox_id: id.as_ref(),
                address: wait.target.address(),
                after: after.as_deref(),
                filter,
                mark_seen: wait.mark_seen,
                timeout_ms: Some(i32::try_from(wait.timeout_ms).unwrap_or(i32::MAX)),
            }))
            .await?
            .wait_for_message
            .ok_or_else(|| Error::new(ErrorCode::Timeout, "no message arrived in time"))?;
        self.lock_cursors().insert(key, message.cursor.clone());
        Ok(message)
    }

    /// Waits for messages until one has a code, and returns its best code.
    pub async fn wait_for_code(&self, wait: Wait) -> Result<String> {
        let message = self.wait_for_matching(wait, |message| !message.codes.is_empty()).await?;
        Ok(message.codes.into_iter().next().unwrap_or_default())
    }

    /// Waits for messages until one has a link (matching [`Wait::link_matching`], if set), and
    /// returns its href.
    pub async fn wait_for_link(&self, wait: Wait) -> Result<String> {
        let pattern = wait.link_match.clone();
        let matching = move |message: &Message| {
            message
                .links
                .iter()
                .find(|link| pattern.as_ref().is_none_or(|pattern| pattern.is_match(&link.href)))
                .map(|link| link.href.clone())
        };
        let message = self.wait_for_matching(wait, |message| matching(message).is_some()).await?;
        Ok(matching(&message).unwrap_or_default())
    }

    async fn wait_for_matching(
        &self,
        wait: Wait,
        accept: impl Fn(&Message) -> bool,
    ) -> Result<Message> {
        let deadline = Instant::now() + Duration::from_millis(wait.timeout_ms.into());
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let timeout_ms = u32::try_from(remaining.as_millis()).unwrap_or(u32::MAX).max(1);
            let message = self.wait_for_message(wait.clone().timeout_ms(timeout_ms)).await?;
            if accept(&message) {
                return Ok(message);
            }
        }
    }

    /// One page of the inbox's messages, newest first, and the cursor of the next page.
    pub async fn messages_page(
        &self,
        inbox_id: &str,
        filter: Option<&Filter>,
        after: Option<&str>,
        page_size: i32,
    ) -> Result<(Vec<Message>, Option<String>)> {
        let id = cynic::Id::new(inbox_id);
        let page = self
            .run(generated::Messages::build(MessagesVariables {
                inbox_id: &id,
                after,
                first: Some(page_size),
                filter: filter.map(Filter::variables),
            }))
            .await?
            .messages;
        let next = page.page_info.end_cursor.filter(|_| page.page_info.has_next_page);
        Ok((page.nodes, next))
    }

    /// Every matching message of the inbox, newest first, fetching page after page.
    pub fn messages(
        &self,
        inbox_id: impl Into<String>,
        filter: Option<Filter>,
    ) -> impl futures::Stream<Item = Result<Message>> + '_ {
        crate::subscribe::pages(self, inbox_id.into(), filter)
    }

    pub async fn message(&self, id: &str) -> Result<Message> {
        let id = cynic::Id::new(id);
        self.run(generated::Message::build(MessageVariables { id: &id }))
            .await?
            .message
            .ok_or_else(|| Error::new(ErrorCode::NotFound, "no such message"))
    }

    /// The exact bytes the server received.
    pub async fn raw(&self, message_id: &str) -> Result<Vec<u8>> {
        self.download(&format!("/messages/{message_id}/raw")).await
    }

    /// An attachment's decoded bytes.
    pub async fn attachment(&self, attachment_id: &str) -> Result<Vec<u8>> {
        self.download(&format!("/attachments/{attachment_id}")).await
    }

    async fn download(&self, path: &str) -> Result<Vec<u8>> {
        let url = format!("{}{path}", self.inner.url);
        let response = self.send(|| self.inner.http.get(&url)).await?;
        if !response.status().is_success() {
            let retry = retry_after(&response);
            return Err(Error::from_http_status(
                response.status().as_u16(),
                &format!("GET {path}"),
                retry,
            ));
        }
        Ok(response.bytes().await?.to_vec())
    }

    /// Deletes an inbox with its messages; `NOT_FOUND` if there is none.
    pub async fn delete_inbox(&self, id: &str) -> Result<()> {
        let id = cynic::Id::new(id);
        let status = self
            .run(generated::DeleteInbox::build(DeleteInboxVariables { id: &id }))
            .await?
            .delete_inbox
            .status;
        deleted(status, "no such inbox")
    }

    /// Deletes a message; `NOT_FOUND` if there is none.
    pub async fn delete_message(&self, id: &str) -> Result<()> {
        let id = cynic::Id::new(id);
        let status = self
            .run(generated::DeleteMessage::build(DeleteMessageVariables { id: &id }))
            .await?
            .delete_message
            .status;
        deleted(status, "no such message")
    }

    /// Makes an inbox expire `ttl_seconds` from now; `token` is a fresh inbox token until then.
    pub async fn extend_inbox(&self, id: &str, ttl_seconds: i32) -> Result<Inbox> {
        let id = cynic::Id::new(id);
        let payload = self
            .run(generated::ExtendInbox::build(ExtendInboxVariables {
                input: ExtendInboxInput { id: &id, ttl_seconds },
            }))
            .await?
            .extend_inbox;
        match (payload.status, payload.inbox) {
            (ExtendInboxStatus::Extended, Some(inbox)) => Ok(Inbox::new(inbox, payload.token)),
            (status, _) => {
                let code = match status {
                    ExtendInboxStatus::NotFound => ErrorCode::NotFound,
                    _ => ErrorCode::BadUserInput,
                };
                Err(Error::new(code, format!("extend_inbox: {status:?}")).with_status(status))
            }
        }
    }
}

pub(crate) fn deleted(status: DeleteStatus, message: &str) -> Result<()> {
    match status {
        DeleteStatus::Deleted => Ok(()),
        DeleteStatus::NotFound => Err(Error::new(ErrorCode::NotFound, message).with_status(status)),
    }
}

fn retry_after(response: &reqwest::Response) -> Option<u64> {
    response.headers().get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.parse().ok()
}
