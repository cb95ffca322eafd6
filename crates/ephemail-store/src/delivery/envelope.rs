//! What the SMTP edge and delivery exchange: recipients and their checks, an accepted mail, and
//! what became of it.

use uuid::Uuid;

use ephemail_mail::address::EmailAddress;

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
