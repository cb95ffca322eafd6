//! Links found in a message, for `Message.links`.
//!
//! Inputs are untrusted and may be large: every pass is linear in the input (the `regex` crate
//! never backtracks) and the output is capped.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;

use crate::{html_scan, regex};

pub(crate) const MAX_LINKS: usize = 200;

/// A link found in a message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "graphql", derive(async_graphql::SimpleObject))]
pub struct Link {
    /// The URL, with HTML entities decoded.
    pub href: String,
    /// The visible link text, whitespace collapsed; null for image-only links and for URLs
    /// found in the text part.
    pub text: Option<String>,
}

/// Links from the HTML (href + visible link text, whitespace-collapsed) and bare URLs from the
/// text part, de-duplicated by href (first occurrence wins, but an HTML occurrence with text
/// fills in missing text), in document order (HTML links first, then text-only URLs not seen in
/// HTML).
///
/// HTML links are `<a href>` with an `http`, `https` or `mailto` URL (fragments, relative and
/// `javascript:` URLs are skipped); href and text are entity-decoded. Text URLs are `http(s)://`
/// up to whitespace or `<>"'`, without trailing `.,;:!?` or closing brackets that have no
/// opening partner inside the URL (`(see https://x.example/a)` gives `https://x.example/a`).
/// At most 200 links.
pub fn links(html: Option<&str>, text: Option<&str>) -> Vec<Link> {
    let mut found = LinkList::default();
    if let Some(html) = html {
        for anchor in html_scan::scan(html).anchors {
            if has_link_scheme(&anchor.href) {
                found.add(anchor.href, anchor.text);
            }
        }
    }
    if let Some(text) = text {
        for url in TEXT_URL.find_iter(text) {
            let url = trim_trailing_punctuation(url.as_str());
            if url
                .split_once("://")
                .is_some_and(|(_, rest)| !rest.is_empty())
            {
                found.add(url.to_owned(), None);
            }
        }
    }
    found.links
}

static TEXT_URL: LazyLock<Regex> = LazyLock::new(|| regex(r#"(?i)https?://[^\s<>"']+"#));

#[derive(Default)]
struct LinkList {
    links: Vec<Link>,
    index_by_href: HashMap<String, usize>,
}

impl LinkList {
    fn add(&mut self, href: String, text: Option<String>) {
        if let Some(&index) = self.index_by_href.get(&href) {
            let known = &mut self.links[index];
            if known.text.is_none() {
                known.text = text;
            }
        } else if self.links.len() < MAX_LINKS {
            self.index_by_href.insert(href.clone(), self.links.len());
            self.links.push(Link { href, text });
        }
    }
}

fn has_link_scheme(href: &str) -> bool {
    ["http://", "https://", "mailto:"].iter().any(|scheme| {
        href.get(..scheme.len())
            .is_some_and(|prefix| prefix.eq_ignore_ascii_case(scheme))
    })
}

const BRACKETS: [(char, char); 3] = [('(', ')'), ('[', ']'), ('{', '}')];

/// Drops the sentence punctuation that prose puts right after a URL.
fn trim_trailing_punctuation(url: &str) -> &str {
    // A closing bracket is part of the URL only if the URL opened it (`/wiki/Foo_(bar)`);
    // counted once up front so that a long run of brackets stays linear.
    let mut unmatched_closers = BRACKETS.map(|(open, close)| {
        url.matches(close)
            .count()
            .saturating_sub(url.matches(open).count())
    });
    let mut trimmed = url;
    while let Some(last) = trimmed.chars().next_back() {
        if let Some(kind) = BRACKETS.iter().position(|&(_, close)| close == last) {
            if unmatched_closers[kind] == 0 {
                break;
            }
            unmatched_closers[kind] -= 1;
        } else if !".,;:!?".contains(last) {
            break;
        }
        trimmed = &trimmed[..trimmed.len() - last.len_utf8()];
    }
    trimmed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sanitize::Sanitizer;

    fn link(href: &str, text: Option<&str>) -> Link {
        Link {
            href: href.to_owned(),
            text: text.map(str::to_owned),
        }
    }

    #[test]
    fn links_in_document_order_with_text_and_without_duplicates() {
        let html = Sanitizer::default().clean(
            r##"<p><a href="https://acme.example/"><img src="https://acme.example/logo.png"
            alt="Acme"></a></p>
            <p><a href="#top">Top</a> <a href="https://acme.example/verify?u=1&amp;t=2">Verify
            your   <b>email</b></a></p>
            <p><a href="https://acme.example/">Acme&nbsp;Inc.</a> &middot;
            <a href="mailto:help@acme.example">Contact us</a> &middot;
            <a href="tel:+14155550100">Call</a></p>"##,
        );
        let text = "Verify: https://acme.example/verify?u=1&t=2\n\
            Docs (https://docs.acme.example/start). Help: <https://acme.example/help>, or \
            https://en.wikipedia.org/wiki/Foo_(bar).\nMore: https://acme.example/faq!\n\
            Nothing here: https://";
        assert_eq!(
            links(Some(&html), Some(text)),
            [
                link("https://acme.example/", Some("Acme Inc.")),
                link(
                    "https://acme.example/verify?u=1&t=2",
                    Some("Verify your email")
                ),
                link("mailto:help@acme.example", Some("Contact us")),
                link("https://docs.acme.example/start", None),
                link("https://acme.example/help", None),
                link("https://en.wikipedia.org/wiki/Foo_(bar)", None),
                link("https://acme.example/faq", None),
            ]
        );
    }

    #[test]
    fn only_web_and_mail_links_are_kept_even_from_unsanitized_html() {
        let html = r##"<a href="javascript:alert(1)">Click</a><a href=' JavaScript:void(0)'>x</a>
            <a href="/relative">r</a><a href="#top">t</a><a href="cid:logo">c</a>
            <a href="tel:+14155550100">t</a><A HREF=HTTPS://Acme.example/a>Upper</A>
            <a href="https://acme.example/b"><script>document.write("no")</script></a>"##;
        assert_eq!(
            links(Some(html), None),
            [
                link("HTTPS://Acme.example/a", Some("Upper")),
                link("https://acme.example/b", None),
            ]
        );
    }

    #[test]
    fn trailing_punctuation_is_not_part_of_a_url() {
        for (url, expected) in [
            ("https://a.example/x.", "https://a.example/x"),
            ("https://a.example/x?!", "https://a.example/x"),
            ("https://a.example/x),", "https://a.example/x"),
            ("https://a.example/(x)", "https://a.example/(x)"),
            ("https://a.example/(x)).", "https://a.example/(x)"),
            ("https://a.example/[1]]", "https://a.example/[1]"),
            ("https://a.example/", "https://a.example/"),
        ] {
            assert_eq!(trim_trailing_punctuation(url), expected);
        }
    }
}
