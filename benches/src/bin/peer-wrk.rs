//! `peer-wrk`: runs `wrk` (the C reference) and reports in `loadgen`'s JSON.
//!
//! ```text
//! peer-wrk [-c C] [-d TIME] [--json] URL
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

use clap::{CommandFactory, Parser};
use examples::cpu::CpuUsage;
use examples::load::report::{LoadReport, Percentiles, Tally};
use examples::load::{parse_or_exit, usage_exit, LoadOptions, Stop};
use serde::Deserialize;

/// The command line: loadgen's load options (wrk needs a duration; it is the default).
#[derive(Parser, Debug)]
#[command(
    name = "peer-wrk",
    about = "Runs wrk and reports in loadgen's JSON (needs wrk in PATH)"
)]
struct Cli {
    #[command(flatten)]
    load: LoadOptions,
}

/// What the `done()` hook prints after `WRKJSON `.
#[derive(Debug, Deserialize)]
struct WrkSummary {
    requests: u64,
    duration_us: u64,
    bytes: u64,
    connect: u64,
    read: u64,
    write: u64,
    status: u64,
    timeout: u64,
    min: f64,
    mean: f64,
    max: f64,
    p50: f64,
    p90: f64,
    p75: f64,
    p99: f64,
    p999: f64,
    p9999: f64,
    peak_rss_kb: Option<u64>,
    utime: u64,
    stime: u64,
}

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
    '"p75":%d,"p90":%d,"p99":%d,"p999":%d,"p9999":%d,"peak_rss_kb":%s,"utime":%s,' ..
    '"stime":%s}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency.min, latency.mean, latency.max,
    latency:percentile(50), latency:percentile(75), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), latency:percentile(99.99), hwm,
    f[12] or "0", f[13] or "0"))
end
"#;

fn main() -> ExitCode {
    let cli: Cli = parse_or_exit();
    let checked = cli.load.check().and_then(|plan| {
        let o = &plan.options;
        plan.refuse_unsupported("peer-wrk")?;
        // --cacert is accepted and unused: wrk does not verify certificates.
        plan.refuse(
            o.no_reuse || o.no_resume,
            "--no-reuse or --no-resume",
            "peer-wrk",
        )?;
        match plan.stop {
            Stop::Duration(d) => Ok((plan, d)),
            Stop::Requests(_) => Err("wrk runs for a duration only: use -d TIME, not -n".into()),
        }
    });
    let (plan, d) = match checked {
        Ok(checked) => checked,
        Err(msg) => usage_exit(&mut Cli::command(), msg),
    };
    let url = plan.url.to_string();
    let script = std::env::temp_dir().join(format!("wirepool-peer-wrk-{}.lua", std::process::id()));
    if let Err(e) = fs::write(&script, SCRIPT) {
        eprintln!("peer-wrk: {}: {e}", script.display());
        return ExitCode::FAILURE;
    }
    let out = Command::new("wrk")
        .args(["-t1", &format!("-c{}", plan.connections)])
        .arg(format!("-d{}s", d.as_secs_f64().ceil().max(1.0)))
        .args(["--timeout", "10s", "-s"])
        .arg(&script)
        .arg(&url)
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
    match report_from(line, &url, plan.connections) {
        Ok(r) => {
            if plan.options.json {
                println!("{}", r.to_json());
            } else {
                println!("{}", r.to_table(plan.options.latency));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("peer-wrk: cannot read wrk's summary ({e}): {line}");
            ExitCode::FAILURE
        }
    }
}

/// Ticks per second of `utime`/`stime` (`USER_HZ`: 100 on every Linux we run on).
const CLK_TCK: u64 = 100;

/// loadgen's report from the `done()` line.
fn report_from(line: &str, url: &str, c: usize) -> Result<LoadReport, serde_json::Error> {
    let w: WrkSummary = serde_json::from_str(line)?;
    let us = |v: f64| Duration::from_nanos((v.max(0.0) * 1000.0) as u64);
    let socket_errors = w.connect + w.read + w.write + w.timeout;
    let mut tally = Tally {
        // wrk counts as requests only the responses it read: its errors come on top.
        ok: w.requests,
        non_2xx_3xx: w.status,
        body_bytes: w.bytes, // wrk counts whole responses, heads included
        ..Tally::default()
    };
    for (kind, n) in [("connect", w.connect), ("timeout", w.timeout)] {
        if n > 0 {
            tally.errors.insert(kind.to_string(), n);
        }
    }
    let tick = Duration::from_nanos(1_000_000_000 / CLK_TCK);
    let ticks = |n: u64| tick * u32::try_from(n).unwrap_or(u32::MAX);
    let cpu = CpuUsage {
        user: ticks(w.utime),
        sys: ticks(w.stime),
        total: ticks(w.utime + w.stime),
    };
    Ok(LoadReport {
        client: "wrk".into(),
        url: url.to_string(),
        connections: c,
        threads: 1,
        elapsed: Duration::from_micros(w.duration_us),
        tally,
        latency: Some(Percentiles {
            min: us(w.min),
            mean: us(w.mean),
            p50: us(w.p50),
            p75: us(w.p75),
            p90: us(w.p90),
            p99: us(w.p99),
            p999: us(w.p999),
            p9999: us(w.p9999),
            max: us(w.max),
        }),
        dials: (socket_errors == 0).then_some(c as u64),
        reuses: (socket_errors == 0).then(|| w.requests.saturating_sub(c as u64)),
        cpu: Some(cpu),
        cpu_source: Some("wrk /proc/self/stat ticks".into()),
        cpu_ticks: Some(w.utime + w.stime),
        peak_rss_kb: w.peak_rss_kb,
        ..LoadReport::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_done_line() {
        let line = r#"{"requests":1000,"duration_us":2000000,"bytes":150000,"connect":0,"read":0,"write":0,"status":0,"timeout":0,"min":20,"mean":55.5,"max":900,"p50":50,"p75":60,"p90":70,"p99":120,"p999":400,"p9999":800,"peak_rss_kb":5120,"utime":10,"stime":30}"#;
        let r = report_from(line, "http://h/", 64).expect("parses");
        assert_eq!(r.tally.ok, 1000);
        assert_eq!(r.rps(), 500.0);
        assert_eq!(
            r.percentiles().map(|p| p.p99),
            Some(Duration::from_micros(120))
        );
        assert_eq!(r.cpu.map(|c| c.total), Some(Duration::from_millis(400)));
        assert_eq!(r.cpu_us_per_req(), Some(400.0));
        assert_eq!((r.dials, r.peak_rss_kb), (Some(64), Some(5120)));
        let broken = line.replace("\"read\":0", "\"read\":3");
        assert_eq!(
            report_from(&broken, "u", 64).ok().and_then(|r| r.dials),
            None
        );
        assert!(report_from("{}", "u", 64).is_err());
        let json = r.to_json_report();
        assert_eq!(json.cpu_ticks, Some(40));
        assert_eq!(json.cpu_source, "wrk /proc/self/stat ticks");
    }
}
