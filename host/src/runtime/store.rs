//! The one kind of store every plugin call runs in, tool call or provider stream: its data
//! ([`StoreState`]), how it is built from a plugin's grants and limits ([`Stores::new_store`]), and
//! the linker of each world.
//!
//! A store holds what its call shares (the resource table, the WASI context, the memory limiter,
//! the guest-time meter) and one state per capability, prepared by the capability itself. It
//! installs the limits and the deadline: at every epoch tick the guest yields to the executor (so
//! a dropped call goes promptly) or, once its meter is past the budget, is interrupted. Dropping a
//! store ends everything its call started: instances, in-flight requests, child processes.

use std::path::Path;
use std::sync::Arc;

use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Engine, Store, UpdateDeadline};
use wasmtime_wasi::WasiCtx;

use super::capability::CapabilityStates;
use super::capability::host_api::{CallHandler, CallInfo, NoAsking};
use super::capability::{self, Capabilities, SetupError, StoreFor};
use super::grants::Grants;
use super::limits::{CallLimiter, Limits};
use super::meter::{GuestMeter, Metering};
use super::output::GuestOutput;
use super::wasi;
use crate::sandbox::Sandbox;

/// The data of every plugin store.
pub struct StoreState {
    pub(super) table: ResourceTable,
    pub(super) wasi: WasiCtx,
    pub(super) limiter: CallLimiter,
    pub(super) meter: GuestMeter,
    /// The guest's stdout and stderr.
    pub(super) output: GuestOutput,
    /// One state per capability, each read and written by its capability only.
    pub(super) capabilities: CapabilityStates,
}

impl Drop for StoreState {
    fn drop(&mut self) {
        // Before the resource table and what it holds go.
        self.capabilities.abandon();
        self.output.finish();
    }
}

/// What a store is for.
pub struct StoreSpec<'a> {
    pub plugin: &'a Arc<str>,
    pub grants: &'a Grants,
    pub limits: Limits,
    pub metering: Metering,
    /// The project root on the host, for calls that run in a project.
    pub project_root: Option<&'a Path>,
    /// How the project's commands are confined, for calls that run in a project.
    pub sandbox: Option<&'a Arc<Sandbox>>,
    /// Who is calling, and who answers: `None` for calls with nobody to ask (a provider's).
    pub caller: Option<(&'a Arc<CallInfo>, &'a Arc<dyn CallHandler>)>,
}

impl<'a> StoreSpec<'a> {
    /// A store outside any project, with nobody to ask: a provider's, a formatter's.
    pub fn isolated(plugin: &'a Arc<str>, grants: &'a Grants, limits: Limits, metering: Metering) -> Self {
        Self {
            plugin,
            grants,
            limits,
            metering,
            project_root: None,
            sandbox: None,
            caller: None,
        }
    }
}

/// Builds stores: the engine and the capabilities' runtime-wide parts.
pub struct Stores {
    engine: Engine,
    capabilities: Capabilities,
    /// The handler of calls that have nobody to ask.
    no_asking: Arc<dyn CallHandler>,
}

impl Stores {
    pub fn new(engine: &Engine) -> Result<Self, SetupError> {
        Ok(Self {
            engine: engine.clone(),
            capabilities: Capabilities::new()?,
            no_asking: Arc::new(NoAsking),
        })
    }

    pub fn new_store(&self, spec: StoreSpec<'_>) -> Result<Store<StoreState>, SetupError> {
        let plugin_only;
        let (call, handler) = match spec.caller {
            Some(caller) => caller,
            None => {
                plugin_only = Arc::new(CallInfo::plugin_only(spec.plugin));
                (&plugin_only, &self.no_asking)
            }
        };
        let store_for = StoreFor {
            plugin: spec.plugin,
            grants: spec.grants,
            project_root: spec.project_root,
            sandbox: spec.sandbox,
            call,
            handler,
        };
        let output = GuestOutput::new(spec.plugin, &call.tool);
        let mut wasi = wasi::context(&output);
        let capabilities = self.capabilities.prepare(&store_for, &mut wasi)?;
        let state = StoreState {
            table: ResourceTable::new(),
            wasi: wasi.build(),
            limiter: CallLimiter::new(spec.limits),
            meter: GuestMeter::new(spec.metering, spec.limits.timeout()),
            output,
            capabilities,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limiter);
        if spec.metering == Metering::GuestCode {
            store.call_hook(|mut ctx, hook| {
                ctx.data_mut().meter.on_call_hook(hook);
                Ok(())
            });
        }
        // The epoch ticks every `EPOCH_TICK`; at each tick the guest yields to the executor (so a
        // cancelled call is dropped promptly) or stops once its time is up.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|ctx| {
            if ctx.data().meter.exceeded() {
                Ok(UpdateDeadline::Interrupt)
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        Ok(store)
    }
}

/// The linker of the `tool-plugin` world.
pub fn tool_linker(engine: &Engine) -> wasmtime::Result<Linker<StoreState>> {
    let mut linker = Linker::new(engine);
    wasi::link(&mut linker)?;
    capability::link_tool_world(&mut linker)?;
    Ok(linker)
}

/// The linker of the `formatter-plugin` world.
pub fn formatter_linker(engine: &Engine) -> wasmtime::Result<Linker<StoreState>> {
    let mut linker = Linker::new(engine);
    wasi::link(&mut linker)?;
    capability::link_formatter_world(&mut linker)?;
    Ok(linker)
}

/// The linker of the `provider-plugin` world.
pub fn provider_linker(engine: &Engine) -> wasmtime::Result<Linker<StoreState>> {
    let mut linker = Linker::new(engine);
    wasi::link(&mut linker)?;
    capability::link_provider_world(&mut linker)?;
    Ok(linker)
}
