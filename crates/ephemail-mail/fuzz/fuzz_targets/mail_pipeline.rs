//! Raw mail bytes through everything the API does with them: parse, both sanitizer policies,
//! inline-image linking, link and code extraction, header listing. Besides "no panic, no
//! hang", it checks invariants that hold for any input (see `check_safe_html`).

#![no_main]

use std::sync::LazyLock;

use ephemail_mail::parse::{self, ParsedMail, MAX_ATTACHMENTS, MAX_HEADER_FIELDS};
use ephemail_mail::sanitize::{link_inline_images, Sanitizer};
use ephemail_mail::{codes, links};
use libfuzzer_sys::fuzz_target;

static SANITIZER: LazyLock<Sanitizer> = LazyLock::new(Sanitizer::default);

fuzz_target!(|raw: &[u8]| {
    let mail = parse::parse(raw);
    check_storable(&mail);
    assert!(mail.attachments.len() <= MAX_ATTACHMENTS);
    assert!(parse::header_fields(raw).len() <= MAX_HEADER_FIELDS);

    let Some(html) = mail.html.as_deref() else {
        extract(&mail, None);
        return;
    };
    let clean = SANITIZER.clean(html);
    check_safe_html(&clean, Images::Any);
    let blocked = SANITIZER.block_remote_images(html);
    check_safe_html(&blocked, Images::NoRemote);

    // As the API links them: (Content-ID, download URL) of every attachment that has one.
    let inline: Vec<(String, String)> = mail
        .attachments
        .iter()
        .enumerate()
        .filter_map(|(i, a)| Some((a.content_id.clone()?, format!("https://x.test/a/{i}"))))
        .collect();
    check_safe_html(&link_inline_images(&clean, &inline), Images::Any);
    check_safe_html(&link_inline_images(&blocked, &inline), Images::Any);

    extract(&mail, Some(&clean));
});

/// `links` and `codes` as the API calls them: over the sanitized HTML.
fn extract(mail: &ParsedMail, clean: Option<&str>) {
    let found = links::links(clean, mail.text.as_deref());
    assert!(found.len() <= 200, "{} links", found.len());
    for link in &found {
        let scheme = scheme(&link.href);
        assert!(
            matches!(scheme.as_str(), "http" | "https" | "mailto"),
            "link {:?}",
            link.href
        );
    }
    let codes = codes::codes(mail.subject.as_deref(), mail.text.as_deref(), clean);
    assert!(codes.len() <= 20, "{} codes", codes.len());
    for code in &codes {
        assert!(
            (4..=10).contains(&code.chars().filter(char::is_ascii_alphanumeric).count()),
            "code {code:?}"
        );
    }
}

