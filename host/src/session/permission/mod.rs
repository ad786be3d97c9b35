//! Pending permission asks: a tool's `ask-permission` that the rules leave to the user becomes a
//! request (`per_…`), stored, published as `permission.asked`, and answered by
//! `POST /permission/{id}/reply` (or the legacy session route). The first reply wins; a reply to
//! an answered request is a conflict, to an unknown one not found.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;

use super::journal::{Changes, Journal};
use crate::bus::Bus;
use crate::permission::{Action, Rule, Ruleset, Verdict, denied, unanswerable};
use crate::protocol::Event;
use crate::protocol::event::PermissionReplied;
use crate::protocol::id::{PermissionId, SessionId};
use crate::protocol::now_ms;
pub use crate::protocol::permission::{PermissionRequest, Reply, ToolRef};
use crate::runtime::{PermissionAsk, PermissionRefusal};
use crate::store::{PermissionRecord, Write};

/// How many answered request IDs are remembered to tell "already answered" (409) from "unknown"
/// (404).
const ANSWERED_MEMORY: usize = 4096;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReplyError {
    #[error("Permission request not found: {0}")]
    NotFound(String),
    #[error("Permission request {0} was already answered")]
    AlreadyAnswered(String),
}

/// What the asking call learns.
type Answer = Result<(), PermissionRefusal>;

struct Pending {
    request: PermissionRequest,
    bus: Option<Bus>,
    /// `None` for requests restored from the store after a restart: nobody waits on them.
    waiter: Option<oneshot::Sender<Answer>>,
}

#[derive(Default)]
struct State {
    pending: HashMap<PermissionId, Pending>,
    answered: VecDeque<PermissionId>,
    /// Rules granted with "always", per session.
    approved: HashMap<SessionId, Vec<Rule>>,
}

/// What a reply did.
#[derive(Debug)]
pub struct Replied {
    pub request: PermissionRequest,
    /// Whether a running tool call was waiting for it (false for requests restored after a
    /// restart).
    pub delivered: bool,
}

/// Every pending request of the server.
#[derive(Clone)]
pub struct Broker {
    journal: Journal,
    state: Arc<Mutex<State>>,
}

