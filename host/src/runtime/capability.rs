//! Capabilities as units, in the manner of Spin's factors: each host capability a plugin can
//! import is one module that
//!
//! 1. links its WIT interfaces into a [`Linker`] once ([`Capability::link`]),
//! 2. reads the plugin's [`Grants`] when a store is built and prepares its own per-store state
//!    ([`Capability::prepare`]), and
//! 3. checks the grant again at call time: an ungranted import is still linked, and refuses with
//!    a typed error the guest can handle (naming what is missing where the interface can carry a
//!    message), never a trap.
//!
//! The capabilities are [`filesystem`], [`http`], [`process`] and [`host_api`]. A capability never
//! reaches into another's state; what they share (the resource table, the WASI context, the
//! guest-time meter) is the store's, in [`StoreState`]. Adding a capability is a
//! new module here, a field in [`Capabilities`] and in [`CapabilityStates`], and a line in the
//! world linkers below: the other capabilities do not change.
//!
//! [`Grants`]: super::grants::Grants

pub mod filesystem;
pub mod host_api;
pub mod http;
pub mod process;

use std::path::Path;
use std::sync::Arc;

use wasmtime::component::Linker;
use wasmtime_wasi::WasiCtxBuilder;

use super::grants::Grants;
use super::store::StoreState;
use crate::sandbox::Sandbox;
use host_api::{CallHandler, CallInfo};

/// One host capability.
pub trait Capability {
    /// What the capability keeps in each store (each tool call, each provider stream).
    type State: Send + 'static;

    /// Adds the capability's interfaces to `linker`, each implemented over the capability's own
    /// part of the store state.
    fn link(linker: &mut Linker<StoreState>) -> wasmtime::Result<()>;

    /// The capability's state for one store, from what the store is for. It may add to the
    /// store's WASI context (the filesystem capability preopens the project there).
    fn prepare(&self, store: &StoreFor<'_>, wasi: &mut WasiCtxBuilder) -> Result<Self::State, SetupError>;
}

/// What a store is being built for: everything a capability may read to prepare its state.
pub struct StoreFor<'a> {
    pub plugin: &'a Arc<str>,
    pub grants: &'a Grants,
    /// The project root on the host, for calls that run in a project (tool calls).
    pub project_root: Option<&'a Path>,
    /// How the project's commands are confined, for calls that run in a project.
    pub sandbox: Option<&'a Arc<Sandbox>>,
    /// Who is calling, as the host API reports it.
    pub call: &'a Arc<CallInfo>,
    /// Who answers the guest's permission asks and takes its progress updates.
    pub handler: &'a Arc<dyn CallHandler>,
}

/// A store could not be prepared (e.g. the project directory is gone).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SetupError(pub String);

/// Every capability, with what each keeps for the whole runtime (the HTTP connection pool).
pub struct Capabilities {
    pub filesystem: filesystem::Filesystem,
    pub http: http::Http,
    pub process: process::Process,
    pub host_api: host_api::HostApi,
}

/// The per-store states of every capability, kept in [`StoreState`].
pub struct CapabilityStates {
    pub http: <http::Http as Capability>::State,
    pub process: <process::Process as Capability>::State,
    pub host_api: <host_api::HostApi as Capability>::State,
}

impl CapabilityStates {
    /// The store is being dropped, its call abandoned: what a capability still has in flight
    /// must end, not finish (runs before the store's resource table is dropped).
    pub fn abandon(&mut self) {
        self.http.abandon();
    }
}

impl Capabilities {
    pub fn new() -> Result<Self, SetupError> {
        Ok(Self {
            filesystem: filesystem::Filesystem,
            http: http::Http::new()?,
            process: process::Process,
            host_api: host_api::HostApi,
        })
    }

    /// Prepares every capability's state for one store.
    pub fn prepare(
        &self,
        store: &StoreFor<'_>,
        wasi: &mut WasiCtxBuilder,
    ) -> Result<CapabilityStates, SetupError> {
        self.filesystem.prepare(store, wasi)?;
        Ok(CapabilityStates {
            http: self.http.prepare(store, wasi)?,
            process: self.process.prepare(store, wasi)?,
            host_api: self.host_api.prepare(store, wasi)?,
        })
    }
}

/// The capabilities the `tool-plugin` world may import: all of them.
pub fn link_tool_world(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    filesystem::Filesystem::link(linker)?;
    http::Http::link(linker)?;
    process::Process::link(linker)?;
    host_api::HostApi::link(linker)
}

/// The capabilities the `formatter-plugin` world may import: none of its own. The filesystem is
/// linked (toolchains import it) but a formatter's store never has a preopened directory.
pub fn link_formatter_world(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    filesystem::Filesystem::link(linker)
}

/// The capabilities the `provider-plugin` world may import: no `process`. The filesystem is
/// linked (toolchains import it) but a provider's store never has a preopened directory.
pub fn link_provider_world(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    filesystem::Filesystem::link(linker)?;
    http::Http::link(linker)?;
    host_api::HostApi::link(linker)
}
