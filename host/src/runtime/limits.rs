//! Per-call resource limits and the memory limiter that enforces them.

use std::time::Duration;

use serde::Deserialize;
use wasmtime::ResourceLimiter;

/// What one tool call, or one provider stream, may use. Defaults suit the first-party plugins;
/// the operator can change them per plugin in configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Limits {
    /// Wall-clock time the guest may spend running, in milliseconds. Time the call spends
    /// suspended in the host (waiting for a permission answer or a child process) does not count.
    /// For a provider this covers a whole stream and counts only the time its code runs: waits
    /// for the network or for the stream's reader do not count (see `meter.rs`).
    pub timeout_ms: u64,
    /// Bytes of linear memory, per memory.
    pub memory_bytes: u64,
    /// Table elements per table.
    pub table_elements: u32,
    /// Core instances in the component.
    pub instances: u32,
    /// Tables in the component.
    pub tables: u32,
    /// Linear memories in the component.
    pub memories: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            timeout_ms: 30_000,
            memory_bytes: 256 << 20,
            table_elements: 100_000,
            instances: 64,
            tables: 16,
            memories: 16,
        }
    }
}

impl Limits {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// Refuses growth past the limits and remembers the refusal, so a trap that follows an
/// out-of-memory condition can be reported as such rather than as a bare `unreachable`.
pub struct CallLimiter {
    limits: Limits,
    /// The size a refused `memory.grow` asked for.
    pub refused_memory: Option<usize>,
}

impl CallLimiter {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            refused_memory: None,
        }
    }
}

impl ResourceLimiter for CallLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired as u64 > self.limits.memory_bytes {
            self.refused_memory = Some(desired);
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= self.limits.table_elements as usize)
    }

    fn instances(&self) -> usize {
        self.limits.instances as usize
    }

    fn tables(&self) -> usize {
        self.limits.tables as usize
    }

    fn memories(&self) -> usize {
        self.limits.memories as usize
    }
}
