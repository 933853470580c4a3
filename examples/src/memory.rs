//! This process's resident memory, read from `/proc/self/status` (std only).
//!
//! `VmHWM` is the peak resident set size ("high water mark") since the process started;
//! `VmRSS` is the resident set now. Both are in KiB. They count every page the process
//! touched — heap, stacks, libraries — not only live heap objects, and freed heap memory
//! the allocator keeps for reuse stays in them. Linux only: elsewhere the functions
//! return `None` and the tools print `null`.

use std::fs;

/// Peak resident set size of this process so far, in KiB (`VmHWM`).
pub fn peak_rss_kb() -> Option<u64> {
    status_kb("VmHWM:")
}

/// Resident set size of this process now, in KiB (`VmRSS`).
pub fn rss_kb() -> Option<u64> {
    status_kb("VmRSS:")
}

fn status_kb(key: &str) -> Option<u64> {
    parse_kb(&fs::read_to_string("/proc/self/status").ok()?, key)
}

/// The value of line `key` (e.g. `VmHWM:   1234 kB`) in a `/proc/*/status` text.
pub fn parse_kb(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_lines() {
        let text = "Name:\tx\nVmHWM:\t   4242 kB\nVmRSS:\t  100 kB\n";
        assert_eq!(parse_kb(text, "VmHWM:"), Some(4242));
        assert_eq!(parse_kb(text, "VmRSS:"), Some(100));
        assert_eq!(parse_kb(text, "VmSwap:"), None);
        if let Ok(own) = fs::read_to_string("/proc/self/status") {
            let (peak, now) = (parse_kb(&own, "VmHWM:"), parse_kb(&own, "VmRSS:"));
            assert!(peak >= now && now > Some(0), "{peak:?} {now:?}");
        }
    }
}
