//! Public mode (`--public-inboxes`, off by default), for a temp-mail website: anonymous callers
//! may create inboxes on shared domains and read them with the inbox token they get back. The
//! inboxes belong to the `public` tenant (its quotas apply), and creation is rate-limited per
//! client IP address.

use std::{net::IpAddr, num::NonZeroU32};

use chrono::{DateTime, Utc};
use diesel::QueryResult;
use diesel_async::AsyncPgConnection;
use governor::{
    clock::{Clock as _, DefaultClock},
    DefaultKeyedRateLimiter, Quota, RateLimiter,
};
use uuid::Uuid;

use ephemail_store::models::tenant;

/// The tenant that owns anonymous inboxes.
pub const TENANT: &str = "public";

pub struct PublicInboxes {
    pub tenant_id: Uuid,
    per_ip: DefaultKeyedRateLimiter<IpAddr>,
}

impl PublicInboxes {
    /// Sets up public mode, creating its tenant on first use.
    pub async fn open(
        conn: &mut AsyncPgConnection,
        per_minute_per_ip: u32,
        now: DateTime<Utc>,
    ) -> QueryResult<Self> {
        let tenant = tenant::find_or_create(conn, TENANT, now).await?;
        let quota =
            Quota::per_minute(NonZeroU32::new(per_minute_per_ip).unwrap_or(NonZeroU32::MIN));
        Ok(Self {
            tenant_id: tenant.id,
            per_ip: RateLimiter::keyed(quota),
        })
    }

    /// Takes one creation from `ip`'s allowance; otherwise the seconds until the next one.
    pub fn admit(&self, ip: IpAddr) -> Result<(), u64> {
        self.per_ip.check_key(&ip).map_err(|not_until| {
            not_until
                .wait_time_from(DefaultClock::default().now())
                .as_secs()
                .max(1)
        })
    }
}
