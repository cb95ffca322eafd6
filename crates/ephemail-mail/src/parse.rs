//! MIME parsing with mail-parser, turned into owned values at this boundary so that nothing
//! downstream borrows from the raw bytes.

use std::fmt;

use chrono::{DateTime, Utc};
use mail_parser::{Address, HeaderValue, MessageParser, MimeHeaders, PartType};
use serde::{Deserialize, Serialize};

use super::flatten;

/// A display name and address from a header such as `From:` or `To:`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "graphql", derive(async_graphql::SimpleObject))]
pub struct Mailbox {
    pub name: Option<String>,
    pub address: Option<String>,
}

impl fmt::Display for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.name, &self.address) {
            (Some(name), Some(address)) => write!(f, "{name} <{address}>"),
            (Some(name), None) => f.write_str(name),
            (None, Some(address)) => f.write_str(address),
            (None, None) => Ok(()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "graphql", derive(async_graphql::SimpleObject))]
pub struct HeaderField {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedAttachment {
    pub filename: Option<String>,
    pub content_type: String,
    pub content_id: Option<String>,
    pub inline: bool,
    pub content: Vec<u8>,
}

/// A limit a mail's parsed parts were cut at. The raw source is always stored whole; these say
/// what the parsed fields (`text`, `html`, attachments, headers) leave out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "graphql", derive(async_graphql::Enum))]
pub enum ContentLimit {
    // The doc comments are the schema's descriptions: numbers, not links to the constants
    // (`content_limits_are_described_with_their_values` keeps them equal).
    /// The HTML nested deeper than 128 elements: the deeper tags were dropped, their text kept.
    HtmlNesting,
    /// The HTML body was longer than 2 MiB and was cut there.
    HtmlSize,
    /// The text body was longer than 2 MiB and was cut there.
    TextSize,
    /// The mail had more than 256 attachments; the later ones are not listed.
    Attachments,
    /// The mail had more than 1000 header fields; the later ones are not listed.
    HeaderFields,
}

/// Deeper HTML is flattened before sanitizing (see [`crate::flatten`]): sanitizing costs
/// time proportional to length times depth, so this bounds it for any mail.
pub const MAX_HTML_DEPTH: usize = 128;
/// Text and HTML bodies are cut at this many bytes (the raw source keeps everything).
pub const MAX_BODY_BYTES: usize = 2 << 20;
/// Attachments listed (and stored as metadata) per mail.
pub const MAX_ATTACHMENTS: usize = 256;
/// Header fields listed per mail.
pub const MAX_HEADER_FIELDS: usize = 1_000;

/// Who a mail was written to, when, and in reply to what (its `To:`, `Cc:`, `Date:`,
/// `Message-ID:` and `In-Reply-To:` headers): what a message's own view shows and lists do not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Correspondence {
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub sent_at: Option<DateTime<Utc>>,
    pub message_id: Option<String>,
    pub in_reply_to: Option<String>,
}

impl Correspondence {
    fn of(message: &mail_parser::Message<'_>) -> Self {
        Self {
            to: mailboxes(message.to()),
            cc: mailboxes(message.cc()),
            sent_at: message
                .date()
                .and_then(|date| DateTime::from_timestamp(date.to_timestamp(), 0)),
            message_id: message.message_id().map(storable),
            in_reply_to: match message.in_reply_to() {
                HeaderValue::Text(id) => Some(storable(id)),
                HeaderValue::TextList(ids) => ids.first().map(|id| storable(id)),
                _ => None,
            },
        }
    }

    /// Bytes held, roughly.
    fn weight(&self) -> usize {
        let text = |text: &Option<String>| text.as_ref().map_or(0, String::len);
        let mailboxes = |list: &[Mailbox]| -> usize {
            list.iter()
                .map(|m| text(&m.name) + text(&m.address) + std::mem::size_of::<Mailbox>())
                .sum()
        };
        mailboxes(&self.to) + mailboxes(&self.cc) + text(&self.message_id) + text(&self.in_reply_to)
    }
}

/// Why [`parse`] found no message in some bytes.
const UNPARSABLE: &str = "no message headers or body could be parsed";

