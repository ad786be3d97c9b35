//! Terminals on the wire: a PTY as `/pty` lists it (the reference's `Pty`), and the properties of
//! its events.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::id::PtyId;

/// A terminal: the program it runs, where, and whether it still runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Pty {
    pub id: PtyId,
    pub title: String,
    pub command: String,
    pub args: Vec<String>,
    pub cwd: String,
    pub status: PtyStatus,
    pub pid: u32,
    #[serde(rename = "exitCode", default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PtyStatus {
    Running,
    Exited,
}

/// `pty.created`, `pty.updated`: the terminal as it is now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PtyChanged {
    pub info: Pty,
}

/// `pty.exited`: the terminal's program ended (a signal counts as 128 + its number, as shells
/// report it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PtyExited {
    pub id: PtyId,
    #[serde(rename = "exitCode")]
    pub exit_code: u32,
}

/// `pty.deleted`: the terminal is gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PtyRef {
    pub id: PtyId,
}
