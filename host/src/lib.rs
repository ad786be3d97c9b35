//! wasmcode: a coding-agent server that speaks OpenCode's HTTP API, with every tool a sandboxed
//! WebAssembly component.

#![deny(unsafe_code)]

//!
//! Layers, each importing only from those below it:
//! `cli → server → api → session → instance → {plugins, provider, llm, agent, permission, config,
//! tui, terminal, mcp} → {runtime, project, bus, store, protocol} → sandbox` (see `docs/architecture.md`).

pub mod agent;
pub mod api;
pub mod atomic;
pub mod bus;
pub mod cli;
pub mod config;
pub mod environment;
pub mod instance;
pub mod llm;
pub mod mcp;
pub mod paths;
pub mod permission;
pub mod plugins;
pub mod project;
pub mod protocol;
pub mod provider;
pub mod runtime;
pub mod sandbox;
pub mod server;
pub mod session;
pub mod store;
pub mod terminal;
pub mod tui;

/// The version reported by `/global/health`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
