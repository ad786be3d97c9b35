//! How guest code failed to return, whoever called it: a deadline interrupt, an allocation
//! failure after a refused `memory.grow`, a full instance pool, or a plain guest crash. Tool calls
//! and provider calls turn a [`GuestFault`] into their own error types.

use wasmtime::Trap;

use super::store::StoreState;

pub enum GuestFault {
    Timeout,
    OutOfMemory { requested: usize },
    Busy,
    Trap(String),
}

/// Classifies `error`, raised in the store whose state is `state` (the size of a `memory.grow`
/// its limiter refused, what its guest printed).
pub fn classify(error: &wasmtime::Error, state: &StoreState) -> GuestFault {
    let refused_memory = state.limiter.refused_memory;
    if matches!(error.downcast_ref::<Trap>(), Some(Trap::Interrupt)) {
        return GuestFault::Timeout;
    }
    if let Some(requested) = refused_memory {
        return GuestFault::OutOfMemory { requested };
    }
    if error
        .downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
        .is_some()
    {
        return GuestFault::Busy;
    }
    GuestFault::Trap(guest_trap_reason(error, state))
}

/// [`trap_reason`], followed by what the guest printed last on stderr that explains it (a Rust
/// panic's message, a Python exception, a JavaScript error), where it printed something.
pub fn guest_trap_reason(error: &wasmtime::Error, state: &StoreState) -> String {
    let reason = trap_reason(error);
    match state.output.last_words() {
        Some(words) => format!("{reason}; the plugin printed: {words}"),
        None => reason,
    }
}

/// The trap's message (or, for an error the host raised inside a guest call, such as dropping a
/// WASI resource before its children, the root cause) plus the first frames of the guest
/// backtrace, without the noise of the full chain.
pub fn trap_reason(error: &wasmtime::Error) -> String {
    let frames = error
        .downcast_ref::<wasmtime::WasmBacktrace>()
        .map(|bt| {
            bt.frames()
                .iter()
                .filter_map(|f| f.func_name())
                .take(3)
                .collect::<Vec<_>>()
                .join(" <- ")
        })
        .unwrap_or_default();
    let what = match error.downcast_ref::<Trap>() {
        Some(trap) => trap.to_string(),
        None if frames.is_empty() => format!("{error:#}"),
        None => error.root_cause().to_string(),
    };
    if frames.is_empty() {
        what
    } else {
        format!("{what} (in {frames})")
    }
}