/// PostgreSQL's `text` cannot hold NUL: `parse` replaces it in every string it keeps.
fn check_storable(mail: &ParsedMail) {
    let correspondence = &mail.correspondence;
    let mailboxes = mail
        .from
        .iter()
        .chain(&correspondence.to)
        .chain(&correspondence.cc);
    let strings = [
        &mail.subject,
        &correspondence.message_id,
        &correspondence.in_reply_to,
        &mail.text,
        &mail.html,
    ]
    .into_iter()
    .flatten()
    .chain(mailboxes.flat_map(|m| m.name.iter().chain(&m.address)))
    .chain(mail.attachments.iter().flat_map(|a| {
        a.filename
            .iter()
            .chain(&a.content_id)
            .chain(std::iter::once(&a.content_type))
    }));
    for s in strings {
        assert!(!s.contains('\0'), "NUL in {s:?}");
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Images {
    Any,
    NoRemote,
}

/// Never allowed through either policy, whatever the input (the policy is an allow-list; these
/// are the tags that would matter if it ever leaked).
#[rustfmt::skip]
const DANGEROUS_TAGS: &[&str] = &[
    "script", "style", "iframe", "frame", "frameset", "object", "embed", "applet", "form",
    "input", "button", "textarea", "select", "base", "meta", "link", "svg", "math", "template",
    "noscript", "html", "head", "body", "title", "xmp", "plaintext", "noembed", "noframes",
];

/// Walks the serialized output (html5ever escapes `<` in text and `"` in attribute values, so
/// this need not be a full HTML tokenizer) and checks each tag and attribute.
fn check_safe_html(html: &str, images: Images) {
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        let tag = &rest[open..];
        let end = tag_len(tag);
        let (tag, after) = tag.split_at(end);
        rest = after;
        let body = tag.trim_start_matches('<').trim_start_matches('/');
        let name_len = body
            .find(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/')
            .unwrap_or(body.len());
        let name = body[..name_len].to_ascii_lowercase();
        assert!(
            !name.starts_with('!'),
            "comment or doctype {tag:?} in {html:?}"
        );
        assert!(
            !DANGEROUS_TAGS.contains(&name.as_str()),
            "<{name}> in {html:?}"
        );
        for (attribute, value) in attributes(&body[name_len..]) {
            let attribute = attribute.to_ascii_lowercase();
            assert!(!attribute.starts_with("on"), "{attribute} in {html:?}");
            let value = unescape(&value);
            match attribute.as_str() {
                "href" => assert!(
                    matches!(
                        scheme(&value).as_str(),
                        "http" | "https" | "mailto" | "tel" | "cid"
                    ),
                    "href {value:?} in {html:?}"
                ),
                "src" => {
                    assert_eq!(name, "img", "src on <{name}> in {html:?}");
                    let scheme = scheme(&value);
                    let allowed = match scheme.as_str() {
                        "cid" => true,
                        "data" => is_raster_data(&value),
                        "http" | "https" => images == Images::Any,
                        _ => false,
                    };
                    assert!(
                        allowed,
                        "src {value:?} ({images_label}) in {html:?}",
                        images_label = if images == Images::Any {
                            "any"
                        } else {
                            "no remote"
                        }
                    );
                }
                // The filter drops styles that spell IE's `expression()`, escaped or not; the
                // escapes in the output are ammonia's own (of control characters).
                "style" => assert!(
                    !css_unescape(&value)
                        .to_ascii_lowercase()
                        .contains("expression"),
                    "style {value:?} in {html:?}"
                ),
                _ => {}
            }
        }
    }
}

/// The length of the tag `html` starts with, through its `>` outside quotes.
fn tag_len(html: &str) -> usize {
    let mut quoted = false;
    for (i, byte) in html.bytes().enumerate() {
        match byte {
            b'"' => quoted = !quoted,
            b'>' if !quoted => return i + 1,
            _ => {}
        }
    }
    html.len()
}

/// `name="value"` pairs (or bare names) of a serialized tag, after its name.
fn attributes(mut s: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    loop {
        s = s.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '/' || c == '>');
        if s.is_empty() {
            return found;
        }
        let name_end = s
            .find(|c: char| c.is_ascii_whitespace() || c == '=' || c == '>' || c == '/')
            .unwrap_or(s.len());
        let name = s[..name_end].to_owned();
        s = &s[name_end..];
        let mut value = String::new();
        if let Some(quoted) = s.strip_prefix("=\"") {
            let len = quoted.find('"').unwrap_or(quoted.len());
            value = quoted[..len].to_owned();
            s = quoted.get(len + 1..).unwrap_or("");
        } else if name_end == 0 {
            // Not an attribute character: skip it rather than loop.
            s = &s[s.chars().next().map_or(0, char::len_utf8)..];
            continue;
        }
        found.push((name, value));
    }
}

fn unescape(value: &str) -> String {
    value
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

/// The scheme a browser (or the `url` crate) would see: tabs and newlines removed, leading
/// controls and spaces trimmed, lower-cased; empty for a relative URL.
fn scheme(url: &str) -> String {
    let url: String = url
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect();
    let url = url.trim_start_matches(|c: char| c <= ' ');
    match url.split_once(':') {
        Some((scheme, _))
            if scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
        {
            scheme.to_ascii_lowercase()
        }
        _ => String::new(),
    }
}

fn is_raster_data(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    let media_type = lower.split_once(':').map_or("", |(_, rest)| {
        rest.split([';', ',']).next().unwrap_or("").trim()
    });
    ["image/gif", "image/jpeg", "image/png", "image/webp"].contains(&media_type)
}

/// CSS escapes (`\65 `, `\e`) decoded.
fn css_unescape(css: &str) -> String {
    let mut out = String::with_capacity(css.len());
    let mut chars = css.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let mut hex = String::new();
        while hex.len() < 6 && chars.peek().is_some_and(char::is_ascii_hexdigit) {
            hex.extend(chars.next());
        }
        if hex.is_empty() {
            out.extend(chars.next());
        } else {
            chars.next_if(|c| c.is_ascii_whitespace());
            let code = u32::from_str_radix(&hex, 16).unwrap_or(0xFFFD);
            out.push(char::from_u32(code).unwrap_or('\u{FFFD}'));
        }
    }
    out
}
