//! From an accepted mail to stored messages, for the SMTP edge: [`MailDelivery::check_recipient`]
//! answers `RCPT TO`, [`MailDelivery::arriving`] announces a mail whose DATA begins (`queue`),
//! [`MailDelivery::deliver`] prepares it (`prepare`: parsed, large mails off the async reactor)
//! and hands it to the group-commit writer (`writer`), which stores it in one transaction for
//! every recipient inbox and then wakes the inboxes' listeners. The caller answers `250` only
//! after that transaction committed.

mod batch;
mod cap;
mod envelope;
mod handles;
mod listened;
mod load;
mod metrics;
mod prepare;
mod queue;
pub mod recipients;
mod remembered;
mod writer;

use std::sync::Arc;

use anyhow::Context;
use tokio::sync::{mpsc, oneshot};

use crate::{
    clock::Clock,
    events::EventBus,
    models::{
        domain::{self, DomainMode},
        inbox, quota, Viewer,
    },
    partitions::ExpiryBuckets,
    Pool,
};
pub use envelope::{Delivery, IncomingMail, Recipient, RecipientCheck};
pub use handles::DeliverySettings;
use handles::Handles;
pub use load::IngestLoad;
pub use metrics::DeliveryMetrics;
use prepare::PreparedMail;
pub use queue::Arriving;
use queue::{Job, MAX_BATCH};
use recipients::RecipientCache;
use remembered::Remembered;

/// Delivers accepted mail. Cloned into every SMTP session; the writer task stops once the last
/// clone is gone.
#[derive(Clone)]
pub struct MailDelivery {
    handles: Arc<Handles>,
    jobs: mpsc::Sender<Job>,
}

impl MailDelivery {
    /// Starts the writer. `webhooks_due` is woken when a batch recorded webhook deliveries.
    pub fn start(
        pool: Pool,
        clock: Arc<dyn Clock>,
        events: Arc<EventBus>,
        buckets: Arc<ExpiryBuckets>,
        settings: DeliverySettings,
        metrics: DeliveryMetrics,
        webhooks_due: Arc<tokio::sync::Notify>,
    ) -> Self {
        let handles = Arc::new(Handles {
            pool,
            clock,
            events,
            buckets,
            recipients: RecipientCache::default(),
            remembered: Remembered::default(),
            settings,
            metrics,
            webhooks_due,
            load: Arc::default(),
            arrivals: Arc::default(),
        });
        let (jobs, receiver) = mpsc::channel(2 * MAX_BATCH);
        tokio::spawn(writer::write_batches(handles.clone(), receiver));
        Self { handles, jobs }
    }

    /// How busy the writer is.
    pub fn load(&self) -> Arc<IngestLoad> {
        self.handles.load.clone()
    }

    /// Whether `recipient` can receive mail, as `RCPT TO` answers.
    pub async fn check_recipient(&self, recipient: &Recipient) -> anyhow::Result<RecipientCheck> {
        let handles = &*self.handles;
        let address = &recipient.inbox;
        let now = handles.clock.now();
        let domain = match handles.recipients.domain(address.domain.as_str()) {
            Some(domain) => domain,
            None => {
                let mut conn = handles.pool.get().await?;
                let Some(domain) = domain::find(&mut conn, address.domain.as_str()).await? else {
                    return Ok(RecipientCheck::DomainNotServed);
                };
                handles.recipients.served(&domain);
                domain
            }
        };
        let tenant_id = match (domain.mode, domain.tenant_id) {
            (DomainMode::CatchAll, Some(owner)) => owner,
            _ => {
                let mut conn = handles.pool.get().await?;
                let (local, domain) = (&address.local, &address.domain);
                match inbox::find_by_address(&mut conn, Viewer::System, local, domain, now).await? {
                    Some(inbox) => {
                        let tenant_id = inbox.tenant_id;
                        // Its mail is then stored without looking it up again, if it still holds.
                        handles.remembered.learn_inbox(address.to_string(), inbox);
                        tenant_id
                    }
                    None => return Ok(RecipientCheck::NoSuchInbox),
                }
            }
        };
        if handles.recipients.has_room(tenant_id) {
            return Ok(RecipientCheck::Accept);
        }
        let mut conn = handles.pool.get().await?;
        let limits = quota::limits_of(&mut conn, &handles.settings.limits, tenant_id).await?;
        // The size is not known yet: room for one byte.
        match quota::exhausted(&conn, tenant_id, &limits, 1, now).await? {
            None => {
                handles.recipients.had_room(tenant_id);
                Ok(RecipientCheck::Accept)
            }
            Some(kind) => {
                handles.metrics.refused(kind);
                Ok(RecipientCheck::OverQuota)
            }
        }
    }

    /// Announces a mail whose DATA begins: the writer waits for it a moment before storing the
    /// batch it has, instead of storing it in a batch of its own afterwards.
    pub fn arriving(&self) -> Arriving {
        self.handles.arrivals.announce()
    }

    /// Stores the mail in every recipient inbox whose tenant has room for it, and returns once
    /// that is committed. A recipient inbox deleted or expired between `RCPT TO` and the end of
    /// DATA is skipped. The mail was announced as `arriving` when its DATA began.
    pub async fn deliver(
        &self,
        mail: IncomingMail,
        arriving: Arriving,
    ) -> anyhow::Result<Delivery> {
        let prepared =
            ephemail_mail::cpu_bound(mail.raw.len(), || PreparedMail::prepare(mail)).await??;
        let (done, outcome) = oneshot::channel();
        let queued = self.handles.metrics.queued();
        let job = Job {
            mail: prepared,
            done,
            arriving: Some(arriving),
        };
        self.jobs
            .send(job)
            .await
            .map_err(|_| anyhow::anyhow!("the ingest writer has stopped"))?;
        queued.taken_by_writer();
        outcome
            .await
            .context("the ingest writer dropped the mail")?
    }
}
