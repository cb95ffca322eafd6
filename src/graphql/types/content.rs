//! The GraphQL faces of a mail's content as `ephemail-mail` finds it (that crate knows nothing
//! of GraphQL). The doc comments here are the schema's descriptions.

use async_graphql::{Enum, SimpleObject};

use ephemail_mail::{links, parse};

/// A display name and address from a header such as `From:` or `To:`.
#[derive(Debug, Clone, PartialEq, Eq, SimpleObject)]
pub struct Mailbox {
    pub name: Option<String>,
    pub address: Option<String>,
}

impl From<parse::Mailbox> for Mailbox {
    fn from(mailbox: parse::Mailbox) -> Self {
        Self {
            name: mailbox.name,
            address: mailbox.address,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, SimpleObject)]
pub struct HeaderField {
    pub name: String,
    pub value: String,
}

impl From<parse::HeaderField> for HeaderField {
    fn from(field: parse::HeaderField) -> Self {
        Self {
            name: field.name,
            value: field.value,
        }
    }
}

/// A link found in a message.
#[derive(Debug, Clone, PartialEq, Eq, SimpleObject)]
pub struct Link {
    /// The URL, with HTML entities decoded.
    pub href: String,
    /// The visible link text, whitespace collapsed; null for image-only links and for URLs
    /// found in the text part.
    pub text: Option<String>,
}

impl From<links::Link> for Link {
    fn from(link: links::Link) -> Self {
        Self {
            href: link.href,
            text: link.text,
        }
    }
}

/// A limit a mail's parsed parts were cut at. The raw source is always stored whole; these say
/// what the parsed fields (`text`, `html`, attachments, headers) leave out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "parse::ContentLimit")]
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

#[cfg(test)]
mod tests {
    use ephemail_mail::parse::{
        MAX_ATTACHMENTS, MAX_BODY_BYTES, MAX_HEADER_FIELDS, MAX_HTML_DEPTH,
    };

    #[test]
    fn content_limits_are_described_with_their_values() {
        let sdl = crate::graphql::schema::sdl();
        assert_eq!(MAX_BODY_BYTES, 2 << 20, "the descriptions say 2 MiB");
        for described in [
            format!("deeper than {MAX_HTML_DEPTH} elements"),
            format!("more than {MAX_ATTACHMENTS} attachments"),
            format!("more than {MAX_HEADER_FIELDS} header fields"),
        ] {
            assert!(sdl.contains(&described), "{described}");
        }
    }
}
