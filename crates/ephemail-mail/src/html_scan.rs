//! A small HTML scanner for extraction: the visible text with its emphasis, and the anchors.
//!
//! The HTML handed in is the sanitizer's output: well-formed, lower-case tags, double-quoted
//! attributes, `&`, `<`, `>`, `"` and no-break spaces escaped. A full parser (html5ever, which
//! [`crate::flatten`] uses to bound nesting) builds a tree this does not need: this is one
//! linear pass that tracks the element stack (for emphasis, hidden elements and link text,
//! which a regex cannot follow across nesting) and still degrades gracefully on raw, messy HTML
//! (single or missing quotes, comments, `<script>` contents, stray `<`). The element stack is
//! bounded, so the work stays linear in the input.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

/// What [`scan`] finds in an HTML document.
pub(crate) struct Scanned {
    /// Visible text, whitespace collapsed as a browser does, blocks and `<br>` on their own
    /// lines.
    pub text: String,
    /// Sorted, disjoint byte ranges of `text` that are visually emphasized.
    pub emphasized: Vec<Range<usize>>,
    /// `<a href>` elements in document order.
    pub anchors: Vec<Anchor>,
}

pub(crate) struct Anchor {
    /// Entity-decoded and trimmed.
    pub href: String,
    /// Visible, whitespace-collapsed text; `None` if there is none (an image link).
    pub text: Option<String>,
}

/// Elements nested deeper are not tracked (their emphasis is lost); this bounds the work
/// of finding the element an end tag closes.
const MAX_OPEN_ELEMENTS: usize = 256;

pub(crate) fn scan(html: &str) -> Scanned {
    let mut scanner = Scanner::default();
    let mut position = 0;
    while let Some(offset) = html[position..].find('<') {
        let tag_start = position + offset;
        scanner.text(&html[position..tag_start]);
        position = scanner.markup(html, tag_start);
    }
    scanner.text(&html[position..]);
    scanner.finish()
}

#[derive(Default)]
struct Scanner {
    text: TextBuilder,
    open: Vec<OpenElement>,
    /// Open elements that emphasize, and where the current emphasized stretch began.
    emphasis_depth: usize,
    emphasis_start: usize,
    emphasized: Vec<Range<usize>>,
    /// Open elements hidden with `display: none`; their text is not visible.
    hidden_depth: usize,
    anchor: Option<OpenAnchor>,
    anchors: Vec<Anchor>,
}

struct OpenElement {
    name: String,
    emphasizes: bool,
    hides: bool,
}

struct OpenAnchor {
    href: String,
    text_start: usize,
}

struct StartTag<'a> {
    name: &'a str,
    href: Option<&'a str>,
    style: Option<&'a str>,
    size: Option<&'a str>,
    self_closing: bool,
}

impl Scanner {
    fn text(&mut self, raw: &str) {
        if self.hidden_depth == 0 {
            self.text.push(&decode_entities(raw));
        }
    }

    /// Handles the markup starting with the `<` at `start`; returns where text resumes.
    fn markup(&mut self, html: &str, start: usize) -> usize {
        let rest = &html[start..];
        let skip_past = |terminator: &str| {
            rest.find(terminator)
                .map_or(html.len(), |end| start + end + terminator.len())
        };
        if rest.starts_with("<!--") {
            return skip_past("-->");
        }
        let bytes = rest.as_bytes();
        match bytes.get(1) {
            Some(b'/') if bytes.get(2).is_some_and(u8::is_ascii_alphabetic) => {
                let name = &rest[2..2 + name_len(&rest[2..])];
                self.end_tag(&name.to_ascii_lowercase());
                skip_past(">")
            }
            Some(first) if first.is_ascii_alphabetic() => {
                let (tag, end) = parse_start_tag(html, start);
                let name = tag.name.to_ascii_lowercase();
                if matches!(name.as_str(), "script" | "style" | "title" | "textarea") {
                    return skip_raw_text(html, end, &name);
                }
                self.start_tag(&name, &tag);
                end
            }
            Some(b'!' | b'?') => skip_past(">"),
            _ => {
                self.text("<");
                start + 1
            }
        }
    }