impl Broker {
    /// A broker holding the requests left pending in the store by an earlier run.
    pub fn restore(journal: Journal) -> Self {
        let mut state = State::default();
        match journal.store().permissions() {
            Ok(records) => {
                for record in records {
                    match serde_json::from_str::<PermissionRequest>(&record.data) {
                        Ok(request) => {
                            state.pending.insert(
                                request.id.clone(),
                                Pending {
                                    request,
                                    bus: None,
                                    waiter: None,
                                },
                            );
                        }
                        Err(e) => {
                            tracing::warn!(id = %record.id, "skipping an unreadable permission request: {e}")
                        }
                    }
                }
            }
            Err(e) => tracing::error!("could not load pending permission requests: {e}"),
        }
        Self {
            journal,
            state: Arc::new(Mutex::new(state)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update is a single map operation; a poisoned lock still holds consistent data.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Pending requests, oldest first.
    pub fn list(&self) -> Vec<PermissionRequest> {
        let mut list: Vec<_> = self.lock().pending.values().map(|p| p.request.clone()).collect();
        list.sort_by(|a, b| a.id.cmp(&b.id));
        list
    }

    /// The rules granted with "always" in `session_id`.
    pub fn approved(&self, session_id: &SessionId) -> Vec<Rule> {
        self.lock().approved.get(session_id).cloned().unwrap_or_default()
    }

    /// Decides `ask` from `rules` (plus what the session approved with "always"), asking the user
    /// when the rules say `ask`. Suspends until the user replies; dropping the future withdraws
    /// the request.
    pub async fn ask(
        &self,
        bus: &Bus,
        rules: &Ruleset,
        session_id: &SessionId,
        tool: Option<ToolRef>,
        ask: PermissionAsk,
        interactive: bool,
    ) -> Answer {
        let mut rules = rules.clone();
        rules.extend(self.approved(session_id));
        match rules.decide(&ask.permission, &ask.patterns) {
            Verdict::Allow => return Ok(()),
            Verdict::Deny { pattern, rule } => return Err(denied(&ask.permission, pattern, rule)),
            Verdict::Ask { pattern } if !interactive => {
                return Err(unanswerable(&ask.permission, pattern, "on this surface"));
            }
            Verdict::Ask { .. } => {}
        }

        let request = PermissionRequest {
            id: PermissionId::new(),
            session_id: session_id.clone(),
            permission: ask.permission,
            patterns: ask.patterns,
            metadata: match ask.metadata {
                serde_json::Value::Null => serde_json::Value::Object(Default::default()),
                other => other,
            },
            always: ask.always,
            tool,
        };
        let record = PermissionRecord {
            id: request.id.to_string(),
            session_id: request.session_id.to_string(),
            time_created: now_ms() as i64,
            data: serde_json::to_string(&request).unwrap_or_default(),
        };
        let (sender, receiver) = oneshot::channel();
        let id = request.id.clone();
        self.lock().pending.insert(
            id.clone(),
            Pending {
                request: request.clone(),
                bus: Some(bus.clone()),
                waiter: Some(sender),
            },
        );
        let guard = Withdraw {
            broker: self,
            id: &id,
        };
        let mut changes = Changes::new();
        changes
            .write(Write::Permission(record))
            .event(Event::PermissionAsked(request.clone()));
        if let Err(e) = self.journal.commit(bus, changes) {
            // Still ask: the request works in memory; only a restart would lose it.
            tracing::error!(id = %request.id, "could not store a permission request: {e}");
            self.journal.publish(bus, Event::PermissionAsked(request));
        }
        let answer = receiver.await;
        drop(guard);
        answer.unwrap_or(Err(PermissionRefusal::Rejected(None)))
    }

    /// Answers a request. With `always`, the session's other pending requests that the new
    /// rules allow are answered too; with `reject`, the session's other pending requests are
    /// rejected (the user wants the turn stopped, as OpenCode does).
    pub fn reply(
        &self,
        fallback_bus: &Bus,
        id: &PermissionId,
        reply: Reply,
        message: Option<String>,
    ) -> Result<Replied, ReplyError> {
        let mut followups = Vec::new();
        let (request, delivered) = {
            let mut state = self.lock();
            let Some(pending) = state.pending.remove(id) else {
                return Err(if state.answered.contains(id) {
                    ReplyError::AlreadyAnswered(id.to_string())
                } else {
                    ReplyError::NotFound(id.to_string())
                });
            };
            remember(&mut state.answered, id);
            let session_id = pending.request.session_id.clone();
            let answer = match reply {
                Reply::Once | Reply::Always => Ok(()),
                Reply::Reject => Err(PermissionRefusal::Rejected(
                    message.filter(|m| !m.trim().is_empty()),
                )),
            };
            if reply == Reply::Always {
                let rules = state.approved.entry(session_id.clone()).or_default();
                for pattern in &pending.request.always {
                    rules.push(Rule::new(&pending.request.permission, pattern, Action::Allow));
                }
                let approved = Ruleset(rules.clone());
                let covered: Vec<PermissionId> = state
                    .pending
                    .values()
                    .filter(|p| p.request.session_id == session_id && p.waiter.is_some())
                    .filter(|p| {
                        p.request
                            .patterns
                            .iter()
                            .all(|pat| approved.evaluate(&p.request.permission, pat).0 == Action::Allow)
                    })
                    .map(|p| p.request.id.clone())
                    .collect();
                for other in covered {
                    if let Some(p) = state.pending.remove(&other) {
                        remember(&mut state.answered, &other);
                        followups.push((p, Ok(()), Reply::Always));
                    }
                }
            } else if reply == Reply::Reject {
                let others: Vec<PermissionId> = state
                    .pending
                    .values()
                    .filter(|p| p.request.session_id == session_id && p.waiter.is_some())
                    .map(|p| p.request.id.clone())
                    .collect();
                for other in others {
                    if let Some(p) = state.pending.remove(&other) {
                        remember(&mut state.answered, &other);
                        followups.push((p, Err(PermissionRefusal::Rejected(None)), Reply::Reject));
                    }
                }
            }
            let bus = pending.bus.clone().unwrap_or_else(|| fallback_bus.clone());
            let delivered = match pending.waiter {
                Some(waiter) => waiter.send(answer).is_ok(),
                None => false,
            };
            followups.insert(
                0,
                (
                    Pending {
                        waiter: None,
                        bus: Some(bus),
                        ..pending
                    },
                    Ok(()),
                    reply,
                ),
            );
            (followups[0].0.request.clone(), delivered)
        };
        for (pending, answer, reply) in followups.drain(..) {
            self.forget(&pending.request.id);
            if let Some(waiter) = pending.waiter {
                let _ = waiter.send(answer);
            }
            let bus = pending.bus.as_ref().unwrap_or(fallback_bus);
            self.journal.publish(
                bus,
                Event::PermissionReplied(PermissionReplied {
                    session_id: pending.request.session_id.clone(),
                    request_id: pending.request.id.clone(),
                    reply,
                }),
            );
        }
        Ok(Replied { request, delivered })
    }

    /// Withdraws every pending request of `session_id` (the session was aborted or deleted). The
    /// waiting calls see a rejection; their futures are normally being dropped anyway.
    pub fn clear_session(&self, session_id: &SessionId) {
        let withdrawn: Vec<Pending> = {
            let mut state = self.lock();
            let ids: Vec<PermissionId> = state
                .pending
                .values()
                .filter(|p| p.request.session_id == *session_id)
                .map(|p| p.request.id.clone())
                .collect();
            ids.iter().filter_map(|id| state.pending.remove(id)).collect()
        };
        for pending in withdrawn {
            self.forget(&pending.request.id);
        }
    }

    /// Forgets what a deleted session approved.
    pub fn forget_session(&self, session_id: &SessionId) {
        self.clear_session(session_id);
        self.lock().approved.remove(session_id);
    }

    fn forget(&self, id: &PermissionId) {
        if let Err(e) = self
            .journal
            .store()
            .apply(&[Write::DeletePermission { id: id.to_string() }])
        {
            tracing::error!(%id, "could not delete an answered permission request: {e}");
        }
    }
}

fn remember(answered: &mut VecDeque<PermissionId>, id: &PermissionId) {
    if answered.len() == ANSWERED_MEMORY {
        answered.pop_front();
    }
    answered.push_back(id.clone());
}

/// Removes a request whose asker went away (the call was dropped) without an answer.
struct Withdraw<'a> {
    broker: &'a Broker,
    id: &'a PermissionId,
}

impl Drop for Withdraw<'_> {
    fn drop(&mut self) {
        let removed = self.broker.lock().pending.remove(self.id);
        if removed.is_some() {
            self.broker.forget(self.id);
        }
    }
}

#[cfg(test)]
mod tests;
