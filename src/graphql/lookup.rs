//! Finding the inbox an id or an address names (plus-addresses included), and waiting for an
//! address that has no inbox yet.

use async_graphql::ID;
use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;

use crate::{api::Api, auth::Caller, error::AppError, graphql::types::parse_id};
use ephemail_mail::address::EmailAddress;
use ephemail_store::{
    events::{self, Listener, Wake},
    models::{
        domain::{self, DomainMode},
        inbox as model,
        message::MessageFilter,
        Viewer,
    },
};

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

    /// The inbox ingest just made at the awaited address, as [`Lookup::find`] would find it.
    fn made(&self, inbox: &model::Inbox, viewer: Viewer, now: DateTime<Utc>) -> Option<Named> {
        let Self::Address { tag, .. } = self else {
            return None;
        };
        inbox.is_visible_to(viewer, now).then(|| Named {
            inbox: inbox.clone(),
            tag: tag.clone(),
        })
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
        let credential_ended = app.credential_ended(caller.clone());
        let created = async {
            loop {
                // The inbox this process's ingest made comes with its event; any other wake-up
                // (also a resync of the other processes' events) means: look again.
                if let Wake::Created(inbox) = self.created.next().await {
                    if let Some(found) = self.lookup.made(&inbox, viewer, app.clock.now()) {
                        return Ok(found);
                    }
                }
                self.created.drain();
                // Boxed, as a feed's reads: the wait holds this future for as long as it waits.
                if let Some(found) = Box::pin(self.lookup.find(app, viewer)).await? {
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
