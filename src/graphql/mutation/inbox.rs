use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject, ID};
use chrono::Duration;
use diesel_async::AsyncConnection;
use uuid::Uuid;

use crate::{
    auth::{Caller, Scope},
    error::{ApiResult, AppError},
    graphql::{
        types::{inbox::Inbox, parse_id, DeleteStatus, StorableText},
        ClientIp, ContextExt,
    },
};
use ephemail_mail::address::{DomainName, EmailAddress, LocalPart};
use ephemail_store::{
    events,
    models::{domain, inbox, Viewer},
    quota,
};

/// Random local parts are 10 characters from a CSPRNG; a clash is astronomically rare, but retry.
const RANDOM_ATTEMPTS: usize = 5;

#[derive(InputObject)]
pub struct CreateInboxInput {
    /// A domain ephemail serves.
    domain: String,
    /// The part before `@`; random when omitted.
    local_part: Option<String>,
    /// Lifetime in seconds; the server's default when omitted, at most its maximum.
    ttl_seconds: Option<i32>,
    /// Labels to find the inbox by later.
    #[graphql(default, validator(list, custom = "StorableText"))]
    tags: Vec<String>,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateInboxStatus {
    Created,
    /// A live inbox already has that address.
    AddressTaken,
    /// ephemail does not receive mail for that domain.
    DomainNotServed,
    /// `ttlSeconds` is over the server's maximum; see `maxTtlSeconds`.
    TtlTooLong,
    /// `localPart` names a domain's operators (`postmaster`, `abuse`, `admin`, ...; RFC 2142):
    /// on a domain shared by every tenant, nobody may hold it.
    AddressReserved,
    /// `localPart` is a plus-address (`base+tag`): mail to it lands in the inbox `base`, so an
    /// inbox of that name would never receive any. Create `base` and use `base+tag@domain`
    /// wherever an address is accepted.
    InvalidLocalPart,
}

#[derive(SimpleObject)]
pub struct CreateInboxPayload {
    status: CreateInboxStatus,
    /// The new inbox when `status` is `CREATED`.
    inbox: Option<Inbox>,
    /// The longest TTL the server grants.
    max_ttl_seconds: i32,
    /// An inbox token for this inbox only, until it expires: it reads the inbox, marks and
    /// deletes its messages, extends and deletes it (a JWT; send it as `Authorization: Bearer`,
    /// as `token` when opening a WebSocket, or as `?token=` on a download URL).
    token: Option<String>,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateInboxTokenStatus {
    Created,
    NotFound,
}

#[derive(SimpleObject)]
pub struct CreateInboxTokenPayload {
    status: CreateInboxTokenStatus,
    /// Read access to the inbox until it expires; null when there is no such inbox.
    token: Option<String>,
}

#[derive(SimpleObject)]
pub struct DeleteInboxPayload {
    status: DeleteStatus,
}

#[derive(InputObject)]
pub struct ExtendInboxInput {
    id: ID,
    /// The inbox expires this many seconds from now; at most the server's maximum TTL.
    ttl_seconds: i32,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtendInboxStatus {
    Extended,
    NotFound,
    /// `ttlSeconds` is over the server's maximum; see `maxTtlSeconds`.
    TtlTooLong,
    /// `localPart` names a domain's operators (`postmaster`, `abuse`, `admin`, ...; RFC 2142):
    /// on a domain shared by every tenant, nobody may hold it.
    AddressReserved,
}

#[derive(SimpleObject)]
pub struct ExtendInboxPayload {
    status: ExtendInboxStatus,
    /// The inbox with its new `expiresAt`, when extended.
    inbox: Option<Inbox>,
    max_ttl_seconds: i32,
    /// A fresh inbox token valid until the new expiry, when extended: tokens issued before keep
    /// the expiry they were issued with.
    token: Option<String>,
}

#[derive(Default)]
pub struct InboxMutation;

#[Object]
impl InboxMutation {
    /// Creates an inbox at a chosen or random address.
    async fn create_inbox(
        &self,
        ctx: &Context<'_>,
        input: CreateInboxInput,
    ) -> Result<CreateInboxPayload> {
        create_inbox(ctx, input).await.api()
    }

