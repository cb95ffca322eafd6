//! Raw sources: the exact bytes of each received mail, compressed by ephemail with zstd, stored
//! once per mail and expiry bucket: in the row of its message there, or, for a mail to several
//! inboxes of the bucket, in a row of `raw_sources` that its messages point at by SHA-256. The
//! raw source is the source of truth: bodies, header fields and attachment bytes are decoded from
//! it when read. A shared source goes with the last message of its bucket that points at it (the
//! `messages_deleted` trigger), or with the whole bucket.

use chrono::{DateTime, Utc};
use diesel::{
    deserialize, dsl,
    pg::Pg,
    prelude::*,
    sql_types::{Bytea, Nullable, Text},
};

use ephemail_mail::parse::{MailContent, ParsedMail};

use crate::schema::{messages, raw_sources};

/// zstd's default level: about as fast as lz4 to decompress, and it entropy-codes base64.
const ZSTD_LEVEL: i32 = 3;
/// The `encoding` of what [`compress`] gives.
const ZSTD: &str = "zstd";

/// A stored raw source, still encoded, read with [`of_message`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawSource {
    pub encoding: String,
    pub content: Vec<u8>,
}

/// What a message's raw source is read from, with `raw_sources` left-joined on
/// [`super::filters::source_of_message`]: the message's own copy, else the one it shares.
pub fn of_message() -> (
    messages::raw,
    dsl::Nullable<raw_sources::encoding>,
    dsl::Nullable<raw_sources::content>,
) {
    (
        messages::raw,
        raw_sources::encoding.nullable(),
        raw_sources::content.nullable(),
    )
}

impl Queryable<(Nullable<Bytea>, Nullable<Text>, Nullable<Bytea>), Pg> for RawSource {
    type Row = (Option<Vec<u8>>, Option<String>, Option<Vec<u8>>);

    fn build(row: Self::Row) -> deserialize::Result<Self> {
        match row {
            (Some(content), ..) => Ok(Self::zstd(content)),
            (None, Some(encoding), Some(content)) => Ok(Self { encoding, content }),
            _ => Err("a message whose raw source is missing".into()),
        }
    }
}

impl RawSource {
    /// What ephemail compressed with [`compress`].
    fn zstd(content: Vec<u8>) -> Self {
        Self {
            encoding: ZSTD.to_owned(),
            content,
        }
    }

    /// The exact bytes received (CPU work for large mails: call it off the async reactor).
    pub fn decode(&self) -> std::io::Result<Vec<u8>> {
        match self.encoding.as_str() {
            ZSTD => zstd::decode_all(self.content.as_slice()),
            // Moved as they were by the migration that introduced this table.
            _ => Ok(self.content.clone()),
        }
    }

    /// About how many bytes [`RawSource::decode`] gives, for [`ephemail_mail::cpu_bound`]: a
    /// source decoded is about four times its compressed size.
    pub fn decoded_bytes(&self) -> usize {
        self.content.len().saturating_mul(4)
    }
}

/// What a stored message's content is derived from without reading its raw source back: its
/// mail's parse and raw source as the writer stored them, for a listener about to read it.
/// Deriving waits for a read, so ingest pays nothing for listeners that never ask.
#[derive(Debug, PartialEq, Eq)]
pub struct ContentSeed {
    parsed: ParsedMail,
    source: RawSource,
}

impl ContentSeed {
    /// `parsed` from the raw source compressed as `zstd`; its attachments' bytes are let go.
    pub fn new(mut parsed: ParsedMail, zstd: Vec<u8>) -> Self {
        parsed.attachments = Vec::new();
        Self {
            parsed,
            source: RawSource::zstd(zstd),
        }
    }

    /// Bytes held, roughly.
    pub fn weight(&self) -> usize {
        let body = |body: &Option<String>| body.as_ref().map_or(0, String::len);
        std::mem::size_of::<Self>()
            + body(&self.parsed.text)
            + body(&self.parsed.html)
            + self.source.content.len()
    }

    /// The bytes decoded when deriving, for [`ephemail_mail::cpu_bound`].
    pub fn decoded_bytes(&self) -> usize {
        self.source.decoded_bytes()
    }

    /// What [`ephemail_mail::parse::content`] of the raw source gives (CPU work for large
    /// mails: call it off the async reactor).
    pub fn content(&self) -> std::io::Result<MailContent> {
        Ok(self.parsed.content(&self.source.decode()?))
    }
}

/// A raw source to store: its SHA-256, its zstd-compressed bytes (see [`compress`]) and the
/// expiry bucket of the messages that point at it.
#[derive(Debug)]
pub struct NewRawSource<'a> {
    pub sha256: &'a [u8],
    pub zstd: &'a [u8],
    pub purge_at: DateTime<Utc>,
}

/// `raw` compressed for [`NewRawSource`] (CPU work: call it off the async reactor).
pub fn compress(raw: &[u8]) -> std::io::Result<Vec<u8>> {
    thread_local! {
        // A compression context is a few hundred KiB to allocate and clear: one per thread,
        // reused for every mail (one per call was 2-3% of ingest's CPU).
        static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
            const { std::cell::RefCell::new(None) };
    }
    COMPRESSOR.with_borrow_mut(|compressor| {
        let compressor = match compressor {
            Some(compressor) => compressor,
            None => compressor.insert(zstd::bulk::Compressor::new(ZSTD_LEVEL)?),
        };
        compressor.compress(raw)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_the_content_a_read_of_the_raw_source_gives() {
        let raw = b"From: a@example.com\r\nSubject: code\r\nContent-Type: multipart/mixed; \
            boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>Code 482913</p>\r\n\
            --b\r\nContent-Type: application/pdf\r\n\r\n%PDF-1.4\r\n--b--\r\n";
        let parsed = ephemail_mail::parse::parse(raw);
        assert_eq!(parsed.attachments.len(), 1);
        let seed = ContentSeed::new(parsed, compress(raw).unwrap());
        assert_eq!(seed.content().unwrap(), ephemail_mail::parse::content(raw));
    }

    #[test]
    fn a_compressed_source_decodes_to_the_bytes_received() {
        let raw = b"Subject: hi\r\n\r\nbody with \x00 and \xff bytes\r\n".repeat(50);
        let stored = RawSource {
            encoding: "zstd".into(),
            content: compress(&raw).unwrap(),
        };
        assert!(stored.content.len() < raw.len());
        assert_eq!(stored.decode().unwrap(), raw);
        let plain = RawSource {
            encoding: "plain".into(),
            content: raw.clone(),
        };
        assert_eq!(plain.decode().unwrap(), raw);
    }
}
