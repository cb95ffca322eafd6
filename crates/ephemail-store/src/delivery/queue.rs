//! The queue from the SMTP sessions to the group-commit writer. A batch costs the database
//! about as much to begin, start up and commit as to store its rows (`docs/performance.md`), so
//! the writer, having taken every mail waiting, also waits for the mails whose DATA is being
//! received or prepared at that moment: their sessions announce them ([`Arriving`]) when DATA
//! begins. Each would otherwise wait for the batch under way to commit, and then have a batch
//! of its own. The wait is short and bounded: a slow sender's DATA delays the others' batches
//! by [`MAX_WAIT`] at most.

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use tokio::sync::{mpsc, oneshot};

use super::{envelope::Delivery, prepare::PreparedMail};

/// Mails per transaction at most; bounds the work lost to a failed batch and its latency.
pub(super) const MAX_BATCH: usize = 64;

/// How long the writer waits at most for announced mails before storing the batch it has
/// (tokio's timer rounds it up to its next tick, so up to twice that).
const MAX_WAIT: Duration = Duration::from_millis(1);

/// One mail for the writer, and where to send what became of it.
pub(super) struct Job {
    pub(super) mail: PreparedMail,
    pub(super) done: oneshot::Sender<anyhow::Result<Delivery>>,
    /// Its announcement, until the writer takes it.
    pub(super) arriving: Option<Arriving>,
}

/// How many mails are announced and not yet taken by the writer.
#[derive(Debug, Default)]
pub(super) struct Arrivals(AtomicUsize);

impl Arrivals {
    pub(super) fn announce(self: &Arc<Self>) -> Arriving {
        self.0.fetch_add(1, Ordering::SeqCst);
        Arriving(self.clone())
    }

    fn any(&self) -> bool {
        self.0.load(Ordering::SeqCst) > 0
    }
}

/// A mail on its way to the writer, from the start of its DATA until the writer takes it (its
/// [`Job`] holds this); dropped before (the mail refused, the session gone), it is no longer
/// waited for.
#[must_use = "the writer waits for an announced mail until this is dropped"]
pub struct Arriving(Arc<Arrivals>);

impl Drop for Arriving {
    fn drop(&mut self) {
        self.0 .0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The next batch: every mail waiting (up to [`MAX_BATCH`]), then the announced ones as they
/// are queued, until none is left or [`MAX_WAIT`] has passed. `None` once every session side
/// is gone.
pub(super) async fn next_batch(
    jobs: &mut mpsc::Receiver<Job>,
    arrivals: &Arrivals,
) -> Option<Vec<Job>> {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    if jobs.recv_many(&mut batch, MAX_BATCH).await == 0 {
        return None;
    }
    let deadline = tokio::time::Instant::now() + MAX_WAIT;
    let mut taken = 0;
    loop {
        // Taken: no longer waited for.
        for job in &mut batch[taken..] {
            job.arriving = None;
        }
        taken = batch.len();
        if taken == MAX_BATCH || !arrivals.any() {
            return Some(batch);
        }
        let room = MAX_BATCH - taken;
        match tokio::time::timeout_at(deadline, jobs.recv_many(&mut batch, room)).await {
            Ok(0) | Err(_) => return Some(batch),
            Ok(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use ephemail_mail::address::EmailAddress;

    use super::*;
    use crate::delivery::{IncomingMail, Recipient};

    /// A job for `arriving`; nothing waits for its outcome.
    fn job(arriving: Arriving) -> Job {
        let address = EmailAddress::parse("a@example.com").unwrap();
        let mail = IncomingMail {
            mail_from: None,
            recipients: vec![Recipient::new(address)],
            raw: b"Subject: hi\r\n\r\nhi\r\n".to_vec(),
            trace_len: 0,
        };
        Job {
            mail: PreparedMail::prepare(mail).unwrap(),
            done: oneshot::channel().0,
            arriving: Some(arriving),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_waits_for_announced_mails_but_not_longer_than_the_limit() {
        let arrivals = Arc::new(Arrivals::default());
        let (sender, mut jobs) = mpsc::channel(MAX_BATCH);

        // Nothing announced beyond what is queued: no wait.
        sender.send(job(arrivals.announce())).await.unwrap();
        let started = tokio::time::Instant::now();
        let batch = next_batch(&mut jobs, &arrivals).await.unwrap();
        assert_eq!((batch.len(), started.elapsed()), (1, Duration::ZERO));

        // One more announced, queued once the batch is being taken: in the same batch.
        sender.send(job(arrivals.announce())).await.unwrap();
        let late = arrivals.announce();
        tokio::spawn({
            let sender = sender.clone();
            async move { sender.send(job(late)).await.unwrap() }
        });
        let started = tokio::time::Instant::now();
        let batch = next_batch(&mut jobs, &arrivals).await.unwrap();
        assert_eq!(batch.len(), 2);
        assert!(started.elapsed() < MAX_WAIT);

        // Announced and never queued: the batch goes at the limit.
        sender.send(job(arrivals.announce())).await.unwrap();
        let never = arrivals.announce();
        let started = tokio::time::Instant::now();
        let batch = next_batch(&mut jobs, &arrivals).await.unwrap();
        assert_eq!((batch.len(), started.elapsed()), (1, MAX_WAIT));

        // Given up (the mail refused): no longer waited for.
        drop(never);
        sender.send(job(arrivals.announce())).await.unwrap();
        let started = tokio::time::Instant::now();
        let batch = next_batch(&mut jobs, &arrivals).await.unwrap();
        assert_eq!((batch.len(), started.elapsed()), (1, Duration::ZERO));
        assert!(!arrivals.any(), "every taken job's announcement is dropped");

        drop(sender);
        assert!(next_batch(&mut jobs, &arrivals).await.is_none());
    }
}
