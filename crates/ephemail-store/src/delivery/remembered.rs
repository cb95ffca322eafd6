//! What the ingest writer remembers of the batches it stored: their live recipient inboxes, by
//! address, with the bounds of their messages as the batches left them, and their tenants'
//! limits and whether they have webhooks for received messages (and `RCPT TO` of the inboxes of
//! registered domains it looked up). A batch whose recipients are all remembered, or new
//! addresses of catch-all domains, is stored without reading them first: its transaction is one
//! round trip instead of two (a second one cost about a tenth of ingest's rate, measured in
//! `docs/performance.md`). The statement that inserts its messages also makes the new catch-all
//! inboxes and checks everything remembered ([`Assumed`]); when something changed (an inbox
//! deleted, expired, moved to another expiry bucket, made by another process or filled by one
//! past the cap, a tenant's limits changed or a webhook made), that check aborts the
//! transaction, the writer forgets (the batch's inboxes, and every tenant's limits) and stores
//! the batch as before, reading them. A tenant whose catch-all inboxes were at their cap makes
//! no new ones from memory until a batch read with room for one.

use std::collections::{HashMap, HashSet};
use std::num::NonZeroUsize;
use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{batch::BatchInboxes, queue::Job, recipients::RecipientCache};
use crate::{
    models::{
        domain::{Domain, DomainMode},
        inbox::{self, Inbox},
        message_insert::Assumed,
        tenant::Receiving,
    },
    partitions::ExpiryBuckets,
};

/// Remembered inboxes at most, the least recently used forgotten first: a few megabytes.
const MAX_INBOXES: NonZeroUsize = NonZeroUsize::new(16_384).unwrap();

pub(super) struct Remembered(Mutex<Memory>);

struct Memory {
    inboxes: lru::LruCache<String, Inbox>,
    tenants: HashMap<Uuid, Receiving>,
    /// Tenants whose last batch read found no room for another inbox made by mail.
    at_catch_all_cap: HashSet<Uuid>,
}

impl Default for Remembered {
    fn default() -> Self {
        Self(Mutex::new(Memory {
            inboxes: lru::LruCache::new(MAX_INBOXES),
            tenants: HashMap::new(),
            at_catch_all_cap: HashSet::new(),
        }))
    }
}

/// A batch's recipients as remembered, with the catch-all inboxes it makes.
pub(super) struct FromMemory {
    pub(super) inboxes: BatchInboxes,
    pub(super) tenants: HashMap<Uuid, Receiving>,
    fresh: Vec<Inbox>,
}

impl Remembered {
    // Held for a few map operations, never across an await.
    fn memory(&self) -> MutexGuard<'_, Memory> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Remembers the live inboxes (with their `bounds` as the batch left them) and tenants of a
    /// committed batch, and which tenants it found at their cap of inboxes made by mail, or
    /// made one for.
    pub(super) fn learn(
        &self,
        inboxes: &BatchInboxes,
        tenants: &HashMap<Uuid, Receiving>,
        bounds: &HashMap<Uuid, i32>,
    ) {
        let mut memory = self.memory();
        for (address, inbox) in &inboxes.by_address {
            let mut inbox = inbox.clone();
            if let Some(&bound) = bounds.get(&inbox.id) {
                inbox.message_bound = bound;
            }
            if inboxes.created.contains(&inbox.id) {
                memory.at_catch_all_cap.remove(&inbox.tenant_id);
            }
            memory.inboxes.put(address.clone(), inbox);
        }
        (memory.at_catch_all_cap).extend(inboxes.over_catch_all_quota.values());
        for (&tenant_id, tenant) in tenants {
            memory.tenants.insert(tenant_id, tenant.clone());
        }
    }

    /// Remembers a live inbox `RCPT TO` found at `address`.
    pub(super) fn learn_inbox(&self, address: String, inbox: Inbox) {
        self.memory().inboxes.put(address, inbox);
    }

    /// Forgets the batch's inboxes and every tenant: what was not stored as remembered (the
    /// check failed, or the transaction did) is read again.
    pub(super) fn forget(&self, batch: &[Job]) {
        let mut memory = self.memory();
        for key in batch.iter().flat_map(|job| job.mail.deliveries.keys()) {
            memory.inboxes.pop(key);
        }
        memory.tenants.clear();
    }

    /// The batch's recipients from memory, if every one is a live remembered inbox or a new
    /// address of a catch-all domain `recipients` knows (whose inboxes live `catch_all_ttl`), and
    /// every tenant is remembered.
    pub(super) fn recall(
        &self,
        recipients: &RecipientCache,
        buckets: &ExpiryBuckets,
        catch_all_ttl: chrono::Duration,
        batch: &[Job],
        now: DateTime<Utc>,
    ) -> Option<FromMemory> {
        let mut memory = self.memory();
        let mut by_address = HashMap::new();
        let mut new_addresses = Vec::new();
        for (key, (address, _)) in batch.iter().flat_map(|job| &job.mail.deliveries) {
            if let Some(inbox) = memory.inboxes.get(key).filter(|i| i.expires_at > now) {
                by_address.insert(key.clone(), inbox.clone());
                continue;
            }
            match recipients.domain(address.domain.as_str())? {
                Domain {
                    mode: DomainMode::CatchAll,
                    tenant_id: Some(owner),
                    ..
                } if !memory.at_catch_all_cap.contains(&owner) => {
                    new_addresses.push((address, owner));
                }
                _ => return None,
            }
        }
        let fresh = inbox::made_by_mail(&new_addresses, now, catch_all_ttl, buckets);
        let created = fresh.iter().map(|inbox| inbox.id).collect();
        by_address.extend(fresh.iter().map(|inbox| (inbox.address(), inbox.clone())));
        let tenants = (by_address.values())
            .map(|inbox| {
                Some((
                    inbox.tenant_id,
                    memory.tenants.get(&inbox.tenant_id)?.clone(),
                ))
            })
            .collect::<Option<_>>()?;
        let inboxes = BatchInboxes {
            by_address,
            created,
            replaced: Vec::new(),
            over_catch_all_quota: HashMap::new(),
        };
        Some(FromMemory {
            inboxes,
            tenants,
            fresh,
        })
    }
}

impl FromMemory {
    /// What the batch's insert is to check, and the new catch-all inboxes it is to make (under
    /// `catch_all_cap`).
    pub(super) fn assumed(&self, catch_all_cap: i32) -> Assumed<'_> {
        let inboxes = (self.inboxes.by_address.values())
            .filter(|inbox| !self.inboxes.created.contains(&inbox.id))
            .map(|inbox| (inbox.id, inbox.purge_at))
            .collect();
        let tenants = (self.tenants.iter())
            .map(|(&id, tenant)| (id, &tenant.limits))
            .collect();
        Assumed {
            fresh: &self.fresh,
            catch_all_cap,
            inboxes,
            tenants,
            no_message_webhooks: self.tenants.values().all(|tenant| !tenant.message_webhooks),
        }
    }
}
