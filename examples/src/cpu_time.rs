//! The CPU time this process spends, read from `/proc` with std only.
//!
//! `getrusage(RUSAGE_SELF)` would be the obvious source, but calling it needs `unsafe`
//! (through the `libc` crate), and the workspace forbids `unsafe_code`. Linux exposes
//! the same accounting in `/proc`, in two precisions:
//!
//! | source | what | resolution |
//! |---|---|---|
//! | `/proc/self/task/<tid>/schedstat`, field 1 | the thread's `sum_exec_runtime`: user + system time the scheduler measured | 1 ns |
//! | `/proc/self/stat`, fields 14 and 15 | the whole process's `utime`, `stime` (exited threads included) | one clock tick, `AT_CLKTCK` = 100 Hz: **10 ms** |
//!
//! A [`CpuUsage`] takes its **total** from `schedstat`, summed over the threads alive at
//! both samples: exact, as long as no thread that ran during the interval exits before
//! the second sample (the tools keep their threads alive until then; if one is missing,
//! the total falls back to the ticks and says so in [`CpuUsage::source`]). The **user /
//! system split** comes from the tick counts of `/proc/self/stat`, scaled so that user +
//! system = the exact total — the same thing the kernel does for `getrusage`
//! (`cputime_adjust`) — so the split is only as good as the number of 10 ms ticks in the
//! interval ([`CpuUsage::ticks`]): a 1 s run at 100 % CPU has 100, a 1 % error.
//!
//! Linux only. Elsewhere (or with `/proc` missing) [`sample`] returns an error and the
//! tools print no CPU figures.

use std::fs;
use std::io;
use std::time::Duration;

/// `AT_CLKTCK` in the auxiliary vector: the unit of `utime`/`stime` in `/proc/*/stat`.
const AT_CLKTCK: usize = 17;

/// The `USER_HZ` Linux uses on every mainstream architecture, if `/proc/self/auxv`
/// cannot be read.
const DEFAULT_CLK_TCK: u64 = 100;

/// One reading of the process's CPU counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuSample {
    /// `(tid, ns of CPU)` of every live thread; `None` if `schedstat` is unavailable
    /// (kernel built without `CONFIG_SCHED_INFO`).
    threads: Option<Vec<(u32, u64)>>,
    /// Process user time, in clock ticks.
    user_ticks: u64,
    /// Process system time, in clock ticks.
    sys_ticks: u64,
    /// Ticks per second.
    clk_tck: u64,
}

/// Where [`CpuUsage::total`] came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpuSource {
    /// Per-thread `schedstat`, nanoseconds.
    Schedstat,
    /// Clock ticks of `/proc/self/stat` (a thread exited, or no `schedstat`).
    Ticks,
}

impl CpuSource {
    /// Short name for reports.
    pub fn as_str(self) -> &'static str {
        match self {
            CpuSource::Schedstat => "schedstat",
            CpuSource::Ticks => "proc-stat-ticks",
        }
    }
}

/// CPU time spent between two samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuUsage {
    /// User + system time.
    pub total: Duration,
    /// User time (tick-sampled share of `total`).
    pub user: Duration,
    /// System time (tick-sampled share of `total`).
    pub sys: Duration,
    /// Clock ticks the split is based on (user + system).
    pub ticks: u64,
    /// Ticks per second on this system.
    pub clk_tck: u64,
    /// Where `total` came from.
    pub source: CpuSource,
}

/// Reads the CPU counters of this process now.
pub fn sample() -> io::Result<CpuSample> {
    let stat = fs::read_to_string("/proc/self/stat")?;
    let (user_ticks, sys_ticks) = parse_stat_times(&stat)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unexpected /proc/self/stat"))?;
    Ok(CpuSample {
        threads: thread_runtimes().ok(),
        user_ticks,
        sys_ticks,
        clk_tck: clk_tck(),
    })
}

impl CpuUsage {
    /// The CPU time spent from `start` to `end` (samples of the same process).
    pub fn between(start: &CpuSample, end: &CpuSample) -> CpuUsage {
        let clk_tck = end.clk_tck.max(1);
        let user_ticks = end.user_ticks.saturating_sub(start.user_ticks);
        let sys_ticks = end.sys_ticks.saturating_sub(start.sys_ticks);
        let ticks = user_ticks + sys_ticks;
        let exact = match (&start.threads, &end.threads) {
            (Some(a), Some(b)) => runtime_delta(a, b),
            _ => None,
        };
        let tick = |n: u64| Duration::from_nanos(n * (1_000_000_000 / clk_tck));
        let Some(total) = exact else {
            return CpuUsage {
                total: tick(ticks),
                user: tick(user_ticks),
                sys: tick(sys_ticks),
                ticks,
                clk_tck,
                source: CpuSource::Ticks,
            };
        };
        let (user, sys) = if ticks == 0 {
            (Duration::ZERO, Duration::ZERO)
        } else {
            let user = total.mul_f64(user_ticks as f64 / ticks as f64);
            (user, total.saturating_sub(user))
        };
        CpuUsage {
            total,
            user,
            sys,
            ticks,
            clk_tck,
            source: CpuSource::Schedstat,
        }
    }
}

