//! This process's deliveries in flight, per endpoint: claimed ahead of what is sent at once, so
//! that each claim (and each read of the claimed events) takes many, while an endpoint never gets
//! more than `--webhook-concurrency` requests at a time.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

use super::metrics::WebhookMetrics;

/// Claimed per endpoint at most: this many times what is sent to it at once.
pub const CLAIM_AHEAD: u32 = 4;

struct Endpoint {
    /// Claimed and not finished: sending, or waiting for a send slot.
    claimed: u32,
    sends: Arc<Semaphore>,
}

pub struct InFlight {
    endpoints: Arc<Mutex<HashMap<Uuid, Endpoint>>>,
    /// Requests to one endpoint at once.
    per_endpoint: u32,
    /// Woken when an endpoint's claimed deliveries fall to what it is sent at once (or when
    /// none is left), so that its next deliveries are claimed, many at a time.
    pub freed: Arc<Notify>,
    metrics: WebhookMetrics,
}

impl InFlight {
    pub fn new(per_endpoint: u32, metrics: WebhookMetrics) -> Self {
        Self {
            endpoints: Arc::default(),
            per_endpoint,
            freed: Arc::default(),
            metrics,
        }
    }

    /// Per endpoint, its deliveries claimed; and their sum.
    pub fn snapshot(&self) -> (Vec<(Uuid, i32)>, i32) {
        let endpoints = self
            .endpoints
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let claimed: Vec<(Uuid, i32)> = (endpoints.iter())
            .map(|(&id, endpoint)| (id, i32::try_from(endpoint.claimed).unwrap_or(i32::MAX)))
            .collect();
        let total = claimed.iter().map(|&(_, n)| n).sum();
        (claimed, total)
    }

    /// Counts a claimed delivery of `webhook_id` until the returned guard is dropped.
    pub fn claimed(&self, webhook_id: Uuid) -> Claimed {
        let mut endpoints = self
            .endpoints
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let endpoint = endpoints.entry(webhook_id).or_insert_with(|| Endpoint {
            claimed: 0,
            sends: Arc::new(Semaphore::new(self.per_endpoint as usize)),
        });
        endpoint.claimed += 1;
        self.metrics.in_flight().inc();
        Claimed {
            webhook_id,
            sends: endpoint.sends.clone(),
            endpoints: self.endpoints.clone(),
            per_endpoint: self.per_endpoint,
            freed: self.freed.clone(),
            metrics: self.metrics.clone(),
        }
    }
}

/// A claimed delivery, counted until dropped.
pub struct Claimed {
    webhook_id: Uuid,
    sends: Arc<Semaphore>,
    endpoints: Arc<Mutex<HashMap<Uuid, Endpoint>>>,
    per_endpoint: u32,
    freed: Arc<Notify>,
    metrics: WebhookMetrics,
}

impl Claimed {
    /// Waits for one of the endpoint's send slots.
    pub async fn send_slot(&self) -> Option<OwnedSemaphorePermit> {
        self.sends.clone().acquire_owned().await.ok()
    }
}

impl Drop for Claimed {
    fn drop(&mut self) {
        let mut endpoints = self
            .endpoints
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let left = match endpoints.get_mut(&self.webhook_id) {
            Some(endpoint) => {
                endpoint.claimed -= 1;
                endpoint.claimed
            }
            None => 0,
        };
        if left == 0 {
            endpoints.remove(&self.webhook_id);
        }
        self.metrics.in_flight().dec();
        if left <= self.per_endpoint {
            self.freed.notify_one();
        }
    }
}