    fn start_tag(&mut self, name: &str, tag: &StartTag<'_>) {
        if is_block(name) {
            self.text.line_break();
        }
        if name == "a" {
            // Anchors do not nest: a new one closes the previous.
            self.close_anchor();
            self.anchor = tag.href.map(|href| OpenAnchor {
                href: decode_entities(href).trim().to_owned(),
                text_start: self.text.len(),
            });
        }
        if tag.self_closing || is_void(name) || self.open.len() >= MAX_OPEN_ELEMENTS {
            return;
        }
        let emphasizes = is_emphasis(name)
            || tag.style.is_some_and(style_emphasizes)
            || (name == "font" && tag.size.is_some_and(font_size_is_large));
        let hides = tag.style.is_some_and(|style| HIDDEN_STYLE.is_match(style));
        if emphasizes {
            if self.emphasis_depth == 0 {
                self.emphasis_start = self.text.len();
            }
            self.emphasis_depth += 1;
        }
        if hides {
            self.hidden_depth += 1;
        }
        self.open.push(OpenElement {
            name: name.to_owned(),
            emphasizes,
            hides,
        });
    }

    fn end_tag(&mut self, name: &str) {
        if is_block(name) {
            self.text.line_break();
        }
        if name == "a" {
            self.close_anchor();
        }
        // Closing an element closes everything opened inside it, as in well-formed HTML;
        // an end tag without a start tag is ignored.
        if let Some(index) = self.open.iter().rposition(|open| open.name == name) {
            let closed = &self.open[index..];
            let emphases = closed.iter().filter(|open| open.emphasizes).count();
            let hidden = closed.iter().filter(|open| open.hides).count();
            self.open.truncate(index);
            self.hidden_depth -= hidden;
            self.end_emphasis(emphases);
        }
    }

    fn end_emphasis(&mut self, count: usize) {
        if count == 0 {
            return;
        }
        self.emphasis_depth -= count;
        if self.emphasis_depth == 0 && self.emphasis_start < self.text.len() {
            self.emphasized.push(self.emphasis_start..self.text.len());
        }
    }

    fn close_anchor(&mut self) {
        if let Some(anchor) = self.anchor.take() {
            let text = collapse_whitespace(&self.text.as_str()[anchor.text_start..]);
            self.anchors.push(Anchor {
                href: anchor.href,
                text,
            });
        }
    }

    fn finish(mut self) -> Scanned {
        self.close_anchor();
        self.end_emphasis(self.emphasis_depth);
        Scanned {
            text: self.text.into_string(),
            emphasized: self.emphasized,
            anchors: self.anchors,
        }
    }
}

/// Builds visible text: runs of whitespace become one space, lines carry no leading or
/// trailing spaces, invisible characters are dropped.
#[derive(Default)]
struct TextBuilder {
    text: String,
    pending_space: bool,
}

impl TextBuilder {
    fn push(&mut self, decoded: &str) {
        for c in decoded.chars() {
            if c.is_whitespace() {
                self.pending_space = !self.text.is_empty() && !self.text.ends_with('\n');
            } else if !is_invisible(c) {
                if self.pending_space {
                    self.text.push(' ');
                    self.pending_space = false;
                }
                self.text.push(c);
            }
        }
    }

    fn line_break(&mut self) {
        self.pending_space = false;
        if !self.text.is_empty() && !self.text.ends_with('\n') {
            self.text.push('\n');
        }
    }

    fn len(&self) -> usize {
        self.text.len()
    }

    fn as_str(&self) -> &str {
        &self.text
    }

    fn into_string(self) -> String {
        self.text
    }
}

/// Zero-width characters and soft hyphens, which mail templates sprinkle into preheaders
/// and sometimes into codes.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{ad}' | '\u{200b}'..='\u{200d}' | '\u{2060}' | '\u{feff}'
    )
}

fn collapse_whitespace(text: &str) -> Option<String> {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    (!collapsed.is_empty()).then_some(collapsed)
}

fn name_len(text: &str) -> usize {
    text.bytes()
        .position(|b| !(b.is_ascii_alphanumeric() || b == b'-'))
        .unwrap_or(text.len())
}

