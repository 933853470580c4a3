//! Counting a load run and reporting it: the table people read and the JSON line the
//! benchmark runner reads, the same for `loadgen` and every peer.
//!
//! Latencies go into an [`hdrhistogram`] in nanoseconds, two significant digits (every
//! percentile within 1 %), up to [`MAX_LATENCY`] (longer values count as that): a few
//! tens of KiB per histogram whatever the run length, so each thread keeps its own and
//! they are merged at the end.
//!
//! What counts: a request that got a response read to its end is *ok* (whatever its
//! status: a 404 is an answer, counted in `non_2xx_3xx`); one that failed is an error,
//! counted by kind. Requests per second are ok requests per second: a run against a
//! refused port is 0 requests/s with every request in `errors`, never a fast run.
//!
//! The JSON keys (`loadgen --json`, documented in `docs/benchmarks.md`) are those of
//! [`JsonReport`], in its field order; a figure a client cannot give is `null`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::cpu::{self, CpuUsage};
use wirepool::RequestInfo;

/// Longest latency told apart; longer ones are recorded as this.
pub const MAX_LATENCY: Duration = Duration::from_secs(3600);

/// Latencies of the ok requests of one run (or one thread of it).
#[derive(Clone, Debug)]
pub struct Latency {
    ns: Histogram<u64>,
}

impl Default for Latency {
    fn default() -> Self {
        Latency::new()
    }
}

impl Latency {
    /// An empty histogram.
    pub fn new() -> Latency {
        let max = u64::try_from(MAX_LATENCY.as_nanos()).unwrap_or(u64::MAX);
        // 1 ns ..= MAX_LATENCY at 2 significant digits: valid bounds, cannot fail.
        let ns = Histogram::new_with_bounds(1, max, 2)
            .unwrap_or_else(|_| unreachable!("constant histogram bounds are valid"));
        Latency { ns }
    }

    /// Records one latency.
    pub fn record(&mut self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1);
        self.ns.saturating_record(ns);
    }

    /// Adds `other`'s samples.
    pub fn merge(&mut self, other: &Latency) {
        // Same bounds on both sides: adding cannot fail.
        let _ = self.ns.add(&other.ns);
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.ns.len()
    }

    /// The value below which `p` percent of the samples fall.
    pub fn percentile(&self, p: f64) -> Duration {
        Duration::from_nanos(self.ns.value_at_quantile(p / 100.0))
    }

    /// The figures a report prints; `None` without samples.
    pub fn percentiles(&self) -> Option<Percentiles> {
        if self.ns.is_empty() {
            return None;
        }
        Some(Percentiles {
            min: Duration::from_nanos(self.ns.min()),
            mean: Duration::from_secs_f64(self.ns.mean() / 1e9),
            p50: self.percentile(50.0),
            p75: self.percentile(75.0),
            p90: self.percentile(90.0),
            p99: self.percentile(99.0),
            p999: self.percentile(99.9),
            p9999: self.percentile(99.99),
            max: Duration::from_nanos(self.ns.max()),
        })
    }
}

/// Latency figures of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Percentiles {
    /// Fastest request.
    pub min: Duration,
    /// Mean.
    pub mean: Duration,
    /// Median.
    pub p50: Duration,
    /// 75th percentile.
    pub p75: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// 99.9th percentile.
    pub p999: Duration,
    /// 99.99th percentile.
    pub p9999: Duration,
    /// Slowest request.
    pub max: Duration,
}

/// Outcomes counted during a run (one per thread, merged after).
#[derive(Clone, Debug, Default)]
pub struct Tally {
    /// Requests that got a response read to its end.
    pub ok: u64,
    /// Their latencies.
    pub latency: Latency,
    /// Failed requests by kind (the pool's `ErrorKind::as_str`, or a peer's own words).
    pub errors: BTreeMap<String, u64>,
    /// Ok responses whose status is not 2xx or 3xx.
    pub non_2xx_3xx: u64,
    /// Response body bytes received.
    pub body_bytes: u64,
}

impl Tally {
    /// Counts an ok request: its status, body size and latency.
    pub fn ok(&mut self, status: u16, body_bytes: u64, latency: Duration) {
        if !(200..400).contains(&status) {
            self.non_2xx_3xx += 1;
        }
        self.body_bytes += body_bytes;
        self.latency.record(latency);
        self.ok += 1;
    }

