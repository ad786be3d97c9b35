//! HTTP handlers, one module per resource. Handlers are thin: they parse, call a service, and
//! shape the response; they never touch wasmtime or the store directly.

pub mod app;
pub mod config;
pub mod error;
pub mod event;
pub mod extract;
pub mod file;
pub mod global;
pub mod instance;
pub mod permission;
pub mod project;
pub mod provider;
pub mod session;
pub mod tool;
pub mod tui;
pub mod unimplemented;
pub mod v1;