/// Parses the start tag at `start` (a `<` followed by a letter); returns it and where it
/// ends. Delimiters are ASCII, so every index used for slicing is a char boundary.
fn parse_start_tag(html: &str, start: usize) -> (StartTag<'_>, usize) {
    let bytes = html.as_bytes();
    let name_start = start + 1;
    let mut at = name_start + name_len(&html[name_start..]);
    let mut tag = StartTag {
        name: &html[name_start..at],
        href: None,
        style: None,
        size: None,
        self_closing: false,
    };
    let skip_whitespace = |mut at: usize| {
        while bytes.get(at).is_some_and(u8::is_ascii_whitespace) {
            at += 1;
        }
        at
    };
    loop {
        at = skip_whitespace(at);
        match bytes.get(at) {
            None => return (tag, html.len()),
            Some(b'>') => return (tag, at + 1),
            Some(b'/') => {
                at += 1;
                if bytes.get(at) == Some(&b'>') {
                    tag.self_closing = true;
                    return (tag, at + 1);
                }
                continue;
            }
            Some(_) => {}
        }
        let attribute_start = at;
        while bytes
            .get(at)
            .is_some_and(|&b| !(b.is_ascii_whitespace() || matches!(b, b'=' | b'>' | b'/')))
        {
            at += 1;
        }
        let attribute = &html[attribute_start..at];
        at = skip_whitespace(at);
        if bytes.get(at) != Some(&b'=') {
            continue;
        }
        at = skip_whitespace(at + 1);
        let value = match bytes.get(at) {
            Some(&quote @ (b'"' | b'\'')) => {
                let value_start = at + 1;
                let value_end = html[value_start..]
                    .find(char::from(quote))
                    .map_or(html.len(), |end| value_start + end);
                at = (value_end + 1).min(html.len());
                &html[value_start..value_end]
            }
            _ => {
                let value_start = at;
                while bytes
                    .get(at)
                    .is_some_and(|&b| !(b.is_ascii_whitespace() || b == b'>'))
                {
                    at += 1;
                }
                &html[value_start..at]
            }
        };
        if attribute.eq_ignore_ascii_case("href") {
            tag.href = Some(value);
        } else if attribute.eq_ignore_ascii_case("style") {
            tag.style = Some(value);
        } else if attribute.eq_ignore_ascii_case("size") {
            tag.size = Some(value);
        }
    }
}

/// Skips the content of a raw-text element (`<script>`, `<style>`, ...) and its end tag.
fn skip_raw_text(html: &str, from: usize, name: &str) -> usize {
    let mut at = from;
    while let Some(offset) = html[at..].find("</") {
        let name_start = at + offset + 2;
        let closes = html
            .get(name_start..name_start + name.len())
            .is_some_and(|candidate| candidate.eq_ignore_ascii_case(name));
        if closes {
            return html[name_start..]
                .find('>')
                .map_or(html.len(), |end| name_start + end + 1);
        }
        at = name_start;
    }
    html.len()
}

fn is_block(name: &str) -> bool {
    matches!(
        name,
        "address"
            | "article"
            | "aside"
            | "blockquote"
            | "br"
            | "caption"
            | "center"
            | "dd"
            | "details"
            | "div"
            | "dl"
            | "dt"
            | "figcaption"
            | "figure"
            | "footer"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "header"
            | "hr"
            | "li"
            | "main"
            | "nav"
            | "ol"
            | "p"
            | "pre"
            | "section"
            | "summary"
            | "table"
            | "tbody"
            | "td"
            | "tfoot"
            | "th"
            | "thead"
            | "tr"
            | "ul"
    )
}

fn is_void(name: &str) -> bool {
    matches!(
        name,
        "area"
            | "base"
            | "br"
            | "col"
            | "embed"
            | "hr"
            | "img"
            | "input"
            | "link"
            | "meta"
            | "source"
            | "track"
            | "wbr"
    )
}

fn is_emphasis(name: &str) -> bool {
    matches!(
        name,
        "b" | "strong"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "code"
            | "kbd"
            | "samp"
            | "tt"
            | "mark"
            | "big"
    )
}

static EMPHASIS_STYLE: LazyLock<Regex> = LazyLock::new(|| {
    crate::regex(concat!(
        r"(?i)font-weight\s*:\s*(?:bold|bolder|[6-9]00)\b",
        r"|font-size\s*:\s*(?:x+-large|larger|(\d+(?:\.\d+)?)\s*(px|pt|em|rem|%))",
    ))
});

static HIDDEN_STYLE: LazyLock<Regex> = LazyLock::new(|| crate::regex(r"(?i)display\s*:\s*none\b"));

