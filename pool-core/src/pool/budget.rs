//! The retry budget of one host: how many of its recent requests the engine may resend
//! after a stale connection.
//!
//! The engine resends an idempotent request that failed on a reused connection before
//! any response byte (the server closed the connection as the request went out). That
//! is right for one stale connection, and wrong for a server that is dying: if every
//! connection fails, every request is sent twice and the server gets twice the load
//! just when it can least take it. The budget caps resends at a fraction of the host's
//! recent requests (`retry_budget`), with a small floor ([`MIN_RETRIES`]) so that a
//! client sending few requests can still recover from a stale connection — the shape of
//! Finagle's `RetryBudget` and Envoy's `retry_budget`.
//!
//! "Recent" is two fixed windows of [`BUDGET_WINDOW`]: the current one and the one
//! before it, so the budget covers the last 10 to 20 seconds and a burst at a window's
//! start is not forgotten at once. Counting is two additions per request; nothing is
//! stored per request.
//!
//! It does not decide *whether* a request may be resent (idempotent, no response byte,
//! retries left): the engine does, then asks the budget.

use std::time::{Duration, Instant};

/// The length of one counting window.
pub(crate) const BUDGET_WINDOW: Duration = Duration::from_secs(10);

/// Resends allowed in the recent windows whatever the request count: enough for a quiet
/// client to get past a few stale connections, too few to double any real load.
pub(crate) const MIN_RETRIES: u64 = 10;

/// Requests and resends counted in one window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Window {
    requests: u64,
    retries: u64,
}

/// One host's budget. See the module docs.
#[derive(Clone, Debug, Default)]
pub(crate) struct RetryBudget {
    /// When the current window started; `None` before the first request.
    started: Option<Instant>,
    current: Window,
    previous: Window,
}

impl RetryBudget {
    /// Moves the windows on to `now`.
    fn roll(&mut self, now: Instant) {
        let Some(started) = self.started else {
            self.started = Some(now);
            return;
        };
        let elapsed = now.saturating_duration_since(started);
        if elapsed < BUDGET_WINDOW {
            return;
        }
        self.previous = if elapsed < BUDGET_WINDOW * 2 {
            self.current
        } else {
            Window::default()
        };
        self.current = Window::default();
        self.started = Some(now);
    }

    /// A request was submitted at `now`.
    pub(crate) fn on_request(&mut self, now: Instant) {
        self.roll(now);
        self.current.requests += 1;
    }

    /// Whether a resend may go out at `now` with `ratio` of the recent requests allowed
    /// as resends; if so, it is counted.
    pub(crate) fn try_retry(&mut self, now: Instant, ratio: f64) -> bool {
        self.roll(now);
        let requests = self.previous.requests + self.current.requests;
        let retries = self.previous.retries + self.current.retries;
        // `validate` keeps the ratio in 0..=1; the product fits in f64 and saturates
        // when cast back.
        let allowed = MIN_RETRIES.saturating_add((ratio.clamp(0.0, 1.0) * requests as f64) as u64);
        if retries >= allowed {
            return false;
        }
        self.current.retries += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn a_fraction_of_recent_requests_above_a_floor() {
        let t0 = Instant::now();
        let mut b = RetryBudget::default();
        for _ in 0..1000 {
            b.on_request(t0);
        }
        // 10 % of 1000 plus the floor of 10.
        let granted = (0..500).filter(|_| b.try_retry(at(t0, 1), 0.1)).count();
        assert_eq!(granted, 110);
        // More requests make room for more resends.
        for _ in 0..100 {
            b.on_request(at(t0, 2));
        }
        assert_eq!((0..500).filter(|_| b.try_retry(at(t0, 3), 0.1)).count(), 10);
    }

    #[test]
    fn the_floor_lets_a_quiet_client_retry() {
        let t0 = Instant::now();
        let mut b = RetryBudget::default();
        b.on_request(t0);
        let granted = (0..100).filter(|_| b.try_retry(t0, 0.0)).count();
        assert_eq!(granted as u64, MIN_RETRIES);
    }

    #[test]
    fn old_windows_are_forgotten() {
        let t0 = Instant::now();
        let mut b = RetryBudget::default();
        for _ in 0..100 {
            b.on_request(t0);
        }
        assert_eq!((0..100).filter(|_| b.try_retry(t0, 0.5)).count(), 60);
        // One window later the previous window still counts (requests and resends).
        let later = at(t0, 10_000);
        assert!(!b.try_retry(later, 0.5));
        // Two windows of silence later both are gone: the floor again.
        let much_later = at(t0, 30_000);
        assert_eq!(
            (0..100).filter(|_| b.try_retry(much_later, 0.5)).count() as u64,
            MIN_RETRIES
        );
    }
}
