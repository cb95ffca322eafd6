//! What a credential may do. Leaf of the API crate: errors name the scope a caller lacked, and
//! `auth` grants scopes, so neither owns it.

use std::{fmt, str::FromStr};

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
