//! A one-line live progress line on stderr, drawn only when stderr is a terminal: the
//! one `loadgen` and `demo` share.
//!
//! Piped or redirected output (scripts, CI, `--json | jq`) gets no bar and no carriage
//! returns: [`Progress::new`] checks [`std::io::IsTerminal`] once, and every other call
//! is then a cheap no-op. The bar redraws at most every [`REDRAW_EVERY`], so a caller
//! may call [`Progress::update`] once per loop turn without measuring itself.

use std::io::{self, IsTerminal, Write};
use std::time::{Duration, Instant};

/// Minimum time between two redraws: fast enough to look live, slow enough to cost
/// nothing measurable.
pub const REDRAW_EVERY: Duration = Duration::from_millis(100);

/// Width of the bar in characters.
const BAR_WIDTH: usize = 30;

/// A progress bar for a run bounded by a count or by a duration.
#[derive(Debug)]
pub struct Progress {
    label: String,
    enabled: bool,
    started: Instant,
    next_draw: Instant,
}

impl Progress {
    /// A line that draws only if stderr is a terminal, starting with `label`.
    pub fn new(label: &str) -> Progress {
        Progress::with_enabled(label, io::stderr().is_terminal())
    }

    /// A line that draws only if `enabled`.
    pub fn with_enabled(label: &str, enabled: bool) -> Progress {
        let now = Instant::now();
        Progress {
            label: label.to_owned(),
            enabled,
            started: now,
            next_draw: now,
        }
    }

    /// Whether this bar draws at all.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Redraws if due: `done` requests so far, `errors` of them failed, `fraction` of
    /// the run done (0.0..=1.0).
    pub fn update(&mut self, done: u64, errors: u64, fraction: f64) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        if now < self.next_draw {
            return;
        }
        self.next_draw = now + REDRAW_EVERY;
        let secs = now.duration_since(self.started).as_secs_f64();
        let line = render(done, errors, fraction, secs);
        let mut err = io::stderr().lock();
        let _ = write!(err, "\r{}{line}", self.label);
        let _ = err.flush();
    }

    /// Erases the bar (call before printing results).
    pub fn finish(&mut self) {
        if self.enabled {
            let mut err = io::stderr().lock();
            let width = self.label.chars().count() + BAR_WIDTH + 60;
            let _ = write!(err, "\r{:width$}\r", "");
            let _ = err.flush();
            self.enabled = false;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The line's text: `[#######.......]  45%  45000 req  12.3 s  3658 req/s`, then
/// `  7 errors` when some failed.
fn render(done: u64, errors: u64, fraction: f64, secs: f64) -> String {
    let fraction = if fraction.is_finite() {
        fraction.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let filled = (fraction * BAR_WIDTH as f64).round() as usize;
    let rate = if secs > 0.0 { done as f64 / secs } else { 0.0 };
    let errors = if errors > 0 {
        format!("  {errors} errors")
    } else {
        String::new()
    };
    format!(
        "[{}{}] {:3.0}%  {done} req  {secs:.1} s  {rate:.0} req/s{errors}",
        "#".repeat(filled),
        ".".repeat(BAR_WIDTH - filled),
        fraction * 100.0,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_bounded_bar() {
        assert_eq!(
            render(50, 0, 0.5, 2.0),
            format!(
                "[{}{}]  50%  50 req  2.0 s  25 req/s",
                "#".repeat(15),
                ".".repeat(15)
            )
        );
        assert!(render(1, 0, 7.0, 0.0).starts_with(&format!("[{}]", "#".repeat(30))));
        assert!(render(1, 0, f64::NAN, 1.0).contains("  0%"));
        assert!(render(9, 3, 0.1, 1.0).ends_with("9 req/s  3 errors"));
    }

    #[test]
    fn disabled_bar_is_silent() {
        let mut p = Progress::with_enabled("x ", false);
        p.update(10, 0, 0.1);
        p.finish();
        assert!(!p.is_enabled());
    }
}
