//! Bounds how deeply mail HTML nests before it is sanitized.
//!
//! For many tags html5ever's tree builder (which ammonia runs) walks its stack of open elements
//! (scope checks) or its list of open formatting elements (which it reopens before text), so
//! HTML that keeps elements open costs time quadratic in its length: 10,000 nested `<div>`s or
//! unclosed `<font color=N>`s take hundreds of milliseconds to seconds, 50,000 take minutes.
//!
//! [`flatten`] runs html5ever's tokenizer only (linear), estimates the depth the tree builder
//! will reach, and drops the start and end tags that would go deeper than the limit, keeping
//! their text. The estimate errs high: elements are closed only where the tree builder surely
//! closes them, and formatting elements (`<b>`, `<font>`, ...) count until their own end tag,
//! since the tree builder reopens them after an enclosing element closes. The output goes to
//! ammonia like any other HTML, so safety never depends on this module.

use std::{cell::RefCell, collections::HashMap};

use html5ever::{
    tokenizer::{
        states::RawKind, BufferQueue, Tag, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer,
        TokenizerOpts,
    },
    LocalName,
};

/// How many end-tag candidates are looked at, so that the estimate itself stays linear.
const END_TAG_SEARCH: usize = 64;

/// Never open elements: `<br>`, `<img>`, ...
const VOID: &[&str] = &[
    "area", "base", "basefont", "bgsound", "br", "col", "embed", "frame", "hr", "image", "img",
    "input", "keygen", "link", "meta", "param", "source", "track", "wbr",
];

/// Opened once per document whatever the markup says.
const SINGLETONS: &[&str] = &["html", "head", "body"];

/// The HTML standard's formatting elements, which the tree builder reopens.
const FORMATTING: &[&str] = &[
    "a", "b", "big", "code", "em", "font", "i", "nobr", "s", "small", "strike", "strong", "tt", "u",
];

/// The HTML standard's "special" elements: an end tag of any other element is ignored when one
/// of these is open inside the element it would close.
#[rustfmt::skip]
const SPECIAL: &[&str] = &[
    "address", "applet", "area", "article", "aside", "base", "basefont", "bgsound", "blockquote",
    "body", "br", "button", "caption", "center", "col", "colgroup", "dd", "details", "dir", "div",
    "dl", "dt", "embed", "fieldset", "figcaption", "figure", "footer", "form", "frame",
    "frameset", "h1", "h2", "h3", "h4", "h5", "h6", "head", "header", "hgroup", "hr", "html",
    "iframe", "img", "input", "keygen", "li", "link", "listing", "main", "marquee", "menu",
    "meta", "nav", "noembed", "noframes", "noscript", "object", "ol", "p", "param", "plaintext",
    "pre", "script", "search", "section", "select", "source", "style", "summary", "table",
    "tbody", "td", "template", "textarea", "tfoot", "th", "thead", "title", "tr", "track", "ul",
    "wbr", "xmp",
    // MathML and SVG integration points.
    "mi", "mo", "mn", "ms", "mtext", "annotation-xml", "foreignobject", "desc",
    "svg", "math",
];

/// Elements that end the search for the element most special end tags close (the standard's
/// element, list item and button scopes together, so the estimate only errs high).
#[rustfmt::skip]
const SCOPE_BOUNDARIES: &[&str] = &[
    "applet", "caption", "html", "table", "td", "th", "marquee", "object", "template", "button",
    "ol", "ul", "tr", "tbody", "thead", "tfoot", "select",
    "mi", "mo", "mn", "ms", "mtext", "annotation-xml", "foreignobject", "desc", "title",
    "svg", "math",
];

/// Start tags that close the innermost open element when it has one of the given names, as
/// the tree builder does (`<li>` after `<li>`, a cell after a cell, ...), in order.
const CLOSES_INNERMOST: &[(&str, &[&str])] = &[
    ("p", &["p"]),
    ("li", &["li"]),
    ("dd", &["dd", "dt"]),
    ("dt", &["dd", "dt"]),
    ("option", &["option"]),
    ("td", &["td", "th"]),
    ("th", &["td", "th"]),
    ("tr", &["td", "th"]),
    ("tr", &["tr"]),
    ("tbody", &["td", "th"]),
    ("tbody", &["tr"]),
    ("tbody", &["tbody", "thead", "tfoot"]),
];

/// Table parts open only inside the given elements; elsewhere the tree builder ignores them.
const TABLE_PARTS: &[(&str, &[&str])] = &[
    ("td", &["tr"]),
    ("th", &["tr"]),
    ("tr", &["table", "tbody", "thead", "tfoot"]),
    ("tbody", &["table"]),
    ("thead", &["table"]),
    ("tfoot", &["table"]),
    ("caption", &["table"]),
    ("colgroup", &["table"]),
];

