//! Webhook deliveries: the worker that sends what the outbox holds (see
//! `ephemail_store::models::webhook`). It claims due deliveries, as many as each endpoint has
//! room for (`--webhook-concurrency` in flight per endpoint), sends each signed
//! ([`signing`]) to an address the [`target::TargetGuard`] allows, without following
//! redirects and reading at most [`MAX_RESPONSE_BYTES`] of the answer, and records the
//! outcomes in batches: a 2xx succeeds; anything else is retried on the `--webhook-retries`
//! schedule (or the answer's `Retry-After`), until the last attempt makes the delivery dead.
//! Several processes may run it on one database: a claim is a lease, so a delivery whose worker
//! died is taken again once the lease lapses (at least once, with the same `webhook-id`).

mod in_flight;
pub mod metrics;
pub mod payload;
pub mod signing;
pub mod target;
mod yielding;

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use chrono::{DateTime, Utc};
use diesel_async::{pooled_connection::deadpool::Object, AsyncPgConnection};
use rand::Rng;
use reqwest::{header, StatusCode};
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::content::Contents;
use ephemail_mail::sanitize::Sanitizer;
use ephemail_store::{
    clock::Clock,
    delivery::IngestLoad,
    models::webhook::{self, Attempt, Claim, Claimed, DeliveryState, Outcome},
    Pool,
};
use in_flight::{InFlight, CLAIM_AHEAD};
use metrics::{AttemptOutcome, WebhookMetrics};
use target::TargetGuard;
use yielding::YieldToIngest;

/// Of an endpoint's answer, what is kept for the delivery log.
pub const MAX_RESPONSE_BYTES: usize = 1024;
/// Deliveries in flight in one process at most, whatever the number of endpoints.
const MAX_IN_FLIGHT: i32 = 256;
/// Claimed in one statement at most.
const CLAIM_BATCH: i32 = 64;
/// Outcomes recorded in one statement at most.
const RECORD_BATCH: usize = 256;
/// How long the recorder waits for more outcomes before recording those it has. A delivery
/// stays claimed until then, so this delays nothing but the delivery log.
const RECORD_LINGER: Duration = Duration::from_millis(20);

/// How deliveries are sent and retried (`--webhook-*`).
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    pub guard: TargetGuard,
    pub timeout: Duration,
    pub per_endpoint: u32,
    /// Before each retry; its length is the number of retries.
    pub retries: Vec<Duration>,
    pub disable_after: chrono::Duration,
    /// How often to look for due deliveries without being woken (retries come due, other
    /// processes record deliveries).
    pub poll: Duration,
}

impl WebhookSettings {
    /// A claim lapses after this: the timeouts of the attempts queued before it for its
    /// endpoint's send slots and its own, with room for recording its outcome.
    fn lease(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.timeout * (CLAIM_AHEAD + 1) + Duration::from_secs(30))
            .unwrap_or(chrono::Duration::MAX)
    }

    /// The wait before retry `retry` (from 0), with up to a fifth of random jitter either way so
    /// that the retries of a burst do not come back as one.
    fn backoff(&self, retry: usize) -> Option<Duration> {
        let base = *self.retries.get(retry)?;
        let jitter = rand::rng().random_range(0.8..=1.2);
        Some(base.mul_f64(jitter))
    }
}

/// The sending side: cheap to clone into each attempt's task.
#[derive(Clone)]
pub struct Dispatcher {
    pool: Pool,
    /// The runtime that made the pool's other connections (see [`Dispatcher::connection`]).
    main: tokio::runtime::Handle,
    clock: Arc<dyn Clock>,
    settings: Arc<WebhookSettings>,
    client: reqwest::Client,
    /// Woken when deliveries were recorded (by ingest, `testWebhook`, a redrive).
    due: Arc<Notify>,
    sanitizer: Arc<Sanitizer>,
    contents: Contents,
    metrics: WebhookMetrics,
    /// This process's ingest, which deliveries yield to ([`yielding`]).
    ingest: Arc<IngestLoad>,
}