/// What ephemail keeps of a message besides its raw bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedMail {
    pub from: Vec<Mailbox>,
    pub subject: Option<String>,
    pub correspondence: Correspondence,
    pub text: Option<String>,
    /// As sent, cut at [`MAX_BODY_BYTES`] and flattened to [`MAX_HTML_DEPTH`], but **not
    /// sanitized**: only a reader needs it safe, so it is sanitized when read (see
    /// [`crate::sanitize::Sanitizer::clean`]), not for every mail received.
    pub html: Option<String>,
    pub attachments: Vec<ParsedAttachment>,
    /// Set when the bytes are not a message we could make sense of; the raw source is kept anyway.
    pub parse_error: Option<String>,
    pub limits: Vec<ContentLimit>,
}

impl ParsedMail {
    /// What [`content`] reads back from `raw`, the source this was parsed from, without parsing
    /// it again but for its header fields: for a message about to be read (a waiter's), so that
    /// the read need not fetch and decode the raw source.
    pub fn content(&self, raw: &[u8]) -> MailContent {
        MailContent {
            text: self.text.clone(),
            html: self.html.clone(),
            headers: header_fields(raw),
            correspondence: self.correspondence.clone(),
            parse_error: self.parse_error.clone(),
            limits: self.limits.clone(),
        }
    }
}

/// The decoded bytes of the attachment at `position` as [`parse`] numbers them: the raw source
/// is the only stored copy (CPU-bound: call it off the async reactor).
pub fn attachment_content(raw: &[u8], position: usize) -> Option<Vec<u8>> {
    let message = MessageParser::default().parse(raw)?;
    let part = message.attachments().nth(position)?;
    Some(part.contents().to_vec())
}

/// The header fields of `raw` in order, unfolded. Derived from the raw source when asked for
/// rather than stored a second time (CPU-bound: call it off the async reactor).
pub fn header_fields(raw: &[u8]) -> Vec<HeaderField> {
    MessageParser::default()
        .parse_headers(raw)
        .map(|message| fields_of(&message, raw))
        .unwrap_or_default()
}

/// The header fields of `message`, parsed from `raw`.
fn fields_of(message: &mail_parser::Message<'_>, raw: &[u8]) -> Vec<HeaderField> {
    // Not mail-parser's `headers_raw`, which leaves out every field whose value is not UTF-8:
    // a hostile Subject or From must still be shown, lossily decoded.
    message.parts[0]
        .headers
        .iter()
        .take(MAX_HEADER_FIELDS)
        .map(|header| {
            let (start, end) = (header.offset_start as usize, header.offset_end as usize);
            let value = raw.get(start..end).unwrap_or_default();
            HeaderField {
                name: header.name.as_str().to_owned(),
                value: unfold(&String::from_utf8_lossy(value)),
            }
        })
        .collect()
}

/// What a message shows that is read from its raw source rather than stored beside it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailContent {
    /// As [`ParsedMail::text`].
    pub text: Option<String>,
    /// As [`ParsedMail::html`]: not sanitized.
    pub html: Option<String>,
    /// As [`header_fields`].
    pub headers: Vec<HeaderField>,
    /// As [`ParsedMail::correspondence`].
    pub correspondence: Correspondence,
    /// As [`ParsedMail::parse_error`].
    pub parse_error: Option<String>,
    /// As [`ParsedMail::limits`].
    pub limits: Vec<ContentLimit>,
}

impl MailContent {
    /// Bytes held, roughly: what a cache of contents counts.
    pub fn weight(&self) -> usize {
        let body = |body: &Option<String>| body.as_ref().map_or(0, String::len);
        let headers: usize = self
            .headers
            .iter()
            .map(|h| h.name.len() + h.value.len() + std::mem::size_of::<HeaderField>())
            .sum();
        std::mem::size_of::<Self>()
            + body(&self.text)
            + body(&self.html)
            + headers
            + self.correspondence.weight()
            + body(&self.parse_error)
    }
}

/// What `raw` shows beyond its message row, computed as [`parse`] and [`header_fields`]
/// compute it (CPU-bound: see [`crate::cpu_bound`]).
pub fn content(raw: &[u8]) -> MailContent {
    let Some(message) = MessageParser::default().parse(raw) else {
        return MailContent {
            headers: header_fields(raw),
            parse_error: Some(UNPARSABLE.to_owned()),
            ..MailContent::default()
        };
    };
    let mut limits = Vec::new();
    let Bodies { text, html } = bodies(&message, &mut limits);
    structure_limits(&message, &mut limits);
    MailContent {
        text,
        html,
        headers: fields_of(&message, raw),
        correspondence: Correspondence::of(&message),
        parse_error: None,
        limits,
    }
}

