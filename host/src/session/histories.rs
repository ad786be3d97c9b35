//! The conversations of recently used sessions, kept in memory: read from the store once, then
//! kept current by the journal from the events of every committed batch. The agent loop reads
//! its history here at each step and `GET /session/{id}/message` answers from here, so neither
//! re-reads and re-parses a whole conversation from SQLite.
//!
//! Bounded: the least recently used sessions are dropped past [`CAPACITY`] (they are read again
//! on their next use). Anything the journal cannot follow exactly drops the session instead.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::history;
use super::records::parse_message;
use crate::protocol::Event;
use crate::protocol::id::{MessageId, PartId, SessionId};
use crate::protocol::session::{MessageInfo, MessageWithParts, Part};
use crate::runtime::ChatMessage;
use crate::store::{Store, StoreError};

/// Sessions kept at most.
pub const CAPACITY: usize = 64;

/// One session's messages with their parts, ascending by id (creation order), and what the model
/// sees of each: converted on first use, kept until the message changes, so a step's request
/// converts only what changed since the last step.
#[derive(Default)]
pub struct History {
    messages: Vec<MessageWithParts>,
    /// Parallel to `messages`.
    views: Vec<Option<Vec<ChatMessage>>>,
}

impl Deref for History {
    type Target = [MessageWithParts];

    fn deref(&self) -> &Self::Target {
        &self.messages
    }
}

impl History {
    fn new(messages: Vec<MessageWithParts>) -> Self {
        let views = vec![None; messages.len()];
        Self { messages, views }
    }

    /// The conversation as the model sees it ([`history::model_view`] of each message); the
    /// messages' contents are shared with this history, not copied.
    pub fn conversation(&mut self) -> Vec<ChatMessage> {
        let mut out = Vec::with_capacity(self.messages.len() * 2);
        for (message, view) in self.messages.iter().zip(&mut self.views) {
            out.extend_from_slice(view.get_or_insert_with(|| history::model_view(message)));
        }
        out
    }

    /// Replaces or inserts a message info, keeping the order by id.
    fn upsert_message(&mut self, info: &MessageInfo) {
        match self.position(info.id()) {
            Ok(index) => {
                self.messages[index].info = info.clone();
                self.views[index] = None;
            }
            Err(index) => {
                let message = MessageWithParts {
                    info: info.clone(),
                    parts: Vec::new(),
                };
                self.messages.insert(index, message);
                self.views.insert(index, None);
            }
        }
    }

    /// Replaces or inserts a part, keeping the order by id; false when its message is unknown.
    fn upsert_part(&mut self, part: &Part) -> bool {
        let Ok(index) = self.position(&part.message_id) else {
            return false;
        };
        self.views[index] = None;
        let parts = &mut self.messages[index].parts;
        match parts.binary_search_by(|p| p.id.cmp(&part.id)) {
            Ok(index) => parts[index] = part.clone(),
            Err(index) => parts.insert(index, part.clone()),
        }
        true
    }

    fn remove_message(&mut self, id: &MessageId) {
        if let Ok(index) = self.position(id) {
            self.messages.remove(index);
            self.views.remove(index);
        }
    }

    fn remove_part(&mut self, message: &MessageId, part: &PartId) {
        if let Ok(index) = self.position(message) {
            self.messages[index].parts.retain(|p| p.id != *part);
            self.views[index] = None;
        }
    }

    fn position(&self, id: &MessageId) -> Result<usize, usize> {
        self.messages.binary_search_by(|m| m.info.id().cmp(id))
    }
}

pub struct Histories {
    store: Store,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    sessions: HashMap<SessionId, Entry>,
    /// Sessions being read from the store, and whether a batch changed them meanwhile (then the
    /// read may have missed it and is done again).
    loading: HashMap<SessionId, bool>,
    /// Bumped at each use: the entry with the smallest `used` goes first.
    clock: u64,
}