/// Sum of the runtime each thread of `end` gained since `start`; `None` if a thread of
/// `start` is gone (its time since `start` is lost).
fn runtime_delta(start: &[(u32, u64)], end: &[(u32, u64)]) -> Option<Duration> {
    let mut ns = 0u64;
    for &(tid, before) in start {
        let after = end.iter().find(|(t, _)| *t == tid)?.1;
        ns += after.saturating_sub(before);
    }
    for &(tid, after) in end {
        if !start.iter().any(|(t, _)| *t == tid) {
            ns += after; // born during the interval
        }
    }
    Some(Duration::from_nanos(ns))
}

/// `(tid, sum_exec_runtime ns)` of every thread of this process.
fn thread_runtimes() -> io::Result<Vec<(u32, u64)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir("/proc/self/task")? {
        let entry = entry?;
        let Some(tid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let text = match fs::read_to_string(entry.path().join("schedstat")) {
            Ok(t) => t,
            // The thread exited between listing and reading: it is not alive at this
            // sample, which `runtime_delta` handles.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let ns = parse_schedstat(&text)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unexpected schedstat"))?;
        out.push((tid, ns));
    }
    Ok(out)
}

/// The first field of a `schedstat` line: time on CPU in ns.
fn parse_schedstat(text: &str) -> Option<u64> {
    text.split_ascii_whitespace().next()?.parse().ok()
}

/// `utime` and `stime` (fields 14 and 15) of a `/proc/<pid>/stat` line. The command
/// name (field 2) is in parentheses and may itself contain spaces and parentheses, so
/// fields are counted from the last `)`.
fn parse_stat_times(stat: &str) -> Option<(u64, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace(); // field 3 (state) onwards
    let utime = fields.nth(14 - 3)?.parse().ok()?;
    let stime = fields.next()?.parse().ok()?;
    Some((utime, stime))
}

/// Clock ticks per second, from the auxiliary vector the kernel gave this process.
fn clk_tck() -> u64 {
    fs::read("/proc/self/auxv")
        .ok()
        .and_then(|auxv| find_auxv(&auxv, AT_CLKTCK))
        .filter(|&hz| hz > 0)
        .unwrap_or(DEFAULT_CLK_TCK)
}

/// The value of entry `key` in an auxiliary vector: pairs of native-endian words.
fn find_auxv(auxv: &[u8], key: usize) -> Option<u64> {
    const WORD: usize = std::mem::size_of::<usize>();
    let word = |b: &[u8]| -> Option<usize> { Some(usize::from_ne_bytes(b.try_into().ok()?)) };
    auxv.chunks_exact(2 * WORD)
        .map(|pair| (word(&pair[..WORD]), word(&pair[WORD..])))
        .find_map(|(k, v)| (k? == key).then_some(v? as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        let line = "4242 (we(ird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 \
                    731 256 0 0 20 0 3 0 12345 0 0";
        assert_eq!(parse_stat_times(line), Some((731, 256)));
        assert_eq!(parse_stat_times("garbage"), None);
    }

    #[test]
    fn schedstat_first_field_is_nanoseconds() {
        assert_eq!(parse_schedstat("3895807 1200 7\n"), Some(3_895_807));
        assert_eq!(parse_schedstat(""), None);
    }

    #[test]
    fn auxv_lookup() {
        let mut v = Vec::new();
        for (k, val) in [(6usize, 4096usize), (17, 100), (0, 0)] {
            v.extend_from_slice(&k.to_ne_bytes());
            v.extend_from_slice(&val.to_ne_bytes());
        }
        assert_eq!(find_auxv(&v, AT_CLKTCK), Some(100));
        assert_eq!(find_auxv(&v, 99), None);
    }

    #[test]
    fn split_is_scaled_to_the_exact_total_and_lost_threads_fall_back() {
        let a = CpuSample {
            threads: Some(vec![(1, 1_000), (2, 5_000)]),
            user_ticks: 10,
            sys_ticks: 10,
            clk_tck: 100,
        };
        let b = CpuSample {
            threads: Some(vec![(1, 1_000 + 300_000_000), (2, 5_000), (3, 100_000_000)]),
            user_ticks: 11,
            sys_ticks: 13,
            clk_tck: 100,
        };
        let u = CpuUsage::between(&a, &b);
        assert_eq!(u.source, CpuSource::Schedstat);
        assert_eq!(u.total, Duration::from_millis(400));
        assert_eq!(u.user, Duration::from_millis(100));
        assert_eq!(u.sys, Duration::from_millis(300));
        assert_eq!(u.ticks, 4);

        let gone = CpuSample {
            threads: Some(vec![(1, 2_000)]),
            ..b.clone()
        };
        let u = CpuUsage::between(&a, &gone);
        assert_eq!(u.source, CpuSource::Ticks);
        assert_eq!(u.total, Duration::from_millis(40));
        assert_eq!(
            (u.user, u.sys),
            (Duration::from_millis(10), Duration::from_millis(30))
        );
    }

    #[test]
    fn sampling_this_process_sees_cpu_spent() {
        let Ok(a) = sample() else {
            return; // no /proc here: nothing to check
        };
        let mut x = 0u64;
        let t = std::time::Instant::now();
        while t.elapsed() < Duration::from_millis(30) {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        let Ok(b) = sample() else { return };
        let u = CpuUsage::between(&a, &b);
        if u.source == CpuSource::Schedstat {
            assert!(u.total >= Duration::from_millis(20), "{u:?}");
        }
        assert_eq!(u.clk_tck, clk_tck());
    }
}
