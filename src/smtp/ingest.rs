//! From an accepted mail to stored messages: parse off the async reactor, then one transaction
//! for every recipient inbox, then wake the inboxes' listeners. The caller answers `250` only
//! after that transaction committed.

use std::{collections::BTreeMap, sync::Arc};

use anyhow::Context;
use chrono::Duration;
use diesel_async::AsyncConnection;
use tokio::sync::{mpsc, oneshot};
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
    /// Our `Received:` header, then the client's bytes.
    pub raw: Vec<u8>,
    /// Length of that header: the message's size is what the client sent, as in `SIZE=`.
    pub trace_len: usize,
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

/// A mail ready to store: recipients grouped per inbox, parsed, with its derived columns.
struct PreparedMail {
    mail_from: Option<String>,
    deliveries: BTreeMap<String, (EmailAddress, InboxDelivery)>,
    raw: Vec<u8>,
    parsed: parse::ParsedMail,
    from_addr: serde_json::Value,
    to_addr: serde_json::Value,
    cc_addr: serde_json::Value,
    headers: serde_json::Value,
    from_text: String,
    to_text: String,
    size: i32,
    attachment_sizes: Vec<i32>,
}

impl PreparedMail {
    /// Groups the recipients per inbox and parses the mail; CPU work, run off the reactor.
    fn prepare(
        mail: IncomingMail,
        sanitizer: &crate::mail::sanitize::Sanitizer,
    ) -> anyhow::Result<Self> {
        let IncomingMail {
            mail_from,
            recipients,
            raw,
            trace_len,
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
        let parsed = parse::parse(&raw, sanitizer);
        Ok(Self {
            mail_from,
            deliveries,
            from_addr: serde_json::to_value(&parsed.from)?,
            to_addr: serde_json::to_value(&parsed.to)?,
            cc_addr: serde_json::to_value(&parsed.cc)?,
            headers: serde_json::to_value(&parsed.headers)?,
            from_text: join(&parsed.from),
            to_text: join(parsed.to.iter().chain(&parsed.cc)),
            size: i32::try_from(raw.len().saturating_sub(trace_len))
                .context("message over 2 GiB")?,
            attachment_sizes: parsed
                .attachments
                .iter()
                .map(|a| i32::try_from(a.content.len()))
                .collect::<Result<Vec<_>, _>>()
                .context("attachment over 2 GiB")?,
            raw,
            parsed,
        })
    }
}

/// Stores the mail in every recipient inbox whose tenant has room for it, and returns once that
/// is committed. A recipient inbox deleted or expired between `RCPT TO` and the end of DATA is
/// skipped.
pub async fn deliver(app: &App, mail: IncomingMail) -> anyhow::Result<Delivery> {
    let parser_app = app.clone();
    let prepared =
        tokio::task::spawn_blocking(move || PreparedMail::prepare(mail, &parser_app.sanitizer))
            .await
            .context("parser task failed")??;
    app.ingest.store(prepared).await
}

/// Group commit. Sessions hand their parsed mails to a few writer tasks; a writer takes every
/// mail waiting (up to [`MAX_BATCH`]) and stores them in one transaction, so concurrent
/// sessions share one commit, one disk flush and one hold of the commit-order lock, instead of
/// queueing on that lock one mail at a time. Each session is still answered only after its own
/// mail is committed.
pub struct IngestQueue {
    jobs: mpsc::Sender<Job>,
}

struct Job {
    mail: PreparedMail,
    done: oneshot::Sender<anyhow::Result<Delivery>>,
}

/// Writers: some build their batches while one holds the commit-order lock.
const WRITERS: usize = 4;
/// Mails per transaction at most; bounds the work lost to a failed batch and its latency.
const MAX_BATCH: usize = 64;

impl IngestQueue {
    /// Starts the writers. They hold the state weakly and stop once the last `App` is gone.
    pub fn start(app: &std::sync::Weak<crate::app::AppState>) -> Self {
        let (jobs, receiver) = mpsc::channel(WRITERS * MAX_BATCH);
        let receiver = Arc::new(tokio::sync::Mutex::new(receiver));
        for _ in 0..WRITERS {
            tokio::spawn(write_batches(app.clone(), receiver.clone()));
        }
        Self { jobs }
    }

