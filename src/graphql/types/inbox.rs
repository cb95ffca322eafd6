use async_graphql::{Context, Object, Result, ID};
use diesel_async::AsyncPgConnection;

use super::{
    message::{
        encode_cursor, message_connection, page_complexity, MessageConnection, MessageFilterInput,
    },
    parse_id,
    timestamp::Timestamp,
};
use crate::{
    api::Api,
    auth::{liveness, Caller, Scope},
    error::{ApiResult, AppError},
    graphql::ContextExt,
};
use ephemail_mail::address::EmailAddress;
use ephemail_store::{
    events::{self, Listener},
    models::{
        domain::{self, DomainMode},
        inbox as model,
        message::{self, MessageFilter},
        Viewer,
    },
};

/// A disposable mailbox: one address, until it expires. Looked up by a plus-address
/// (`local+tag@domain`), its `messages` are those tagged `tag`.
pub struct Inbox {
    row: model::Inbox,
    tag: Option<String>,
}

impl From<model::Inbox> for Inbox {
    fn from(row: model::Inbox) -> Self {
        Self { row, tag: None }
    }
}

impl From<Named> for Inbox {
    fn from(named: Named) -> Self {
        Self {
            row: named.inbox,
            tag: named.tag,
        }
    }
}

#[Object]
impl Inbox {
    async fn id(&self) -> ID {
        ID(self.row.id.to_string())
    }

    /// The full address, lower-case.
    async fn address(&self) -> String {
        self.row.address()
    }

    async fn local_part(&self) -> &str {
        &self.row.local_part
    }

    async fn domain(&self) -> &str {
        &self.row.domain
    }

    /// Labels given at creation.
    async fn tags(&self) -> Vec<&str> {
        self.row.tags.iter().flatten().map(String::as_str).collect()
    }

    async fn created_at(&self) -> Timestamp {
        self.row.created_at.into()
    }

    /// After this instant the inbox is gone: it receives nothing and is no longer visible.
    async fn expires_at(&self) -> Timestamp {
        self.row.expires_at.into()
    }

    /// Cursor of the newest message (of the empty inbox, if none): pass it as `after` to
    /// `messageReceived` or `waitForMessage` to get exactly the messages stored from now on.
    async fn latest_cursor(&self, ctx: &Context<'_>) -> Result<String> {
        ctx.viewer(Scope::Read).api()?;
        let mut conn = ctx.app().pool.get().await.api()?;
        let seq = message::latest_seq(&mut conn, self.row.id).await.api()?;
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
        let filter =
            narrow_to_tag(MessageFilterInput::into_filter(filter), self.tag.as_deref()).api()?;
        message_connection(ctx, viewer, self.row.id, filter, first, after)
            .await
            .api()
    }
}

/// A live inbox as an id or an address names it: `local+tag@domain` names the inbox
/// `local@domain` (where mail to it lands) and, with it, the tag `tag` that such mail carries.
pub struct Named {
    pub inbox: model::Inbox,
    pub tag: Option<String>,
}

impl Named {
    /// `filter` narrowed to the messages sent to the address that named the inbox.
    pub fn narrow(&self, filter: MessageFilter) -> Result<MessageFilter, AppError> {
        narrow_to_tag(filter, self.tag.as_deref())
    }
}

fn narrow_to_tag(mut filter: MessageFilter, tag: Option<&str>) -> Result<MessageFilter, AppError> {
    match (tag, filter.tag.as_deref()) {
        (None, _) => Ok(filter),
        (Some(tag), Some(asked)) if !asked.eq_ignore_ascii_case(tag) => {
            Err(AppError::BadUserInput(format!(
                "the address's tag `{tag}` and `filter.tag` `{asked}` differ: give one of them"
            )))
        }
        (Some(tag), _) => {
            filter.tag = Some(tag.to_owned());
            Ok(filter)
        }
    }
}

/// What the caller named: exactly one of an id and an address.
enum Lookup {
    Id(uuid::Uuid),
    Address {
        inbox: EmailAddress,
        tag: Option<String>,
    },
}

impl Lookup {
    fn parse(id: Option<ID>, address: Option<String>) -> Result<Self, AppError> {
        match (id, address) {
            (Some(id), None) => Ok(Self::Id(parse_id(&id)?)),
            (None, Some(address)) => {
                let (inbox, tag) = EmailAddress::parse(&address)
                    .map_err(|e| AppError::BadUserInput(e.to_string()))?
                    .split_tag();
                Ok(Self::Address { inbox, tag })
            }
            _ => Err(AppError::BadUserInput(
                "give exactly one of the inbox's id and address".into(),
            )),
        }
    }

