//! This process's CPU time and peak resident memory, from `getrusage(2)`.
//!
//! `getrusage(RUSAGE_SELF)` is the kernel's own accounting for the whole process: user
//! and system time of every thread, the ones that already exited included, in
//! microseconds (the kernel splits its precise runtime into user and system time by its
//! tick samples, the same split `time(1)` prints), and the peak resident set size
//! (`ru_maxrss`, KiB on Linux). The call goes through `nix`, so no `unsafe` here.
//!
//! A [`CpuUsage`] is the difference of two [`CpuSample`]s: what the process spent
//! between them.

use std::io;
use std::time::Duration;

use nix::sys::resource::{getrusage, UsageWho};
use nix::sys::time::TimeVal;

/// One reading of the process's counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuSample {
    user: Duration,
    sys: Duration,
    max_rss_kb: u64,
}

/// CPU time spent between two samples.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuUsage {
    /// Time running this process's code.
    pub user: Duration,
    /// Time in the kernel on this process's behalf (system calls, page faults).
    pub sys: Duration,
    /// `user + sys`.
    pub total: Duration,
}

/// The name the tools report as the source of their CPU figures.
pub const SOURCE: &str = "getrusage";

/// Reads the counters now.
pub fn sample() -> io::Result<CpuSample> {
    let usage = getrusage(UsageWho::RUSAGE_SELF).map_err(io::Error::from)?;
    Ok(CpuSample {
        user: duration(usage.user_time()),
        sys: duration(usage.system_time()),
        max_rss_kb: u64::try_from(usage.max_rss()).unwrap_or(0),
    })
}

/// Peak resident set size of this process so far, KiB (`ru_maxrss`).
pub fn peak_rss_kb() -> Option<u64> {
    sample().ok().map(|s| s.max_rss_kb)
}

impl CpuUsage {
    /// What was spent from `start` to `end` (samples of the same process).
    pub fn between(start: &CpuSample, end: &CpuSample) -> CpuUsage {
        let user = end.user.saturating_sub(start.user);
        let sys = end.sys.saturating_sub(start.sys);
        CpuUsage {
            user,
            sys,
            total: user + sys,
        }
    }
}

fn duration(tv: TimeVal) -> Duration {
    let secs = u64::try_from(tv.tv_sec()).unwrap_or(0);
    let micros = u32::try_from(tv.tv_usec()).unwrap_or(0);
    Duration::from_secs(secs) + Duration::from_micros(u64::from(micros))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_work_shows_up_as_user_time() {
        let a = sample().expect("getrusage");
        let mut x = 0u64;
        // Spin until the process has used 20 ms of CPU (not 20 ms of wall time: on a
        // busy machine this thread may get a fraction of a core), within a deadline.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let mut b = a;
        while CpuUsage::between(&a, &b).total < Duration::from_millis(20)
            && std::time::Instant::now() < deadline
        {
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
            b = sample().expect("getrusage");
        }
        let used = CpuUsage::between(&a, &b);
        assert!(used.total >= Duration::from_millis(20), "{used:?}");
        assert!(used.user > Duration::ZERO, "{used:?}");
        assert_eq!(used.total, used.user + used.sys);
        assert!(peak_rss_kb().is_some_and(|kb| kb > 0));
    }

    #[test]
    fn differences_never_go_negative() {
        let a = sample().expect("getrusage");
        assert_eq!(CpuUsage::between(&a, &a), CpuUsage::default());
        let later = CpuSample {
            user: a.user + Duration::from_millis(3),
            ..a
        };
        assert_eq!(CpuUsage::between(&later, &a).total, Duration::ZERO);
    }
}
