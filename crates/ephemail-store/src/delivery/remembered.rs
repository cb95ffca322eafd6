//! What the ingest writer remembers of the batches it stored: their live recipient inboxes, by
//! address, and their tenants' limits (and `RCPT TO` of the inboxes of registered domains it
//! looked up). A batch whose recipients are all remembered, or new
//! addresses of catch-all domains, is stored without reading them first: its transaction is one
//! round trip instead of two (a second one cost about a tenth of ingest's rate, measured in
//! `docs/performance.md`). The transaction's first statements make the new catch-all inboxes and
//! check everything remembered ([`message_insert::remembered_still_hold`]); when something
//! changed (an inbox deleted, expired, moved to another expiry bucket or made by another
//! process, a tenant's limits changed), that check aborts the transaction, the writer forgets
//! and stores the batch as before, reading them.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use uuid::Uuid;

use super::{
    batch::{statement, BatchInboxes, Job},
    recipients::RecipientCache,
};
use crate::{
    models::{
        domain::{Domain, DomainMode},
        inbox::{self, Inbox},
        message_insert,
        tenant::TenantLimits,
    },
    partitions::ExpiryBuckets,
    prepared,
};

/// Remembered inboxes at most; past it, everything is forgotten (and relearnt by the next
/// batches), which bounds the writer's memory to about a megabyte per thousand.
const MAX_INBOXES: usize = 16_384;

#[derive(Default)]
pub(super) struct Remembered(Mutex<Memory>);

#[derive(Default)]
struct Memory {
    inboxes: HashMap<String, Inbox>,
    limits: HashMap<Uuid, TenantLimits>,
}

/// A batch's recipients as remembered, with the catch-all inboxes it makes.
pub(super) struct FromMemory {
    pub(super) inboxes: BatchInboxes,
    pub(super) limits: HashMap<Uuid, TenantLimits>,
    fresh: Vec<Inbox>,
    /// The lifetime of the inboxes in `fresh`.
    catch_all_ttl: chrono::Duration,
}

impl Remembered {
    // Held for a few map operations, never across an await.
    fn memory(&self) -> MutexGuard<'_, Memory> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Remembers the live inboxes and tenants' limits of a committed batch.
    pub(super) fn learn<'a>(
        &self,
        inboxes: impl IntoIterator<Item = (&'a String, &'a Inbox)>,
        limits: &HashMap<Uuid, TenantLimits>,
    ) {
        let mut memory = self.memory();
        for (address, inbox) in inboxes {
            memory.remember(address.clone(), inbox.clone());
        }
        for (&tenant_id, tenant_limits) in limits {
            memory.limits.insert(tenant_id, tenant_limits.clone());
        }
    }

    /// Remembers a live inbox `RCPT TO` found at `address`; returns its tenant.
    pub(super) fn learn_inbox(&self, address: String, inbox: Inbox) -> Uuid {
        let tenant_id = inbox.tenant_id;
        self.memory().remember(address, inbox);
        tenant_id
    }

    pub(super) fn forget(&self) {
        let mut memory = self.memory();
        memory.inboxes.clear();
        memory.limits.clear();
    }

    /// The batch's recipients from memory, if every one is a live remembered inbox or a new
    /// address of a catch-all domain `recipients` knows (whose inboxes live `catch_all_ttl`), and
    /// every tenant's limits are remembered.
    pub(super) fn recall(
        &self,
        recipients: &RecipientCache,
        buckets: &ExpiryBuckets,
        catch_all_ttl: chrono::Duration,
        batch: &[Job],
        now: DateTime<Utc>,
    ) -> Option<FromMemory> {
        let memory = self.memory();
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
                } => new_addresses.push((address, owner)),
                _ => return None,
            }
        }
        let fresh = inbox::made_by_mail(&new_addresses, now, catch_all_ttl, buckets);
        let created = fresh.iter().map(|inbox| inbox.id).collect();
        by_address.extend(fresh.iter().map(|inbox| (inbox.address(), inbox.clone())));
        let limits = (by_address.values())
            .map(|inbox| {
                Some((
                    inbox.tenant_id,
                    memory.limits.get(&inbox.tenant_id)?.clone(),
                ))
            })
            .collect::<Option<_>>()?;
        let inboxes = BatchInboxes {
            by_address,
            created,
            replaced: Vec::new(),
            over_catch_all_quota: HashSet::new(),
        };
        Some(FromMemory {
            inboxes,
            limits,
            fresh,
            catch_all_ttl,
        })
    }
}

impl Memory {
    fn remember(&mut self, address: String, inbox: Inbox) {
        if self.inboxes.len() >= MAX_INBOXES {
            self.inboxes.clear();
        }
        self.inboxes.insert(address, inbox);
    }
}

impl FromMemory {
    /// Begins the batch's transaction, makes its new catch-all inboxes (under `catch_all_cap`)
    /// and checks what was remembered, pipelined: the caller sends the rest of the transaction
    /// behind these statements without waiting for them.
    pub(super) async fn begin(
        &self,
        conn: &AsyncPgConnection,
        buckets: &ExpiryBuckets,
        catch_all_cap: i32,
        now: DateTime<Utc>,
    ) -> diesel::QueryResult<()> {
        let inboxes: Vec<(Uuid, DateTime<Utc>)> = (self.inboxes.by_address.values())
            .map(|inbox| (inbox.id, inbox.purge_at))
            .collect();
        let tenants: Vec<(Uuid, &TenantLimits)> = self
            .limits
            .iter()
            .map(|(&id, limits)| (id, limits))
            .collect();
        futures::try_join!(
            statement("begin", prepared::begin(conn)),
            statement(
                "inbox.insert_made_by_mail",
                inbox::insert_made_by_mail(
                    conn,
                    &self.fresh,
                    now,
                    self.catch_all_ttl,
                    buckets,
                    catch_all_cap,
                )
            ),
            statement(
                "message.remembered_still_hold",
                message_insert::remembered_still_hold(conn, &inboxes, &tenants, now)
            ),
        )
        .map(drop)
    }
}
