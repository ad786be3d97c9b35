//! The journal: the one place where a change is committed to the store and then published. A
//! batch of [`Changes`] commits in one transaction; its events go out only after the commit, in
//! the order they were added; a failed commit publishes nothing. Every write of the session
//! service goes through [`Journal::commit`].
//!
//! The journal also keeps the histories of recently used sessions in memory ([`Histories`]),
//! updated from the same batches, so a running session never re-reads its conversation from the
//! store.

use std::sync::Arc;

use super::histories::Histories;
use super::records::{message_record, part_record, session_record};
use crate::bus::Bus;
use crate::protocol::Event;
use crate::protocol::event::{MessageUpdated, PartUpdated, SessionInfo};
use crate::protocol::id::SessionId;
use crate::protocol::now_ms;
use crate::protocol::session::{MessageInfo, MessageWithParts, Part, Session};
use crate::store::{Store, StoreError, Write};

/// Writes and the events that announce them, committed together by [`Journal::commit`].
#[derive(Debug, Default)]
pub struct Changes {
    writes: Vec<Write>,
    events: Vec<Event>,
    /// Sessions whose messages were written without an event: their histories are dropped.
    unannounced: Vec<SessionId>,
}

impl Changes {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores `session` without announcing it.
    pub fn session(&mut self, session: &Session) -> &mut Self {
        self.writes.push(Write::Session(session_record(session)));
        self
    }

    /// Stores `session` and sends `session.updated`.
    pub fn session_updated(&mut self, session: &Session) -> &mut Self {
        self.session(session)
            .event(Event::SessionUpdated(SessionInfo::of(session)))
    }

    /// Stores a message's info and sends `message.updated`.
    pub fn message(&mut self, info: &MessageInfo) -> &mut Self {
        self.writes.push(Write::Message(message_record(info)));
        self.event(Event::MessageUpdated(MessageUpdated::of(info)))
    }

    /// Stores a part and sends `message.part.updated`.
    pub fn part(&mut self, part: &Part) -> &mut Self {
        self.writes.push(Write::Part(part_record(part)));
        self.event(Event::MessagePartUpdated(PartUpdated {
            session_id: part.session_id.clone(),
            part: part.clone(),
            time: now_ms(),
        }))
    }

    /// Stores a message and its parts without announcing them (a fork's copy, a chat's seeded
    /// history).
    pub fn quiet_message(&mut self, message: &MessageWithParts) -> &mut Self {
        self.writes.push(Write::Message(message_record(&message.info)));
        self.writes
            .extend(message.parts.iter().map(|p| Write::Part(part_record(p))));
        self.unannounced.push(message.info.session_id().clone());
        self
    }

    /// Any other write.
    pub fn write(&mut self, write: Write) -> &mut Self {
        self.writes.push(write);
        self
    }

    /// An event to send once the batch is committed.
    pub fn event(&mut self, event: Event) -> &mut Self {
        self.events.push(event);
        self
    }

    pub fn is_empty(&self) -> bool {
        self.writes.is_empty() && self.events.is_empty()
    }
}

/// The store, the histories kept in memory, and the order "commit, then publish". Cheap to clone.
#[derive(Clone)]
pub struct Journal {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    histories: Histories,
}

impl Journal {
    pub fn new(store: Store) -> Self {
        Self {
            inner: Arc::new(Inner {
                histories: Histories::new(store.clone()),
                store,
            }),
        }
    }

    /// The store, for reads.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The conversations of recently used sessions.
    pub fn histories(&self) -> &Histories {
        &self.inner.histories
    }

    /// Commits `changes` in one transaction, then publishes their events on `bus` in order. On
    /// failure nothing is published (and nothing was stored).
    pub fn commit(&self, bus: &Bus, changes: Changes) -> Result<(), StoreError> {
        let Changes {
            writes,
            events,
            unannounced,
        } = changes;
        self.inner.store.apply(&writes)?;
        for session in &unannounced {
            self.inner.histories.forget(session);
        }
        for event in events {
            self.inner.histories.apply(&event);
            bus.publish(event);
        }
        Ok(())
    }

    /// Publishes an event that records nothing (a status, a streamed delta).
    pub fn publish(&self, bus: &Bus, event: Event) {
        bus.publish(event);
    }
}
