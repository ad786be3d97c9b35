//! When to try a failed model call again, and how long to wait first.

use std::time::Duration;

use crate::config::LoopSettings;

/// Attempts and delays of a model call (`wasmcode.session` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub attempts: u32,
    pub initial_delay: Duration,
    pub max_delay: Duration,
}

impl From<&LoopSettings> for RetryPolicy {
    fn from(settings: &LoopSettings) -> Self {
        Self {
            attempts: settings.retry_attempts.max(1),
            initial_delay: Duration::from_millis(settings.retry_initial_delay_ms),
            max_delay: Duration::from_millis(settings.retry_max_delay_ms),
        }
    }
}

impl RetryPolicy {
    /// The delay before retry `attempt` (1-based): exponential, or what the API asked for with
    /// `Retry-After`; capped at `max_delay` either way.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let exponential = self
            .initial_delay
            .saturating_mul(1u32.checked_shl(attempt.saturating_sub(1)).unwrap_or(u32::MAX));
        retry_after.unwrap_or(exponential).min(self.max_delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_and_honour_retry_after() {
        let policy = RetryPolicy {
            attempts: 8,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1_000),
        };
        let delays: Vec<u128> = (1..=6).map(|a| policy.delay(a, None).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1_000, 1_000]);
        assert_eq!(
            policy.delay(1, Some(Duration::from_millis(300))),
            Duration::from_millis(300)
        );
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(60))),
            Duration::from_millis(1_000)
        );
        assert_eq!(policy.delay(40, None), Duration::from_millis(1_000));
    }
}