/// Parses `raw` (CPU-bound: see [`crate::cpu_bound`]).
pub fn parse(raw: &[u8]) -> ParsedMail {
    let Some(message) = MessageParser::default().parse(raw) else {
        return ParsedMail {
            parse_error: Some(UNPARSABLE.to_owned()),
            ..ParsedMail::default()
        };
    };
    let mut limits = Vec::new();
    let Bodies { text, html } = bodies(&message, &mut limits);
    structure_limits(&message, &mut limits);
    let attachments = message
        .attachments()
        .take(MAX_ATTACHMENTS)
        .map(|part| ParsedAttachment {
            filename: part.attachment_name().map(storable),
            content_type: content_type_of(part),
            content_id: part
                .content_id()
                .map(|id| storable(id.trim_matches(['<', '>']))),
            inline: matches!(part.body, PartType::InlineBinary(_))
                || part
                    .content_disposition()
                    .is_some_and(|disposition| disposition.ctype() == "inline"),
            content: part.contents().to_vec(),
        })
        .collect();
    ParsedMail {
        from: mailboxes(message.from()),
        subject: message.subject().map(storable),
        correspondence: Correspondence::of(&message),
        text,
        html,
        attachments,
        parse_error: None,
        limits,
    }
}

/// The limits `message`'s attachments and header fields were listed up to.
fn structure_limits(message: &mail_parser::Message<'_>, limits: &mut Vec<ContentLimit>) {
    if message.attachments().nth(MAX_ATTACHMENTS).is_some() {
        limits.push(ContentLimit::Attachments);
    }
    if message.headers().len() > MAX_HEADER_FIELDS {
        limits.push(ContentLimit::HeaderFields);
    }
}

/// A message's bodies as [`parse`] keeps them.
struct Bodies {
    text: Option<String>,
    html: Option<String>,
}

/// The text and HTML bodies of `message`, cut and flattened, with the limits that cut them.
fn bodies(message: &mail_parser::Message<'_>, limits: &mut Vec<ContentLimit>) -> Bodies {
    let mut limit = |exceeded: bool, limit: ContentLimit| {
        if exceeded {
            limits.push(limit);
        }
        exceeded
    };
    let text = message.body_text(0).map(|text| {
        let (text, cut) = truncate(&text, MAX_BODY_BYTES);
        limit(cut, ContentLimit::TextSize);
        storable(text)
    });
    // mail-parser renders a text part as HTML when there is no HTML part; we only want real HTML.
    let html = message
        .html_part(0)
        .filter(|part| part.is_text_html())
        .and_then(|part| part.text_contents())
        .map(|html| {
            let (html, cut) = truncate(html, MAX_BODY_BYTES);
            limit(cut, ContentLimit::HtmlSize);
            let flattened = flatten::flatten(html, MAX_HTML_DEPTH);
            limit(flattened.is_some(), ContentLimit::HtmlNesting);
            storable(flattened.as_deref().unwrap_or(html))
        });
    Bodies { text, html }
}

/// PostgreSQL's `text` and `jsonb` cannot hold NUL, which mail may carry: it becomes U+FFFD, so
/// that such a mail is stored instead of failing (and being retried by its sender) forever.
fn storable(s: &str) -> String {
    if s.contains('\0') {
        s.replace('\0', "\u{FFFD}")
    } else {
        s.to_owned()
    }
}

/// `s` cut to at most `max` bytes on a character boundary, and whether it was cut.
fn truncate(s: &str, max: usize) -> (&str, bool) {
    if s.len() <= max {
        return (s, false);
    }
    let end = (0..=max)
        .rev()
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(0);
    (&s[..end], true)
}

fn content_type_of(part: &mail_parser::MessagePart<'_>) -> String {
    match part.content_type() {
        Some(ct) => match ct.subtype() {
            Some(subtype) => storable(&format!("{}/{}", ct.ctype(), subtype).to_ascii_lowercase()),
            None => storable(&ct.ctype().to_ascii_lowercase()),
        },
        None if matches!(part.body, PartType::Message(_)) => "message/rfc822".to_owned(),
        None => "application/octet-stream".to_owned(),
    }
}

