//! Who is calling, and what they may do. An API key belongs to a tenant and carries scopes;
//! [`Caller::require`] turns a caller into the [`Viewer`] that every data query is scoped by.

pub mod api_key;
pub mod credential;
pub mod inbox_token;
pub mod liveness;
pub mod per_address;
pub mod public;

use uuid::Uuid;

use ephemail_store::models::Viewer;

use crate::{error::AppError, scope::Scope};

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