    /// Sets an inbox to expire `ttlSeconds` from now (a `write` key, or the inbox's token).
    async fn extend_inbox(
        &self,
        ctx: &Context<'_>,
        input: ExtendInboxInput,
    ) -> Result<ExtendInboxPayload> {
        let viewer = ctx.inbox_changer().api()?;
        let app = ctx.app();
        let id = parse_id(&input.id).api()?;
        let max_ttl_seconds = max_ttl_seconds(ctx, viewer).await.api()?;
        let outcome = |status, inbox| ExtendInboxPayload {
            status,
            inbox,
            max_ttl_seconds,
            token: None,
        };
        if input.ttl_seconds <= 0 {
            return Err(AppError::BadUserInput(
                "`ttlSeconds` must be positive".into(),
            ))
            .api();
        }
        if input.ttl_seconds > max_ttl_seconds {
            return Ok(outcome(ExtendInboxStatus::TtlTooLong, None));
        }
        let now = app.clock.now();
        let expires_at = now + Duration::seconds(i64::from(input.ttl_seconds));
        let mut conn = app.pool.get().await.api()?;
        Ok(
            match inbox::set_expiry(&mut conn, viewer, id, expires_at, now, &app.buckets)
                .await
                .api()?
            {
                Some(extended) => ExtendInboxPayload {
                    token: Some(issue_token(ctx, &extended).api()?),
                    ..outcome(ExtendInboxStatus::Extended, Some(extended.into()))
                },
                None => outcome(ExtendInboxStatus::NotFound, None),
            },
        )
    }

    /// A new inbox token for an existing inbox (e.g. one a catch-all domain created).
    async fn create_inbox_token(
        &self,
        ctx: &Context<'_>,
        inbox_id: ID,
    ) -> Result<CreateInboxTokenPayload> {
        let viewer = ctx.viewer(Scope::Write).api()?;
        let app = ctx.app();
        let id = parse_id(&inbox_id).api()?;
        let mut conn = app.pool.get().await.api()?;
        Ok(
            match inbox::find(&mut conn, viewer, id, app.clock.now())
                .await
                .api()?
            {
                Some(found) => CreateInboxTokenPayload {
                    status: CreateInboxTokenStatus::Created,
                    token: Some(issue_token(ctx, &found).api()?),
                },
                None => CreateInboxTokenPayload {
                    status: CreateInboxTokenStatus::NotFound,
                    token: None,
                },
            },
        )
    }

