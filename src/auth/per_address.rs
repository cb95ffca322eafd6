//! Token buckets per client IP address, on the service's clock: the requests of callers without
//! a tenant (no credentials, or credentials that do not work) and of public mode's visitors (a
//! tenant's requests count against its own bucket, `quota::take_request`), and public mode's
//! inbox creations.

use std::{
    net::IpAddr,
    num::NonZeroU32,
    sync::{
        atomic::{AtomicU32, Ordering},
        Arc,
    },
};

use governor::{
    clock::Clock as _, middleware::StateInformationMiddleware, nanos::Nanos,
    state::keyed::DefaultKeyedStateStore, Quota, RateLimiter,
};

use ephemail_store::{clock::Clock, models::quota::RateDecision};

/// The service's clock as the rate limiter's: nanoseconds since the Unix epoch.
#[derive(Clone)]
struct LimiterClock(Arc<dyn Clock>);

impl governor::clock::Clock for LimiterClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        let nanos = self.0.now().timestamp_nanos_opt().unwrap_or_default();
        Nanos::from(u64::try_from(nanos).unwrap_or_default())
    }
}

/// `per_minute` takes a minute per address, refilled continuously. The buckets of addresses
/// that are full again are forgotten from time to time (bounded memory).
pub struct PerAddress {
    per_ip: Option<
        RateLimiter<
            IpAddr,
            DefaultKeyedStateStore<IpAddr>,
            LimiterClock,
            StateInformationMiddleware,
        >,
    >,
    clock: LimiterClock,
    /// Takes since the buckets of quiet addresses were last forgotten.
    taken: AtomicU32,
}

/// Every this many takes, the buckets of addresses that are full again are forgotten (the cost
/// spread over the takes).
const FORGET_EVERY: u32 = 4096;

impl PerAddress {
    /// `per_minute` takes a minute per address; none at all with 0.
    pub fn new(per_minute: u32, clock: Arc<dyn Clock>) -> Self {
        let clock = LimiterClock(clock);
        Self {
            per_ip: NonZeroU32::new(per_minute).map(|per_minute| {
                let quota = Quota::per_minute(per_minute);
                RateLimiter::<_, _, _, StateInformationMiddleware>::new(
                    quota,
                    DefaultKeyedStateStore::default(),
                    clock.clone(),
                )
            }),
            clock,
            taken: AtomicU32::new(0),
        }
    }

    /// Takes one from `ip`'s bucket.
    pub fn take(&self, ip: IpAddr) -> RateDecision {
        let Some(per_ip) = &self.per_ip else {
            return RateDecision {
                allowed: false,
                limit: 0,
                remaining: 0,
                reset_seconds: 60,
                retry_after: 60,
            };
        };
        if self
            .taken
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(FORGET_EVERY)
        {
            per_ip.retain_recent();
        }
        match per_ip.check_key(&ip) {
            Ok(state) => {
                let quota = state.quota();
                let used = quota.burst_size().get() - state.remaining_burst_capacity();
                RateDecision {
                    allowed: true,
                    limit: i32::try_from(quota.burst_size().get()).unwrap_or(i32::MAX),
                    remaining: i64::from(state.remaining_burst_capacity()),
                    reset_seconds: (quota.replenish_interval() * used).as_secs_f64().ceil() as u64,
                    retry_after: 0,
                }
            }
            Err(not_until) => {
                let quota = not_until.quota();
                let wait = not_until.wait_time_from(self.clock.now());
                RateDecision {
                    allowed: false,
                    limit: i32::try_from(quota.burst_size().get()).unwrap_or(i32::MAX),
                    remaining: 0,
                    reset_seconds: (quota.replenish_interval() * quota.burst_size().get())
                        .as_secs(),
                    retry_after: wait.as_secs_f64().ceil().max(1.0) as u64,
                }
            }
        }
    }
}
