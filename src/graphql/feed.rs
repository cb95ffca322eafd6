//! "The next stored message after a cursor, waiting for it if needed", without loss.
//!
//! Messages are read from PostgreSQL in `seq` order, and `seq` order is commit order (see
//! [`ephemail_store::models::message_insert::insert_all`]), so reading `seq > cursor` never skips a
//! message. Events from the bus are only wake-ups: the listener is registered before the first
//! read, and queued events are dropped right before each read, so a message committed at any
//! moment is either in that read or wakes the next one. A slow consumer whose events overflow
//! just reads again from its cursor. When the inbox is deleted, the feed ends with `NOT_FOUND`;
//! after a wake-up that may have hidden a deletion (a lag, or the relay of other processes'
//! events listening again), an empty read checks that the inbox is still there. When the
//! caller's credential dies (a revoked key, an expired token), the feed ends with
//! `UNAUTHENTICATED`. The feed reads the inbox's expiry bucket it was given, and follows the
//! inbox when a read finds it has moved to another (its expiry changed: see [`InboxBucket`]).
//!
//! A live feed mostly reads nothing: an event of mail stored by this process carries the message
//! and its inbox's previous `seq` ([`MessageStored::follows`]), and when that is the cursor and
//! no filter applies, the message is taken from the event (in order: everything up to the
//! cursor was delivered).
//!
//! A feed spends its life waiting, and a future is as large as its largest state: so each
//! database round trip runs boxed ([`Box::pin`]), allocated only while it runs, and a waiting
//! feed (one per subscription, thousands of them) holds little more than its listener.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use futures::{future::BoxFuture, FutureExt};

use crate::{api::Api, auth::Caller, error::AppError, telemetry::api::FeedSource};
use ephemail_store::{
    events::{Listener, MessageStored, Wake},
    models::{
        inbox,
        message::{self, Claim, Message, MessageFilter},
        InboxBucket, Viewer,
    },
};

/// Messages read from the database per round trip while catching up.
const BATCH: i64 = 100;

pub struct Feed {
    app: Api,
    viewer: Viewer,
    at: InboxBucket,
    filter: MessageFilter,
    cursor: i64,
    listener: Listener,
    ready: VecDeque<Message>,
    /// The last wake-up was not "stored here": a deletion may have been missed.
    unsure: bool,
    /// The last read returned fewer than [`BATCH`] messages: nothing more is stored until the
    /// listener wakes.
    caught_up: bool,
    /// Resolves when the caller's credential stops working.
    credential_ended: BoxFuture<'static, AppError>,
}

impl Feed {
    /// `listener` must have been registered before `cursor` was read. The feed serves `caller`
    /// only while its credential works.
    pub fn new(
        app: Api,
        caller: Caller,
        viewer: Viewer,
        at: InboxBucket,
        filter: MessageFilter,
        cursor: i64,
        listener: Listener,
    ) -> Self {
        Self {
            credential_ended: app.credential_ended(caller).boxed(),
            app,
            viewer,
            at,
            filter,
            cursor,
            listener,
            ready: VecDeque::new(),
            unsure: false,
            caught_up: false,
        }
    }

    /// Waits for the next event after a short read: the event's message when it is the next
    /// one (see [`Feed::following`]), else `None` (read the database); `NOT_FOUND` once the
    /// inbox is gone.
    async fn wait(&mut self) -> Result<Option<Message>, AppError> {
        if std::mem::take(&mut self.unsure) && Box::pin(self.inbox_gone()).await? {
            return Err(AppError::NotFound("inbox"));
        }
        loop {
            let wake = tokio::select! {
                wake = self.listener.next() => wake,
                error = &mut self.credential_ended => return Err(error),
            };
            return match wake {
                Wake::Deleted => Err(AppError::NotFound("inbox")),
                // A message the last read already had.
                Wake::Stored(event) if event.seq <= self.cursor => continue,
                Wake::Stored(event) => {
                    // Whatever the feed does next, the message's content is read from the cache.
                    if let (Some(message), Some(content)) = (&event.message, &event.content) {
                        self.app.contents.remember(message.id, content.clone());
                    }
                    Ok(self.following(&event))
                }
                // (`Created` comes to an address's listeners, never to an inbox's.)
                Wake::Lagged | Wake::StoredElsewhere | Wake::Created(_) => {
                    self.unsure = true;
                    Ok(None)
                }
            };
        }
    }

