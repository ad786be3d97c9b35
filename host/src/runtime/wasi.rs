//! The WASI floor every plugin gets, granted or not: `wasi:io`, `wasi:clocks`, `wasi:random`,
//! and `wasi:cli` with nothing inherited (no environment, no arguments, empty stdin; stdout and
//! stderr go to the server's log, see `output.rs`), plus `wasi:sockets`, linked so that toolchains importing it still load, but
//! refusing every socket and every name lookup.
//!
//! This is everything `wasmtime_wasi::p2::add_to_linker_async` links except `wasi:filesystem`,
//! which is a capability of its own (`capability/filesystem.rs`). Nothing here may depend on a
//! grant: what a grant opens belongs to its capability.

use wasmtime::component::{HasData, Linker, ResourceTable};
use wasmtime_wasi::cli::{WasiCli, WasiCliView};
use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView};
use wasmtime_wasi::p2::bindings::{cli, clocks, io, random, sockets};
use wasmtime_wasi::random::{WasiRandom, WasiRandomView};
use wasmtime_wasi::sockets::{WasiSockets, WasiSocketsView};
use wasmtime_wasi::{WasiCtxBuilder, WasiCtxView, WasiView};

use super::output::GuestOutput;
use super::store::StoreState;

impl WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// `wasi:io` works on the resource table alone.
struct Io;

impl HasData for Io {
    type Data<'a> = &'a mut ResourceTable;
}

/// A WASI context with nothing inherited and no network, its stdout and stderr `output`'s;
/// capabilities add to it.
pub fn context(output: &GuestOutput) -> WasiCtxBuilder {
    let mut builder = WasiCtxBuilder::new();
    builder
        .stdout(output.stdout())
        .stderr(output.stderr())
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false);
    builder
}

/// Links the floor into `linker`.
pub fn link(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    let l = linker;
    io::error::add_to_linker::<StoreState, Io>(l, |state| &mut state.table)?;
    io::poll::add_to_linker::<StoreState, Io>(l, |state| &mut state.table)?;
    io::streams::add_to_linker::<StoreState, Io>(l, |state| &mut state.table)?;

    clocks::wall_clock::add_to_linker::<StoreState, WasiClocks>(l, |state| state.clocks())?;
    clocks::monotonic_clock::add_to_linker::<StoreState, WasiClocks>(l, |state| state.clocks())?;

    random::random::add_to_linker::<StoreState, WasiRandom>(l, |state| state.random())?;
    random::insecure::add_to_linker::<StoreState, WasiRandom>(l, |state| state.random())?;
    random::insecure_seed::add_to_linker::<StoreState, WasiRandom>(l, |state| state.random())?;

    cli::exit::add_to_linker::<StoreState, WasiCli>(l, |state| state.cli())?;
    cli::environment::add_to_linker::<StoreState, WasiCli>(l, |state| state.cli())?;
    cli::stdin::add_to_linker::<StoreState, WasiCli>(l, |state| state.cli())?;
    cli::stdout::add_to_linker::<StoreState, WasiCli>(l, |state| state.cli())?;
    cli::stderr::add_to_linker::<StoreState, WasiCli>(l, |state| state.cli())?;
    cli::terminal_input::add_to_linker::<StoreState, WasiCli>(l, |state| state.cli())?;
    cli::terminal_output::add_to_linker::<StoreState, WasiCli>(l, |state| state.cli())?;
    cli::terminal_stdin::add_to_linker::<StoreState, WasiCli>(l, |state| state.cli())?;
    cli::terminal_stdout::add_to_linker::<StoreState, WasiCli>(l, |state| state.cli())?;
    cli::terminal_stderr::add_to_linker::<StoreState, WasiCli>(l, |state| state.cli())?;

    let options = wasmtime_wasi::p2::bindings::LinkOptions::default();
    sockets::tcp_create_socket::add_to_linker::<StoreState, WasiSockets>(l, |state| state.sockets())?;
    sockets::instance_network::add_to_linker::<StoreState, WasiSockets>(l, |state| state.sockets())?;
    sockets::network::add_to_linker::<StoreState, WasiSockets>(l, &(&options).into(), |state| {
        state.sockets()
    })?;
    sockets::ip_name_lookup::add_to_linker::<StoreState, WasiSockets>(l, |state| state.sockets())?;
    sockets::tcp::add_to_linker::<StoreState, WasiSockets>(l, |state| state.sockets())?;
    sockets::udp::add_to_linker::<StoreState, WasiSockets>(l, |state| state.sockets())?;
    sockets::udp_create_socket::add_to_linker::<StoreState, WasiSockets>(l, |state| state.sockets())?;
    Ok(())
}