/// What ends the search for the element an end tag closes, by the end tag's name: the kind of
/// scope the standard checks (the widest one where several apply, so the estimate errs high).
fn ends_search_for(end_tag: &str, open: &str) -> bool {
    match end_tag {
        "table" => matches!(open, "html" | "template"),
        "td" | "th" | "tr" | "tbody" | "thead" | "tfoot" | "caption" | "colgroup" => {
            matches!(open, "html" | "table" | "template")
        }
        special if SPECIAL.contains(&special) => SCOPE_BOUNDARIES.contains(&open),
        _ => SPECIAL.contains(&open),
    }
}

/// `Some(html)` with the tags deeper than `max_depth` removed, or `None` when `html` stays
/// within it (the common case, decided without tokenizing when `html` has few tags).
pub fn flatten(html: &str, max_depth: usize) -> Option<String> {
    // Every open element comes from a start tag (plus the implied html, head and body).
    if html.bytes().filter(|&b| b == b'<').count() + SINGLETONS.len() <= max_depth {
        return None;
    }
    let sink = Flattener {
        state: RefCell::new(State {
            max_depth,
            out: String::with_capacity(html.len()),
            ..State::default()
        }),
    };
    let tokenizer = Tokenizer::new(sink, TokenizerOpts::default());
    let input = BufferQueue::default();
    input.push_back(html.into());
    // The sink never asks the tokenizer to pause for a script, so one feed reads everything.
    let _ = tokenizer.feed(&input);
    tokenizer.end();
    let state = tokenizer.sink.state.into_inner();
    state.flattened.then_some(state.out)
}

struct Flattener {
    state: RefCell<State>,
}

#[derive(Default)]
struct State {
    max_depth: usize,
    /// Open non-formatting elements as estimated, innermost last; `kept` is false for the ones
    /// whose tags were dropped.
    open: Vec<Open>,
    /// Kept and dropped formatting elements not yet closed by their own end tag, per name.
    formatting: HashMap<LocalName, Counts>,
    /// Kept open elements plus kept open formatting elements.
    depth: usize,
    out: String,
    flattened: bool,
}

struct Open {
    name: LocalName,
    kept: bool,
}

#[derive(Default)]
struct Counts {
    kept: usize,
    dropped: usize,
}

impl TokenSink for Flattener {
    type Handle = ();

    fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
        let mut state = self.state.borrow_mut();
        match token {
            Token::TagToken(tag) if tag.kind == TagKind::StartTag => return state.start(tag),
            Token::TagToken(tag) => state.end(&tag),
            Token::CharacterTokens(text) => escape_text(&mut state.out, &text),
            // Comments, doctypes, NULs and parse errors have no place in displayed mail.
            _ => {}
        }
        TokenSinkResult::Continue
    }
}

impl State {
    fn start(&mut self, tag: Tag) -> TokenSinkResult<()> {
        let name = &*tag.name;
        // What the tree builder tells its tokenizer after this start tag.
        let next = match name {
            "script" => TokenSinkResult::RawData(RawKind::ScriptData),
            "style" | "xmp" | "iframe" | "noembed" | "noframes" | "noscript" => {
                TokenSinkResult::RawData(RawKind::Rawtext)
            }
            "title" | "textarea" => TokenSinkResult::RawData(RawKind::Rcdata),
            "plaintext" => TokenSinkResult::Plaintext,
            _ => TokenSinkResult::Continue,
        };
        if VOID.contains(&name) || SINGLETONS.contains(&name) || tag.self_closing {
            write_tag(&mut self.out, &tag);
            return next;
        }
        for (_, closed) in CLOSES_INNERMOST
            .iter()
            .filter(|(opener, _)| *opener == name)
        {
            if self.innermost_is(closed) {
                self.pop_to(self.open.len() - 1);
            }
        }
        let misplaced_table_part = TABLE_PARTS
            .iter()
            .find(|(part, _)| *part == name)
            .is_some_and(|(_, parents)| !self.innermost_is(parents));
        if misplaced_table_part {
            write_tag(&mut self.out, &tag);
            return next;
        }
        let kept = self.depth < self.max_depth;
        if kept {
            self.depth += 1;
            write_tag(&mut self.out, &tag);
        } else {
            self.flattened = true;
        }
        if FORMATTING.contains(&name) {
            let counts = self.formatting.entry(tag.name).or_default();
            if kept {
                counts.kept += 1;
            } else {
                counts.dropped += 1;
            }
        } else {
            self.open.push(Open {
                name: tag.name,
                kept,
            });
        }
        next
    }

