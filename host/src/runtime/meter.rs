//! The guest-time meter behind every deadline: a stopwatch over the time a plugin's call is
//! charged for, checked by the store's epoch callback.
//!
//! What runs the stopwatch is the store's [`Metering`]:
//!
//! - [`Metering::WallClock`] (tool calls): it runs from the store's creation, so the guest is
//!   charged for its own code and for the host work it asks for (file reads, `wasi:http` waits,
//!   sleeps), but not for the host waits that are someone else's time: a permission answer or a
//!   child process, awaited through [`GuestMeter::suspended`].
//! - [`Metering::GuestCode`] (provider streams): it runs only while WebAssembly code executes,
//!   driven by the store's call hook. A stream lives for minutes, mostly waiting on the upstream or
//!   on its reader, and only the time its code actually runs may count against its deadline.
//!
//! The meter only measures; stopping the guest is the epoch callback's job (`store.rs`).

use std::time::{Duration, Instant};

use wasmtime::CallHook;

/// What a store's guest is charged for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metering {
    /// Everything from the store's creation on, except host waits awaited through
    /// [`GuestMeter::suspended`].
    WallClock,
    /// Only the time WebAssembly code runs.
    GuestCode,
}

#[derive(Debug)]
pub struct GuestMeter {
    budget: Duration,
    /// Charged time of the finished runs.
    spent: Duration,
    /// When the current run started, while the stopwatch runs.
    running_since: Option<Instant>,
    /// Inside a bracketed export call: only host imports pause the stopwatch.
    in_export_call: bool,
}

impl GuestMeter {
    /// A meter with `budget`, running at once for [`Metering::WallClock`], and from the first call
    /// into the guest for [`Metering::GuestCode`].
    pub fn new(metering: Metering, budget: Duration) -> Self {
        let running_since = match metering {
            Metering::WallClock => Some(Instant::now()),
            Metering::GuestCode => None,
        };
        Self {
            budget,
            spent: Duration::ZERO,
            running_since,
            in_export_call: false,
        }
    }

    /// Follows a transition between host and guest (the store's call hook, for
    /// [`Metering::GuestCode`]).
    pub fn on_call_hook(&mut self, hook: CallHook) {
        if self.in_export_call {
            match hook {
                CallHook::CallingHost => {
                    self.pause();
                }
                CallHook::ReturningFromHost => self.resume(),
                // The host's own calls into the guest within the export call (allocations for
                // its arguments and results): the stopwatch already runs.
                CallHook::CallingWasm | CallHook::ReturningFromWasm => {}
            }
        } else if hook.exiting_host() {
            self.resume();
        } else {
            self.pause();
        }
    }

    /// The host is about to call one of the guest's exports: charged from now to
    /// [`GuestMeter::end_export_call`], but for the guest's waits in host imports.
    pub fn begin_export_call(&mut self) {
        self.in_export_call = true;
        self.resume();
    }

    /// The export call returned (or failed).
    pub fn end_export_call(&mut self) {
        self.in_export_call = false;
        self.pause();
    }

    /// Awaits `future` without charging its duration to the guest.
    pub async fn suspended<T>(&mut self, future: impl Future<Output = T>) -> T {
        let was_running = self.pause();
        let out = future.await;
        if was_running {
            self.resume();
        }
        out
    }

    /// Charged time so far, the current run included.
    pub fn spent(&self) -> Duration {
        self.spent + self.running_since.map_or(Duration::ZERO, |since| since.elapsed())
    }

    pub fn exceeded(&self) -> bool {
        self.spent() > self.budget
    }

    fn resume(&mut self) {
        if self.running_since.is_none() {
            self.running_since = Some(Instant::now());
        }
    }

    /// Stops the stopwatch; whether it was running.
    fn pause(&mut self) -> bool {
        match self.running_since.take() {
            Some(since) => {
                self.spent += since.elapsed();
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sleep(ms: u64) {
        std::thread::sleep(Duration::from_millis(ms));
    }

    #[test]
    fn guest_code_metering_counts_only_time_in_the_guest() {
        let mut meter = GuestMeter::new(Metering::GuestCode, Duration::from_millis(30));
        // Nothing runs before the first call into the guest.
        sleep(20);
        assert_eq!(meter.spent(), Duration::ZERO);
        meter.on_call_hook(CallHook::CallingWasm);
        sleep(20);
        meter.on_call_hook(CallHook::CallingHost);
        // A long wait in the host is not guest time.
        sleep(50);
        assert!(!meter.exceeded());
        meter.on_call_hook(CallHook::ReturningFromHost);
        sleep(5);
        meter.on_call_hook(CallHook::ReturningFromWasm);
        charged_about_25ms_then_idle_until_the_next_call(&mut meter);
    }

    #[test]
    fn a_bracketed_export_call_is_charged_but_for_its_waits_in_host_imports() {
        let mut meter = GuestMeter::new(Metering::GuestCode, Duration::from_millis(30));
        meter.begin_export_call();
        // The host lowering the arguments calls into the guest and back: still charged.
        meter.on_call_hook(CallHook::CallingWasm);
        meter.on_call_hook(CallHook::ReturningFromWasm);
        sleep(10);
        meter.on_call_hook(CallHook::CallingWasm);
        sleep(10);
        // The guest waits in a host import: not charged.
        meter.on_call_hook(CallHook::CallingHost);
        sleep(50);
        meter.on_call_hook(CallHook::ReturningFromHost);
        sleep(5);
        meter.on_call_hook(CallHook::ReturningFromWasm);
        meter.end_export_call();
        charged_about_25ms_then_idle_until_the_next_call(&mut meter);
    }

    /// The end of a 30 ms-budget call charged 25 ms: nothing is charged between calls, and the
    /// next (unbracketed) call exceeds the budget.
    fn charged_about_25ms_then_idle_until_the_next_call(meter: &mut GuestMeter) {
        let spent = meter.spent();
        assert!(
            spent >= Duration::from_millis(25) && spent < Duration::from_millis(60),
            "{spent:?}"
        );
        sleep(20);
        assert_eq!(meter.spent(), spent);
        meter.on_call_hook(CallHook::CallingWasm);
        sleep(10);
        assert!(meter.exceeded());
    }

    #[tokio::test]
    async fn wall_clock_metering_counts_everything_but_suspended_waits() {
        let mut meter = GuestMeter::new(Metering::WallClock, Duration::from_millis(40));
        sleep(20);
        // A permission answer or a child process is someone else's time.
        meter
            .suspended(tokio::time::sleep(Duration::from_millis(60)))
            .await;
        let spent = meter.spent();
        assert!(
            spent >= Duration::from_millis(20) && spent < Duration::from_millis(40),
            "{spent:?}"
        );
        assert!(!meter.exceeded());
        sleep(25);
        assert!(meter.exceeded());
    }

    #[tokio::test]
    async fn a_wait_suspended_inside_a_host_call_stays_uncharged() {
        let mut meter = GuestMeter::new(Metering::GuestCode, Duration::from_secs(1));
        meter.on_call_hook(CallHook::CallingWasm);
        meter.on_call_hook(CallHook::CallingHost);
        let before = meter.spent();
        meter
            .suspended(tokio::time::sleep(Duration::from_millis(20)))
            .await;
        // Still in the host: the stopwatch must not have been restarted by the suspension.
        sleep(20);
        assert_eq!(meter.spent(), before);
    }
}
