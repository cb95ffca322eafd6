//! From an accepted mail to stored messages: parse off the async reactor, then one transaction
//! for every recipient inbox, then wake the inboxes' listeners. The caller answers `250` only
//! after that transaction committed.

use std::collections::BTreeMap;

use anyhow::Context;
use chrono::Duration;
use diesel_async::AsyncConnection;
use uuid::Uuid;

use crate::{
    app::App,
    db::models::{
        attachment::{self, NewAttachment},
        domain::{self, Domain, DomainMode},
        inbox::{self, Inbox},
        message::{self, NewMessage},
        Viewer,
    },
    events::MessageStored,
    mail::{address::EmailAddress, parse},
    quota::{self, Limits},
};

/// Whether a recipient can receive mail, decided at `RCPT TO`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecipientCheck {
    Accept,
    /// We do not serve the domain: never relay.
    DomainNotServed,
    /// A registered domain without a live inbox at that address.
    NoSuchInbox,
    /// The inbox's tenant is over its daily mail or storage quota.
    OverQuota,
}

/// An accepted `RCPT TO`: the address as sent, and the inbox it delivers to (plus-addressing:
/// `local+tag@domain` goes to `local@domain`, tagged `tag`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub address: EmailAddress,
    pub inbox: EmailAddress,
    pub tag: Option<String>,
}

impl Recipient {
    pub fn new(address: EmailAddress) -> Self {
        let (inbox, tag) = address.clone().split_tag();
        Self {
            address,
            inbox,
            tag,
        }
    }
}

pub async fn check_recipient(app: &App, recipient: &Recipient) -> anyhow::Result<RecipientCheck> {
    let address = &recipient.inbox;
    let now = app.clock.now();
    let mut conn = app.pool.get().await?;
    let Some(domain) = domain::find(&mut conn, address.domain.as_str()).await? else {
        return Ok(RecipientCheck::DomainNotServed);
    };
    let tenant_id = match (domain.mode, domain.tenant_id) {
        (DomainMode::CatchAll, Some(owner)) => owner,
        _ => {
            let (local, domain) = (&address.local, &address.domain);
            match inbox::find_by_address(&mut conn, Viewer::System, local, domain, now).await? {
                Some(inbox) => inbox.tenant_id,
                None => return Ok(RecipientCheck::NoSuchInbox),
            }
        }
    };
    let limits = quota::limits_of(&mut conn, &app.config, tenant_id).await?;
    Ok(
        if quota::can_receive(&mut conn, tenant_id, &limits, now).await? {
            RecipientCheck::Accept
        } else {
            RecipientCheck::OverQuota
        },
    )
}

/// One accepted mail: the envelope and the unescaped bytes.
#[derive(Debug)]
pub struct IncomingMail {
    /// `None` for the null reverse-path `<>`.
    pub mail_from: Option<String>,
    pub recipients: Vec<Recipient>,
    pub raw: Vec<u8>,
}

/// The envelope recipients that deliver to one inbox, and the tags they carry.
#[derive(Default)]
struct InboxDelivery {
    rcpt_to: Vec<String>,
    tags: Vec<String>,
}

/// What happened to one mail, per recipient inbox.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Ids of the stored messages.
    pub stored: Vec<Uuid>,
    /// Inboxes whose tenant allows smaller messages.
    pub too_large: usize,
    /// Inboxes whose tenant is over its daily mail or storage quota.
    pub over_quota: usize,
}

