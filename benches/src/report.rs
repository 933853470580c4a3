//! Outcome counting and the one-line JSON report, field for field `loadgen`'s.
//!
//! A peer counts its run in a [`Tally`] (or one per thread, merged after), then builds a
//! [`LoadReport`] and prints it. The JSON keys and their meaning are `loadgen --json`'s
//! (see `docs/benchmarks.md`): `client, url, c, n, secs, rps, min_us, mean_us, p50_us,
//! p90_us, p99_us, p999_us, max_us, cpu_user_s, cpu_sys_s, cpu_total_s, cpu_us_per_req,
//! cpu_source, cpu_ticks, dials, reuses, errors, errors_by_kind, non_2xx_3xx, body_bytes,
//! peak_rss_kb, tls_full, tls_resumed`. A figure a client cannot give (wrk's dials, say) is
//! `null`, never a guess.

use std::collections::BTreeMap;
use std::time::Duration;

use examples::cpu_time::CpuUsage;
use examples::histogram::Histogram;
use examples::json::JsonObject;

/// Outcomes counted during a run.
#[derive(Debug, Default)]
pub struct Tally {
    /// Requests finished, failed ones included.
    pub completed: u64,
    /// Latency of each successful request, submit to end of body.
    pub latency: Histogram,
    /// Failed requests by a short error description.
    pub errors: BTreeMap<String, u64>,
    /// Responses with a status outside 2xx and 3xx (the server answered: not errors).
    pub non_2xx_3xx: u64,
    /// Response body bytes received.
    pub body_bytes: u64,
}

impl Tally {
    /// Counts a successful request: its status, body size and latency.
    pub fn ok(&mut self, status: u16, body_bytes: u64, latency: Duration) {
        if !(200..400).contains(&status) {
            self.non_2xx_3xx += 1;
        }
        self.body_bytes += body_bytes;
        self.latency.record(latency);
        self.completed += 1;
    }

    /// Counts a failed request.
    pub fn error(&mut self, kind: impl Into<String>) {
        *self.errors.entry(kind.into()).or_default() += 1;
        self.completed += 1;
    }

    /// Adds `other`'s counts to this one.
    pub fn merge(&mut self, other: Tally) {
        self.completed += other.completed;
        self.latency.merge(&other.latency);
        for (kind, n) in other.errors {
            *self.errors.entry(kind).or_default() += n;
        }
        self.non_2xx_3xx += other.non_2xx_3xx;
        self.body_bytes += other.body_bytes;
    }

    /// Failed requests.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// Latency figures of a run, for a client that computes them itself (wrk).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Percentiles {
    /// Fastest request.
    pub min: Duration,
    /// Mean.
    pub mean: Duration,
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// 99.9th percentile.
    pub p999: Duration,
    /// Slowest request.
    pub max: Duration,
}

impl Percentiles {
    /// The figures of a histogram.
    pub fn of(h: &Histogram) -> Percentiles {
        Percentiles {
            min: h.min(),
            mean: h.mean(),
            p50: h.percentile(50.0),
            p90: h.percentile(90.0),
            p99: h.percentile(99.0),
            p999: h.percentile(99.9),
            max: h.max(),
        }
    }
}

/// A number member of a flat JSON line (`"key":123.4`); `None` if absent or `null`.
/// Enough for the lines our own tools print; not a JSON parser.
pub fn json_number(line: &str, key: &str) -> Option<f64> {
    let pat = format!("\"{key}\":");
    let at = line.find(&pat)? + pat.len();
    let rest = &line[at..];
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    rest[..end].trim().parse().ok()
}

/// A string member of a flat JSON line (no escapes inside).
pub fn json_str<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("\"{key}\":\"");
    let at = line.find(&pat)? + pat.len();
    line[at..].split('"').next()
}

/// The result of one run, as printed.
#[derive(Debug)]
pub struct LoadReport {
    /// Client name: `hyper-cur`, `hyper-mt`, `ureq`, `wrk`.
    pub client: String,
    /// The URL loaded.
    pub url: String,
    /// Concurrency.
    pub connections: usize,
    /// First request sent to last finished.
    pub elapsed: Duration,
    /// Outcomes.
    pub tally: Tally,
    /// Latency figures when the client computed them itself; else from `tally`.
    pub latency: Option<Percentiles>,
    /// Connections opened, if the client can tell.
    pub dials: Option<u64>,
    /// Requests on reused connections, if the client can tell.
    pub reuses: Option<u64>,
    /// Full / resumed TLS handshakes, if the client can tell (`https://` only).
    pub tls_handshakes: Option<(u64, u64)>,
    /// CPU time of the whole process over `elapsed`.
    pub cpu: Option<CpuUsage>,
    /// Peak RSS (`VmHWM`) at the end, KiB.
    pub peak_rss_kb: Option<u64>,
}

fn micros(d: Duration) -> f64 {
    d.as_nanos() as f64 / 1000.0
}

