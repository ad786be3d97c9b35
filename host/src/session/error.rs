//! Why a session operation failed, by kind: the caller's mistake, a missing object, a busy
//! session, or the server (the store, the loop).

use crate::protocol::InvalidId;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("Session not found: {0}")]
    NotFound(String),
    #[error("Message not found: {0}")]
    MessageNotFound(String),
    #[error("Part not found: {0}")]
    PartNotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    InvalidId(#[from] InvalidId),
    /// No usable model: none configured, unknown, or its provider lacks a key.
    #[error("{0}")]
    Model(String),
    #[error("storage failed: {0}")]
    Store(#[from] StoreError),
    /// The session is running a turn and the operation needs it idle.
    #[error("Session {0} is busy")]
    Busy(String),
    #[error("the session's loop stopped unexpectedly")]
    LoopGone,
    /// The loop failed for a reason of the server's (the store, most likely).
    #[error("the session's loop failed: {0}")]
    Failed(String),
}
