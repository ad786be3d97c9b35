//! The conversations of recently used sessions, kept in memory: read from the store once, then
//! kept current by the journal from the events of every committed batch. The agent loop reads
//! its history here at each step and `GET /session/{id}/message` answers from here, so neither
//! re-reads and re-parses a whole conversation from SQLite.
//!
//! Bounded: the least recently used sessions are dropped past [`CAPACITY`] (they are read again
//! on their next use). Anything the journal cannot follow exactly drops the session instead.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::records::parse_message;
use crate::protocol::Event;
use crate::protocol::id::SessionId;
use crate::protocol::session::{MessageInfo, MessageWithParts, Part};
use crate::store::{Store, StoreError};

/// Sessions kept at most.
pub const CAPACITY: usize = 64;

/// One session's messages with their parts, ascending by id (creation order).
pub type History = Vec<MessageWithParts>;

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
        Ok(self
            .store
            .messages(session, None)?
            .iter()
            .filter_map(parse_message)
            .collect())
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
                Event::MessageUpdated(e) => upsert_message(&mut history, &e.info),
                Event::MessagePartUpdated(e) => upsert_part(&mut history, &e.part),
                Event::MessageRemoved(e) => {
                    history.retain(|m| *m.info.id() != e.message_id);
                    true
                }
                Event::MessagePartRemoved(e) => {
                    if let Some(message) = history.iter_mut().find(|m| *m.info.id() == e.message_id) {
                        message.parts.retain(|p| p.id != e.part_id);
                    }
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

/// Replaces or inserts a message info, keeping the order by id.
fn upsert_message(history: &mut History, info: &MessageInfo) -> bool {
    match history.binary_search_by(|m| m.info.id().cmp(info.id())) {
        Ok(index) => history[index].info = info.clone(),
        Err(index) => history.insert(
            index,
            MessageWithParts {
                info: info.clone(),
                parts: Vec::new(),
            },
        ),
    }
    true
}

/// Replaces or inserts a part, keeping the order by id; false when its message is unknown.
fn upsert_part(history: &mut History, part: &Part) -> bool {
    let Ok(index) = history.binary_search_by(|m| m.info.id().cmp(&part.message_id)) else {
        return false;
    };
    let parts = &mut history[index].parts;
    match parts.binary_search_by(|p| p.id.cmp(&part.id)) {
        Ok(index) => parts[index] = part.clone(),
        Err(index) => parts.insert(index, part.clone()),
    }
    true
}
