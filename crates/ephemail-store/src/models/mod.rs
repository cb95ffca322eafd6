//! One file per table: its row types and its queries (`quota`: the tenants' limits and their
//! `tenant_usage` counters; `filters`: query fragments several tables share).

pub mod api_key;
pub mod attachment;
pub mod domain;
pub mod filters;
pub mod inbox;
pub mod message;
pub mod message_insert;
pub mod quota;
pub mod raw_source;
pub mod server_secret;
pub mod tenant;
pub mod webhook;

use uuid::Uuid;

/// Whose data a query may touch. Every query that serves a client takes one, so ownership is
/// enforced at the data layer, not only in resolvers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer {
    /// The server itself: SMTP ingest, the sweeper, the CLI.
    System,
    /// A tenant's API key: that tenant's data only.
    Tenant(Uuid),
    /// An inbox token: that one inbox only.
    Inbox { tenant_id: Uuid, inbox_id: Uuid },
}
