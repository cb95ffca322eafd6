//! Who is calling, and what they may do. An API key belongs to a tenant and carries scopes;
//! [`Caller::require`] turns a caller into the [`Viewer`] that every data query is scoped by.

pub mod api_key;
pub mod inbox_token;
pub mod liveness;
pub mod public;

use std::{fmt, str::FromStr};

use uuid::Uuid;

use ephemail_store::{clock::Clock, models::Viewer, Pool};

use crate::error::AppError;
use inbox_token::InboxTokens;

/// What a key may do: `READ`, `WRITE` (which includes `READ`) or `ADMIN` (which includes
/// both, and is the operator's scope).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, async_graphql::Enum)]
pub enum Scope {
    /// Queries, waits, subscriptions and downloads.
    Read,
    /// Creating and deleting inboxes and messages, marking messages seen.
    Write,
    /// Managing tenants and API keys.
    Admin,
}

impl Scope {
    const ALL: [Scope; 3] = [Self::Read, Self::Write, Self::Admin];

    /// This scope and every scope it includes, lowest first.
    pub fn granted(self) -> Vec<Scope> {
        Self::ALL.into_iter().filter(|s| *s <= self).collect()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Admin => "admin",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "read" => Ok(Self::Read),
            "write" => Ok(Self::Write),
            "admin" => Ok(Self::Admin),
            other => Err(format!(
                "unknown scope `{other}` (expected read, write or admin)"
            )),
        }
    }
}

/// An authenticated API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyHolder {
    pub key_id: Uuid,
    pub tenant_id: Uuid,
    /// The highest scope granted (scopes include the lower ones).
    pub scope: Scope,
}

/// The caller of one request or WebSocket connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// No credentials were sent.
    Anonymous,
    /// Credentials were sent but are not valid (unknown, revoked, malformed).
    Invalid,
    Key(KeyHolder),
    /// An inbox token: read access to one inbox.
    InboxToken(inbox_token::Grant),
}

impl Caller {
    /// The tenant whose quotas the caller's requests count against.
    pub fn tenant_id(&self) -> Option<Uuid> {
        match self {
            Self::Anonymous | Self::Invalid => None,
            Self::Key(key) => Some(key.tenant_id),
            Self::InboxToken(grant) => Some(grant.tenant_id),
        }
    }

    /// The viewer for a request that needs `scope`: `UNAUTHENTICATED` without valid
    /// credentials, `FORBIDDEN` when the key lacks the scope.
    pub fn require(&self, scope: Scope) -> Result<Viewer, AppError> {
        match self {
            Self::Anonymous | Self::Invalid => Err(AppError::Unauthenticated),
            Self::Key(key) if key.scope >= scope => Ok(Viewer::Tenant(key.tenant_id)),
            Self::Key(_) => Err(AppError::Forbidden(scope)),
            Self::InboxToken(grant) if scope == Scope::Read => Ok(Viewer::Inbox {
                tenant_id: grant.tenant_id,
                inbox_id: grant.inbox_id,
            }),
            Self::InboxToken(_) => Err(AppError::Forbidden(scope)),
        }
    }

    /// The viewer for changing one inbox or its messages (mark seen, delete, extend): a key
    /// with `write`, or an inbox token, whose viewer reaches only its own inbox.
    pub fn require_inbox_change(&self) -> Result<Viewer, AppError> {
        match self {
            Self::InboxToken(grant) => Ok(Viewer::Inbox {
                tenant_id: grant.tenant_id,
                inbox_id: grant.inbox_id,
            }),
            other => other.require(Scope::Write),
        }
    }
}

/// Who sent `credential`: an API key (`ek_...`), an inbox token, or nothing (anonymous).
pub async fn identify(
    pool: &Pool,
    clock: &dyn Clock,
    inbox_tokens: &InboxTokens,
    credential: Option<&str>,
) -> Result<Caller, AppError> {
    match credential {
        None => Ok(Caller::Anonymous),
        Some(key) if key.starts_with(api_key::PREFIX) => {
            let mut conn = pool.get().await?;
            Ok(api_key::authenticate(&mut conn, key).await?)
        }
        Some(token) => Ok(inbox_tokens
            .verify(token, clock.now())
            .map_or(Caller::Invalid, Caller::InboxToken)),
    }
}

/// The credential of an HTTP request: `Authorization: Bearer <key>` or `X-API-Key: <key>`.
pub fn credential(headers: &poem::http::HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(poem::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    bearer
        .or_else(|| {
            headers
                .get("x-api-key")
                .and_then(|value| value.to_str().ok())
        })
        .map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(scope: Scope) -> Caller {
        Caller::Key(KeyHolder {
            key_id: Uuid::nil(),
            tenant_id: Uuid::nil(),
            scope,
        })
    }

    #[test]
    fn scopes_include_the_lower_ones() {
        assert!(key(Scope::Write).require(Scope::Read).is_ok());
        assert!(key(Scope::Admin).require(Scope::Write).is_ok());
        assert!(matches!(
            key(Scope::Read).require(Scope::Write),
            Err(AppError::Forbidden(Scope::Write))
        ));
        assert!(matches!(
            Caller::Anonymous.require(Scope::Read),
            Err(AppError::Unauthenticated)
        ));
        assert!(matches!(
            Caller::Invalid.require(Scope::Read),
            Err(AppError::Unauthenticated)
        ));
    }
}
