//! Everything about a mail's content: validated addresses, MIME parsing, HTML sanitizing, and
//! extraction of links and one-time codes.

pub mod address;
pub mod extract;
pub mod flatten;
pub mod parse;
pub mod sanitize;

use anyhow::Context;

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
