//! The registry of running turns: one entry per busy session, holding what the session is doing
//! (its status), who waits for the turn's answer, whether a prompt arrived while it ran, and the
//! token that aborts it. Idle sessions have no entry.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::{oneshot, watch};
use tokio_util::sync::CancellationToken;

use super::SessionError;
use super::input::Asks;
use crate::protocol::id::SessionId;
use crate::protocol::session::{MessageWithParts, SessionStatus};

/// A prompt's outcome for its caller: the loop's last assistant message.
pub type PromptResult = Result<MessageWithParts, SessionError>;

/// The turn of one busy session.
struct Turn {
    cancel: CancellationToken,
    /// Callers waiting for the loop's final message.
    waiters: Vec<oneshot::Sender<PromptResult>>,
    /// A prompt arrived since the loop last looked for new user messages.
    pending_prompt: bool,
    status: SessionStatus,
    asks: Asks,
    /// Becomes true when the turn is over (abort waits on it).
    done: watch::Sender<bool>,
}

/// What [`Turns::join`] did.
pub enum Joined {
    /// No turn was running: the caller starts one, cancelled by this token.
    Started(CancellationToken),
    /// The running turn will answer this prompt too.
    Queued,
}

/// How a turn's end went: over (its callers are still to be answered), or go on for a prompt
/// that arrived meanwhile.
pub enum Ended {
    Over(Finished),
    GoOn,
}

/// A turn taken off the registry: its callers wait for [`Finished::answer`].
pub struct Finished {
    waiters: Vec<oneshot::Sender<PromptResult>>,
    done: watch::Sender<bool>,
}

impl Finished {
    /// Gives every caller the turn's outcome and wakes those waiting for its end.
    pub fn answer(self, result: &PromptResult) {
        for waiter in self.waiters {
            let _ = waiter.send(match result {
                Ok(message) => Ok(message.clone()),
                Err(e) => Err(SessionError::Failed(e.to_string())),
            });
        }
        let _ = self.done.send(true);
    }
}

#[derive(Default)]
pub struct Turns {
    running: Mutex<HashMap<SessionId, Turn>>,
}

impl Turns {
    fn lock(&self) -> MutexGuard<'_, HashMap<SessionId, Turn>> {
        // Each critical section is a few map operations; a poisoned lock holds consistent data.
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a caller waiting for the session's answer: to the running turn, or to a new one. A
    /// caller whose asks cannot be answered makes the whole turn refuse asks.
    pub fn join(&self, session: &SessionId, waiter: oneshot::Sender<PromptResult>, asks: Asks) -> Joined {
        let mut running = self.lock();
        if let Some(turn) = running.get_mut(session) {
            turn.waiters.push(waiter);
            turn.pending_prompt = true;
            if asks == Asks::Refuse {
                turn.asks = Asks::Refuse;
            }
            return Joined::Queued;
        }
        let cancel = CancellationToken::new();
        let (done, _) = watch::channel(false);
        running.insert(
            session.clone(),
            Turn {
                cancel: cancel.clone(),
                waiters: vec![waiter],
                pending_prompt: false,
                status: SessionStatus::Busy,
                asks,
                done,
            },
        );
        Joined::Started(cancel)
    }

    /// Ends the session's turn, unless a prompt arrived since the loop last looked (and the turn
    /// was not aborted): then the loop goes on. Checking and removing under one lock leaves no
    /// prompt unanswered.
    pub fn end(&self, session: &SessionId, aborted: bool) -> Ended {
        let mut running = self.lock();
        if let Some(turn) = running.get_mut(session)
            && turn.pending_prompt
            && !aborted
        {
            turn.pending_prompt = false;
            return Ended::GoOn;
        }
        let (waiters, done) = match running.remove(session) {
            Some(turn) => (turn.waiters, turn.done),
            None => (Vec::new(), watch::channel(false).0),
        };
        Ended::Over(Finished { waiters, done })
    }

    /// Trips the turn's cancellation; a receiver that turns true when it is over.
    pub fn cancel(&self, session: &SessionId) -> Option<watch::Receiver<bool>> {
        let running = self.lock();
        let turn = running.get(session)?;
        turn.cancel.cancel();
        Some(turn.done.subscribe())
    }

    pub fn is_running(&self, session: &SessionId) -> bool {
        self.lock().contains_key(session)
    }

    /// Whether the session's running turn can ask the user.
    pub fn asks(&self, session: &SessionId) -> Asks {
        self.lock()
            .get(session)
            .map_or(Asks::Interactive, |turn| turn.asks)
    }

    /// Records what the running turn is doing (no effect on an idle session).
    pub fn set_status(&self, session: &SessionId, status: &SessionStatus) {
        if let Some(turn) = self.lock().get_mut(session) {
            turn.status = status.clone();
        }
    }

    /// What every busy session is doing.
    pub fn statuses(&self) -> HashMap<String, SessionStatus> {
        self.lock()
            .iter()
            .map(|(id, turn)| (id.to_string(), turn.status.clone()))
            .collect()
    }
}