impl LoadReport {
    /// Completed requests per second.
    pub fn rps(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.tally.completed as f64 / secs
        } else {
            0.0
        }
    }

    /// CPU µs per completed request.
    pub fn cpu_us_per_req(&self) -> Option<f64> {
        let cpu = self.cpu?;
        (self.tally.completed > 0).then(|| micros(cpu.total) / self.tally.completed as f64)
    }

    /// The JSON line (`loadgen --json`'s keys).
    pub fn to_json(&self) -> String {
        let h = self.percentiles();
        let nan = f64::NAN; // written as null
        let opt = |v: Option<u64>| v.map_or(nan, |v| v as f64);
        let mut errors = JsonObject::new();
        for (kind, n) in &self.tally.errors {
            errors.u64(kind, *n);
        }
        let mut o = JsonObject::new();
        o.str("client", &self.client)
            .str("url", &self.url)
            .u64("c", self.connections as u64)
            .u64("n", self.tally.completed)
            .f64("secs", self.elapsed.as_secs_f64(), 6)
            .f64("rps", self.rps(), 1)
            .f64("min_us", micros(h.min), 1)
            .f64("mean_us", micros(h.mean), 1)
            .f64("p50_us", micros(h.p50), 1)
            .f64("p90_us", micros(h.p90), 1)
            .f64("p99_us", micros(h.p99), 1)
            .f64("p999_us", micros(h.p999), 1)
            .f64("max_us", micros(h.max), 1);
        let cpu = self.cpu;
        o.f64("cpu_user_s", cpu.map_or(nan, |c| c.user.as_secs_f64()), 6)
            .f64("cpu_sys_s", cpu.map_or(nan, |c| c.sys.as_secs_f64()), 6)
            .f64("cpu_total_s", cpu.map_or(nan, |c| c.total.as_secs_f64()), 6)
            .f64("cpu_us_per_req", self.cpu_us_per_req().unwrap_or(nan), 3)
            .str("cpu_source", cpu.map_or("none", |c| c.source.as_str()))
            .u64("cpu_ticks", cpu.map_or(0, |c| c.ticks))
            .f64("dials", opt(self.dials), 0)
            .f64("reuses", opt(self.reuses), 0)
            .u64("errors", self.tally.error_count())
            .object("errors_by_kind", errors)
            .u64("non_2xx_3xx", self.tally.non_2xx_3xx)
            .u64("body_bytes", self.tally.body_bytes)
            .f64("peak_rss_kb", opt(self.peak_rss_kb), 0)
            .f64("tls_full", opt(self.tls_handshakes.map(|t| t.0)), 0)
            .f64("tls_resumed", opt(self.tls_handshakes.map(|t| t.1)), 0);
        o.finish()
    }

    /// The latency figures printed.
    pub fn percentiles(&self) -> Percentiles {
        self.latency
            .unwrap_or_else(|| Percentiles::of(&self.tally.latency))
    }

    /// A few human-readable lines.
    pub fn to_text(&self) -> String {
        let h = self.percentiles();
        let show = |v: Option<u64>| v.map_or("?".to_string(), |v| v.to_string());
        format!(
            "{} → {}, {} connections\n  requests  {} in {:.3} s: {:.1}/s, {} errors\n  \
             latency   p50 {:.1} µs  p99 {:.1} µs  p99.9 {:.1} µs  max {:.1} µs\n  \
             cpu       {} µs/request; peak RSS {} KiB; {} dials, {} reuses",
            self.client,
            self.url,
            self.connections,
            self.tally.completed,
            self.elapsed.as_secs_f64(),
            self.rps(),
            self.tally.error_count(),
            micros(h.p50),
            micros(h.p99),
            micros(h.p999),
            micros(h.max),
            self.cpu_us_per_req()
                .map_or("?".to_string(), |us| format!("{us:.2}")),
            show(self.peak_rss_kb),
            show(self.dials),
            show(self.reuses),
        )
    }

    /// Prints the JSON line or the text.
    pub fn print(&self, json: bool) {
        if json {
            println!("{}", self.to_json());
        } else {
            println!("{}", self.to_text());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_has_loadgens_keys_and_nulls() {
        let mut tally = Tally::default();
        tally.ok(200, 13, Duration::from_micros(100));
        tally.ok(404, 0, Duration::from_micros(100));
        tally.error("connect");
        let r = LoadReport {
            client: "hyper-cur".into(),
            url: "http://h/".into(),
            connections: 2,
            elapsed: Duration::from_secs(1),
            tally,
            latency: None,
            dials: Some(2),
            reuses: None,
            tls_handshakes: None,
            cpu: None,
            peak_rss_kb: Some(1234),
        };
        let json = r.to_json();
        for key in [
            "\"client\":\"hyper-cur\"",
            "\"c\":2",
            "\"n\":3",
            "\"rps\":3.0",
            "\"p50_us\":100.0",
            "\"cpu_us_per_req\":null",
            "\"dials\":2",
            "\"reuses\":null",
            "\"errors\":1",
            "\"errors_by_kind\":{\"connect\":1}",
            "\"non_2xx_3xx\":1",
            "\"body_bytes\":13",
            "\"peak_rss_kb\":1234",
            "\"tls_full\":null",
        ] {
            assert!(json.contains(key), "{json} lacks {key}");
        }
        assert_eq!(json_number(&json, "rps"), Some(3.0));
        assert_eq!(json_number(&json, "reuses"), None);
        assert_eq!(json_str(&json, "client"), Some("hyper-cur"));
    }
}
