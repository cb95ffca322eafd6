//! From an accepted mail to stored messages: parse off the async reactor, then one transaction
//! for every recipient inbox. The caller answers `250` only after that transaction committed.

use std::collections::HashMap;

use anyhow::Context;
use chrono::Duration;
use diesel_async::AsyncConnection;
use uuid::Uuid;

use crate::{
    app::App,
    db::models::{
        attachment::{self, NewAttachment},
        domain::{self, DomainMode},
        inbox::{self, Inbox},
        message::{self, NewMessage},
    },
    mail::{address::EmailAddress, parse},
};

/// Whether a recipient can receive mail, decided at `RCPT TO`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecipientCheck {
    Accept,
    /// We do not serve the domain: never relay.
    DomainNotServed,
    /// A registered domain without a live inbox at that address.
    NoSuchInbox,
}

pub async fn check_recipient(app: &App, address: &EmailAddress) -> anyhow::Result<RecipientCheck> {
    let mut conn = app.pool.get().await?;
    let Some(domain) = domain::find(&mut conn, address.domain.as_str()).await? else {
        return Ok(RecipientCheck::DomainNotServed);
    };
    Ok(match domain.mode {
        DomainMode::CatchAll => RecipientCheck::Accept,
        DomainMode::Registered => {
            let now = app.clock.now();
            match inbox::find_by_address(&mut conn, &address.local, &address.domain, now).await? {
                Some(_) => RecipientCheck::Accept,
                None => RecipientCheck::NoSuchInbox,
            }
        }
    })
}

/// One accepted mail: the envelope and the unescaped bytes.
#[derive(Debug)]
pub struct IncomingMail {
    /// `None` for the null reverse-path `<>`.
    pub mail_from: Option<String>,
    pub recipients: Vec<EmailAddress>,
    pub raw: Vec<u8>,
}

/// Ids of the stored messages, one per recipient inbox; empty when no recipient inbox remained
/// (deleted or expired between `RCPT TO` and the end of DATA).
pub async fn deliver(app: &App, mail: IncomingMail) -> anyhow::Result<Vec<Uuid>> {
    let IncomingMail {
        mail_from,
        mut recipients,
        raw,
    } = mail;
    recipients.sort_by_key(|address| address.to_string());
    recipients.dedup();
    let parser_app = app.clone();
    let (raw, parsed) = tokio::task::spawn_blocking(move || {
        let parsed = parse::parse(&raw, &parser_app.sanitizer);
        (raw, parsed)
    })
    .await
    .context("parser task failed")?;

    let now = app.clock.now();
    let catch_all_ttl = Duration::seconds(i64::from(app.config.inbox.default_ttl));
    let from_addr = serde_json::to_value(&parsed.from)?;
    let to_addr = serde_json::to_value(&parsed.to)?;
    let cc_addr = serde_json::to_value(&parsed.cc)?;
    let headers = serde_json::to_value(&parsed.headers)?;
    let size = i32::try_from(raw.len()).context("message over 2 GiB")?;
    let attachment_sizes = parsed
        .attachments
        .iter()
        .map(|a| i32::try_from(a.content.len()))
        .collect::<Result<Vec<_>, _>>()
        .context("attachment over 2 GiB")?;

    let mut conn = app.pool.get().await?;
    let stored = conn
        .transaction(async |conn| {
            let mut modes: HashMap<String, Option<DomainMode>> = HashMap::new();
            let mut stored = Vec::with_capacity(recipients.len());
            for address in &recipients {
                let domain_name = address.domain.as_str();
                let mode = match modes.get(domain_name) {
                    Some(mode) => *mode,
                    None => {
                        let mode = domain::find(conn, domain_name).await?.map(|d| d.mode);
                        modes.insert(domain_name.to_owned(), mode);
                        mode
                    }
                };
                let inbox: Option<Inbox> = match mode {
                    Some(DomainMode::CatchAll) => {
                        Some(inbox::find_or_create(conn, address, now, catch_all_ttl).await?)
                    }
                    Some(DomainMode::Registered) => {
                        inbox::find_by_address(conn, &address.local, &address.domain, now).await?
                    }
                    None => None,
                };
                let Some(inbox) = inbox else { continue };
                // Each inbox sees only its own envelope recipients, never the other (Bcc) ones.
                let rcpt_to = [address.to_string()];
                let id = Uuid::new_v4();
                message::insert(
                    conn,
                    &NewMessage {
                        id,
                        inbox_id: inbox.id,
                        received_at: now,
                        mail_from: mail_from.as_deref(),
                        rcpt_to: &rcpt_to,
                        from_addr: &from_addr,
                        to_addr: &to_addr,
                        cc_addr: &cc_addr,
                        subject: parsed.subject.as_deref(),
                        sent_at: parsed.sent_at,
                        message_id: parsed.message_id.as_deref(),
                        headers: &headers,
                        text_body: parsed.text.as_deref(),
                        html_body: parsed.html.as_deref(),
                        size,
                        raw: &raw,
                        parse_error: parsed.parse_error.as_deref(),
                    },
                )
                .await?;
                let attachments: Vec<NewAttachment<'_>> = parsed
                    .attachments
                    .iter()
                    .zip(&attachment_sizes)
                    .zip(0..)
                    .map(|((a, &size), position)| NewAttachment {
                        id: Uuid::new_v4(),
                        message_id: id,
                        position,
                        filename: a.filename.as_deref(),
                        content_type: &a.content_type,
                        content_id: a.content_id.as_deref(),
                        inline: a.inline,
                        size,
                        content: &a.content,
                    })
                    .collect();
                attachment::insert_all(conn, &attachments).await?;
                stored.push(id);
            }
            Ok::<_, diesel::result::Error>(stored)
        })
        .await
        .context("storing the message")?;
    Ok(stored)
}