    /// Deletes an inbox with all its messages and attachments (a `write` key, or the inbox's
    /// token).
    async fn delete_inbox(&self, ctx: &Context<'_>, id: ID) -> Result<DeleteInboxPayload> {
        let viewer = ctx.inbox_changer().api()?;
        let id = parse_id(&id).api()?;
        let app = ctx.app();
        let mut conn = app.pool.get().await.api()?;
        let deleted = inbox::delete(&mut conn, viewer, id, app.clock.now())
            .await
            .api()?;
        if deleted {
            app.events.inboxes_deleted(&conn, &[id]).await;
        }
        Ok(DeleteInboxPayload {
            status: deleted.into(),
        })
    }
}

/// In public mode, the tenant of an anonymous caller's inbox, within its per-address allowance.
fn public_tenant(ctx: &Context<'_>) -> Result<Uuid, AppError> {
    let public = ctx
        .app()
        .public_inboxes
        .as_ref()
        .ok_or(AppError::Unauthenticated)?;
    let ip = ctx
        .data_opt::<ClientIp>()
        .ok_or(AppError::Unauthenticated)?;
    public
        .admit(ip.0)
        .map_err(|retry_after| AppError::QuotaExceeded {
            what: "anonymous inboxes per minute",
            retry_after,
        })?;
    Ok(public.tenant_id)
}

fn issue_token(ctx: &Context<'_>, inbox: &inbox::Inbox) -> Result<String, AppError> {
    let app = ctx.app();
    app.inbox_tokens
        .issue(inbox, app.clock.now())
        .map_err(|error| AppError::Internal(error.into()))
}

/// The longest TTL the viewer's tenant may give an inbox.
async fn max_ttl_seconds(ctx: &Context<'_>, viewer: Viewer) -> Result<i32, AppError> {
    let app = ctx.app();
    let (Viewer::Tenant(tenant_id) | Viewer::Inbox { tenant_id, .. }) = viewer else {
        return Ok(i32::try_from(app.config.inbox.max_ttl).unwrap_or(i32::MAX));
    };
    let mut conn = app.pool.get().await?;
    let limits = quota::limits_of(&mut conn, &app.limits, tenant_id).await?;
    Ok(public_ttl_cap(ctx, tenant_id, limits.max_ttl_seconds))
}

/// `max_ttl_seconds`, capped by `--public-max-ttl` for the public's inboxes: an anonymous
/// caller holds an address on a shared domain for no longer than that.
fn public_ttl_cap(ctx: &Context<'_>, tenant_id: Uuid, max_ttl_seconds: i32) -> i32 {
    let app = ctx.app();
    match &app.public_inboxes {
        Some(public) if public.tenant_id == tenant_id => {
            let cap = i32::try_from(app.config.http.public_max_ttl).unwrap_or(i32::MAX);
            max_ttl_seconds.min(cap)
        }
        _ => max_ttl_seconds,
    }
}

async fn create_inbox(
    ctx: &Context<'_>,
    input: CreateInboxInput,
) -> Result<CreateInboxPayload, AppError> {
    let app = ctx.app();
    let tenant_id = match ctx.viewer(Scope::Write) {
        Ok(Viewer::Tenant(tenant_id)) => tenant_id,
        Ok(_) => return Err(AppError::Forbidden(Scope::Write)),
        Err(AppError::Unauthenticated) if *ctx.caller() == Caller::Anonymous => public_tenant(ctx)?,
        Err(error) => return Err(error),
    };
    let mut conn = app.pool.get().await?;
    let limits = quota::limits_of(&mut conn, &app.limits, tenant_id).await?;
    let max_ttl_seconds = public_ttl_cap(ctx, tenant_id, limits.max_ttl_seconds);
    let outcome = |status, inbox| CreateInboxPayload {
        status,
        inbox,
        max_ttl_seconds,
        token: None,
    };
    let domain_name =
        DomainName::parse(&input.domain).map_err(|e| AppError::BadUserInput(e.to_string()))?;
    let chosen = input
        .local_part
        .as_deref()
        .map(LocalPart::parse)
        .transpose()
        .map_err(|e| AppError::BadUserInput(e.to_string()))?;
    if chosen.as_ref().is_some_and(LocalPart::is_plus_address) {
        return Ok(outcome(CreateInboxStatus::InvalidLocalPart, None));
    }
    let ttl = match input.ttl_seconds {
        None => i64::from(app.config.inbox.default_ttl).min(i64::from(max_ttl_seconds)),
        Some(ttl) if ttl <= 0 => {
            return Err(AppError::BadUserInput(
                "`ttlSeconds` must be positive".into(),
            ))
        }
        Some(ttl) if ttl > max_ttl_seconds => {
            return Ok(outcome(CreateInboxStatus::TtlTooLong, None))
        }
        Some(ttl) => i64::from(ttl),
    };

    let tags: Vec<Option<String>> = input
        .tags
        .iter()
        .map(|tag| Some(tag.trim().to_lowercase()))
        .collect();
    let Some(domain) = domain::find(&mut conn, domain_name.as_str())
        .await?
        .filter(|domain| domain.usable_by(Viewer::Tenant(tenant_id)))
    else {
        return Ok(outcome(CreateInboxStatus::DomainNotServed, None));
    };
    let shared = domain.tenant_id.is_none();
    if shared && chosen.as_ref().is_some_and(LocalPart::is_role_name) {
        return Ok(outcome(CreateInboxStatus::AddressReserved, None));
    }
    let attempts = if chosen.is_some() { 1 } else { RANDOM_ATTEMPTS };
    for _ in 0..attempts {
        let local = chosen
            .clone()
            .unwrap_or_else(|| LocalPart::random(&mut rand::rng()));
        let address = EmailAddress {
            local,
            domain: domain_name.clone(),
        };
        let new = inbox::Inbox {
            tags: tags.clone(),
            ..inbox::Inbox::new(
                &address,
                tenant_id,
                app.clock.now(),
                Duration::seconds(ttl),
                &app.buckets,
            )
        };
        // The partitions its messages will be stored in, so that delivery need not make them.
        app.buckets.ensure(&conn, [new.purge_at]).await?;
        // Creating must also succeed over an expired inbox at the same address.
        let (created, replaced) = conn
            .transaction(async |conn| {
                let now = new.created_at;
                if let Err(retry_after) =
                    quota::reserve_inbox(conn, tenant_id, &limits, now).await?
                {
                    return Ok(Err(retry_after));
                }
                let replaced = inbox::delete_expired_at(conn, &address, now).await?;
                let created = inbox::insert(conn, &new).await?;
                Ok::<_, diesel::result::Error>(Ok((created, replaced)))
            })
            .await?
            .map_err(|retry_after| AppError::QuotaExceeded {
                what: "live inboxes",
                retry_after,
            })?;
        app.events.inboxes_deleted(&conn, &replaced).await;
        if created {
            // Waits on the address that were waiting for its inbox find it.
            let key = events::address_key(&address.to_string());
            app.events.inboxes_created(&conn, &[key]).await;
            let token = issue_token(ctx, &new)?;
            return Ok(CreateInboxPayload {
                token: Some(token),
                ..outcome(CreateInboxStatus::Created, Some(new.into()))
            });
        }
    }
    Ok(outcome(CreateInboxStatus::AddressTaken, None))
}