    async fn find(&self, app: &Api, viewer: Viewer) -> Result<Option<Named>, AppError> {
        let now = app.clock.now();
        let mut conn = app.pool.get().await?;
        let (found, tag) = match self {
            Self::Id(id) => (model::find(&mut conn, viewer, *id, now).await?, None),
            Self::Address { inbox, tag } => (
                model::find_by_address(&mut conn, viewer, &inbox.local, &inbox.domain, now).await?,
                tag.clone(),
            ),
        };
        Ok(found.map(|inbox| Named { inbox, tag }))
    }
}

/// The live inbox named by `id` or `address` (exactly one must be given) that `viewer` may see,
/// or `NOT_FOUND`.
pub async fn resolve(
    app: &Api,
    viewer: Viewer,
    id: Option<ID>,
    address: Option<String>,
) -> Result<Named, AppError> {
    resolve_lookup(app, viewer, Lookup::parse(id, address)?).await
}

/// What a wait or a subscription watches: a live inbox, or an address on a catch-all domain of
/// the viewer's tenant where none exists yet.
pub enum Watched {
    Inbox(Named),
    Address(AwaitedAddress),
}

/// An address without an inbox, listened for since before it was looked up.
pub struct AwaitedAddress {
    lookup: Lookup,
    created: Listener,
}

impl AwaitedAddress {
    /// Waits until an inbox is created at the address (by its first mail, or `createInbox`).
    /// Waiting creates nothing: a read-only key may wait, and no inbox is held for nobody.
    /// Ends with `UNAUTHENTICATED` when `caller`'s credential stops working meanwhile.
    pub async fn created(
        mut self,
        app: &Api,
        viewer: Viewer,
        caller: &Caller,
    ) -> Result<Named, AppError> {
        let credential_ended = liveness::ended(&app.pool, &app.clock, &app.events, caller.clone());
        let created = async {
            loop {
                // Any wake-up (also a resync of the other processes' events) means: look again.
                self.created.next().await;
                self.created.drain();
                if let Some(found) = self.lookup.find(app, viewer).await? {
                    return Ok(found);
                }
            }
        };
        tokio::select! {
            created = created => created,
            ended = credential_ended => Err(ended),
        }
    }
}

/// As [`resolve`], but an address on a catch-all domain whose owner is the viewer's tenant
/// names its inbox even before the inbox exists: the caller can wait for it.
pub async fn watch(
    app: &Api,
    viewer: Viewer,
    id: Option<ID>,
    address: Option<String>,
) -> Result<Watched, AppError> {
    let lookup = Lookup::parse(id, address)?;
    // Listen before looking, so an inbox created in between is not missed.
    let created = match &lookup {
        Lookup::Address { inbox, .. } => app.events.listen(events::address_key(&inbox.to_string())),
        Lookup::Id(_) => {
            return resolve_lookup(app, viewer, lookup)
                .await
                .map(Watched::Inbox)
        }
    };
    if let Some(found) = lookup.find(app, viewer).await? {
        return Ok(Watched::Inbox(found));
    }
    let Lookup::Address { inbox, .. } = &lookup else {
        unreachable!("an id was resolved above")
    };
    let mut conn = app.pool.get().await?;
    if !catch_all_of(&mut conn, viewer, inbox).await? {
        return Err(AppError::NotFound("inbox"));
    }
    Ok(Watched::Address(AwaitedAddress { lookup, created }))
}

async fn resolve_lookup(app: &Api, viewer: Viewer, lookup: Lookup) -> Result<Named, AppError> {
    (lookup.find(app, viewer).await?).ok_or(AppError::NotFound("inbox"))
}

/// Whether `address` is on a catch-all domain of the viewer's tenant: its inbox comes into
/// being with its first mail.
async fn catch_all_of(
    conn: &mut AsyncPgConnection,
    viewer: Viewer,
    address: &EmailAddress,
) -> Result<bool, AppError> {
    Ok(matches!(
        domain::find(conn, address.domain.as_str()).await?,
        Some(domain::Domain {
            mode: DomainMode::CatchAll,
            tenant_id: Some(owner),
            ..
        }) if Viewer::Tenant(owner) == viewer
    ))
}
