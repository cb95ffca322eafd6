//! HTML sanitizing for display: one ammonia [`ammonia::Builder`] built at start-up and shared.

use std::collections::HashSet;

pub struct Sanitizer {
    builder: ammonia::Builder<'static>,
}

impl Default for Sanitizer {
    fn default() -> Self {
        let mut builder = ammonia::Builder::default();
        let mut schemes: HashSet<&str> = ["http", "https", "mailto", "tel"].into();
        // Inline images reference their attachment by `cid:`.
        schemes.insert("cid");
        builder
            .url_schemes(schemes)
            .link_rel(Some("noopener noreferrer"))
            .set_tag_attribute_value("a", "target", "_blank");
        Self { builder }
    }
}

impl Sanitizer {
    /// Removes scripts, event handlers, `javascript:` URLs, forms, frames and the like.
    pub fn clean(&self, html: &str) -> String {
        self.builder.clean(html).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_handlers_and_javascript_urls_are_removed() {
        let html = r#"<p onclick="steal()">Hi<script>alert(1)</script>
            <img src="x" onerror="alert(2)"><a href="javascript:alert(3)">x</a>
            <iframe src="https://evil.example"></iframe><form action="/x"><input></form></p>"#;
        let clean = Sanitizer::default().clean(html);
        for banned in [
            "script",
            "onclick",
            "onerror",
            "javascript:",
            "iframe",
            "<form",
            "<input",
        ] {
            assert!(!clean.contains(banned), "{banned} survived in {clean}");
        }
        assert!(clean.contains("Hi"));
    }

    #[test]
    fn links_open_in_a_new_tab_without_referrer() {
        let clean = Sanitizer::default().clean(r#"<a href="https://example.com/v?c=1">go</a>"#);
        assert!(clean.contains(r#"rel="noopener noreferrer""#), "{clean}");
        assert!(clean.contains(r#"target="_blank""#), "{clean}");
        assert!(clean.contains("https://example.com/v?c=1"), "{clean}");
    }
}
