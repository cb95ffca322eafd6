//! Inboxes: creating, extending and deleting them, and the tokens that read them.

use chrono::{DateTime, Duration, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use uuid::Uuid;

use crate::{auth::inbox_token::InboxTokens, error::AppError};
use ephemail_mail::address::{AddressError, DomainName, EmailAddress, LocalPart};
use ephemail_store::{
    events::{address_key, EventBus},
    models::{
        domain,
        inbox::{self, Inbox},
        quota::{self, Limits},
        Viewer,
    },
    partitions::ExpiryBuckets,
};

/// Random local parts are 10 characters from a CSPRNG; a clash is astronomically rare, but retry.
const RANDOM_ATTEMPTS: usize = 5;

/// The server's rules for inbox lifetimes and counts.
#[derive(Clone, Copy)]
pub struct InboxRules<'a> {
    /// Every tenant's limits unless overridden; their TTL is also the server's longest.
    pub limits: &'a Limits,
    /// The TTL of an inbox created without one (`--default-ttl`).
    pub default_ttl_seconds: u32,
    /// The public's tenant in public mode: an anonymous caller holds an address on a shared
    /// domain for no longer than `public_max_ttl_seconds` (`--public-max-ttl`).
    pub public_tenant: Option<Uuid>,
    pub public_max_ttl_seconds: u32,
}

impl InboxRules<'_> {
    /// The longest TTL the tenant `tenant_id`, with `limits`, may give an inbox.
    fn max_ttl_seconds(&self, tenant_id: Uuid, limits: &Limits) -> i32 {
        if self.public_tenant == Some(tenant_id) {
            let cap = i32::try_from(self.public_max_ttl_seconds).unwrap_or(i32::MAX);
            limits.max_ttl_seconds.min(cap)
        } else {
            limits.max_ttl_seconds
        }
    }

    /// The longest TTL `viewer` may give an inbox.
    async fn max_ttl_seconds_of(
        &self,
        conn: &mut AsyncPgConnection,
        viewer: Viewer,
    ) -> diesel::QueryResult<i32> {
        let (Viewer::Tenant(tenant_id) | Viewer::Inbox { tenant_id, .. }) = viewer else {
            return Ok(self.limits.max_ttl_seconds);
        };
        let limits = quota::limits_of(conn, self.limits, tenant_id).await?;
        Ok(self.max_ttl_seconds(tenant_id, &limits))
    }
}

/// What to create: `createInbox`'s input, for the tenant that will own the inbox.
pub struct NewInbox<'a> {
    pub tenant_id: Uuid,
    /// A domain ephemail serves.
    pub domain: &'a str,
    /// Random when `None`.
    pub local_part: Option<&'a str>,
    /// The server's default (within the tenant's maximum) when `None`.
    pub ttl_seconds: Option<i32>,
    pub tags: &'a [String],
}

/// What to extend: `extendInbox`'s input.
pub struct ExtendInbox {
    pub id: Uuid,
    /// The inbox expires this many seconds from now.
    pub ttl_seconds: i32,
}

/// An inbox with a token that reads it until it expires.
pub struct IssuedInbox {
    pub inbox: Inbox,
    pub token: String,
}

/// An outcome with the longest TTL the caller may give, which the API reports whatever
/// happened, so that a client can retry within it.
pub struct TtlBounded<T> {
    pub outcome: T,
    pub max_ttl_seconds: i32,
}

pub enum CreateOutcome {
    Created(IssuedInbox),
    /// A live inbox already has that address.
    AddressTaken,
    /// Not a domain ephemail serves to this tenant.
    DomainNotServed,
    TtlTooLong,
    /// An operator's name (RFC 2142) on a domain shared by every tenant.
    AddressReserved,
    /// A plus-address, whose mail lands in the inbox of its base.
    InvalidLocalPart,
}

pub enum ExtendOutcome {
    Extended(IssuedInbox),
    NotFound,
    TtlTooLong,
}

