//! The in-process event bus: "a message was stored in inbox X", "inbox X was deleted", "an
//! inbox was created at address A" and "API key K was revoked".
//! Subscriptions and waits use a stored event only as a wake-up and read the messages
//! themselves from PostgreSQL, which stays the source of truth; so a lost or lagged event can
//! delay a subscriber but never make it skip a message. A deletion ends them (it is an inbox's
//! last event, so a lag cannot drop it). [`EventBus::publish`], [`EventBus::inbox_deleted`] and
//! [`EventBus::inboxes_created`] are the entry points: ingest, `createInbox`, `deleteInbox`, the
//! sweeper and whatever replaces an expired inbox at its address call them after their commits.
//!
//! A wait on an address that has no inbox yet (a catch-all domain's) listens under the
//! address's key ([`address_key`]) before it looks the address up, so an inbox created at any
//! moment is either found by that look-up or wakes it.
//!
//! Several ephemail processes may share one database: the same writers also send the events
//! with `pg_notify` inside their transactions ([`EventBus::notify_others`], delivered at commit),
//! and [`relay`] in every process LISTENs and hands the other processes' events to its bus.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex, PoisonError,
    },
    time::Duration,
};

use diesel::sql_types::{Array, Text};
use diesel_async::{
    pooled_connection::deadpool::{Object, Pool},
    AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection,
};
use futures::StreamExt;
use prometheus_client::{metrics::counter::Counter, registry::Registry};
use sha2::{Digest, Sha256};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{
    models::{inbox::Inbox, message::Message, raw_source::ContentSeed},
    prepared::Prepared,
};

/// The PostgreSQL channel on which processes sharing a database tell each other their events.
const CHANNEL: &str = "ephemail_events";

/// Events per notification: a payload must stay under PostgreSQL's 8,000 bytes (an event is
/// 38 bytes and a comma).
const EVENTS_PER_NOTIFICATION: usize = 100;

/// How long the relay waits before listening again after losing its connection.
const RELAY_RETRY: Duration = Duration::from_secs(1);

/// Events buffered per inbox before a slow listener lags (and then catches up from the database).
/// Every inbox with a listener has this buffer: 16 events take about 1 KB (64 took 3.6 KB per
/// subscription). A listener drains it before each read, so it only fills with the mail that
/// comes in while one read or send is under way.
const PER_INBOX_BUFFER: usize = 16;

#[derive(Debug, Clone, PartialEq)]
pub struct MessageStored {
    pub inbox_id: Uuid,
    /// The message's position in commit order (`messages.seq`).
    pub seq: i64,
    /// Set when the inbox had listeners here as the message was stored (see
    /// [`MessageStored::follows`]).
    pub message: Option<Arc<Message>>,
    /// With the message: what its content is derived from without reading it back.
    pub content: Option<Arc<ContentSeed>>,
    /// The `seq` of the inbox's newest message before this one (0: none), as of the commit.
    pub previous: Option<i64>,
}

impl MessageStored {
    /// An event without the message (tests of the bus).
    #[cfg(test)]
    pub(crate) fn bare(inbox_id: Uuid, seq: i64) -> Self {
        Self {
            inbox_id,
            seq,
            message: None,
            content: None,
            previous: None,
        }
    }

    /// The stored message when it is the inbox's next one after `cursor`: a listener that has
    /// everything up to `cursor` then has everything before it, and takes it without reading
    /// the database. (Ingest stores in the commit order of `seq`, so no message before it can
    /// still be on its way; one deleted since is simply not there.)
    pub fn follows(&self, cursor: i64) -> Option<&Arc<Message>> {
        self.message
            .as_ref()
            .filter(|_| self.previous == Some(cursor))
    }
}