    /// Counts a failed request of `kind`.
    pub fn error(&mut self, kind: &str) {
        match self.errors.get_mut(kind) {
            Some(n) => *n += 1,
            None => {
                self.errors.insert(kind.to_owned(), 1);
            }
        }
    }

    /// Adds `other`'s counts.
    pub fn merge(&mut self, other: &Tally) {
        self.ok += other.ok;
        self.latency.merge(&other.latency);
        for (kind, n) in &other.errors {
            *self.errors.entry(kind.clone()).or_default() += n;
        }
        self.non_2xx_3xx += other.non_2xx_3xx;
        self.body_bytes += other.body_bytes;
    }

    /// Failed requests.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Finished requests, ok and failed.
    pub fn finished(&self) -> u64 {
        self.ok + self.error_count()
    }
}

/// Where wirepool's ok requests spent their time: each one's timing summary
/// ([`RequestInfo`]: wait for a connection, DNS, connect, TLS, first byte, total) in a
/// histogram per phase, and how many went out on a reused connection. `loadgen` only:
/// the peers cannot tell. Phases that happen only on a new connection (DNS, connect,
/// TLS) have as many samples as requests that dialled.
#[derive(Clone, Debug, Default)]
pub struct Breakdown {
    /// Submission → a connection ready to write to (queue, DNS, connect, TLS).
    pub wait: Latency,
    /// DNS lookups (names not cached).
    pub dns: Latency,
    /// TCP connects.
    pub connect: Latency,
    /// TLS handshakes with the origin.
    pub tls: Latency,
    /// Submission → first response byte.
    pub ttfb: Latency,
    /// Submission → end of body, as the engine saw it.
    pub total: Latency,
    /// Requests on a reused connection.
    pub reused: u64,
    /// Requests on a new one.
    pub fresh: u64,
}

impl Breakdown {
    /// Counts one ok request's timing summary.
    pub fn record(&mut self, info: &RequestInfo) {
        self.wait.record(info.wait);
        if let Some(d) = info.dns {
            self.dns.record(d);
        }
        if let Some(d) = info.connect {
            self.connect.record(d);
        }
        if let Some(d) = info.tls {
            self.tls.record(d);
        }
        self.ttfb.record(info.ttfb);
        self.total.record(info.total);
        if info.reused {
            self.reused += 1;
        } else {
            self.fresh += 1;
        }
    }

    /// Adds `other`'s samples.
    pub fn merge(&mut self, other: &Breakdown) {
        for (mine, theirs) in self.phases_mut().into_iter().zip(other.phases()) {
            mine.2.merge(theirs.2);
        }
        self.reused += other.reused;
        self.fresh += other.fresh;
    }

    /// The phases: JSON key, label, histogram.
    fn phases(&self) -> [(&'static str, &'static str, &Latency); 6] {
        [
            ("wait_us", "wait", &self.wait),
            ("dns_us", "dns", &self.dns),
            ("connect_us", "connect", &self.connect),
            ("tls_us", "tls", &self.tls),
            ("ttfb_us", "ttfb", &self.ttfb),
            ("total_us", "total", &self.total),
        ]
    }

    fn phases_mut(&mut self) -> [(&'static str, &'static str, &mut Latency); 6] {
        [
            ("wait_us", "wait", &mut self.wait),
            ("dns_us", "dns", &mut self.dns),
            ("connect_us", "connect", &mut self.connect),
            ("tls_us", "tls", &mut self.tls),
            ("ttfb_us", "ttfb", &mut self.ttfb),
            ("total_us", "total", &mut self.total),
        ]
    }

    /// The JSON object (`breakdown` in `loadgen --json`).
    pub fn to_json(&self) -> JsonBreakdown {
        let phase = |l: &Latency| {
            l.percentiles().map(|p| JsonPhase {
                n: l.count(),
                mean: round(micros(p.mean), 1),
                p50: round(micros(p.p50), 1),
                p99: round(micros(p.p99), 1),
                max: round(micros(p.max), 1),
            })
        };
        JsonBreakdown {
            reused: self.reused,
            fresh: self.fresh,
            wait_us: phase(&self.wait),
            dns_us: phase(&self.dns),
            connect_us: phase(&self.connect),
            tls_us: phase(&self.tls),
            ttfb_us: phase(&self.ttfb),
            total_us: phase(&self.total),
        }
    }

