//! Client for [ephemail](https://github.com/ephemail/ephemail), the self-hosted disposable-email
//! service: create inboxes, wait for mail, read verification codes and links, follow an inbox
//! live, have events pushed to a webhook.
//!
//! ```no_run
//! # async fn example() -> ephemail_client::Result<()> {
//! use ephemail_client::{Client, CreateInbox, Wait};
//!
//! let client = Client::from_env()?; // EPHEMAIL_URL, EPHEMAIL_API_KEY
//! let inbox = client.create_inbox(CreateInbox::on("localhost").ttl_seconds(600)).await?;
//! let code = client.wait_for_code(Wait::inbox(&inbox.id).timeout_ms(30_000)).await?;
//! # Ok(()) }
//! ```

mod client;
mod error;
pub mod generated;
mod guard;
mod options;
mod subscribe;
mod webhook;

pub use client::{Client, Inbox, Message};
pub use error::{Error, ErrorCode, Result};
pub use guard::InboxGuard;
pub use options::{CreateInbox, Filter, Subscribe, Wait};
pub use webhook::{CreateWebhook, Webhook};