/// Stores the mail in every recipient inbox whose tenant has room for it. A recipient inbox
/// deleted or expired between `RCPT TO` and the end of DATA is skipped.
pub async fn deliver(app: &App, mail: IncomingMail) -> anyhow::Result<Delivery> {
    let IncomingMail {
        mail_from,
        recipients,
        raw,
    } = mail;
    let mut deliveries: BTreeMap<String, (EmailAddress, InboxDelivery)> = BTreeMap::new();
    for recipient in recipients {
        let (_, delivery) = deliveries
            .entry(recipient.inbox.to_string())
            .or_insert_with(|| (recipient.inbox.clone(), InboxDelivery::default()));
        let rcpt = recipient.address.to_string();
        if !delivery.rcpt_to.contains(&rcpt) {
            delivery.rcpt_to.push(rcpt);
        }
        if let Some(tag) = recipient.tag.filter(|tag| !delivery.tags.contains(tag)) {
            delivery.tags.push(tag);
        }
    }

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
    let from_text = join(&parsed.from);
    let to_text = join(parsed.to.iter().chain(&parsed.cc));
    let size = i32::try_from(raw.len()).context("message over 2 GiB")?;
    let attachment_sizes = parsed
        .attachments
        .iter()
        .map(|a| i32::try_from(a.content.len()))
        .collect::<Result<Vec<_>, _>>()
        .context("attachment over 2 GiB")?;

    let mut conn = app.pool.get().await?;
    let (mut delivery, stored) = conn
        .transaction(async |conn| {
            // Resolve (or create) every inbox first, so the commit-order lock is held briefly.
            let mut targets: Vec<(Inbox, &InboxDelivery)> = Vec::with_capacity(deliveries.len());
            let mut domains: BTreeMap<&str, Option<Domain>> = BTreeMap::new();
            for (address, delivery) in deliveries.values() {
                let domain_name = address.domain.as_str();
                let domain = match domains.get(domain_name) {
                    Some(domain) => domain.clone(),
                    None => {
                        let domain = domain::find(conn, domain_name).await?;
                        domains.insert(domain_name, domain.clone());
                        domain
                    }
                };
                let inbox = match domain {
                    // A catch-all domain's inboxes belong to the domain's tenant.
                    Some(Domain {
                        mode: DomainMode::CatchAll,
                        tenant_id: Some(owner),
                        ..
                    }) => {
                        Some(inbox::find_or_create(conn, address, owner, now, catch_all_ttl).await?)
                    }
                    Some(Domain {
                        mode: DomainMode::Registered,
                        ..
                    }) => {
                        let (local, domain) = (&address.local, &address.domain);
                        inbox::find_by_address(conn, Viewer::System, local, domain, now).await?
                    }
                    _ => None,
                };
                targets.extend(inbox.map(|inbox| (inbox, delivery)));
            }
            // Each inbox's tenant must have room for the mail: size, daily count and storage.
            let mut outcome = Delivery::default();
            let mut admitted = Vec::with_capacity(targets.len());
            let mut limits: BTreeMap<Uuid, Limits> = BTreeMap::new();
            for (inbox, delivery) in targets {
                let tenant_limits = match limits.get(&inbox.tenant_id) {
                    Some(found) => *found,
                    None => {
                        let found = quota::limits_of(conn, &app.config, inbox.tenant_id).await?;
                        limits.insert(inbox.tenant_id, found);
                        found
                    }
                };
                if i64::from(size) > tenant_limits.max_message_size {
                    outcome.too_large += 1;
                } else if quota::count_mail(
                    conn,
                    inbox.tenant_id,
                    &tenant_limits,
                    i64::from(size),
                    now,
                )
                .await?
                {
                    admitted.push((inbox, delivery));
                } else {
                    outcome.over_quota += 1;
                }
            }
            if admitted.is_empty() {
                return Ok((outcome, Vec::new()));
            }
            message::lock_commit_order(conn).await?;
            let mut stored = Vec::with_capacity(admitted.len());
            for (inbox, delivery) in admitted {
                let id = Uuid::new_v4();
                let seq = message::insert(
                    conn,
                    &NewMessage {
                        id,
                        inbox_id: inbox.id,
                        tenant_id: inbox.tenant_id,
                        received_at: now,
                        mail_from: mail_from.as_deref(),
                        // Each inbox sees only its own envelope recipients, never the others (Bcc).
                        rcpt_to: &delivery.rcpt_to,
                        from_addr: &from_addr,
                        to_addr: &to_addr,
                        cc_addr: &cc_addr,
                        from_text: &from_text,
                        to_text: &format!("{to_text}, {}", delivery.rcpt_to.join(", ")),
                        subject: parsed.subject.as_deref(),
                        sent_at: parsed.sent_at,
                        message_id: parsed.message_id.as_deref(),
                        in_reply_to: parsed.in_reply_to.as_deref(),
                        headers: &headers,
                        text_body: parsed.text.as_deref(),
                        html_body: parsed.html.as_deref(),
                        size,
                        raw: &raw,
                        parse_error: parsed.parse_error.as_deref(),
                        tags: &delivery.tags,
                        has_attachments: !parsed.attachments.is_empty(),
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
                stored.push((
                    id,
                    MessageStored {
                        inbox_id: inbox.id,
                        seq,
                    },
                ));
            }
            Ok::<_, diesel::result::Error>((outcome, stored))
        })
        .await
        .context("storing the message")?;
    for (id, event) in stored {
        app.events.publish(event);
        delivery.stored.push(id);
    }
    Ok(delivery)
}

fn join<'a>(mailboxes: impl IntoIterator<Item = &'a parse::Mailbox>) -> String {
    mailboxes
        .into_iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
