//! The body of a delivery, as the Standard Webhooks specification suggests: `type`,
//! `timestamp` (when the event happened) and `data`. A message's facts are read when it is
//! sent, with the code the API reads them with (`codes` and `links` from the sanitized HTML), so
//! a webhook and a query answer alike; every attempt of a delivery sends the same body.

use std::{collections::HashMap, sync::Arc};

use chrono::{DateTime, SecondsFormat, Utc};
use diesel_async::AsyncPgConnection;
use serde_json::{json, Value};
use uuid::Uuid;

use ephemail_mail::{
    codes, links,
    parse::{MailContent, Mailbox},
    sanitize::Sanitizer,
};
use ephemail_store::models::{
    attachment::{self, Attachment},
    inbox,
    message::Message,
    message_by_id,
    webhook::Claimed,
    MessageAt, Viewer,
};

use crate::content::Contents;

/// The event names stored in deliveries and webhooks, and the `type` each sends.
pub const EVENT_TYPES: [(&str, &str); 3] = [
    ("MESSAGE_RECEIVED", "message.received"),
    ("INBOX_EXPIRED", "inbox.expired"),
    (TEST_EVENT, "webhook.test"),
];

/// What `testWebhook` sends.
pub const TEST_EVENT: &str = "WEBHOOK_TEST";

/// Each claimed delivery's body, or why it cannot be sent (its message is gone).
pub async fn bodies(
    conn: &mut AsyncPgConnection,
    claimed: &[Claimed],
    base_url: &str,
    sanitizer: &Arc<Sanitizer>,
    contents: &Contents,
    now: DateTime<Utc>,
) -> anyhow::Result<HashMap<Uuid, Result<Vec<u8>, String>>> {
    let message_ids: Vec<Uuid> = claimed.iter().filter_map(|d| d.message_id).collect();
    let messages = if message_ids.is_empty() {
        HashMap::new()
    } else {
        message_facts(conn, &message_ids, contents, now).await?
    };
    let mut bodies = HashMap::with_capacity(claimed.len());
    for delivery in claimed {
        let data = match (delivery.message_id, &delivery.data) {
            (Some(id), _) => match messages.get(&id) {
                Some(facts) => Ok(message_data(facts, base_url, sanitizer).await?),
                None => Err(
                    "the message was deleted (or its inbox expired) before it could be \
                             delivered"
                        .to_owned(),
                ),
            },
            (None, Some(data)) => Ok(data.clone()),
            (None, None) => Err("the delivery has no data".to_owned()),
        };
        let body = data.map(|mut data| {
            if let (Some(inbox_id), Some(object)) = (delivery.inbox_id, data.as_object_mut()) {
                object.entry("inboxId").or_insert_with(|| json!(inbox_id));
            }
            let body = json!({
                "type": event_type(&delivery.event),
                "timestamp": timestamp(delivery.created_at),
                "data": data,
            });
            body.to_string().into_bytes()
        });
        bodies.insert(delivery.id, body);
    }
    Ok(bodies)
}

/// The `type` an event sends.
pub fn event_type(event: &str) -> &str {
    EVENT_TYPES
        .iter()
        .find(|(name, _)| *name == event)
        .map_or(event, |(_, kind)| kind)
}

fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A message with what its event tells besides.
struct MessageFacts {
    message: Message,
    content: Arc<MailContent>,
    address: String,
    attachments: Vec<Attachment>,
}

/// The live messages among `ids`, with their inboxes' addresses, their attachments and their
/// contents (derived from their raw sources, or cached), in at most four queries whatever their
/// number. A message is live while its inbox is: the messages are read by id, and those whose
/// inbox is not among the live ones read next are dropped.
async fn message_facts(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
    contents: &Contents,
    now: DateTime<Utc>,
) -> anyhow::Result<HashMap<Uuid, MessageFacts>> {
    let messages = message_by_id::find_all_by_id(conn, ids).await?;
    let mut inbox_ids: Vec<Uuid> = messages.iter().map(|(m, _)| m.inbox_id).collect();
    inbox_ids.sort_unstable();
    inbox_ids.dedup();
    let addresses: HashMap<Uuid, String> = inbox::find_all(conn, Viewer::System, &inbox_ids, now)
        .await?
        .into_iter()
        .map(|inbox| (inbox.id, inbox.address()))
        .collect();
    let at = |(message, purge_at): &(Message, _)| MessageAt {
        id: message.id,
        purge_at: *purge_at,
    };
    let found: Vec<MessageAt> = messages.iter().map(at).collect();
    let mut content = contents.load(conn, &found).await?;
    let with_attachments: Vec<MessageAt> = (messages.iter())
        .filter(|(message, _)| message.has_attachments)
        .map(at)
        .collect();
    let mut attachments: HashMap<Uuid, Vec<Attachment>> = HashMap::new();
    for attachment in attachment::for_messages(conn, &with_attachments).await? {
        attachments
            .entry(attachment.message_id)
            .or_default()
            .push(attachment);
    }
    Ok(messages
        .into_iter()
        .filter_map(|(message, _)| {
            let address = addresses.get(&message.inbox_id)?.clone();
            let content = content.remove(&message.id)?;
            let attachments = attachments.remove(&message.id).unwrap_or_default();
            Some((
                message.id,
                MessageFacts {
                    message,
                    content,
                    address,
                    attachments,
                },
            ))
        })
        .collect())
}

/// A `message.received` event's data.
async fn message_data(
    facts: &MessageFacts,
    base_url: &str,
    sanitizer: &Arc<Sanitizer>,
) -> anyhow::Result<Value> {
    let message = &facts.message;
    let content = facts.content.clone();
    let subject = message.subject.clone();
    let sanitizer = sanitizer.clone();
    let size = content.html.as_ref().map_or(0, String::len);
    // The same derivation as the API's `codes` and `links` fields.
    let (codes, links) = ephemail_mail::cpu_bound(size, move || {
        let html = content.html.as_deref().map(|html| sanitizer.clean(html));
        let text = content.text.as_deref();
        let codes = codes::codes(subject.as_deref(), text, html.as_deref());
        (codes, links::links(html.as_deref(), text))
    })
    .await?;
    let from = Message::decode::<Mailbox>(&message.from_addr)
        .into_iter()
        .next();
    let attachments: Vec<Value> = facts
        .attachments
        .iter()
        .map(|a| {
            json!({
                "id": a.id,
                "filename": a.filename,
                "contentType": a.content_type,
                "size": a.size,
                "url": format!("{base_url}/attachments/{}", a.id),
            })
        })
        .collect();
    Ok(json!({
        "inboxId": message.inbox_id,
        "address": facts.address,
        "messageId": message.id,
        "mailFrom": message.mail_from,
        "from": from.map(|from| json!({ "name": from.name, "address": from.address })),
        "subject": message.subject,
        "receivedAt": timestamp(message.received_at),
        "codes": codes,
        "links": links
            .into_iter()
            .map(|link| json!({ "href": link.href, "text": link.text }))
            .collect::<Vec<_>>(),
        "size": message.size,
        "rawUrl": format!("{base_url}/messages/{}/raw", message.id),
        "attachments": attachments,
    }))
}
