//! The data of a provider's `Store`: a WASI context with no filesystem, no environment, no
//! sockets and no process; `wasi:http` behind an allowlist of exactly the authorities the call
//! may reach; memory limits; and the guest-time meter behind the deadline.

use std::collections::BTreeSet;
use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, Store, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::super::bindings::tool::wasmcode::plugin::{host, types};
use super::super::grants::HttpPolicy;
use super::super::guest_time::GuestTime;
use super::super::limits::{CallLimiter, Limits};

pub struct ProviderState {
    plugin: Arc<str>,
    wasi: WasiCtx,
    table: ResourceTable,
    http: WasiHttpCtx,
    http_policy: HttpPolicy,
    pub(super) limiter: CallLimiter,
    time: GuestTime,
}

impl WasiView for ProviderState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for ProviderState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.http_policy,
        }
    }
}

/// The imports a provider may use: WASI (with nothing granted but clocks and randomness),
/// `wasi:http` (checked per request by [`HttpPolicy`]) and the `host` interface.
pub(in crate::runtime) fn linker(engine: &Engine) -> wasmtime::Result<Linker<ProviderState>> {
    let mut linker = Linker::<ProviderState>::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    host::add_to_linker::<_, HasSelf<ProviderState>>(&mut linker, |state| state)?;
    Ok(linker)
}

/// A store for one provider call (or one whole stream) that may reach `allowed` authorities.
pub(super) fn new_store(
    engine: &Engine,
    plugin: &Arc<str>,
    limits: Limits,
    allowed: BTreeSet<String>,
) -> Store<ProviderState> {
    let mut wasi = WasiCtxBuilder::new();
    wasi.allow_tcp(false).allow_udp(false).allow_ip_name_lookup(false);
    let state = ProviderState {
        plugin: plugin.clone(),
        wasi: wasi.build(),
        table: ResourceTable::new(),
        http: WasiHttpCtx::new(),
        http_policy: HttpPolicy::new(plugin.clone(), allowed),
        limiter: CallLimiter::new(limits),
        time: GuestTime::new(limits.timeout()),
    };
    let mut store = Store::new(engine, state);
    store.limiter(|state| &mut state.limiter);
    // The clock runs only while guest code does: a stream spends most of its life waiting for the
    // upstream or for its reader, and that must not count against the deadline.
    store.call_hook(|mut ctx, hook| {
        ctx.data_mut().time.on(hook);
        Ok(())
    });
    // At each epoch tick the guest yields to the executor (so a dropped stream goes promptly) or
    // stops once its time is up.
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|ctx| {
        if ctx.data().time.exceeded() {
            Ok(UpdateDeadline::Interrupt)
        } else {
            Ok(UpdateDeadline::Yield(1))
        }
    });
    store
}

impl host::Host for ProviderState {
    async fn log(&mut self, level: types::LogLevel, message: String) {
        let plugin = &*self.plugin;
        match level {
            types::LogLevel::Trace => tracing::trace!(plugin, "{message}"),
            types::LogLevel::Debug => tracing::debug!(plugin, "{message}"),
            types::LogLevel::Info => tracing::info!(plugin, "{message}"),
            types::LogLevel::Warn => tracing::warn!(plugin, "{message}"),
            types::LogLevel::Error => tracing::error!(plugin, "{message}"),
        }
    }

    /// Providers talk to their API and nothing else: there is nobody to ask.
    async fn ask_permission(
        &mut self,
        request: host::PermissionRequest,
    ) -> Result<(), host::PermissionDenied> {
        Err(host::PermissionDenied::Denied(format!(
            "provider plugins cannot ask for permissions (`{}` asked by `{}`)",
            request.permission, self.plugin
        )))
    }

    /// There is no running tool call to show progress on.
    async fn progress(&mut self, _title: String, _metadata_json: String) {}
}

impl types::Host for ProviderState {}
