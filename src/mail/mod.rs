//! Everything about a mail's content: validated addresses, MIME parsing and HTML sanitizing.

pub mod address;
pub mod parse;
pub mod sanitize;