impl Dispatcher {
    pub fn new(
        pool: Pool,
        clock: Arc<dyn Clock>,
        contents: Contents,
        settings: WebhookSettings,
        due: Arc<Notify>,
        metrics: WebhookMetrics,
        ingest: Arc<IngestLoad>,
    ) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .dns_resolver(settings.guard.resolver())
            .pool_max_idle_per_host(settings.per_endpoint as usize)
            .user_agent(concat!("ephemail-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            pool,
            main: tokio::runtime::Handle::current(),
            clock,
            settings: Arc::new(settings),
            client,
            due,
            sanitizer: Arc::new(Sanitizer::default()),
            contents,
            metrics,
            ingest,
        })
    }

    /// [`Self::run`] on a thread of its own at the lowest CPU priority (nice 19), with its
    /// blocking work: sending deliveries takes only the CPU that ingest and the API leave, so
    /// that under a load that saturates the machine they wait (and catch up after) rather than
    /// slow every `250`. With CPU to spare they go out at once.
    pub async fn run_in_background(
        self,
        base_url: String,
        stop: CancellationToken,
    ) -> anyhow::Result<()> {
        let (finished, result) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("webhooks".to_owned())
            .spawn(move || {
                lower_priority();
                let outcome = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .on_thread_start(lower_priority)
                    .build()
                    .map_err(anyhow::Error::from)
                    .and_then(|runtime| runtime.block_on(self.run(base_url, stop)));
                let _ = finished.send(outcome);
            })?;
        result.await.context("the webhook thread stopped")?
    }

    /// A connection from the pool, taken on the main runtime: a connection's I/O is driven by a
    /// task of the runtime that opened it, and the pool hands it to ingest and the API next,
    /// whose work must not wait for this low-priority thread.
    async fn connection(&self) -> anyhow::Result<Object<AsyncPgConnection>> {
        let pool = self.pool.clone();
        Ok(self.main.spawn(async move { pool.get().await }).await??)
    }

    /// Claims and sends deliveries until `stop`; then lets the attempts in flight finish (for
    /// up to one timeout) and records them. Download URLs in payloads start with `base_url`.
    async fn run(self, base_url: String, stop: CancellationToken) -> anyhow::Result<()> {
        let (outcomes, received) = mpsc::unbounded_channel();
        let recorder = tokio::spawn(self.clone().record_outcomes(received));
        let in_flight = InFlight::new(self.settings.per_endpoint, self.metrics.clone());
        let mut attempts = tokio::task::JoinSet::new();
        let mut yielding = YieldToIngest::new(self.ingest.clone());
        loop {
            while attempts.try_join_next().is_some() {}
            yielding.wait(&stop).await;
            if stop.is_cancelled() {
                break;
            }
            let claimed = match self.claim(&in_flight).await {
                Ok(claimed) => claimed,
                Err(error) => {
                    tracing::warn!(error = %format!("{error:#}"), "claiming webhook deliveries");
                    Vec::new()
                }
            };
            let full = claimed.len() == CLAIM_BATCH as usize;
            if !claimed.is_empty() {
                let bodies = self.bodies(&claimed, &base_url).await;
                for delivery in claimed {
                    let body = match &bodies {
                        Ok(bodies) => bodies.get(&delivery.id).cloned(),
                        Err(_) => None,
                    };
                    let claimed = in_flight.claimed(delivery.webhook_id);
                    let (this, outcomes, stop) = (self.clone(), outcomes.clone(), stop.clone());
                    attempts.spawn(async move {
                        // Once stopping, none starts: its claim lapses for another process.
                        let slot = tokio::select! {
                            biased;
                            () = stop.cancelled() => return,
                            slot = claimed.send_slot() => slot,
                        };
                        let outcome = this.attempt(&delivery, body).await;
                        drop((slot, claimed));
                        let _ = outcomes.send(outcome);
                    });
                }
                if let Err(error) = bodies {
                    tracing::warn!(error = %format!("{error:#}"), "reading webhook events");
                }
            }
            if full {
                continue;
            }
            tokio::select! {
                () = stop.cancelled() => break,
                () = self.due.notified() => {}
                () = in_flight.freed.notified() => {}
                () = tokio::time::sleep(self.settings.poll) => {}
            }
        }
        // The attempts under way may finish (those still queued for a send slot have ended
        // unsent); one that outlasts its timeout is dropped, and its claim lapses too.
        let finishing = async { while attempts.join_next().await.is_some() {} };
        if tokio::time::timeout(self.settings.timeout, finishing)
            .await
            .is_err()
        {
            attempts.abort_all();
        }
        drop(outcomes);
        recorder.await?;
        Ok(())
    }

    async fn claim(&self, in_flight: &InFlight) -> anyhow::Result<Vec<Claimed>> {
        let (busy, total) = in_flight.snapshot();
        let room = (MAX_IN_FLIGHT - total).min(CLAIM_BATCH);
        if room <= 0 {
            return Ok(Vec::new());
        }
        let mut conn = self.connection().await?;
        let claim = Claim {
            now: self.clock.now(),
            lease: self.settings.lease(),
            per_endpoint: i32::try_from(self.settings.per_endpoint * CLAIM_AHEAD)
                .unwrap_or(i32::MAX),
            in_flight: &busy,
            limit: room,
        };
        Ok(webhook::claim(&mut conn, &claim).await?)
    }

    async fn bodies(
        &self,
        claimed: &[Claimed],
        base_url: &str,
    ) -> anyhow::Result<HashMap<Uuid, Result<Vec<u8>, String>>> {
        let mut conn = self.connection().await?;
        let now = self.clock.now();
        payload::bodies(
            &mut conn,
            claimed,
            base_url,
            &self.sanitizer,
            &self.contents,
            now,
        )
        .await
    }

    /// Sends one delivery (`body`: none when its event could not be read, so it is tried again
    /// later) and says what became of it.
    async fn attempt(&self, delivery: &Claimed, body: Option<Result<Vec<u8>, String>>) -> Outcome {
        let at = self.clock.now();
        let started = Instant::now();
        let endpoint_called = matches!(body, Some(Ok(_)));
        let result = match body {
            Some(Ok(body)) => self.send(delivery, body).await,
            Some(Err(gone)) => Err(Failure::permanent(gone)),
            None => Err(Failure::new(
                None,
                "the event could not be read; see the server log",
            )),
        };
        let elapsed = started.elapsed();
        let log = Attempt {
            at,
            status_code: match &result {
                Ok(status) => Some(i32::from(status.as_u16())),
                Err(failure) => failure.status.map(|s| i32::from(s.as_u16())),
            },
            latency_ms: i32::try_from(elapsed.as_millis()).unwrap_or(i32::MAX),
            error: result.as_ref().err().map(|failure| failure.error.clone()),
        };
        let (state, next_attempt_at, counted) = match result {
            Ok(_) => (DeliveryState::Succeeded, at, AttemptOutcome::succeeded),
            Err(failure) => self.after_failure(delivery.attempt, &failure, at),
        };
        self.metrics.attempted(counted, elapsed.as_secs_f64());
        Outcome {
            delivery_id: delivery.id,
            webhook_id: delivery.webhook_id,
            attempt: delivery.attempt,
            log,
            state,
            next_attempt_at,
            endpoint_called,
        }
    }

    /// A failed attempt's consequence: the next one's time, or a dead delivery.
    fn after_failure(
        &self,
        attempt: i32,
        failure: &Failure,
        at: DateTime<Utc>,
    ) -> (DeliveryState, DateTime<Utc>, AttemptOutcome) {
        let retry = usize::try_from(attempt - 1).unwrap_or(0);
        let wait = match (failure.permanent, self.settings.backoff(retry)) {
            (true, _) | (false, None) => None,
            (false, Some(backoff)) => Some(failure.retry_after.unwrap_or(backoff)),
        };
        match wait.and_then(|wait| chrono::Duration::from_std(wait).ok()) {
            Some(wait) => (DeliveryState::Pending, at + wait, AttemptOutcome::retried),
            None => (DeliveryState::Dead, at, AttemptOutcome::dead),
        }
    }

    /// One signed POST; the answer's status if 2xx.
    async fn send(&self, delivery: &Claimed, body: Vec<u8>) -> Result<StatusCode, Failure> {
        // An address in the URL is connected to without the resolver, which checks names.
        let url = (self.settings.guard.check_form(&delivery.url))
            .map_err(|error| Failure::new(None, error.to_string()))?;
        let id = signing::webhook_id(delivery.id);
        let timestamp = self.clock.now().timestamp();
        // Signed by each live secret, space-separated: a receiver verifying with either
        // accepts it.
        let signature = std::iter::once(&delivery.secret)
            .chain(&delivery.previous_secret)
            .map(|secret| signing::sign(secret, &id, timestamp, &body))
            .collect::<anyhow::Result<Vec<_>>>()
            .map_err(|error| Failure::new(None, error.to_string()))?
            .join(" ");
        let response = self
            .client
            .post(url)
            .header(header::CONTENT_TYPE, "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await
            .map_err(|error| Failure::new(None, describe(&error)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(status);
        }
        let retry_after = match status {
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                retry_after(response.headers(), self.clock.now())
            }
            _ => None,
        };
        let start = read_start(response).await;
        let mut failure = Failure::new(Some(status), format!("answered {status}: {start}"));
        failure.retry_after = retry_after;
        Err(failure)
    }

    /// Records outcomes as they come: all that are waiting, and those that come within
    /// [`RECORD_LINGER`], in one statement. An outcome that cannot be recorded is lost, and its
    /// delivery is claimed again once its lease lapses.
    async fn record_outcomes(self, mut outcomes: mpsc::UnboundedReceiver<Outcome>) {
        let mut batch = Vec::with_capacity(RECORD_BATCH);
        while outcomes.recv_many(&mut batch, RECORD_BATCH).await > 0 {
            // Under load, attempts end one at a time: without waiting, each statement would
            // record one or two of them, and planning it costs more than recording them.
            let linger = tokio::time::sleep(RECORD_LINGER);
            tokio::pin!(linger);
            while batch.len() < RECORD_BATCH {
                let room = RECORD_BATCH - batch.len();
                tokio::select! {
                    received = outcomes.recv_many(&mut batch, room) => {
                        if received == 0 {
                            break;
                        }
                    }
                    () = &mut linger => break,
                }
            }
            let recorded = async {
                let mut conn = self.connection().await?;
                let (now, disable_after) = (self.clock.now(), self.settings.disable_after);
                webhook::record(&mut conn, &batch, now, disable_after).await?;
                anyhow::Ok(())
            };
            if let Err(error) = recorded.await {
                tracing::warn!(
                    error = %format!("{error:#}"),
                    deliveries = batch.len(),
                    "recording webhook attempts; they are retried when their claims lapse"
                );
            }
            batch.clear();
        }
    }
}