struct Entry {
    history: Arc<Mutex<History>>,
    used: u64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update is a few vector operations: a panic cannot leave a half-applied one.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Histories {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            state: Mutex::new(State::default()),
        }
    }

    /// Runs `f` on the session's history, reading it from the store first if it is not in
    /// memory. `f` must be quick: the session's updates wait for it.
    pub fn with<R>(&self, session: &SessionId, f: impl FnOnce(&History) -> R) -> Result<R, StoreError> {
        let history = self.entry(session)?;
        let history = lock(&history);
        Ok(f(&history))
    }

    /// The session's conversation as the model sees it ([`History::conversation`]).
    pub fn conversation(&self, session: &SessionId) -> Result<Vec<ChatMessage>, StoreError> {
        let history = self.entry(session)?;
        let mut history = lock(&history);
        Ok(history.conversation())
    }

    fn entry(&self, session: &SessionId) -> Result<Arc<Mutex<History>>, StoreError> {
        loop {
            {
                let mut state = lock(&self.state);
                state.clock += 1;
                let clock = state.clock;
                if let Some(entry) = state.sessions.get_mut(session) {
                    entry.used = clock;
                    return Ok(entry.history.clone());
                }
                state.loading.insert(session.clone(), false);
            }
            // Read outside the lock, so other sessions' updates need not wait for it.
            let loaded = self.load(session);
            let mut state = lock(&self.state);
            let changed = state.loading.remove(session).unwrap_or(true);
            let loaded = loaded?;
            if !changed {
                return Ok(self.insert(&mut state, session, loaded));
            }
        }
    }

    fn load(&self, session: &SessionId) -> Result<History, StoreError> {
        let messages = self.store.messages(session, None)?;
        Ok(History::new(messages.iter().filter_map(parse_message).collect()))
    }

    fn insert(&self, state: &mut State, session: &SessionId, loaded: History) -> Arc<Mutex<History>> {
        state.clock += 1;
        let clock = state.clock;
        if state.sessions.len() >= CAPACITY && !state.sessions.contains_key(session) {
            let oldest = state
                .sessions
                .iter()
                .min_by_key(|(_, entry)| entry.used)
                .map(|(id, _)| id.clone());
            if let Some(oldest) = oldest {
                state.sessions.remove(&oldest);
            }
        }
        let entry = state.sessions.entry(session.clone()).or_insert_with(|| Entry {
            history: Arc::new(Mutex::new(loaded)),
            used: clock,
        });
        entry.used = clock;
        entry.history.clone()
    }

    /// Follows a committed change, if its session is in memory.
    pub fn apply(&self, event: &Event) {
        let session = match event {
            Event::MessageUpdated(e) => &e.session_id,
            Event::MessagePartUpdated(e) => &e.session_id,
            Event::MessageRemoved(e) => &e.session_id,
            Event::MessagePartRemoved(e) => &e.session_id,
            Event::SessionDeleted(e) => return self.forget(&e.session_id),
            _ => return,
        };
        let history = {
            let mut state = lock(&self.state);
            if let Some(changed) = state.loading.get_mut(session) {
                *changed = true;
            }
            state.sessions.get(session).map(|e| e.history.clone())
        };
        let Some(history) = history else {
            return;
        };
        let followed = {
            let mut history = lock(&history);
            match event {
                Event::MessageUpdated(e) => {
                    history.upsert_message(&e.info);
                    true
                }
                Event::MessagePartUpdated(e) => history.upsert_part(&e.part),
                Event::MessageRemoved(e) => {
                    history.remove_message(&e.message_id);
                    true
                }
                Event::MessagePartRemoved(e) => {
                    history.remove_part(&e.message_id, &e.part_id);
                    true
                }
                _ => true,
            }
        };
        if !followed {
            self.forget(session);
        }
    }

    /// Drops the session's history (it is read again on its next use).
    pub fn forget(&self, session: &SessionId) {
        let mut state = lock(&self.state);
        state.sessions.remove(session);
        if let Some(changed) = state.loading.get_mut(session) {
            *changed = true;
        }
    }
}