#[derive(Debug, Clone, PartialEq)]
enum InboxEvent {
    Stored(MessageStored),
    /// Another process stored mail there (or may have: see [`EventBus::resync`]).
    StoredElsewhere,
    Deleted,
    /// This process's ingest made this inbox at the listened address (its commit is done).
    Created(Arc<Inbox>),
}

/// The bus key of an address (`local@domain`, without a plus tag), under which waits for an
/// inbox there listen until one is created. Derived from the address so that every process
/// agrees on it and it travels in notifications as an inbox id does; a hash, so it never
/// meets a (random) inbox id.
pub fn address_key(address: &str) -> Uuid {
    let digest = Sha256::digest(format!("address {address}"));
    let mut bytes = [0; 16];
    bytes.copy_from_slice(&digest[..16]);
    Uuid::from_bytes(bytes)
}

/// Revocations buffered before a slow watcher lags (and then checks its key in the database).
const REVOCATION_BUFFER: usize = 64;

/// What watchers of credentials hear: revocations are rare, so every watcher hears all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    Key(Uuid),
    /// Revocations may have been missed (the relay lost its connection): check in the database.
    Unknown,
}

/// What a transaction tells the other processes on the database (see
/// [`EventBus::notify_others`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct Changes<'a> {
    /// Inboxes that mail was stored in.
    pub stored_in: &'a [Uuid],
    /// The [`address_key`]s of addresses inboxes were created at.
    pub created_at: &'a [Uuid],
    /// Inboxes that are gone.
    pub deleted: &'a [Uuid],
    /// API keys that no longer work.
    pub revoked: &'a [Uuid],
}

/// Per-inbox fan-out: only the listeners of an inbox are woken by its mail.
pub struct EventBus {
    inboxes: Mutex<HashMap<Uuid, broadcast::Sender<InboxEvent>>>,
    revocations: broadcast::Sender<Revocation>,
    /// Names this process in its notifications, which come back to it too.
    origin: Uuid,
    /// Whether [`relay`] is listening: while it is not, mail stored by other processes does not
    /// wake this one's waits (they catch up when it listens again).
    relaying: AtomicBool,
}

impl Default for EventBus {
    fn default() -> Self {
        Self {
            inboxes: Mutex::default(),
            revocations: broadcast::channel(REVOCATION_BUFFER).0,
            origin: Uuid::new_v4(),
            relaying: AtomicBool::new(false),
        }
    }
}

impl EventBus {
    /// Whether the other processes' events reach this one now (for readiness).
    pub fn is_relaying(&self) -> bool {
        // Not `.load()`: diesel's `RunQueryDsl::load` is in scope.
        AtomicBool::load(&self.relaying, Ordering::Relaxed)
    }

    /// The inboxes `ids`, whose deletion has committed, are gone: their listeners here stop, and
    /// those of the other processes on the database are told. Telling others is best effort
    /// (the deletion stands either way): a failure is logged, and their feeds notice the inbox
    /// gone at their next read.
    pub async fn inboxes_deleted(&self, conn: &AsyncPgConnection, ids: &[Uuid]) {
        for &id in ids {
            self.inbox_deleted(id);
        }
        let deleted = Changes {
            deleted: ids,
            ..Changes::default()
        };
        self.tell_others(conn, deleted).await;
    }

    /// Inboxes were created (and committed) at the addresses with these [`address_key`]s: the
    /// waits for those addresses, here and in the other processes on the database, look again.
    /// Telling others is best effort, as in [`EventBus::inboxes_deleted`].
    pub async fn inboxes_created(&self, conn: &AsyncPgConnection, keys: &[Uuid]) {
        self.addresses_created(keys);
        let created = Changes {
            created_at: keys,
            ..Changes::default()
        };
        self.tell_others(conn, created).await;
    }

    /// [`EventBus::notify_others`] outside a transaction, after the commit, best effort.
    async fn tell_others(&self, conn: &AsyncPgConnection, changes: Changes<'_>) {
        if let Err(error) = self.notify_others(conn, changes).await {
            tracing::warn!(%error, ?changes, "could not tell other processes about changes");
        }
    }

