//! Test fixture `fixture-trap-on-init`: a valid tool component whose *instantiation* traps.
//!
//! A function registered in `.init_array` becomes one of the core module's static constructors,
//! which the linker-made `__wasm_call_ctors` runs. A Rust `cdylib` has no `_initialize` of its own
//! (the wit-bindgen glue runs the constructors lazily, at the first export call, which would make
//! this trap at `describe` instead), so the crate exports one that calls `__wasm_call_ctors`.
//! wit-component (inside `wasm-component-ld`) turns an exported `_initialize` into a start
//! function of the component, so the host sees the trap from `instantiate`, before any export
//! is called: "wasm trap: wasm `unreachable` instruction executed", with the backtrace
//! `trap_during_instantiation` <- `__wasm_call_ctors` <- `_initialize`.

use serde::Deserialize;
use wasmcode_plugin::{Context, JsonSchema, Output, Tool, ToolError, export_tools};

/// The static constructor that traps and the entry point that runs it: what this fixture is for.
#[allow(
    unsafe_code,
    reason = "placing a function in `.init_array`, exporting an unmangled `_initialize` and calling \
              the linker's `__wasm_call_ctors` can only be written with `unsafe`"
)]
mod init {
    extern "C" fn trap_during_instantiation() {
        core::arch::wasm32::unreachable()
    }

    #[used]
    #[unsafe(link_section = ".init_array")]
    static TRAP_ON_INIT: extern "C" fn() = trap_during_instantiation;

    unsafe extern "C" {
        /// Synthesized by the linker: runs every `.init_array` entry.
        fn __wasm_call_ctors();
    }

    /// The reactor entry point, called by the component while it is instantiated.
    #[unsafe(no_mangle)]
    pub extern "C" fn _initialize() {
        // SAFETY: `__wasm_call_ctors` takes no arguments and only runs the static constructors.
        unsafe { __wasm_call_ctors() }
    }
}

#[derive(Deserialize, JsonSchema)]
pub struct NoArgs {}

/// A tool that is never reached: instantiation traps first.
pub struct Unreachable;

impl Tool for Unreachable {
    const ID: &'static str = "unreachable";
    const DESCRIPTION: &'static str = "Never runs: the component traps while it is instantiated.";
    type Args = NoArgs;

    fn execute(_args: NoArgs, _ctx: &Context) -> Result<Output, ToolError> {
        Ok(Output::new("unreachable", "instantiation did not trap"))
    }
}

export_tools!(Unreachable);