    fn end(&mut self, tag: &Tag) {
        let name = &*tag.name;
        if FORMATTING.contains(&name) {
            let counts = self.formatting.entry(tag.name.clone()).or_default();
            // The innermost element of that name is the one closed: a dropped one if any.
            if counts.dropped > 0 {
                counts.dropped -= 1;
                return;
            }
            if counts.kept > 0 {
                counts.kept -= 1;
                self.depth -= 1;
            }
            write_tag(&mut self.out, tag);
            return;
        }
        let target = self
            .open
            .iter()
            .enumerate()
            .rev()
            .take(END_TAG_SEARCH)
            .take_while(|(_, open)| open.name == tag.name || !ends_search_for(name, &open.name))
            .find(|(_, open)| open.name == tag.name)
            .map(|(index, open)| (index, open.kept));
        match target {
            Some((index, kept)) => {
                self.pop_to(index);
                if kept {
                    write_tag(&mut self.out, tag);
                }
            }
            // The tree builder ignores it or closes less than the estimate assumes.
            None => write_tag(&mut self.out, tag),
        }
    }

    fn innermost_is(&self, names: &[&str]) -> bool {
        self.open
            .last()
            .is_some_and(|innermost| names.contains(&&*innermost.name))
    }

    /// Closes the element at `index` and everything inside it.
    fn pop_to(&mut self, index: usize) {
        let closed = self.open.drain(index..).filter(|open| open.kept).count();
        self.depth -= closed;
    }
}

/// Writes a tag back as HTML. Names the tokenizer let through that could not be written back
/// unambiguously are left out (ammonia would drop them anyway).
fn write_tag(out: &mut String, tag: &Tag) {
    if !is_plain_name(&tag.name) {
        return;
    }
    out.push('<');
    if tag.kind == TagKind::EndTag {
        out.push('/');
    }
    out.push_str(&tag.name);
    for attribute in &tag.attrs {
        if tag.kind == TagKind::EndTag || !is_plain_name(&attribute.name.local) {
            continue;
        }
        out.push(' ');
        out.push_str(&attribute.name.local);
        out.push_str("=\"");
        for c in attribute.value.chars() {
            match c {
                '&' => out.push_str("&amp;"),
                '"' => out.push_str("&quot;"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    if tag.self_closing {
        out.push('/');
    }
    out.push('>');
}

fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_:.".contains(&b))
}

fn escape_text(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shallow_html_is_left_alone() {
        let html = "<div><p>a<b>b</b></p><ul><li>1<li>2</ul></div>".repeat(100);
        assert_eq!(flatten(&html, 16), None);
        // Few tags: decided without tokenizing.
        assert_eq!(flatten("<div><div>x</div></div>", 8), None);
    }

    #[test]
    fn deep_nesting_is_cut_at_the_limit_and_text_kept() {
        let html = format!("{}deep text{}", "<div>".repeat(50), "</div>".repeat(50));
        let flat = flatten(&html, 10).expect("flattened");
        assert_eq!(flat.matches("<div>").count(), 10, "{flat}");
        assert_eq!(flat.matches("</div>").count(), 10, "{flat}");
        assert!(flat.contains("deep text"));
    }

    #[test]
    fn unclosed_formatting_elements_count_until_their_end_tag() {
        // The tree builder reopens each `<b>` after `</div>`, nesting them all.
        let html: String = (0..100)
            .map(|i| format!("<div><b id={i}></div>x"))
            .collect();
        let flat = flatten(&html, 20).expect("flattened");
        assert!(flat.matches("<b ").count() <= 20, "{flat}");
        assert_eq!(flat.matches('x').count(), 100);
    }

    #[test]
    fn end_tags_blocked_by_special_elements_do_not_close() {
        // `</span>` cannot close a span with a `<div>` open inside it, so these nest.
        let flat = flatten(&"<span><div></span>".repeat(100), 20).expect("flattened");
        assert!(flat.matches("<span>").count() + flat.matches("<div>").count() <= 20);
    }

    #[test]
    fn sloppy_but_shallow_markup_is_not_flattened() {
        let rows = "<tr><td><p>cell<td>cell<p>more".repeat(400);
        let list = "<li>item".repeat(400);
        let html = format!("<table>{rows}</table><ul>{list}</ul>");
        assert_eq!(flatten(&html, 64), None);
    }

    #[test]
    fn attributes_and_text_are_written_back_escaped() {
        let html = format!(
            r#"{}<a href="https://x.example/?a=1&amp;b=&quot;2&quot;" title='<x>'>a &lt;b&gt; &amp; c</a>"#,
            "<div>".repeat(4)
        );
        let flat = flatten(&html, 2).expect("flattened");
        assert!(flat.ends_with("a &lt;b&gt; &amp; c"), "{flat}");
        let flat = flatten(&format!("{html}{}", "<span>".repeat(8)), 6).expect("flattened");
        assert!(
            flat.contains(r#"<a href="https://x.example/?a=1&amp;b=&quot;2&quot;" title="<x>">"#),
            "{flat}"
        );
    }
}
