//! The wire: every object and event OpenCode's clients read, as typed plain data (serde for the
//! JSON, utoipa for `/doc`), and the identifiers that name them. Field names, optional fields and
//! tags follow the reference byte for byte (CONTRACT §3-§5).
//!
//! The lowest layer of the house: it depends on nothing of the server, and holds no behaviour
//! beyond constructors and accessors. What a change means, and when its event goes out, belongs
//! to the modules above.

pub mod event;
pub mod id;
pub mod mcp;
pub mod permission;
pub mod project;
pub mod pty;
pub mod session;

pub use event::{Envelope, Event};
pub use id::{EventId, Identifier, InvalidId, MessageId, PartId, PermissionId, PtyId, SessionId, now_ms};
