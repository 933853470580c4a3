//! `peer-wrk`: runs `wrk` (the C reference) and reports in `loadgen`'s JSON.
//!
//! ```text
//! peer-wrk --url URL -c C -d SECS [--json]
//! ```
//!
//! Runs `wrk -t1 -cC -dSECS --timeout 10s -s SCRIPT URL`: one wrk thread, because the
//! client gets one CPU in the runner (the comparison is CPU per request, and wrk's
//! event loop is one thread per `-t`). The Lua script's `done()` runs in wrk's process
//! after its threads have finished and prints one line with wrk's own counts, its latency
//! percentiles (µs), its peak RSS (`VmHWM`) and its CPU time (`utime`/`stime` from
//! `/proc/self/stat`, which include the finished threads; 10 ms ticks, so ±0.2 % on a
//! 5 s run at full load). This wrapper turns that line into loadgen's JSON.
//!
//! Differences to keep in mind: wrk has no `-n` (duration only); its CPU time covers
//! its whole life (start-up and C connects included: a few ms); `dials` is C when there
//! were no socket errors (wrk opens C connections and reconnects only after an error),
//! else `null`; non-2xx/3xx responses are wrk's "status errors". `https://` works (wrk
//! uses OpenSSL and does not verify certificates). Exit status 2 when wrk is missing.

use std::fs;
use std::process::{Command, ExitCode};
use std::time::Duration;

use benches::cli::{self, Stop};
use benches::report::{json_number, LoadReport, Percentiles, Tally};
use examples::cpu_time::{CpuSource, CpuUsage};

const USAGE: &str = "usage: peer-wrk --url URL -c C -d SECS [--json]   (needs wrk in PATH)";

/// wrk's `done()` hook: one line, prefixed so it is found among wrk's own output.
const SCRIPT: &str = r#"
local function proc_line(path)
  local f = io.open(path)
  if not f then return "" end
  local s = f:read("*a")
  f:close()
  return s