    async fn store(&self, mail: PreparedMail) -> anyhow::Result<Delivery> {
        let (done, outcome) = oneshot::channel();
        self.jobs
            .send(Job { mail, done })
            .await
            .map_err(|_| anyhow::anyhow!("the ingest writers have stopped"))?;
        outcome
            .await
            .context("the ingest writer dropped the mail")?
    }
}

async fn write_batches(
    app: std::sync::Weak<crate::app::AppState>,
    receiver: Arc<tokio::sync::Mutex<mpsc::Receiver<Job>>>,
) {
    loop {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        {
            let mut receiver = receiver.lock().await;
            if receiver.recv_many(&mut batch, MAX_BATCH).await == 0 {
                return;
            }
        }
        let Some(app) = app.upgrade() else { return };
        let app = App::from(app);
        let outcomes = match store_batch(&app, &batch).await {
            Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
            // Again one by one, so one mail the database refuses cannot fail the others.
            Err(_) if batch.len() > 1 => {
                let mut outcomes = Vec::with_capacity(batch.len());
                for job in &batch {
                    let alone = store_batch(&app, std::slice::from_ref(job)).await;
                    outcomes.push(alone.map(|mut outcome| outcome.remove(0)));
                }
                outcomes
            }
            Err(error) => vec![Err(error)],
        };
        for (job, outcome) in batch.into_iter().zip(outcomes) {
            let delivery = outcome.map(|(delivery, events)| {
                for event in events {
                    app.events.publish(event);
                }
                delivery
            });
            let _ = job.done.send(delivery);
        }
    }
}

/// Looked up once per batch.
#[derive(Default)]
struct BatchCache {
    domains: BTreeMap<String, Option<Domain>>,
    limits: BTreeMap<Uuid, Limits>,
}

/// Stores a batch in one transaction: resolves every inbox, admits every mail against its
/// tenant's quotas, then takes the commit-order lock once and inserts every message.
async fn store_batch(
    app: &App,
    batch: &[Job],
) -> anyhow::Result<Vec<(Delivery, Vec<MessageStored>)>> {
    let now = app.clock.now();
    let mut conn = app.pool.get().await?;
    let stored = conn
        .transaction(async |conn| {
            let mut cache = BatchCache::default();
            let mut resolved = Vec::with_capacity(batch.len());
            for job in batch {
                resolved.push(resolve(conn, app, &job.mail, &mut cache, now).await?);
            }
            // Quotas after every inbox: counting locks the tenant's counters row until commit,
            // so the other writers' inbox work overlaps with this batch's locked part.
            let mut admitted = Vec::with_capacity(batch.len());
            for (job, inboxes) in batch.iter().zip(resolved) {
                admitted.push(admit(conn, app, &job.mail, inboxes, &mut cache, now).await?);
            }
            if admitted.iter().any(|(_, targets)| !targets.is_empty()) {
                message::lock_commit_order(conn).await?;
            }
            let mut outcomes = Vec::with_capacity(batch.len());
            for (job, (mut delivery, targets)) in batch.iter().zip(admitted) {
                let mut events = Vec::with_capacity(targets.len());
                for (inbox, inbox_delivery) in targets {
                    let (id, event) = insert(conn, &job.mail, &inbox, inbox_delivery, now).await?;
                    delivery.stored.push(id);
                    events.push(event);
                }
                outcomes.push((delivery, events));
            }
            Ok::<_, diesel::result::Error>(outcomes)
        })
        .await
        .context("storing the message")?;
    Ok(stored)
}

/// Resolves (or on a catch-all domain creates) each recipient inbox of `mail`.
async fn resolve<'m>(
    conn: &mut diesel_async::AsyncPgConnection,
    app: &App,
    mail: &'m PreparedMail,
    cache: &mut BatchCache,
    now: chrono::DateTime<chrono::Utc>,
) -> diesel::QueryResult<Vec<(Inbox, &'m InboxDelivery)>> {
    let catch_all_ttl = Duration::seconds(i64::from(app.config.inbox.default_ttl));
    let mut inboxes = Vec::with_capacity(mail.deliveries.len());
    for (address, delivery) in mail.deliveries.values() {
        let domain_name = address.domain.as_str();
        let domain = match cache.domains.get(domain_name) {
            Some(domain) => domain.clone(),
            None => {
                let domain = domain::find(conn, domain_name).await?;
                cache.domains.insert(domain_name.to_owned(), domain.clone());
                domain
            }
        };
        let inbox = match domain {
            // A catch-all domain's inboxes belong to the domain's tenant.
            Some(Domain {
                mode: DomainMode::CatchAll,
                tenant_id: Some(owner),
                ..
            }) => Some(inbox::find_or_create(conn, address, owner, now, catch_all_ttl).await?),
            Some(Domain {
                mode: DomainMode::Registered,
                ..
            }) => {
                let (local, domain) = (&address.local, &address.domain);
                inbox::find_by_address(conn, Viewer::System, local, domain, now).await?
            }
            _ => None,
        };
        inboxes.extend(inbox.map(|inbox| (inbox, delivery)));
    }
    Ok(inboxes)
}

