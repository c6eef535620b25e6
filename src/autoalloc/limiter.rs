//! Rate limiting of a queue's submissions: successive submission failures and successive failed
//! allocations raise the delay before the next attempt through fixed levels; success resets it.

use serde::{Deserialize, Serialize};

/// Delays (ms) of the levels: 0, 1 min, 15 min, 30 min, 1 h.
pub const DEFAULT_DELAYS_MS: [u64; 5] = [0, 60_000, 900_000, 1_800_000, 3_600_000];

/// Thresholds and delays; the defaults are the spec's, tests shorten them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitsConfig {
    /// Pause the queue after this many submission failures in a row.
    pub max_submission_fails: u32,
    /// Pause the queue after this many failed allocations in a row.
    pub max_allocation_fails: u32,
    pub delays_ms: Vec<u64>,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_submission_fails: 10,
            max_allocation_fails: 3,
            delays_ms: DEFAULT_DELAYS_MS.to_vec(),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RateLimiter {
    level: usize,
    /// Submission failures in a row.
    pub submission_fails: u32,
    /// Failed allocations in a row.
    pub allocation_fails: u32,
    /// No submission before this time (ms since the epoch).
    pub next_attempt_ms: u64,
}

impl RateLimiter {
    fn raise(&mut self, now: u64, delays: &[u64]) {
        self.level = (self.level + 1).min(delays.len().saturating_sub(1));
        self.next_attempt_ms = now + delays.get(self.level).copied().unwrap_or(0);
    }

    fn reset(&mut self, now: u64) {
        self.level = 0;
        self.next_attempt_ms = now;
    }

    pub fn on_submission_failure(&mut self, now: u64, delays: &[u64]) {
        self.submission_fails += 1;
        self.raise(now, delays);
    }

    /// A submission went through; the delay resets unless allocations keep failing.
    pub fn on_submission_success(&mut self, now: u64) {
        self.submission_fails = 0;
        if self.allocation_fails == 0 {
            self.reset(now);
        }
    }

    pub fn on_allocation_failure(&mut self, now: u64, delays: &[u64]) {
        self.allocation_fails += 1;
        self.raise(now, delays);
    }

    pub fn on_allocation_success(&mut self, now: u64) {
        self.allocation_fails = 0;
        self.submission_fails = 0;
        self.reset(now);
    }

    /// `hq alloc resume`: start afresh.
    pub fn clear(&mut self, now: u64) {
        *self = RateLimiter::default();
        self.next_attempt_ms = now;
    }

    /// The time until which submissions wait, if that is in the future.
    pub fn limited_until(&self, now: u64) -> Option<u64> {
        (self.next_attempt_ms > now).then_some(self.next_attempt_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_climb_the_levels_and_success_resets() {
        let d = DEFAULT_DELAYS_MS;
        let mut l = RateLimiter::default();
        assert_eq!(l.limited_until(0), None);
        l.on_submission_failure(1000, &d);
        assert_eq!(l.limited_until(1000), Some(61_000));
        l.on_submission_failure(61_000, &d);
        assert_eq!(l.limited_until(61_000), Some(961_000));
        for _ in 0..10 {
            l.on_submission_failure(0, &d);
        }
        assert_eq!(l.limited_until(0), Some(3_600_000));
        assert_eq!(l.submission_fails, 12);
        l.on_submission_success(5);
        assert_eq!((l.limited_until(5), l.submission_fails), (None, 0));
    }

    #[test]
    fn a_submission_does_not_reset_while_allocations_fail() {
        let d = DEFAULT_DELAYS_MS;
        let mut l = RateLimiter::default();
        l.on_allocation_failure(0, &d);
        l.on_submission_success(10);
        assert_eq!(l.limited_until(10), Some(60_000));
        l.on_allocation_success(20);
        assert_eq!((l.limited_until(20), l.allocation_fails), (None, 0));
    }
}
