//! What a message shows beyond its row (its text and HTML bodies, its header fields, its `To:`,
//! `Cc:`, `Date:`, `Message-ID:` and `In-Reply-To:`, why it could not be parsed and the limits
//! its parts were cut at), derived from its raw source when read: the raw source is the only
//! stored copy of a mail's content. Derived with the code that parsed the mail at ingest
//! ([`ephemail_mail::parse::content`]), so answers are those the columns once stored gave, and
//! kept in a bounded cache, so that a hot message (the one a test waits for, then reads the
//! code and link of) is decoded once.

use std::{collections::HashMap, sync::Arc};

use diesel_async::AsyncPgConnection;
use futures::future::try_join_all;
use tokio::sync::Semaphore;
use uuid::Uuid;

use ephemail_mail::parse::{self, MailContent};
use ephemail_store::models::{message, raw_source::ContentSeed, MessageAt};

/// Bytes of derived contents kept: about 2,000 verification mails.
const CACHE_BYTES: u64 = 32 << 20;
/// What a cached content costs beyond its bytes (entry, key, allocations), so that many tiny
/// contents cannot outgrow [`CACHE_BYTES`] by far.
const ENTRY_OVERHEAD: u64 = 256;

/// CPU work on stored mail for readers (decoding raw sources, sanitizing) runs on the blocking
/// pool at most one job per core at a time. A job holds its place until it has finished, so an
/// operation past its deadline (whose futures are dropped) starts no new work and leaves at
/// most the jobs already running, instead of a queue of hundreds of threads.
#[derive(Clone)]
pub struct ReadWork(Arc<Semaphore>);

impl Default for ReadWork {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Self(Arc::new(Semaphore::new(cores)))
    }
}

impl ReadWork {
    /// Runs `work` on `bytes` of mail (see [`ephemail_mail::cpu_bound`]) when a place is free.
    pub async fn run<T: Send + 'static>(
        &self,
        bytes: usize,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        let place = Arc::clone(&self.0).acquire_owned().await?;
        ephemail_mail::cpu_bound(bytes, move || {
            let _place = place;
            work()
        })
        .await
    }
}

#[derive(Clone)]
enum Cached {
    Derived(Arc<MailContent>),
    /// What ingest's event brought, derived when first read.
    Seed(Arc<ContentSeed>),
}

impl Cached {
    fn weight(&self) -> u64 {
        let bytes = match self {
            Self::Derived(content) => content.weight(),
            Self::Seed(seed) => seed.weight(),
        };
        u64::try_from(bytes)
            .unwrap_or(u64::MAX)
            .saturating_add(ENTRY_OVERHEAD)
    }
}

#[derive(Clone)]
struct ByWeight;

impl quick_cache::Weighter<Uuid, Cached> for ByWeight {
    fn weight(&self, _: &Uuid, cached: &Cached) -> u64 {
        cached.weight()
    }
}

/// Messages' derived contents, by message id (a message's content never changes). Cheap to
/// clone: the API and the webhook dispatcher share one.
#[derive(Clone)]
pub struct Contents {
    cache: Arc<quick_cache::sync::Cache<Uuid, Cached, ByWeight>>,
    work: ReadWork,
}

impl Default for Contents {
    fn default() -> Self {
        Self::new(CACHE_BYTES)
    }
}

impl Contents {
    pub fn new(cache_bytes: u64) -> Self {
        let estimated_items = usize::try_from(cache_bytes / 8192).unwrap_or(1).max(1);
        Self {
            cache: Arc::new(quick_cache::sync::Cache::with_weighter(
                estimated_items,
                cache_bytes,
                ByWeight,
            )),
            work: ReadWork::default(),
        }
    }

    /// The places for readers' CPU work, which deriving contents takes too.
    pub fn work(&self) -> &ReadWork {
        &self.work
    }

    /// The contents of `messages`, which the caller has been allowed to see, by id: from the
    /// cache, else from their raw sources (one query per bucket). A message deleted meanwhile
    /// has no entry.
    pub async fn load(
        &self,
        conn: &mut AsyncPgConnection,
        messages: &[MessageAt],
    ) -> anyhow::Result<HashMap<Uuid, Arc<MailContent>>> {
        let mut found = HashMap::with_capacity(messages.len());
        let mut seeds = Vec::new();
        let mut missing = Vec::new();
        for &message in messages {
            match self.cache.get(&message.id) {
                Some(Cached::Derived(content)) => {
                    found.insert(message.id, content);
                }
                Some(Cached::Seed(seed)) => seeds.push((message.id, seed)),
                None => missing.push(message),
            }
        }
        let sources = if missing.is_empty() {
            Vec::new()
        } else {
            message::raw_of(conn, &missing).await?
        };
        let from_seeds = seeds.into_iter().map(|(id, seed)| {
            let derive = self.work.run(seed.decoded_bytes(), move || seed.content());
            async move { anyhow::Ok((id, derive.await??)) }
        });
        let from_sources = sources.into_iter().map(|(id, source)| {
            let derive = self.work.run(source.decoded_bytes(), move || {
                source.decode().map(|raw| parse::content(&raw))
            });
            async move { anyhow::Ok((id, derive.await??)) }
        });
        let (from_seeds, from_sources) =
            tokio::try_join!(try_join_all(from_seeds), try_join_all(from_sources))?;
        for (id, content) in from_seeds.into_iter().chain(from_sources) {
            let content = Arc::new(content);
            self.cache.insert(id, Cached::Derived(content.clone()));
            found.insert(id, content);
        }
        Ok(found)
    }

    /// Keeps what message `id`'s content derives from, as ingest's events bring it to a
    /// listener about to read the message, unless its content is here already.
    pub fn remember(&self, id: Uuid, seed: Arc<ContentSeed>) {
        if self.cache.get(&id).is_none() {
            self.cache.insert(id, Cached::Seed(seed));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_keeps_what_its_byte_budget_allows() {
        let contents = Contents::new(64 << 10);
        let content = Arc::new(MailContent {
            text: Some("x".repeat(8 << 10)),
            ..MailContent::default()
        });
        for _ in 0..100 {
            (contents.cache).insert(Uuid::new_v4(), Cached::Derived(content.clone()));
        }
        assert!(contents.cache.weight() <= 64 << 10);
        assert!(contents.cache.len() >= 4, "{}", contents.cache.len());
    }
}