/// Makes the calling thread yield the CPU to every other (nice 19). Where that is refused, it
/// runs at normal priority, and says so.
fn lower_priority() {
    let thread = rustix::thread::gettid();
    if let Err(error) = rustix::process::setpriority_process(Some(thread), 19) {
        tracing::warn!(%error, "webhook deliveries run at normal CPU priority");
    }
}

/// Why an attempt failed.
struct Failure {
    status: Option<StatusCode>,
    error: String,
    retry_after: Option<Duration>,
    /// Retrying cannot help (the event's message is gone).
    permanent: bool,
}

impl Failure {
    fn new(status: Option<StatusCode>, error: impl Into<String>) -> Self {
        Self {
            status,
            error: error.into(),
            retry_after: None,
            permanent: false,
        }
    }

    fn permanent(error: String) -> Self {
        Self {
            permanent: true,
            ..Self::new(None, error)
        }
    }
}

/// A transport error for the log, without the URL (which the webhook shows anyway).
fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    let mut cause = String::new();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        cause = inner.to_string();
        source = inner.source();
    }
    if cause.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {cause}")
    }
}

/// `Retry-After` as seconds or an HTTP date, up to a day.
fn retry_after(headers: &header::HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    const DAY: Duration = Duration::from_secs(86_400);
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    let wait = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => {
            let at = DateTime::parse_from_rfc2822(value)
                .ok()?
                .with_timezone(&Utc);
            (at - now).to_std().unwrap_or_default()
        }
    };
    Some(wait.min(DAY))
}

/// The start of a response's body, lossily as text, reading no more than that.
async fn read_start(mut response: reqwest::Response) -> String {
    let mut start = Vec::new();
    while start.len() < MAX_RESPONSE_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => start.extend_from_slice(&chunk),
            _ => break,
        }
    }
    start.truncate(MAX_RESPONSE_BYTES);
    String::from_utf8_lossy(&start).trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates_up_to_a_day() {
        let now = DateTime::parse_from_rfc3339("2026-12-05T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut headers = header::HeaderMap::new();
        headers.insert(header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(7)));
        headers.insert(
            header::RETRY_AFTER,
            "Sat, 05 Dec 2026 10:01:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(60)));
        headers.insert(header::RETRY_AFTER, "999999".parse().unwrap());
        assert_eq!(
            retry_after(&headers, now),
            Some(Duration::from_secs(86_400))
        );
        headers.insert(header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&headers, now), None);
    }
}
