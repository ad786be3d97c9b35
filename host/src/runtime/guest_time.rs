//! Guest time measured from the store's call hooks: the clock runs only while WebAssembly code
//! executes, and stops whenever the guest calls into the host (a network read, a poll) or
//! returns to it. A provider stream lives for minutes, mostly waiting on the upstream or on its
//! consumer, so neither wall time nor "wall time minus known waits" would do: only the time its
//! code actually runs may count against its deadline.

use std::time::{Duration, Instant};

use wasmtime::CallHook;

#[derive(Debug)]
pub struct GuestTime {
    budget: Duration,
    spent: Duration,
    /// When the guest last started running, while it runs.
    running_since: Option<Instant>,
}

impl GuestTime {
    pub fn new(budget: Duration) -> Self {
        Self {
            budget,
            spent: Duration::ZERO,
            running_since: None,
        }
    }

    /// Follows a transition between host and guest (the store's call hook).
    pub fn on(&mut self, hook: CallHook) {
        match hook {
            CallHook::CallingWasm | CallHook::ReturningFromHost => {
                self.running_since = Some(Instant::now());
            }
            CallHook::CallingHost | CallHook::ReturningFromWasm => {
                if let Some(since) = self.running_since.take() {
                    self.spent += since.elapsed();
                }
            }
        }
    }

    /// Guest time used so far, the current run included.
    pub fn spent(&self) -> Duration {
        self.spent + self.running_since.map_or(Duration::ZERO, |since| since.elapsed())
    }

    pub fn exceeded(&self) -> bool {
        self.spent() > self.budget
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_only_time_in_the_guest() {
        let mut time = GuestTime::new(Duration::from_millis(30));
        time.on(CallHook::CallingWasm);
        std::thread::sleep(Duration::from_millis(20));
        time.on(CallHook::CallingHost);
        // A long wait in the host is not guest time.
        std::thread::sleep(Duration::from_millis(50));
        assert!(!time.exceeded());
        time.on(CallHook::ReturningFromHost);
        std::thread::sleep(Duration::from_millis(5));
        time.on(CallHook::ReturningFromWasm);
        let spent = time.spent();
        assert!(
            spent >= Duration::from_millis(25) && spent < Duration::from_millis(60),
            "{spent:?}"
        );
        // Between calls nothing runs either.
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(time.spent(), spent);
        time.on(CallHook::CallingWasm);
        std::thread::sleep(Duration::from_millis(10));
        assert!(time.exceeded());
    }
}
