//! Everything about a mail's content: validated addresses, MIME parsing, HTML flattening and
//! sanitizing, and extraction of links and one-time codes. Pure functions over bytes and
//! strings: no database, no HTTP, no GraphQL (the API layer maps these types to its own).

pub mod address;
pub mod codes;
pub mod flatten;
mod html_scan;
pub mod links;
pub mod parse;
pub mod sanitize;

use anyhow::Context;
use regex::Regex;

/// Mail work (parsing, sanitizing) on up to this many bytes runs on the calling task: tens of
/// microseconds, less than a round trip through the blocking pool, which costs two thread
/// wake-ups (measured in `docs/performance.md`). Work on larger inputs runs off the reactor.
pub const INLINE_BYTES: usize = 8 * 1024;

/// Runs CPU-bound `work` on `bytes` of mail: on the calling task when they are few, else on the
/// blocking pool.
pub async fn cpu_bound<T: Send + 'static>(
    bytes: usize,
    work: impl FnOnce() -> T + Send + 'static,
) -> anyhow::Result<T> {
    if bytes <= INLINE_BYTES {
        Ok(work())
    } else {
        tokio::task::spawn_blocking(work)
            .await
            .context("a mail parsing or sanitizing task failed")
    }
}

/// Compiles one of this crate's fixed patterns.
fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("the crate's patterns are valid")
}