    /// [`EventBus::inboxes_created`] for this process only (ingest tells the others inside its
    /// transaction).
    pub fn addresses_created(&self, keys: &[Uuid]) {
        for &key in keys {
            // Any wake-up makes an address's listener look the address up again.
            self.send(key, InboxEvent::StoredElsewhere);
        }
    }

    /// Ingest made these inboxes (committed), each at the address with the [`address_key`]
    /// given: the waits for those addresses here take the inbox from the event, without looking
    /// the address up (ingest tells the other processes inside its transaction).
    pub fn inboxes_made(&self, made: &[(Uuid, Arc<Inbox>)]) {
        for (key, inbox) in made {
            self.send(*key, InboxEvent::Created(inbox.clone()));
        }
    }

    /// Tells the other processes on the database about `changes`. Run inside the transaction
    /// that made them: PostgreSQL delivers the notifications at its commit, and drops them with
    /// a rollback.
    pub async fn notify_others(
        &self,
        mut conn: &AsyncPgConnection,
        changes: Changes<'_>,
    ) -> diesel::QueryResult<()> {
        let payloads = self.payloads(&changes);
        if payloads.is_empty() {
            return Ok(());
        }
        Prepared::new("SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS t(payload)")
            .bind::<Text, _>(CHANNEL)
            .bind::<Array<Text>, _>(payloads)
            .execute(&mut conn)
            .await
            .map(drop)
    }

    /// `origin s <inbox>,c <address key>,d <inbox>,k <key>,...`, at most
    /// [`EVENTS_PER_NOTIFICATION`] events each.
    fn payloads(&self, changes: &Changes<'_>) -> Vec<String> {
        let events: Vec<String> = (changes.stored_in.iter().map(|id| format!("s {id}")))
            .chain(changes.created_at.iter().map(|key| format!("c {key}")))
            .chain(changes.deleted.iter().map(|id| format!("d {id}")))
            .chain(changes.revoked.iter().map(|id| format!("k {id}")))
            .collect();
        events
            .chunks(EVENTS_PER_NOTIFICATION)
            .map(|chunk| format!("{} {}", self.origin, chunk.join(",")))
            .collect()
    }

    /// Hands another process's notification to this process's listeners (our own come back
    /// too: they were published here already).
    fn apply_notification(&self, payload: &str) {
        let Some((origin, events)) = payload.split_once(' ') else {
            return;
        };
        if origin.parse() == Ok(self.origin) {
            return;
        }
        for event in events.split(',') {
            match event.split_once(' ') {
                Some(("s", id)) => {
                    if let Ok(id) = id.parse() {
                        self.send(id, InboxEvent::StoredElsewhere);
                    }
                }
                Some(("c", key)) => {
                    if let Ok(key) = key.parse() {
                        self.addresses_created(&[key]);
                    }
                }
                Some(("d", id)) => {
                    if let Ok(id) = id.parse() {
                        self.inbox_deleted(id);
                    }
                }
                Some(("k", id)) => {
                    if let Ok(id) = id.parse() {
                        self.key_revoked(id);
                    }
                }
                _ => tracing::warn!(event, "ignoring a malformed event notification"),
            }
        }
    }

    /// Wakes every listener to read the database again: notifications may have been missed
    /// while the relay was not listening.
    fn resync(&self) {
        let inboxes = self.inboxes.lock().unwrap_or_else(PoisonError::into_inner);
        for sender in inboxes.values() {
            let _ = sender.send(InboxEvent::StoredElsewhere);
        }
        let _ = self.revocations.send(Revocation::Unknown);
    }

    /// API key `key_id` was revoked (its revocation has committed): work done under it stops.
    pub fn key_revoked(&self, key_id: Uuid) {
        // An error only means nobody watches a key right now.
        let _ = self.revocations.send(Revocation::Key(key_id));
    }

