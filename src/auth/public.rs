//! Public mode (`--public-inboxes`, off by default), for a temp-mail website: anonymous callers
//! may create inboxes on shared domains and read them with the inbox token they get back. The
//! inboxes belong to the `public` tenant (its quotas apply, but for requests: visitors take from
//! their address's bucket, see `http::rate_limit`), and creation is rate-limited per client IP
//! address.

use std::{net::IpAddr, sync::Arc};

use diesel::QueryResult;
use diesel_async::AsyncPgConnection;
use uuid::Uuid;

use super::per_address::PerAddress;
use ephemail_store::{clock::Clock, models::tenant};

/// The tenant that owns anonymous inboxes.
pub const TENANT: &str = "public";

pub struct PublicInboxes {
    pub tenant_id: Uuid,
    per_ip: PerAddress,
}

impl PublicInboxes {
    /// Sets up public mode, creating its tenant on first use.
    pub async fn open(
        conn: &mut AsyncPgConnection,
        per_minute_per_ip: u32,
        clock: Arc<dyn Clock>,
    ) -> QueryResult<Self> {
        let tenant = tenant::find_or_create(conn, TENANT, clock.now()).await?;
        Ok(Self {
            tenant_id: tenant.id,
            per_ip: PerAddress::new(per_minute_per_ip, clock),
        })
    }

    /// Takes one creation from `ip`'s allowance; otherwise the seconds until the next one.
    pub fn admit(&self, ip: IpAddr) -> Result<(), u64> {
        let decision = self.per_ip.take(ip);
        if decision.allowed {
            Ok(())
        } else {
            Err(decision.retry_after)
        }
    }
}
