//! What `RCPT TO` needs to know about domains and tenants, kept briefly in memory: at thousands
//! of mails a second, asking PostgreSQL at every recipient costs more than storing the mail.
//!
//! Only positive answers are kept ("this domain is served", "this tenant had room"), each for at
//! most [`FRESH_FOR`], so a domain added or a quota raised applies at once, and a domain removed
//! (with the CLI, from another process) or a quota used up is noticed within that time. The
//! binding checks are made again when the mail is stored: the storing transaction reads the
//! domains, inboxes, limits and counters itself. A stale entry can therefore only let a
//! `RCPT TO` through that the end of DATA then refuses, with the reply `RCPT TO` would have had.

use std::{collections::HashMap, sync::Mutex, time::Duration};

use tokio::time::Instant;
use uuid::Uuid;

use crate::models::domain::Domain;

/// How long a positive answer is trusted.
pub const FRESH_FOR: Duration = Duration::from_secs(1);

#[derive(Default)]
pub struct RecipientCache {
    domains: Mutex<HashMap<String, (Domain, Instant)>>,
    tenants_with_room: Mutex<HashMap<Uuid, Instant>>,
}

impl RecipientCache {
    /// The served domain `name`, if it was seen lately.
    pub fn domain(&self, name: &str) -> Option<Domain> {
        let domains = self.domains.lock().expect("recipient cache poisoned");
        domains
            .get(name)
            .filter(|(_, seen)| seen.elapsed() < FRESH_FOR)
            .map(|(domain, _)| domain.clone())
    }

    pub fn served(&self, domain: &Domain) {
        let mut domains = self.domains.lock().expect("recipient cache poisoned");
        domains.insert(domain.name.clone(), (domain.clone(), Instant::now()));
    }

    /// Whether the tenant was seen lately with room for more mail.
    pub fn has_room(&self, tenant_id: Uuid) -> bool {
        let tenants = self
            .tenants_with_room
            .lock()
            .expect("recipient cache poisoned");
        tenants
            .get(&tenant_id)
            .is_some_and(|seen| seen.elapsed() < FRESH_FOR)
    }

    pub fn had_room(&self, tenant_id: Uuid) {
        let mut tenants = self
            .tenants_with_room
            .lock()
            .expect("recipient cache poisoned");
        tenants.insert(tenant_id, Instant::now());
    }

    /// Forgets that the tenant had room: its mail was just refused for quota.
    pub fn out_of_room(&self, tenant_id: Uuid) {
        let mut tenants = self
            .tenants_with_room
            .lock()
            .expect("recipient cache poisoned");
        tenants.remove(&tenant_id);
    }
}
