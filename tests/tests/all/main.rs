//! wasmcode's integration tests: one test binary (as wasmtime does), one module per area.

mod agent_loop;
mod clients;
mod command_sandbox;
mod compat;
mod event_schema;
mod events;
mod find_index;
mod guest_units;
mod harness;
mod mcp;
mod openapi;
mod other_languages;
mod plugin_cli;
mod providers;
mod providers_api;
mod sandbox;
mod schemathesis;
mod security;
mod server;
mod sessions;
mod terminals;
mod tools;
mod v1_chat;