    /// Hears every revocation from now on.
    pub fn revocations(&self) -> broadcast::Receiver<Revocation> {
        self.revocations.subscribe()
    }

    pub fn publish(&self, event: MessageStored) {
        self.send(event.inbox_id, InboxEvent::Stored(event));
    }

    /// Whether the inbox has listeners in this process (whose events are worth the message).
    pub fn is_listened(&self, inbox_id: Uuid) -> bool {
        let inboxes = self.inboxes.lock().unwrap_or_else(PoisonError::into_inner);
        inboxes.contains_key(&inbox_id)
    }

    /// The inbox is gone (deleted, or swept after expiry): its listeners stop.
    pub fn inbox_deleted(&self, inbox_id: Uuid) {
        self.send(inbox_id, InboxEvent::Deleted);
    }

    fn send(&self, inbox_id: Uuid, event: InboxEvent) {
        let inboxes = self.inboxes.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(sender) = inboxes.get(&inbox_id) {
            // An error only means nobody listens right now.
            let _ = sender.send(event);
        }
    }

    /// Starts listening to an inbox; events stored from now on are received.
    pub fn listen(self: &Arc<Self>, inbox_id: Uuid) -> Listener {
        let mut inboxes = self.inboxes.lock().unwrap_or_else(PoisonError::into_inner);
        let receiver = inboxes
            .entry(inbox_id)
            .or_insert_with(|| broadcast::channel(PER_INBOX_BUFFER).0)
            .subscribe();
        Listener {
            bus: self.clone(),
            inbox_id,
            receiver: Some(receiver),
            deleted: false,
        }
    }
}

/// What a listener learns when it asks for the next event.
#[derive(Debug, PartialEq)]
pub enum Wake {
    /// A message was stored.
    Stored(MessageStored),
    /// Another process stored mail in the inbox: read the database.
    StoredElsewhere,
    /// Events were missed (the listener was slow): read from the database to catch up.
    Lagged,
    /// The inbox was deleted; nothing more will come.
    Deleted,
    /// An inbox was made at the listened address ([`EventBus::inboxes_made`]).
    Created(Arc<Inbox>),
}

pub struct Listener {
    bus: Arc<EventBus>,
    inbox_id: Uuid,
    receiver: Option<broadcast::Receiver<InboxEvent>>,
    /// Kept once heard, so that [`Listener::drain`] cannot lose it.
    deleted: bool,
}

impl Listener {
    pub async fn next(&mut self) -> Wake {
        if self.deleted {
            return Wake::Deleted;
        }
        let Some(receiver) = self.receiver.as_mut() else {
            return Wake::Lagged;
        };
        match receiver.recv().await {
            Ok(InboxEvent::Stored(event)) => Wake::Stored(event),
            Ok(InboxEvent::StoredElsewhere) => Wake::StoredElsewhere,
            Ok(InboxEvent::Created(inbox)) => Wake::Created(inbox),
            Ok(InboxEvent::Deleted) => {
                self.deleted = true;
                Wake::Deleted
            }
            // The bus keeps the sender while anyone listens, so `Closed` cannot happen; treat
            // it like a lag so that the caller re-reads the database.
            Err(broadcast::error::RecvError::Lagged(_) | broadcast::error::RecvError::Closed) => {
                Wake::Lagged
            }
        }
    }