    /// The lines of the table (each starting with two spaces).
    fn write_table(&self, s: &mut String) {
        let _ = writeln!(
            s,
            "  breakdown    each ok request's timing summary: p50, p99, mean (samples)"
        );
        for (_, label, l) in self.phases() {
            match l.percentiles() {
                Some(p) => {
                    let _ = writeln!(
                        s,
                        "    {label:<10} {:>10} {:>10} {:>10}   ({})",
                        human(p.p50),
                        human(p.p99),
                        human(p.mean),
                        l.count()
                    );
                }
                None => {
                    let _ = writeln!(s, "    {label:<10} {:>10}", "-");
                }
            }
        }
        let all = self.reused + self.fresh;
        let share = if all > 0 {
            100.0 * self.reused as f64 / all as f64
        } else {
            0.0
        };
        let _ = writeln!(
            s,
            "    {:<10} {share:.2} % of requests ({} of {all})",
            "reused", self.reused
        );
    }
}

/// One phase of [`JsonBreakdown`], µs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct JsonPhase {
    /// Samples.
    pub n: u64,
    /// Mean, µs.
    pub mean: f64,
    /// Median, µs.
    pub p50: f64,
    /// 99th percentile, µs.
    pub p99: f64,
    /// Largest, µs.
    pub max: f64,
}

/// The `breakdown` object of the JSON line: [`Breakdown`]; a phase without samples is
/// `null`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JsonBreakdown {
    /// Requests on a reused connection.
    pub reused: u64,
    /// Requests on a new connection.
    pub fresh: u64,
    /// Submission → connection ready.
    pub wait_us: Option<JsonPhase>,
    /// DNS lookups.
    pub dns_us: Option<JsonPhase>,
    /// TCP connects.
    pub connect_us: Option<JsonPhase>,
    /// TLS handshakes.
    pub tls_us: Option<JsonPhase>,
    /// Submission → first response byte.
    pub ttfb_us: Option<JsonPhase>,
    /// Submission → end of body.
    pub total_us: Option<JsonPhase>,
}

/// The result of one run.
#[derive(Clone, Debug, Default)]
pub struct LoadReport {
    /// Client name: `wirepool-engine`, `wirepool-client`, `hyper-cur`, `ureq`, `wrk`.
    pub client: String,
    /// The URL loaded (the first one with a URL list).
    pub url: String,
    /// How the connections reach it when not straight: `via proxy http://proxy:3128`,
    /// `via unix:/run/app.sock` (shown after the URL in the table).
    pub route: Option<String>,
    /// Connections (requests kept in flight).
    pub connections: usize,
    /// Threads that generated the load.
    pub threads: usize,
    /// First request sent to last one finished (or to Ctrl-C).
    pub elapsed: Duration,
    /// Outcomes.
    pub tally: Tally,
    /// Latency figures when the client computed them itself (wrk); else from `tally`.
    pub latency: Option<Percentiles>,
    /// Connections opened, if the client can tell.
    pub dials: Option<u64>,
    /// Requests on reused connections, if the client can tell.
    pub reuses: Option<u64>,
    /// Full and resumed TLS handshakes, if the client can tell.
    pub tls_handshakes: Option<(u64, u64)>,
    /// CPU time of the whole process over the run.
    pub cpu: Option<CpuUsage>,
    /// Where `cpu` came from when not from `getrusage` (wrk's tick counts).
    pub cpu_source: Option<String>,
    /// Clock ticks behind `cpu`, when it comes from tick counts.
    pub cpu_ticks: Option<u64>,
    /// Peak resident set size at the end, KiB.
    pub peak_rss_kb: Option<u64>,
    /// `-R`: the requests per second asked for.
    pub rate: Option<f64>,
    /// The run was cut short by Ctrl-C: requests still in flight then are not counted.
    pub interrupted: bool,
    /// wirepool's timing breakdown (`loadgen` only).
    pub breakdown: Option<Breakdown>,
}

