//! What the client's methods take: small builders with owned values.

use chrono::{DateTime, Utc};
use regex::Regex;

use crate::generated::MessageFilter;

/// `create_inbox` options; `CreateInbox::default()` is a random address on the first served domain.
#[derive(Debug, Clone, Default)]
pub struct CreateInbox {
    pub domain: Option<String>,
    pub local_part: Option<String>,
    pub ttl_seconds: Option<i32>,
    pub tags: Vec<String>,
}

impl CreateInbox {
    /// On `domain`, a domain the server serves.
    pub fn on(domain: impl Into<String>) -> Self {
        Self { domain: Some(domain.into()), ..Self::default() }
    }

    pub fn local_part(mut self, local_part: impl Into<String>) -> Self {
        self.local_part = Some(local_part.into());
        self
    }

    pub fn ttl_seconds(mut self, ttl_seconds: i32) -> Self {
        self.ttl_seconds = Some(ttl_seconds);
        self
    }

    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }
}

/// Which messages count; every criterion given must hold.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub subject: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub tag: Option<String>,
    pub seen: Option<bool>,
    pub has_attachments: Option<bool>,
    pub received_after: Option<DateTime<Utc>>,
    pub received_before: Option<DateTime<Utc>>,
}

impl Filter {
    pub(crate) fn variables(&self) -> MessageFilter<'_> {
        MessageFilter {
            from: self.from.as_deref(),
            has_attachments: self.has_attachments,
            received_after: self.received_after,
            received_before: self.received_before,
            seen: self.seen,
            subject: self.subject.as_deref(),
            tag: self.tag.as_deref(),
            to: self.to.as_deref(),
        }
    }
}

/// An inbox by id, or by address (a catch-all address may be waited on before it exists).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Target {
    Id(String),
    Address(String),
}

impl Target {
    pub(crate) fn id(&self) -> Option<cynic::Id> {
        match self {
            Self::Id(id) => Some(cynic::Id::new(id)),
            Self::Address(_) => None,
        }
    }

    pub(crate) fn address(&self) -> Option<&str> {
        match self {
            Self::Id(_) => None,
            Self::Address(address) => Some(address),
        }
    }
}

/// What `wait_for_message`, `wait_for_code` and `wait_for_link` wait for.
#[derive(Debug, Clone)]
pub struct Wait {
    pub(crate) target: Target,
    pub(crate) timeout_ms: u32,
    pub(crate) filter: Option<Filter>,
    pub(crate) mark_seen: Option<bool>,
    pub(crate) link_match: Option<Regex>,
}

/// The server's default wait.
const DEFAULT_TIMEOUT_MS: u32 = 30_000;

impl Wait {
    pub fn inbox(id: impl Into<String>) -> Self {
        Self::on(Target::Id(id.into()))
    }

    pub fn address(address: impl Into<String>) -> Self {
        Self::on(Target::Address(address.into()))
    }

    fn on(target: Target) -> Self {
        Self {
            target,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            filter: None,
            mark_seen: None,
            link_match: None,
        }
    }

    /// How long to wait (default 30000); the server caps it at its `--max-wait`.
    pub fn timeout_ms(mut self, timeout_ms: u32) -> Self {
        self.timeout_ms = timeout_ms;
        self
    }

    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = Some(filter);
        self
    }

    /// Only unseen messages count, and the one returned is marked seen.
    pub fn mark_seen(mut self, mark_seen: bool) -> Self {
        self.mark_seen = Some(mark_seen);
        self
    }

    /// For `wait_for_link`: the first link whose href matches.
    pub fn link_matching(mut self, pattern: Regex) -> Self {
        self.link_match = Some(pattern);
        self
    }
}

/// What `subscribe` follows.
#[derive(Debug, Clone)]
pub struct Subscribe {
    pub(crate) target: Target,
    pub(crate) after: Option<String>,
    pub(crate) filter: Option<Filter>,
    pub(crate) max_reconnects: u32,
}

impl Subscribe {
    pub fn inbox(id: impl Into<String>) -> Self {
        Self::on(Target::Id(id.into()))
    }

    pub fn address(address: impl Into<String>) -> Self {
        Self::on(Target::Address(address.into()))
    }

    fn on(target: Target) -> Self {
        Self { target, after: None, filter: None, max_reconnects: 8 }
    }

    /// A message's or inbox's cursor: replay what was stored after it first.
    pub fn after(mut self, cursor: impl Into<String>) -> Self {
        self.after = Some(cursor.into());
        self
    }

    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = Some(filter);
        self
    }

    /// Consecutive failed reconnects before the stream ends with an error (default 8).
    pub fn max_reconnects(mut self, max_reconnects: u32) -> Self {
        self.max_reconnects = max_reconnects;
        self
    }
}