fn mailboxes(address: Option<&Address<'_>>) -> Vec<Mailbox> {
    address
        .map(|address| {
            address
                .iter()
                .map(|addr| Mailbox {
                    name: addr.name().map(storable),
                    address: addr.address().map(storable),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Joins a folded header value onto one line (RFC 5322 2.2.3).
fn unfold(value: &str) -> String {
    value
        .split(['\r', '\n'])
        .filter(|line| !line.is_empty())
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A mail the fuzzer found, on which mail-parser's debug assertions fired (the workspace's
    /// dev profile turns them off for it, as release builds have them off).
    #[test]
    fn a_broken_attached_message_parses_without_panicking() {
        let raw = include_bytes!("../fuzz/seeds/mail_pipeline/mail-parser-debug-assert.eml");
        let parsed = parse(raw);
        assert_eq!(parsed.subject.as_deref(), Some("fwd"));
        assert_eq!(parsed.parse_error, None);
    }

    const MULTIPART: &[u8] = b"From: Alice <alice@example.com>\r\n\
To: bob@example.com, \"Carol\" <carol@example.com>\r\n\
Subject: =?utf-8?q?Caf=C3=A9?= report\r\n\
Date: Sat, 28 Nov 2026 10:00:00 +0000\r\n\
Message-ID: <m1@example.com>\r\n\
X-Folded: one\r\n two\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=b1\r\n\
\r\n\
--b1\r\n\
Content-Type: multipart/alternative; boundary=b2\r\n\
\r\n\
--b2\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Hello Bob\r\n\
--b2\r\n\
Content-Type: text/html; charset=utf-8\r\n\
\r\n\
<p>Hello <b>Bob</b><script>alert(1)</script></p>\r\n\
--b2--\r\n\
--b1\r\n\
Content-Type: application/pdf; name=report.pdf\r\n\
Content-Disposition: attachment; filename=report.pdf\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
JVBERi0xLjQK\r\n\
--b1--\r\n";

    /// Bodies and header fields read back from the raw source are those ingest parsed, for
    /// ordinary, deeply nested, oversized and unparsable mail.
    #[test]
    fn content_read_from_the_raw_source_equals_what_parse_keeps() {
        let nested = format!(
            "Content-Type: text/html\r\n\r\n{}x",
            "<div>".repeat(MAX_HTML_DEPTH + 10)
        );
        let oversized = format!("Subject: big\r\n\r\n{}", "a".repeat(MAX_BODY_BYTES + 10));
        let broken = include_bytes!("../fuzz/seeds/mail_pipeline/mail-parser-debug-assert.eml");
        for raw in [
            MULTIPART,
            nested.as_bytes(),
            oversized.as_bytes(),
            broken.as_slice(),
            b"",
            b"\r\n\r\n",
        ] {
            let content = content(raw);
            assert_eq!(content, parse(raw).content(raw));
            assert_eq!(content.headers, header_fields(raw));
            assert!(content.weight() >= content.text.as_ref().map_or(0, String::len));
        }
    }

    #[test]
    fn multipart_mail_is_parsed_into_owned_fields() {
        let mail = parse(MULTIPART);
        assert_eq!(mail.parse_error, None);
        assert_eq!(mail.subject.as_deref(), Some("Café report"));
        assert_eq!(mail.from[0].name.as_deref(), Some("Alice"));
        assert_eq!(mail.correspondence.to.len(), 2);
        assert_eq!(
            mail.correspondence.message_id.as_deref(),
            Some("m1@example.com")
        );
        assert_eq!(mail.text.as_deref().map(str::trim), Some("Hello Bob"));
        let html = mail.html.expect("html part");
        assert_eq!(
            html.trim(),
            "<p>Hello <b>Bob</b><script>alert(1)</script></p>",
            "kept as sent, sanitized when read"
        );
        let headers = header_fields(MULTIPART);
        let folded = headers.iter().find(|h| h.name == "X-Folded");
        assert_eq!(folded.map(|h| h.value.as_str()), Some("one two"));
        let [pdf] = mail.attachments.as_slice() else {
            panic!("one attachment expected: {:?}", mail.attachments);
        };
        assert_eq!(pdf.filename.as_deref(), Some("report.pdf"));
        assert_eq!(pdf.content_type, "application/pdf");
        assert_eq!(pdf.content, b"%PDF-1.4\n");
        // Downloads decode the same bytes from the raw source, by position.
        assert_eq!(attachment_content(MULTIPART, 0), Some(pdf.content.clone()));
        assert_eq!(attachment_content(MULTIPART, 1), None);
    }

    #[test]
    fn html_only_mail_gets_a_text_rendering() {
        let raw = b"Subject: hi\r\nContent-Type: text/html\r\n\r\n<p>Your code is <b>1234</b></p><p>Bye</p>\r\n";
        let mail = parse(raw);
        let text = mail.text.expect("text rendered from the HTML");
        assert!(text.contains("Your code is 1234"), "{text:?}");
        assert!(!text.contains('<'), "{text:?}");
    }

    #[test]
    fn hostile_html_is_flattened_quickly_and_flagged() {
        let depth = 50_000;
        let raw = format!(
            "Subject: deep\r\nContent-Type: text/html\r\n\r\n{}Your code is 424242{}\r\n",
            "<div>".repeat(depth),
            "</div>".repeat(depth)
        );
        let started = std::time::Instant::now();
        let mail = parse(raw.as_bytes());
        let html = mail.html.expect("html");
        let sanitized = crate::sanitize::Sanitizer::default().clean(&html);
        let elapsed = started.elapsed();
        assert_eq!(mail.limits, [ContentLimit::HtmlNesting]);
        assert_eq!(
            html.matches("<div>").count(),
            MAX_HTML_DEPTH,
            "kept up to the limit"
        );
        assert!(sanitized.contains("Your code is 424242"));
        // Unflattened, sanitizing this takes ammonia minutes; flattened, milliseconds (even
        // unoptimized).
        assert!(elapsed.as_secs() < 10, "took {elapsed:?}");
    }

    #[test]
    fn oversized_bodies_are_cut_on_a_character_boundary() {
        let body = "é".repeat(MAX_BODY_BYTES);
        let raw = format!("Subject: big\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}");
        let mail = parse(raw.as_bytes());
        assert_eq!(mail.limits, [ContentLimit::TextSize]);
        let text = mail.text.expect("text");
        assert!(text.len() <= MAX_BODY_BYTES && text.len() > MAX_BODY_BYTES - 4);
    }

    #[test]
    fn attachments_and_header_fields_are_listed_up_to_their_limits() {
        let mut raw = String::from("Subject: many\r\n");
        for i in 0..=MAX_HEADER_FIELDS {
            raw.push_str(&format!("X-Field-{i}: {i}\r\n"));
        }
        raw.push_str("Content-Type: multipart/mixed; boundary=b\r\n\r\n");
        for i in 0..=MAX_ATTACHMENTS {
            raw.push_str(&format!(
                "--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=f{i}.bin\r\n\r\n{i}\r\n"
            ));
        }
        raw.push_str("--b--\r\n");
        let mail = parse(raw.as_bytes());
        assert_eq!(
            mail.limits,
            [ContentLimit::Attachments, ContentLimit::HeaderFields]
        );
        assert_eq!(mail.attachments.len(), MAX_ATTACHMENTS);
        assert_eq!(header_fields(raw.as_bytes()).len(), MAX_HEADER_FIELDS);
    }

    #[test]
    fn nul_characters_become_replacement_characters() {
        let raw = b"Subject: a\0b\r\nFrom: \"N\0ame\" <x@example.com>\r\nContent-Type: text/html\r\n\r\n<p>a\0\x01 b</p>\r\n";
        let mail = parse(raw);
        let fields = [
            mail.subject.as_deref(),
            mail.from[0].name.as_deref(),
            mail.text.as_deref(),
        ];
        for field in fields {
            let field = field.expect("parsed");
            assert!(
                !field.contains('\0') && field.contains('\u{FFFD}'),
                "{field:?}"
            );
        }
        // The HTML parser drops it.
        assert!(!mail.html.expect("html").contains('\0'));
    }

    #[test]
    fn text_only_mail_has_no_html() {
        let mail = parse(b"Subject: hi\r\n\r\nplain body\r\n");
        assert_eq!(mail.html, None);
        assert_eq!(mail.text.as_deref().map(str::trim), Some("plain body"));
    }
    #[test]
    fn header_fields_with_nul_or_invalid_utf8_are_kept_lossily() {
        let raw =
            b"Subject: bad \xff\xfe byte\r\nFrom: a\x00b <a@example.com>\r\nTo: x@y\r\n\r\nbody";
        let fields = header_fields(raw);
        let value = |name: &str| {
            fields
                .iter()
                .find(|field| field.name == name)
                .map(|field| field.value.clone())
        };
        assert_eq!(
            value("Subject").as_deref(),
            Some("bad \u{fffd}\u{fffd} byte")
        );
        assert_eq!(value("From").as_deref(), Some("a\u{0}b <a@example.com>"));
        assert_eq!(value("To").as_deref(), Some("x@y"));
    }
}
