//! How guest code failed to return, whoever called it: a deadline interrupt, an allocation
//! failure after a refused `memory.grow`, a full instance pool, or a plain guest crash. Tool calls
//! and provider calls turn a [`GuestFault`] into their own error types.

use wasmtime::Trap;

pub enum GuestFault {
    Timeout,
    OutOfMemory { requested: usize },
    Busy,
    Trap(String),
}

/// Classifies `error`, given the size of a `memory.grow` the store's limiter refused, if any.
pub fn classify(error: &wasmtime::Error, refused_memory: Option<usize>) -> GuestFault {
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
    GuestFault::Trap(trap_reason(error))
}

/// The trap's message plus the first frames of the guest backtrace, without the noise of the
/// full chain.
pub fn trap_reason(error: &wasmtime::Error) -> String {
    match error.downcast_ref::<Trap>() {
        Some(trap) => {
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
            if frames.is_empty() {
                trap.to_string()
            } else {
                format!("{trap} (in {frames})")
            }
        }
        None => format!("{error:#}"),
    }
}