/// The JSON line, field by field (`loadgen --json`; the peers print the same).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JsonReport {
    /// Client name.
    pub client: String,
    /// URL loaded.
    pub url: String,
    /// Connections.
    pub c: u64,
    /// Finished requests: ok + errors.
    pub n: u64,
    /// Ok requests (a response read to its end).
    pub ok: u64,
    /// Seconds from the first request sent to the last one finished.
    pub secs: f64,
    /// Ok requests per second.
    pub rps: f64,
    /// Latency of ok requests, µs (`null` without any).
    pub min_us: Option<f64>,
    /// Mean latency, µs.
    pub mean_us: Option<f64>,
    /// Median latency, µs.
    pub p50_us: Option<f64>,
    /// 75th percentile, µs.
    pub p75_us: Option<f64>,
    /// 90th percentile, µs.
    pub p90_us: Option<f64>,
    /// 99th percentile, µs.
    pub p99_us: Option<f64>,
    /// 99.9th percentile, µs.
    pub p999_us: Option<f64>,
    /// 99.99th percentile, µs.
    pub p9999_us: Option<f64>,
    /// Slowest, µs.
    pub max_us: Option<f64>,
    /// User CPU time of the process over the run, s.
    pub cpu_user_s: Option<f64>,
    /// System CPU time, s.
    pub cpu_sys_s: Option<f64>,
    /// User + system, s.
    pub cpu_total_s: Option<f64>,
    /// CPU µs per ok request.
    pub cpu_us_per_req: Option<f64>,
    /// Where the CPU figures come from (`getrusage`, `wrk`, `none`).
    pub cpu_source: String,
    /// Clock ticks behind the CPU figures, when they come from tick counts (wrk's
    /// `/proc/self/stat`); `null` for `getrusage`.
    pub cpu_ticks: Option<u64>,
    /// Connections opened.
    pub dials: Option<u64>,
    /// Requests on reused connections.
    pub reuses: Option<u64>,
    /// Failed requests.
    pub errors: u64,
    /// Failed requests by kind.
    pub errors_by_kind: BTreeMap<String, u64>,
    /// Ok responses with a status outside 2xx and 3xx.
    pub non_2xx_3xx: u64,
    /// Body bytes received.
    pub body_bytes: u64,
    /// Peak resident set size, KiB.
    pub peak_rss_kb: Option<u64>,
    /// Full TLS handshakes.
    pub tls_full: Option<u64>,
    /// Resumed TLS handshakes.
    pub tls_resumed: Option<u64>,
    /// Threads that generated the load.
    pub threads: u64,
    /// `-R`: requests per second asked for (`null`: as fast as possible).
    pub rate: Option<f64>,
    /// Cut short by Ctrl-C.
    pub interrupted: bool,
    /// wirepool's timing breakdown of the ok requests (`null` for the peers).
    pub breakdown: Option<JsonBreakdown>,
}

fn micros(d: Duration) -> f64 {
    d.as_nanos() as f64 / 1000.0
}

/// `x` rounded to `decimals` places, so the JSON stays readable.
fn round(x: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (x * scale).round() / scale
}

/// A latency for people: µs below 1 ms, ms below 1 s, else s.
pub fn human(d: Duration) -> String {
    let us = micros(d);
    if us < 1_000.0 {
        format!("{us:.1}µs")
    } else if us < 1_000_000.0 {
        format!("{:.2}ms", us / 1_000.0)
    } else {
        format!("{:.3}s", us / 1_000_000.0)
    }
}

/// Bytes for people, as wrk prints them: `12.34MB`.
fn human_bytes(bytes: f64) -> String {
    let units = ["B", "KB", "MB", "GB", "TB"];
    let mut v = bytes;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < units.len() {
        v /= 1024.0;
        i += 1;
    }
    format!("{v:.2}{}", units[i])
}