end
done = function(summary, latency, requests)
  local hwm = proc_line("/proc/self/status"):match("VmHWM:%s+(%d+)") or "null"
  -- fields after the command name: state is 1st, utime the 12th, stime the 13th
  local rest = proc_line("/proc/self/stat"):match("%) (.*)") or ""
  local f = {}
  for w in rest:gmatch("%S+") do f[#f + 1] = w end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,' ..
    '"write":%d,"status":%d,"timeout":%d,"min":%d,"mean":%f,"max":%d,"p50":%d,' ..
    '"p90":%d,"p99":%d,"p999":%d,"peak_rss_kb":%s,"utime":%s,"stime":%s}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency.min, latency.mean, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), hwm, f[12] or "0", f[13] or "0"))
end
"#;

fn main() -> ExitCode {
    let args = match cli::args_or_exit("peer-wrk", USAGE) {
        Ok(args) => args,
        Err(code) => return code,
    };
    let Stop::Duration(d) = args.stop else {
        eprintln!("peer-wrk: wrk runs for a duration only: use -d SECS\n{USAGE}");
        return ExitCode::from(2);
    };
    if args.no_reuse || args.no_resume || !args.extra.is_empty() {
        eprintln!("peer-wrk: only --url, -c, -d and --json apply to wrk\n{USAGE}");
        return ExitCode::from(2);
    }
    let script = std::env::temp_dir().join(format!("wirepool-peer-wrk-{}.lua", std::process::id()));
    if let Err(e) = fs::write(&script, SCRIPT) {
        eprintln!("peer-wrk: {}: {e}", script.display());
        return ExitCode::FAILURE;
    }
    let out = Command::new("wrk")
        .args(["-t1", &format!("-c{}", args.connections)])
        .arg(format!("-d{}s", d.as_secs_f64().ceil().max(1.0)))
        .args(["--timeout", "10s", "-s"])
        .arg(&script)
        .arg(&args.url)
        .output();
    let _ = fs::remove_file(&script);
    let out = match out {
        Ok(o) => o,
        Err(e) => {
            eprintln!("peer-wrk: cannot run wrk ({e}); install it with `apt-get install -y wrk`");
            return ExitCode::from(2);
        }
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let Some(line) = text.lines().find_map(|l| l.strip_prefix("WRKJSON ")) else {
        eprintln!(
            "peer-wrk: wrk printed no summary ({}):\n{text}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        return ExitCode::FAILURE;
    };
    match report_from(line, &args.url, args.connections) {
        Some(r) => {
            r.print(args.json);
            ExitCode::SUCCESS
        }
        None => {
            eprintln!("peer-wrk: cannot read wrk's summary: {line}");
            ExitCode::FAILURE
        }
    }
}

/// Ticks per second of `utime`/`stime` (`USER_HZ`: 100 on every Linux we run on).
const CLK_TCK: u64 = 100;

/// loadgen's report from the `done()` line.
fn report_from(line: &str, url: &str, c: usize) -> Option<LoadReport> {
    let num = |k: &str| json_number(line, k);
    let int = |k: &str| num(k).map(|v| v as u64);
    let us = |k: &str| num(k).map(|v| Duration::from_nanos((v * 1000.0) as u64));
    let requests = int("requests")?;
    let socket_errors = int("connect")? + int("read")? + int("write")? + int("timeout")?;
    let mut tally = Tally {
        completed: requests + int("connect")? + int("timeout")?,
        non_2xx_3xx: int("status")?,
        body_bytes: int("bytes")?, // wrk counts whole responses, heads included
        ..Tally::default()
    };
    for kind in ["connect", "read", "write", "timeout"] {
        let n = int(kind)?;
        if n > 0 {
            tally.errors.insert(kind.to_string(), n);
        }
    }
    let (user_ticks, sys_ticks) = (int("utime")?, int("stime")?);
    let tick = Duration::from_nanos(1_000_000_000 / CLK_TCK);
    let cpu = CpuUsage {
        total: tick * (user_ticks + sys_ticks) as u32,
        user: tick * user_ticks as u32,
        sys: tick * sys_ticks as u32,
        ticks: user_ticks + sys_ticks,
        clk_tck: CLK_TCK,
        source: CpuSource::Ticks,
    };
    Some(LoadReport {
        client: "wrk".into(),
        url: url.to_string(),
        connections: c,
        elapsed: us("duration_us")?,
        tally,
        latency: Some(Percentiles {
            min: us("min")?,
            mean: us("mean")?,
            p50: us("p50")?,
            p90: us("p90")?,
            p99: us("p99")?,
            p999: us("p999")?,
            max: us("max")?,
        }),
        dials: (socket_errors == 0).then_some(c as u64),
        reuses: (socket_errors == 0).then(|| requests.saturating_sub(c as u64)),
        tls_handshakes: None,
        cpu: Some(cpu),
        peak_rss_kb: int("peak_rss_kb"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_done_line() {
        let line = r#"{"requests":1000,"duration_us":2000000,"bytes":150000,"connect":0,"read":0,"write":0,"status":0,"timeout":0,"min":20,"mean":55.5,"max":900,"p50":50,"p90":70,"p99":120,"p999":400,"peak_rss_kb":5120,"utime":10,"stime":30}"#;
        let r = report_from(line, "http://h/", 64).expect("parses");
        assert_eq!(r.tally.completed, 1000);
        assert_eq!(r.rps(), 500.0);
        assert_eq!(r.percentiles().p99, Duration::from_micros(120));
        assert_eq!(r.cpu.map(|c| c.total), Some(Duration::from_millis(400)));
        assert_eq!(r.cpu_us_per_req(), Some(400.0));
        assert_eq!((r.dials, r.peak_rss_kb), (Some(64), Some(5120)));
        let broken = line.replace("\"read\":0", "\"read\":3");
        assert_eq!(report_from(&broken, "u", 64).and_then(|r| r.dials), None);
    }
}
