//! Everything about a mail's content: validated addresses, MIME parsing, HTML sanitizing, and
//! extraction of links and one-time codes.

pub mod address;
pub mod extract;
pub mod flatten;
pub mod parse;
pub mod sanitize;