impl LoadReport {
    /// Ok requests per second.
    pub fn rps(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.tally.ok as f64 / secs
        } else {
            0.0
        }
    }

    /// CPU µs per ok request.
    pub fn cpu_us_per_req(&self) -> Option<f64> {
        let cpu = self.cpu?;
        (self.tally.ok > 0).then(|| micros(cpu.total) / self.tally.ok as f64)
    }

    /// The latency figures printed.
    pub fn percentiles(&self) -> Option<Percentiles> {
        self.latency.or_else(|| self.tally.latency.percentiles())
    }

    /// The JSON fields.
    pub fn to_json_report(&self) -> JsonReport {
        let p = self.percentiles();
        let us = |f: fn(&Percentiles) -> Duration| p.as_ref().map(|p| round(micros(f(p)), 1));
        let cpu = self.cpu;
        JsonReport {
            client: self.client.clone(),
            url: self.url.clone(),
            c: self.connections as u64,
            n: self.tally.finished(),
            ok: self.tally.ok,
            secs: round(self.elapsed.as_secs_f64(), 6),
            rps: round(self.rps(), 1),
            min_us: us(|p| p.min),
            mean_us: us(|p| p.mean),
            p50_us: us(|p| p.p50),
            p75_us: us(|p| p.p75),
            p90_us: us(|p| p.p90),
            p99_us: us(|p| p.p99),
            p999_us: us(|p| p.p999),
            p9999_us: us(|p| p.p9999),
            max_us: us(|p| p.max),
            cpu_user_s: cpu.map(|c| round(c.user.as_secs_f64(), 6)),
            cpu_sys_s: cpu.map(|c| round(c.sys.as_secs_f64(), 6)),
            cpu_total_s: cpu.map(|c| round(c.total.as_secs_f64(), 6)),
            cpu_us_per_req: self.cpu_us_per_req().map(|v| round(v, 3)),
            cpu_source: match (&self.cpu_source, cpu) {
                (Some(source), _) => source.clone(),
                (None, Some(_)) => cpu::SOURCE.to_owned(),
                (None, None) => "none".to_owned(),
            },
            cpu_ticks: self.cpu_ticks,
            dials: self.dials,
            reuses: self.reuses,
            errors: self.tally.error_count(),
            errors_by_kind: self.tally.errors.clone(),
            non_2xx_3xx: self.tally.non_2xx_3xx,
            body_bytes: self.tally.body_bytes,
            peak_rss_kb: self.peak_rss_kb,
            tls_full: self.tls_handshakes.map(|t| t.0),
            tls_resumed: self.tls_handshakes.map(|t| t.1),
            threads: self.threads as u64,
            rate: self.rate,
            interrupted: self.interrupted,
            breakdown: self.breakdown.as_ref().map(Breakdown::to_json),
        }
    }

    /// The JSON line.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.to_json_report())
            .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// The report for people; with `latency_table`, wrk's latency distribution too.
    pub fn to_table(&self, latency_table: bool) -> String {
        let t = &self.tally;
        let mut s = String::new();
        let threads = if self.threads == 1 {
            "1 thread".to_owned()
        } else {
            format!("{} threads", self.threads)
        };
        let _ = writeln!(
            s,
            "{} → {}{}, {} connections, {threads}{}",
            self.client,
            self.url,
            self.route
                .as_ref()
                .map_or(String::new(), |r| format!(" {r}")),
            self.connections,
            self.rate
                .map_or(String::new(), |r| format!(", rate {r} requests/s"))
        );
        if self.interrupted {
            let _ = writeln!(
                s,
                "  interrupted  (Ctrl-C): requests still in flight are not counted"
            );
        }
        let _ = writeln!(
            s,
            "  requests     {} ok in {:.3} s: {:.1} requests/s ({} body bytes)",
            t.ok,
            self.elapsed.as_secs_f64(),
            self.rps(),
            t.body_bytes
        );
        match self.percentiles() {
            Some(p) => {
                let _ = writeln!(
                    s,
                    "  latency      p50 {}   p90 {}   p99 {}   p99.9 {}   max {}   (mean {}, {} samples)",
                    human(p.p50),
                    human(p.p90),
                    human(p.p99),
                    human(p.p999),
                    human(p.max),
                    human(p.mean),
                    t.latency.count()
                );
                if latency_table {
                    let _ = writeln!(s, "  Latency Distribution");
                    for (label, d) in [
                        ("50%", p.p50),
                        ("75%", p.p75),
                        ("90%", p.p90),
                        ("99%", p.p99),
                        ("99.9%", p.p999),
                        ("99.99%", p.p9999),
                        ("max", p.max),
                    ] {
                        let _ = writeln!(s, "  {label:>8}  {:>10}", human(d));
                    }
                }
            }
            None => {
                let _ = writeln!(s, "  latency      - (no request succeeded)");
            }
        }
        if t.errors.is_empty() {
            let _ = writeln!(s, "  errors       0");
        } else {
            let kinds: Vec<String> = t.errors.iter().map(|(k, n)| format!("{k}: {n}")).collect();
            let _ = writeln!(
                s,
                "  errors       {} ({}), not counted in requests/s",
                t.error_count(),
                kinds.join(", ")
            );
        }
        if t.non_2xx_3xx > 0 {
            let _ = writeln!(s, "  non-2xx/3xx  {}", t.non_2xx_3xx);
        }
        let show = |v: Option<u64>| v.map_or("?".to_owned(), |v| v.to_string());
        let _ = write!(
            s,
            "  pool         {} dials, {} reuses",
            show(self.dials),
            show(self.reuses)
        );
        if let Some((full, resumed)) = self.tls_handshakes {
            let _ = write!(s, "; TLS handshakes {full} full, {resumed} resumed");
        }
        s.push('\n');
        match (self.cpu, self.cpu_us_per_req()) {
            (Some(cpu), per_req) => {
                let _ = writeln!(
                    s,
                    "  cpu          {:.3} s user + {:.3} s sys = {:.3} s; {} per request",
                    cpu.user.as_secs_f64(),
                    cpu.sys.as_secs_f64(),
                    cpu.total.as_secs_f64(),
                    per_req.map_or("-".to_owned(), |us| format!("{us:.2} µs")),
                );
            }
            (None, _) => {
                let _ = writeln!(s, "  cpu          unavailable");
            }
        }
        if let Some(b) = &self.breakdown {
            b.write_table(&mut s);
        }
        if let Some(kb) = self.peak_rss_kb {
            let _ = writeln!(s, "  memory       peak RSS {:.1} MiB", kb as f64 / 1024.0);
        }
        let _ = writeln!(
            s,
            "  measured     first request sent → last finished, dials included, no warm-up"
        );
        let secs = self.elapsed.as_secs_f64();
        let transfer = if secs > 0.0 {
            t.body_bytes as f64 / secs
        } else {
            0.0
        };
        let _ = writeln!(s, "Requests/sec: {:>10.2}", self.rps());
        let _ = write!(s, "Transfer/sec: {:>10}", human_bytes(transfer));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(tally: Tally) -> LoadReport {
        LoadReport {
            client: "wirepool-client".into(),
            url: "http://h/".into(),
            connections: 2,
            threads: 1,
            elapsed: Duration::from_secs(1),
            tally,
            dials: Some(2),
            peak_rss_kb: Some(1234),
            ..LoadReport::default()
        }
    }

    #[test]
    fn failures_are_not_requests_per_second() {
        let mut tally = Tally::default();
        tally.ok(200, 13, Duration::from_micros(100));
        tally.ok(404, 0, Duration::from_micros(300));
        for _ in 0..100 {
            tally.error("connect failed");
        }
        let json = report(tally).to_json_report();
        assert_eq!((json.n, json.ok, json.errors), (102, 2, 100));
        assert_eq!(json.rps, 2.0);
        assert_eq!(json.non_2xx_3xx, 1);
        assert_eq!(json.errors_by_kind["connect failed"], 100);
        assert!(json.p50_us.is_some_and(|us| (99.0..=101.0).contains(&us)));
        assert!(json.max_us.is_some_and(|us| (297.0..=303.0).contains(&us)));
        assert_eq!(json.cpu_us_per_req, None);
        assert_eq!(json.cpu_source, "none");
    }

    #[test]
    fn json_keeps_the_field_names_and_nulls() {
        let mut tally = Tally::default();
        tally.error("connect failed");
        let line = report(tally).to_json();
        let value: serde_json::Value = serde_json::from_str(&line).expect("JSON");
        for key in [
            "client",
            "url",
            "c",
            "n",
            "secs",
            "rps",
            "min_us",
            "mean_us",
            "p50_us",
            "p90_us",
            "p99_us",
            "p999_us",
            "max_us",
            "cpu_user_s",
            "cpu_sys_s",
            "cpu_total_s",
            "cpu_us_per_req",
            "cpu_source",
            "cpu_ticks",
            "dials",
            "reuses",
            "errors",
            "errors_by_kind",
            "non_2xx_3xx",
            "body_bytes",
            "peak_rss_kb",
            "tls_full",
            "tls_resumed",
        ] {
            assert!(value.get(key).is_some(), "{key} missing from {line}");
        }
        assert_eq!(value["rps"], 0.0);
        assert!(value["p50_us"].is_null());
        assert!(!line.contains('\n'));
        let back: JsonReport = serde_json::from_str(&line).expect("round trip");
        assert_eq!(back.errors, 1);
    }

    #[test]
    fn table_has_the_wrk_lines_and_the_distribution() {
        let mut tally = Tally::default();
        for us in 1..=1000 {
            tally.ok(200, 10, Duration::from_micros(us));
        }
        let text = report(tally).to_table(true);
        for needle in [
            "1000 ok in 1.000 s: 1000.0 requests/s",
            "Latency Distribution",
            "     50%",
            "  99.99%",
            "     max",
            "errors       0",
            "2 dials, ? reuses",
            "Requests/sec:    1000.00",
            "Transfer/sec:",
        ] {
            assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
        }
    }
}