/// Bold, or a font clearly larger than body text (20px, 15pt, 1.25em, 125%).
fn style_emphasizes(style: &str) -> bool {
    EMPHASIS_STYLE.captures_iter(style).any(|found| {
        match (found.get(1), found.get(2)) {
            (Some(size), Some(unit)) => {
                let threshold = match unit.as_str().to_ascii_lowercase().as_str() {
                    "px" => 20.0,
                    "pt" => 15.0,
                    "%" => 125.0,
                    _ => 1.25,
                };
                size.as_str()
                    .parse::<f32>()
                    .is_ok_and(|size| size >= threshold)
            }
            // Bold, or a size keyword.
            _ => true,
        }
    })
}

/// `<font size>`: 5 and up, or at least two steps above the base size (`+2`).
fn font_size_is_large(size: &str) -> bool {
    let size = size.trim();
    match size.strip_prefix('+') {
        Some(steps) => steps.parse::<u8>().is_ok_and(|steps| steps >= 2),
        None => size.parse::<u8>().is_ok_and(|size| size >= 5),
    }
}

/// The longest character reference we decode, `&#x10FFFF;` or a named one, with `&`/`;`.
const MAX_REFERENCE_LEN: usize = 12;

/// Decodes numeric character references and the named ones that occur in mail.
pub(crate) fn decode_entities(text: &str) -> Cow<'_, str> {
    if !text.contains('&') {
        return Cow::Borrowed(text);
    }
    let mut decoded = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(ampersand) = rest.find('&') {
        decoded.push_str(&rest[..ampersand]);
        rest = &rest[ampersand..];
        match parse_reference(rest) {
            Some((c, len)) => {
                decoded.push(c);
                rest = &rest[len..];
            }
            None => {
                decoded.push('&');
                rest = &rest[1..];
            }
        }
    }
    decoded.push_str(rest);
    Cow::Owned(decoded)
}

/// The character `reference` (which starts with `&`) stands for, and the reference's length.
fn parse_reference(reference: &str) -> Option<(char, usize)> {
    let semicolon = reference
        .bytes()
        .take(MAX_REFERENCE_LEN)
        .position(|b| b == b';')?;
    let name = &reference[1..semicolon];
    let c = match name.strip_prefix('#') {
        Some(number) => {
            let code_point = match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16),
                None => number.parse(),
            }
            .ok()?;
            char::from_u32(code_point)
                .filter(|&c| c != '\0')
                .unwrap_or(char::REPLACEMENT_CHARACTER)
        }
        None => named_reference(name)?,
    };
    Some((c, semicolon + 1))
}

fn named_reference(name: &str) -> Option<char> {
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => '\u{a0}',
        "ensp" => '\u{2002}',
        "emsp" => '\u{2003}',
        "thinsp" => '\u{2009}',
        "zwnj" => '\u{200c}',
        "zwj" => '\u{200d}',
        "shy" => '\u{ad}',
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "euro" => '€',
        "pound" => '£',
        "yen" => '¥',
        "cent" => '¢',
        "sect" => '§',
        "deg" => '°',
        "middot" => '·',
        "bull" => '•',
        "hellip" => '…',
        "ndash" => '–',
        "mdash" => '—',
        "lsquo" => '‘',
        "rsquo" => '’',
        "sbquo" => '‚',
        "ldquo" => '“',
        "rdquo" => '”',
        "bdquo" => '„',
        "laquo" => '«',
        "raquo" => '»',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_text_keeps_emphasis_and_drops_hidden_and_raw_text() {
        let scanned = scan(
            r#"<p>Intro</p><span style="font-size: 28px">111111</span>
            <span style="font-size:12px">222222</span> <font size="6">333333</font>
            <div style="display: none">444444</div><script>var x = "<b>555555</b>";</script>
            <!-- 666666 --><p>a&amp;b &lt;c&gt; &#52;&#x32; &bogus; &amp</p>"#,
        );
        assert_eq!(
            scanned.text,
            "Intro\n111111 222222 333333\na&b <c> 42 &bogus; &amp\n"
        );
        let emphasized: Vec<&str> = scanned
            .emphasized
            .iter()
            .map(|range| scanned.text[range.clone()].trim())
            .collect();
        assert_eq!(emphasized, ["111111", "333333"]);
    }
}
