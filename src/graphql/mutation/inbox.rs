use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject, ID};
use uuid::Uuid;

use crate::{
    auth::Caller,
    error::{ApiResult, AppError},
    graphql::{
        context::{ClientIp, ContextExt},
        types::{mail::Inbox, parse_id, DeleteStatus, StorableText},
    },
    scope::Scope,
    service::inbox::{
        self as service, CreateOutcome, ExtendInbox, ExtendOutcome, InboxRules, IssuedInbox,
        NewInbox,
    },
    telemetry::api::RateLimit,
};
use ephemail_store::models::{quota::QuotaKind, Viewer};

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
        let extension = ExtendInbox {
            id: parse_id(&input.id).api()?,
            ttl_seconds: input.ttl_seconds,
        };
        let app = ctx.app();
        let mut conn = app.pool.get().await.api()?;
        let extended = service::extend(
            &mut conn,
            inbox_rules(ctx),
            &app.buckets,
            &app.inbox_tokens,
            viewer,
            extension,
            app.clock.now(),
        )
        .await
        .api()?;
        let (status, issued) = match extended.outcome {
            ExtendOutcome::Extended(issued) => (ExtendInboxStatus::Extended, Some(issued)),
            ExtendOutcome::NotFound => (ExtendInboxStatus::NotFound, None),
            ExtendOutcome::TtlTooLong => (ExtendInboxStatus::TtlTooLong, None),
        };
        let (inbox, token) = split(issued);
        Ok(ExtendInboxPayload {
            status,
            inbox,
            max_ttl_seconds: extended.max_ttl_seconds,
            token,
        })
    }

    /// A new inbox token for an existing inbox (e.g. one a catch-all domain created).
    async fn create_inbox_token(
        &self,
        ctx: &Context<'_>,
        inbox_id: ID,
    ) -> Result<CreateInboxTokenPayload> {
        let viewer = ctx.viewer(Scope::Write).api()?;
        let id = parse_id(&inbox_id).api()?;
        let app = ctx.app();
        let mut conn = app.pool.get().await.api()?;
        let token = service::token(&mut conn, &app.inbox_tokens, viewer, id, app.clock.now())
            .await
            .api()?;
        Ok(CreateInboxTokenPayload {
            status: match token {
                Some(_) => CreateInboxTokenStatus::Created,
                None => CreateInboxTokenStatus::NotFound,
            },
            token,
        })
    }

    /// Deletes an inbox with all its messages and attachments (a `write` key, or the inbox's
    /// token).
    async fn delete_inbox(&self, ctx: &Context<'_>, id: ID) -> Result<DeleteInboxPayload> {
        let viewer = ctx.inbox_changer().api()?;
        let id = parse_id(&id).api()?;
        let app = ctx.app();
        let mut conn = app.pool.get().await.api()?;
        let deleted = service::delete(&mut conn, &app.events, viewer, id, app.clock.now())
            .await
            .api()?;
        Ok(DeleteInboxPayload {
            status: deleted.into(),
        })
    }
}

async fn create_inbox(
    ctx: &Context<'_>,
    input: CreateInboxInput,
) -> Result<CreateInboxPayload, AppError> {
    let tenant_id = match ctx.viewer(Scope::Write) {
        Ok(Viewer::Tenant(tenant_id)) => tenant_id,
        Ok(_) => return Err(AppError::Forbidden(Scope::Write)),
        Err(AppError::Unauthenticated) if *ctx.caller() == Caller::Anonymous => public_tenant(ctx)?,
        Err(error) => return Err(error),
    };
    let new = NewInbox {
        tenant_id,
        domain: &input.domain,
        local_part: input.local_part.as_deref(),
        ttl_seconds: input.ttl_seconds,
        tags: &input.tags,
    };
    let app = ctx.app();
    let mut conn = app.pool.get().await?;
    let created = service::create(
        &mut conn,
        inbox_rules(ctx),
        &app.buckets,
        &app.events,
        &app.inbox_tokens,
        new,
        app.clock.now(),
    )
    .await
    // Creating refuses for one quota only: live inboxes.
    .inspect_err(|error| {
        if matches!(error, AppError::QuotaExceeded { .. }) {
            app.quota_refusals.refused(QuotaKind::Inboxes);
        }
    })?;
    let (status, issued) = match created.outcome {
        CreateOutcome::Created(issued) => (CreateInboxStatus::Created, Some(issued)),
        CreateOutcome::AddressTaken => (CreateInboxStatus::AddressTaken, None),
        CreateOutcome::DomainNotServed => (CreateInboxStatus::DomainNotServed, None),
        CreateOutcome::TtlTooLong => (CreateInboxStatus::TtlTooLong, None),
        CreateOutcome::AddressReserved => (CreateInboxStatus::AddressReserved, None),
        CreateOutcome::InvalidLocalPart => (CreateInboxStatus::InvalidLocalPart, None),
    };
    let (inbox, token) = split(issued);
    Ok(CreateInboxPayload {
        status,
        inbox,
        max_ttl_seconds: created.max_ttl_seconds,
        token,
    })
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
    public.admit(ip.0).map_err(|retry_after| {
        ctx.app().metrics.rate_limited(RateLimit::PublicInboxes);
        (ctx.app().quota_refusals).refused(QuotaKind::PublicInboxesPerMinute);
        AppError::QuotaExceeded {
            what: "anonymous inboxes per minute",
            retry_after,
        }
    })?;
    Ok(public.tenant_id)
}

fn inbox_rules<'a>(ctx: &'a Context<'_>) -> InboxRules<'a> {
    let app = ctx.app();
    InboxRules {
        limits: &app.limits,
        default_ttl_seconds: app.config.inbox.default_ttl,
        public_tenant: app.public_inboxes.as_ref().map(|public| public.tenant_id),
        public_max_ttl_seconds: app.config.http.public_max_ttl,
    }
}

/// The payload fields of an issued inbox.
fn split(issued: Option<IssuedInbox>) -> (Option<Inbox>, Option<String>) {
    issued
        .map(|issued| (issued.inbox.into(), issued.token))
        .unzip()
}