    /// The event's message, when it is the inbox's next one after the cursor and every
    /// message matches (a filter is the database's to apply).
    fn following(&self, event: &MessageStored) -> Option<Message> {
        if !self.filter.is_empty() {
            return None;
        }
        event
            .follows(self.cursor)
            .map(|message| Message::clone(message))
    }

    async fn inbox_gone(&mut self) -> Result<bool, AppError> {
        let mut conn = self.app.pool.get().await?;
        let now = self.app.clock.now();
        Ok(inbox::find(&mut conn, self.viewer, self.at.inbox_id, now)
            .await?
            .is_none())
    }

    /// The next matching messages after the cursor, up to [`BATCH`]. (The round trips take
    /// `&mut self`: a feed is `Send` but not `Sync`.)
    async fn read(&mut self) -> Result<Vec<Message>, AppError> {
        let mut conn = self.app.pool.get().await?;
        let now = self.app.clock.now();
        Ok(message::stored_after(
            &mut conn,
            self.viewer,
            &mut self.at,
            &self.filter,
            self.cursor,
            BATCH,
            now,
        )
        .await?)
    }

    /// The oldest matching message after the cursor that `claim` allows, claimed.
    async fn claim(&mut self, claim: Claim) -> Result<Option<Message>, AppError> {
        let mut conn = self.app.pool.get().await?;
        let now = self.app.clock.now();
        Ok(message::claim_oldest(
            &mut conn,
            self.viewer,
            &mut self.at,
            &self.filter,
            self.cursor,
            claim,
            now,
        )
        .await?)
    }

    /// Records that a wait returned `message`, one of the feed's (see
    /// [`message::record_returned`]).
    pub async fn record_returned(&mut self, message: &Message) -> Result<(), AppError> {
        let mut conn = self.app.pool.get().await?;
        let now = self.app.clock.now();
        Ok(message::record_returned(&mut conn, message, &mut self.at, now).await?)
    }

    /// The bucket the feed last read the inbox's messages from: where those it returns are,
    /// unless the inbox has moved since.
    pub fn bucket(&self) -> DateTime<Utc> {
        self.at.purge_at
    }

    /// `UNAUTHENTICATED` once the caller's credential has stopped working.
    fn check_credential(&mut self) -> Result<(), AppError> {
        (&mut self.credential_ended)
            .now_or_never()
            .map_or(Ok(()), Err)
    }

    /// The next matching message after the cursor, in order; waits for one to be stored.
    pub async fn next(&mut self) -> Result<Message, AppError> {
        self.check_credential()?;
        loop {
            if let Some(message) = self.ready.pop_front() {
                self.cursor = message.seq;
                return Ok(message);
            }
            // A read that came back short had every message committed before it, and the
            // listener, drained right before it, holds a wake-up for every later one: so wait
            // before reading again (rather than read once more to find nothing, which doubled
            // the database's work per message for a live subscriber).
            if self.caught_up {
                if let Some(message) = self.wait().await? {
                    // The listener's later events stay queued: nothing was read.
                    self.app.metrics.feed_messages(FeedSource::Event, 1);
                    self.ready.push_back(message);
                    continue;
                }
            }
            self.listener.drain();
            let batch = Box::pin(self.read()).await?;
            self.app
                .metrics
                .feed_messages(FeedSource::Database, batch.len());
            self.caught_up = batch.len() < BATCH as usize;
            self.ready.extend(batch);
        }
    }

    /// Like [`Feed::next`], but claims the message (see [`Claim`]) so that concurrent and
    /// successive waits each get a different one.
    pub async fn next_claimed(&mut self, claim: Claim) -> Result<Message, AppError> {
        self.check_credential()?;
        loop {
            self.listener.drain();
            match Box::pin(self.claim(claim)).await? {
                Some(message) => return Ok(message),
                // Claiming reads the database whatever the event carries.
                None => drop(self.wait().await?),
            }
        }
    }
}
