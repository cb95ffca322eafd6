//! A mail made ready to store, before the writer takes it: recipients grouped per inbox, the
//! MIME parsed, the columns derived, the raw source compressed (CPU work: see
//! [`ephemail_mail::cpu_bound`]).

use std::collections::BTreeMap;

use anyhow::Context;
use sha2::{Digest, Sha256};

use ephemail_mail::{address::EmailAddress, parse};

use super::envelope::IncomingMail;
use crate::models::raw_source;

/// The envelope recipients that deliver to one inbox, and the tags they carry.
#[derive(Default)]
pub(super) struct InboxDelivery {
    pub(super) rcpt_to: Vec<String>,
    pub(super) tags: Vec<String>,
}

/// A mail ready to store: recipients grouped per inbox, parsed, with its derived columns.
pub(super) struct PreparedMail {
    pub(super) mail_from: Option<String>,
    pub(super) deliveries: BTreeMap<String, (EmailAddress, InboxDelivery)>,
    pub(super) parsed: parse::ParsedMail,
    pub(super) from_addr: serde_json::Value,
    pub(super) from_text: String,
    pub(super) to_text: String,
    pub(super) size: i32,
    pub(super) attachment_sizes: Vec<i32>,
    /// For a mail to several inboxes: the raw source's SHA-256, under which its messages in one
    /// bucket share it (one message keeps it in its own row).
    pub(super) raw_sha256: Option<[u8; 32]>,
    /// The raw source as stored.
    pub(super) raw_zstd: Vec<u8>,
}

impl PreparedMail {
    /// Groups the recipients per inbox and parses the mail (CPU work, see [`ephemail_mail::cpu_bound`]).
    pub(super) fn prepare(mail: IncomingMail) -> anyhow::Result<Self> {
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
        let parsed = parse::parse(&raw);
        let raw_sha256 = (deliveries.len() > 1).then(|| Sha256::digest(&raw).into());
        Ok(Self {
            mail_from,
            deliveries,
            from_addr: serde_json::to_value(&parsed.from)?,
            from_text: join(&parsed.from),
            to_text: join(
                parsed
                    .correspondence
                    .to
                    .iter()
                    .chain(&parsed.correspondence.cc),
            ),
            size: i32::try_from(raw.len().saturating_sub(trace_len))
                .context("message over 2 GiB")?,
            attachment_sizes: parsed
                .attachments
                .iter()
                .map(|a| i32::try_from(a.content.len()))
                .collect::<Result<Vec<_>, _>>()
                .context("attachment over 2 GiB")?,
            raw_sha256,
            raw_zstd: raw_source::compress(&raw).context("compressing the raw source")?,
            parsed,
        })
    }
}

fn join<'a>(mailboxes: impl IntoIterator<Item = &'a parse::Mailbox>) -> String {
    mailboxes
        .into_iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
