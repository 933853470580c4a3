//! The machine the benchmarks run on: CPU accounting of the whole box and of processes,
//! waiting for quiet, and the facts a results table must state.
//!
//! Our development machines are shared (other engineers compile on them), so a run is
//! only trusted with a figure for how much CPU *others* used during it. That comes from
//! `/proc/stat` (busy ticks of all CPUs, steal included) minus the client's and the
//! server's own CPU time. Linux only; elsewhere the figures read as zero.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Busy ticks of the whole machine so far (all CPUs; steal included: time the
/// hypervisor gave to someone else is a disturbance too), from `/proc/stat`.
pub fn machine_busy_ticks() -> u64 {
    let stat = fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(cpu) = stat.lines().next().and_then(|l| l.strip_prefix("cpu ")) else {
        return 0;
    };
    // user nice system idle iowait irq softirq steal (guest time is inside user)
    let v: Vec<u64> = cpu
        .split_whitespace()
        .take(8)
        .filter_map(|f| f.parse().ok())
        .collect();
    if v.len() < 8 {
        return 0;
    }
    v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
}

/// `utime + stime` ticks of process `pid` and of its direct children (nginx's workers).
pub fn process_tree_ticks(pid: u32) -> u64 {
    let ticks = |pid: &str| -> u64 {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            return 0;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        // fields 14 and 15 of the line are 11 and 12 after the command name
        let get = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        get(11) + get(12)
    };
    let children =
        fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    ticks(&pid.to_string()) + children.split_whitespace().map(ticks).sum::<u64>()
}

/// Waits until one second passes with the machine at least 95 % idle, or `max` passes.
pub fn wait_for_idle(max: Duration) {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let deadline = Instant::now() + max;
    loop {
        let before = machine_busy_ticks();
        std::thread::sleep(Duration::from_secs(1));
        let busy = machine_busy_ticks().saturating_sub(before) as f64 / (100.0 * cpus);
        if busy <= 0.05 {
            return;
        }
        if Instant::now() >= deadline {
            eprintln!(
                "loadbench: machine still {:.0} % busy; running anyway",
                busy * 100.0
            );
            return;
        }
    }
}

/// Output of a shell command, trimmed; empty when it cannot run.
pub fn sh(cmd: &str) -> String {
    Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// The three load averages of a `/proc/loadavg` line.
pub fn first3(loadavg: &str) -> String {
    loadavg
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// `name` in `PATH` or the usual sbin directories.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// `program` prefixed with `taskset -c CPU` when pinning.
pub fn pinned(program: &Path, cpu: Option<usize>) -> Command {
    match cpu {
        Some(cpu) => {
            let mut c = Command::new("taskset");
            c.arg("-c").arg(cpu.to_string()).arg(program);
            c
        }
        None => Command::new(program),
    }
}

/// The median; NaN for no values.
pub fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_loadavg() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&mut []).is_nan());
        assert_eq!(first3("0.1 0.2 0.3 1/100 42"), "0.1 0.2 0.3");
    }
}