    /// Drops the wake-ups already queued: the caller is about to read the database anyway.
    pub fn drain(&mut self) {
        let Some(receiver) = self.receiver.as_mut() else {
            return;
        };
        loop {
            match receiver.try_recv() {
                Ok(InboxEvent::Deleted) => self.deleted = true,
                Ok(
                    InboxEvent::Stored(_) | InboxEvent::StoredElsewhere | InboxEvent::Created(_),
                )
                | Err(broadcast::error::TryRecvError::Lagged(_)) => {}
                Err(
                    broadcast::error::TryRecvError::Empty | broadcast::error::TryRecvError::Closed,
                ) => return,
            }
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        drop(self.receiver.take());
        let mut inboxes = self
            .bus
            .inboxes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if inboxes
            .get(&self.inbox_id)
            .is_some_and(|sender| sender.receiver_count() == 0)
        {
            inboxes.remove(&self.inbox_id);
        }
    }
}

/// What the relay tells `/metrics` (`ephemail_events_*`).
#[derive(Debug, Clone, Default)]
pub struct RelayMetrics {
    notifications: Counter,
    reconnects: Counter,
}

impl RelayMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "ephemail_events_notifications",
            "Notifications the event relay received from the database, this process's own \
             included (each carries up to 100 events)",
            metrics.notifications.clone(),
        );
        registry.register(
            "ephemail_events_relay_reconnects",
            "Times the event relay listened again after losing its connection",
            metrics.reconnects.clone(),
        );
        metrics
    }
}

/// Listens for the other processes' events on a connection of its own, taken out of the pool
/// for good (LISTEN belongs to a session), and hands them to `bus` until `shutdown`. A lost
/// connection is replaced after [`RELAY_RETRY`], and every listener is then told to read again.
pub async fn relay(
    pool: Pool<AsyncPgConnection>,
    bus: Arc<EventBus>,
    metrics: RelayMetrics,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut listened_before = false;
    loop {
        let listened = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            listened = listen(&pool, &bus, &metrics, &mut listened_before) => listened,
        };
        bus.relaying.store(false, Ordering::Relaxed);
        if let Err(error) = listened {
            tracing::warn!(%error, "lost the event notifications; listening again");
        }
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            () = tokio::time::sleep(RELAY_RETRY) => {}
        }
    }
}

