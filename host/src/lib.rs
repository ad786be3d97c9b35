//! wasmcode: a coding-agent server that speaks OpenCode's HTTP API, with every tool a sandboxed
//! WebAssembly component.

#![deny(unsafe_code)]

pub mod api;
pub mod atomic;
pub mod bus;
pub mod cli;
pub mod config;
pub mod instance;
pub mod paths;
pub mod permission;
pub mod plugins;
pub mod project;
pub mod provider;
pub mod runtime;
pub mod server;
pub mod session;
pub mod store;
pub mod tui;

/// The version reported by `/global/health`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