/// Creates an inbox at the chosen or a random address, within the tenant's quota of live
/// inboxes, replacing an expired inbox at that address.
pub async fn create(
    conn: &mut AsyncPgConnection,
    rules: InboxRules<'_>,
    buckets: &ExpiryBuckets,
    events: &EventBus,
    tokens: &InboxTokens,
    new: NewInbox<'_>,
    now: DateTime<Utc>,
) -> Result<TtlBounded<CreateOutcome>, AppError> {
    let tenant_id = new.tenant_id;
    let limits = quota::limits_of(conn, rules.limits, tenant_id).await?;
    let max_ttl_seconds = rules.max_ttl_seconds(tenant_id, &limits);
    let bounded = |outcome| TtlBounded {
        outcome,
        max_ttl_seconds,
    };
    let domain_name = DomainName::parse(new.domain).map_err(bad_input)?;
    let chosen = new
        .local_part
        .map(LocalPart::parse)
        .transpose()
        .map_err(bad_input)?;
    if chosen.as_ref().is_some_and(LocalPart::is_plus_address) {
        return Ok(bounded(CreateOutcome::InvalidLocalPart));
    }
    let ttl = match new.ttl_seconds {
        None => {
            Duration::seconds(i64::from(rules.default_ttl_seconds).min(i64::from(max_ttl_seconds)))
        }
        Some(ttl_seconds) => match lifetime(ttl_seconds, max_ttl_seconds)? {
            Some(ttl) => ttl,
            None => return Ok(bounded(CreateOutcome::TtlTooLong)),
        },
    };
    let tags: Vec<Option<String>> = new
        .tags
        .iter()
        .map(|tag| Some(tag.trim().to_lowercase()))
        .collect();
    let Some(domain) = domain::find(conn, domain_name.as_str())
        .await?
        .filter(|domain| domain.usable_by(Viewer::Tenant(tenant_id)))
    else {
        return Ok(bounded(CreateOutcome::DomainNotServed));
    };
    let shared = domain.tenant_id.is_none();
    if shared && chosen.as_ref().is_some_and(LocalPart::is_role_name) {
        return Ok(bounded(CreateOutcome::AddressReserved));
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
        let inbox = Inbox {
            tags: tags.clone(),
            ..Inbox::new(&address, tenant_id, now, ttl, buckets)
        };
        // The partitions its messages will be stored in, so that delivery need not make them.
        buckets.ensure(conn, [inbox.purge_at]).await?;
        // Creating must also succeed over an expired inbox at the same address.
        let (created, replaced) = conn
            .transaction(async |conn| {
                if let Err(retry_after) =
                    quota::reserve_inbox(conn, tenant_id, &limits, now).await?
                {
                    return Ok(Err(retry_after));
                }
                let replaced = inbox::delete_expired_at(conn, &address, now).await?;
                let created = inbox::insert(conn, &inbox).await?;
                Ok::<_, diesel::result::Error>(Ok((created, replaced)))
            })
            .await?
            .map_err(|retry_after| AppError::QuotaExceeded {
                what: "live inboxes",
                retry_after,
            })?;
        events.inboxes_deleted(conn, &replaced).await;
        if created {
            // Waits on the address that were waiting for its inbox find it.
            let key = address_key(&address.to_string());
            events.inboxes_created(conn, &[key]).await;
            let token = sign(tokens, &inbox, now)?;
            return Ok(bounded(CreateOutcome::Created(IssuedInbox {
                inbox,
                token,
            })));
        }
    }
    Ok(bounded(CreateOutcome::AddressTaken))
}

/// Sets the inbox to expire `ttl_seconds` from now, with a token valid until then (tokens
/// issued before keep the expiry they were issued with).
pub async fn extend(
    conn: &mut AsyncPgConnection,
    rules: InboxRules<'_>,
    buckets: &ExpiryBuckets,
    tokens: &InboxTokens,
    viewer: Viewer,
    extension: ExtendInbox,
    now: DateTime<Utc>,
) -> Result<TtlBounded<ExtendOutcome>, AppError> {
    let max_ttl_seconds = rules.max_ttl_seconds_of(conn, viewer).await?;
    let bounded = |outcome| TtlBounded {
        outcome,
        max_ttl_seconds,
    };
    let Some(ttl) = lifetime(extension.ttl_seconds, max_ttl_seconds)? else {
        return Ok(bounded(ExtendOutcome::TtlTooLong));
    };
    let extended = inbox::set_expiry(conn, viewer, extension.id, now + ttl, now, buckets).await?;
    Ok(bounded(match extended {
        Some(inbox) => {
            let token = sign(tokens, &inbox, now)?;
            ExtendOutcome::Extended(IssuedInbox { inbox, token })
        }
        None => ExtendOutcome::NotFound,
    }))
}

/// A new token for the live inbox `id` that `viewer` sees; `None` when there is none.
pub async fn token(
    conn: &mut AsyncPgConnection,
    tokens: &InboxTokens,
    viewer: Viewer,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<String>, AppError> {
    let found = inbox::find(conn, viewer, id, now).await?;
    found.map(|inbox| sign(tokens, &inbox, now)).transpose()
}

/// Deletes the inbox with its messages; false if `viewer` sees no such live inbox. Its waits
/// and subscriptions end, here and in the other processes on the database.
pub async fn delete(
    conn: &mut AsyncPgConnection,
    events: &EventBus,
    viewer: Viewer,
    id: Uuid,
    now: DateTime<Utc>,
) -> diesel::QueryResult<bool> {
    let deleted = inbox::delete(conn, viewer, id, now).await?;
    if deleted {
        events.inboxes_deleted(conn, &[id]).await;
    }
    Ok(deleted)
}

/// `ttl_seconds` as a lifetime, `None` when it is over `max_ttl_seconds`.
fn lifetime(ttl_seconds: i32, max_ttl_seconds: i32) -> Result<Option<Duration>, AppError> {
    if ttl_seconds <= 0 {
        return Err(AppError::BadUserInput(
            "`ttlSeconds` must be positive".into(),
        ));
    }
    Ok((ttl_seconds <= max_ttl_seconds).then(|| Duration::seconds(i64::from(ttl_seconds))))
}

fn sign(tokens: &InboxTokens, inbox: &Inbox, now: DateTime<Utc>) -> Result<String, AppError> {
    tokens
        .issue(inbox, now)
        .map_err(|error| AppError::Internal(error.into()))
}

fn bad_input(error: AddressError) -> AppError {
    AppError::BadUserInput(error.to_string())
}