/// Listens until the connection is lost; `listened_before` tells a reconnection from the
/// first LISTEN.
async fn listen(
    pool: &Pool<AsyncPgConnection>,
    bus: &EventBus,
    metrics: &RelayMetrics,
    listened_before: &mut bool,
) -> anyhow::Result<()> {
    let mut conn = Object::take(pool.get().await?);
    conn.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    bus.relaying.store(true, Ordering::Relaxed);
    if std::mem::replace(listened_before, true) {
        metrics.reconnects.inc();
    }
    bus.resync();
    let mut notifications = std::pin::pin!(conn.notifications_stream());
    while let Some(notification) = notifications.next().await {
        let payload = notification?.payload;
        metrics.notifications.inc();
        bus.apply_notification(&payload);
    }
    anyhow::bail!("the notification stream ended")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(inbox_id: Uuid, seq: i64) -> MessageStored {
        MessageStored::bare(inbox_id, seq)
    }

    #[tokio::test]
    async fn listeners_hear_only_their_inbox() {
        let bus = Arc::new(EventBus::default());
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let mut listener = bus.listen(a);
        bus.publish(event(b, 1));
        bus.publish(event(a, 2));
        assert_eq!(listener.next().await, Wake::Stored(event(a, 2)));
    }

    #[tokio::test]
    async fn an_inbox_ingest_made_reaches_the_listeners_of_its_address_only() {
        let bus = Arc::new(EventBus::default());
        let (awaited, other) = (address_key("new@catch-all.test"), address_key("b@c.test"));
        let (mut listener, mut other_listener) = (bus.listen(awaited), bus.listen(other));
        let inbox = Arc::new(Inbox {
            id: Uuid::new_v4(),
            tenant_id: Uuid::new_v4(),
            local_part: "new".into(),
            domain: "catch-all.test".into(),
            created_at: chrono::DateTime::UNIX_EPOCH,
            expires_at: chrono::DateTime::UNIX_EPOCH,
            tags: Vec::new(),
            purge_at: chrono::DateTime::UNIX_EPOCH,
            message_bound: 0,
        });
        bus.inboxes_made(&[(awaited, inbox.clone())]);
        assert_eq!(listener.next().await, Wake::Created(inbox));
        assert_eq!(
            futures::FutureExt::now_or_never(other_listener.next()),
            None
        );
    }

    #[tokio::test]
    async fn a_slow_listener_is_told_it_lagged() {
        let bus = Arc::new(EventBus::default());
        let inbox = Uuid::new_v4();
        let mut listener = bus.listen(inbox);
        for seq in 0..(PER_INBOX_BUFFER as i64 + 10) {
            bus.publish(event(inbox, seq));
        }
        assert_eq!(listener.next().await, Wake::Lagged);
    }

    #[tokio::test]
    async fn a_deletion_is_heard_even_after_a_drain() {
        let bus = Arc::new(EventBus::default());
        let inbox = Uuid::new_v4();
        let mut listener = bus.listen(inbox);
        bus.publish(event(inbox, 1));
        bus.inbox_deleted(inbox);
        listener.drain();
        assert_eq!(listener.next().await, Wake::Deleted);
        assert_eq!(listener.next().await, Wake::Deleted);
    }

    #[tokio::test]
    async fn another_process_s_events_reach_listeners_and_our_own_are_skipped() {
        let (here, there) = (Arc::new(EventBus::default()), EventBus::default());
        let (stored, deleted) = (Uuid::new_v4(), Uuid::new_v4());
        let (mut stored_listener, mut deleted_listener) =
            (here.listen(stored), here.listen(deleted));
        let many: Vec<Uuid> = (0..250).map(|_| Uuid::new_v4()).collect();
        let awaited = address_key("new@catch-all.test");
        let mut address_listener = here.listen(awaited);
        let changes = Changes {
            stored_in: &[stored],
            created_at: &[awaited],
            deleted: &[deleted],
            revoked: &[],
        };
        let payloads = there.payloads(&changes);
        assert_eq!(payloads.len(), 1);
        assert!(payloads.iter().all(|payload| payload.len() < 8000));
        let stored_in_many = Changes {
            stored_in: &many,
            ..Changes::default()
        };
        assert_eq!(there.payloads(&stored_in_many).len(), 3);
        // Our own notification comes back from PostgreSQL too: already published, skipped.
        for payload in here.payloads(&changes) {
            here.apply_notification(&payload);
        }
        here.apply_notification("garbage");
        assert_eq!(
            futures::FutureExt::now_or_never(stored_listener.next()),
            None
        );
        for payload in payloads {
            here.apply_notification(&payload);
        }
        assert_eq!(stored_listener.next().await, Wake::StoredElsewhere);
        assert_eq!(address_listener.next().await, Wake::StoredElsewhere);
        assert_eq!(deleted_listener.next().await, Wake::Deleted);
    }

    #[tokio::test]
    async fn another_process_s_revocations_reach_watchers_and_a_resync_asks_for_a_check() {
        let (here, there) = (Arc::new(EventBus::default()), EventBus::default());
        let mut watcher = here.revocations();
        let key = Uuid::new_v4();
        let revoked = Changes {
            revoked: &[key],
            ..Changes::default()
        };
        for payload in there.payloads(&revoked) {
            here.apply_notification(&payload);
        }
        assert_eq!(watcher.recv().await.unwrap(), Revocation::Key(key));
        here.resync();
        assert_eq!(watcher.recv().await.unwrap(), Revocation::Unknown);
    }

    #[test]
    fn the_last_listener_leaving_frees_the_inbox_channel() {
        let bus = Arc::new(EventBus::default());
        let inbox = Uuid::new_v4();
        let first = bus.listen(inbox);
        let second = bus.listen(inbox);
        drop(first);
        assert_eq!(bus.inboxes.lock().unwrap().len(), 1);
        drop(second);
        assert!(bus.inboxes.lock().unwrap().is_empty());
    }
}
