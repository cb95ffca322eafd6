//! The in-process event bus: "a message was stored in inbox X" and "inbox X was deleted".
//! Subscriptions and waits use a stored event only as a wake-up and read the messages
//! themselves from PostgreSQL, which stays the source of truth; so a lost or lagged event can
//! delay a subscriber but never make it skip a message. A deletion ends them (it is an inbox's
//! last event, so a lag cannot drop it). [`EventBus::publish`] and [`EventBus::inbox_deleted`]
//! are the entry points: ingest, `deleteInbox`, the sweeper and whatever replaces an expired
//! inbox at its address call them after their commits; a LISTEN/NOTIFY listener can call them
//! for events from other processes.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use tokio::sync::broadcast;
use uuid::Uuid;

/// Events buffered per inbox before a slow listener lags (and then catches up from the database).
const PER_INBOX_BUFFER: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageStored {
    pub inbox_id: Uuid,
    /// The message's position in commit order (`messages.seq`).
    pub seq: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InboxEvent {
    Stored(MessageStored),
    Deleted,
}

/// Per-inbox fan-out: only the listeners of an inbox are woken by its mail.
#[derive(Default)]
pub struct EventBus {
    inboxes: Mutex<HashMap<Uuid, broadcast::Sender<InboxEvent>>>,
}

impl EventBus {
    pub fn publish(&self, event: MessageStored) {
        self.send(event.inbox_id, InboxEvent::Stored(event));
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
#[derive(Debug, PartialEq, Eq)]
pub enum Wake {
    /// A message was stored.
    Stored(MessageStored),
    /// Events were missed (the listener was slow): read from the database to catch up.
    Lagged,
    /// The inbox was deleted; nothing more will come.
    Deleted,
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
                Ok(InboxEvent::Stored(_)) | Err(broadcast::error::TryRecvError::Lagged(_)) => {}
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

#[cfg(test)]
mod tests {
    use super::*;

    fn event(inbox_id: Uuid, seq: i64) -> MessageStored {
        MessageStored { inbox_id, seq }
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