/// Counts the mail against each inbox's tenant's size, daily and storage quotas; returns the
/// inboxes that take it.
async fn admit<'m>(
    conn: &mut diesel_async::AsyncPgConnection,
    app: &App,
    mail: &PreparedMail,
    inboxes: Vec<(Inbox, &'m InboxDelivery)>,
    cache: &mut BatchCache,
    now: chrono::DateTime<chrono::Utc>,
) -> diesel::QueryResult<(Delivery, Vec<(Inbox, &'m InboxDelivery)>)> {
    let mut outcome = Delivery::default();
    let mut targets = Vec::with_capacity(inboxes.len());
    for (inbox, delivery) in inboxes {
        let limits = match cache.limits.get(&inbox.tenant_id) {
            Some(found) => *found,
            None => {
                let found = quota::limits_of(conn, &app.config, inbox.tenant_id).await?;
                cache.limits.insert(inbox.tenant_id, found);
                found
            }
        };
        let size = i64::from(mail.size);
        if size > limits.max_message_size {
            outcome.too_large += 1;
        } else if quota::count_mail(conn, inbox.tenant_id, &limits, size, now).await? {
            targets.push((inbox, delivery));
        } else {
            outcome.over_quota += 1;
        }
    }
    Ok((outcome, targets))
}

/// Inserts one inbox's copy of the mail and its attachments. Call after
/// [`message::lock_commit_order`].
async fn insert(
    conn: &mut diesel_async::AsyncPgConnection,
    mail: &PreparedMail,
    inbox: &Inbox,
    delivery: &InboxDelivery,
    now: chrono::DateTime<chrono::Utc>,
) -> diesel::QueryResult<(Uuid, MessageStored)> {
    let parsed = &mail.parsed;
    let id = Uuid::new_v4();
    let seq = message::insert(
        conn,
        &NewMessage {
            id,
            inbox_id: inbox.id,
            tenant_id: inbox.tenant_id,
            received_at: now,
            mail_from: mail.mail_from.as_deref(),
            // Each inbox sees only its own envelope recipients, never the others (Bcc).
            rcpt_to: &delivery.rcpt_to,
            from_addr: &mail.from_addr,
            to_addr: &mail.to_addr,
            cc_addr: &mail.cc_addr,
            from_text: &mail.from_text,
            to_text: &format!("{}, {}", mail.to_text, delivery.rcpt_to.join(", ")),
            subject: parsed.subject.as_deref(),
            sent_at: parsed.sent_at,
            message_id: parsed.message_id.as_deref(),
            in_reply_to: parsed.in_reply_to.as_deref(),
            headers: &mail.headers,
            text_body: parsed.text.as_deref(),
            html_body: parsed.html.as_deref(),
            size: mail.size,
            raw: &mail.raw,
            parse_error: parsed.parse_error.as_deref(),
            tags: &delivery.tags,
            has_attachments: !parsed.attachments.is_empty(),
        },
    )
    .await?;
    let attachments: Vec<NewAttachment<'_>> = parsed
        .attachments
        .iter()
        .zip(&mail.attachment_sizes)
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
    Ok((
        id,
        MessageStored {
            inbox_id: inbox.id,
            seq,
        },
    ))
}

fn join<'a>(mailboxes: impl IntoIterator<Item = &'a parse::Mailbox>) -> String {
    mailboxes
        .into_iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
