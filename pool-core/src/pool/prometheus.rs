//! The stats snapshot as Prometheus text exposition ([`Stats::to_prometheus`]).
//!
//! # What this module owns
//!
//! The metric names, their help text, label names and values, and writing them in the
//! [text format](https://prometheus.io/docs/instrumenting/exposition_formats/) version
//! 0.0.4 that every Prometheus-compatible scraper reads.
//!
//! # What it deliberately does not do
//!
//! It serves nothing: no HTTP server, no registry, no dependency. A program exposes the
//! `String` from its own endpoint (or writes it to a file for node_exporter's textfile
//! collector), when it likes, from a [`Stats`] it got from `Client::stats` or
//! `Engine::stats`. Taking the snapshot is the engine's business, formatting it is the
//! caller's thread's.
//!
//! # Series
//!
//! Every family has one series per host pool, labelled `pool="http://host:port"`, and one
//! series without labels for the total over all hosts (`sum` over `{pool!=""}` gives the
//! same number). Counters end in `_total`; durations are in seconds.

use std::fmt::{self, Write as _};

use super::key::PoolKey;
use super::stats::{CloseCounts, HostStats, Stats};
use super::timings::Histogram;
use super::{CloseCause, NotReusable};

impl Stats {
    /// The snapshot in Prometheus text exposition format: per host pool and in total,
    /// the request, dial, reuse, retry (and denied retry), wait-queue, silent-close and
    /// TLS handshake counters, the limits learned per host, closes by cause and
    /// not-reusable closes by reason, the connection and waiter gauges, and histograms of
    /// connect, TLS handshake, wait-for-connection, time-to-first-byte and total times.
    ///
    /// ```
    /// let stats = wirepool::Stats::default();
    /// let text = stats.to_prometheus();
    /// assert!(text.contains("# TYPE wirepool_requests_total counter\nwirepool_requests_total 0\n"));
    /// ```
    ///
    /// `docs/observability.md` shows the whole output of a real run.
    pub fn to_prometheus(&self) -> String {
        let mut out = String::with_capacity(4096 + self.hosts.len() * 8192);
        // Writing to a String cannot fail.
        let _ = write_all(&mut out, self);
        out
    }
}

/// A counter family: name, help, and how to read it off a host's stats.
type CounterFamily = (&'static str, &'static str, fn(&HostStats) -> u64);

/// A histogram family: name, help, and which histogram of a host's stats.
type HistogramFamily = (&'static str, &'static str, fn(&HostStats) -> &Histogram);

/// Every family, in a fixed order.
fn write_all(out: &mut String, stats: &Stats) -> fmt::Result {
    let counters: [CounterFamily; 8] = [
        ("requests_total", "Requests submitted.", |s| s.requests),
        ("dials_total", "Connections dialed.", |s| s.dials),
        (
            "reuses_total",
            "Requests served on a connection that had served one before.",
            |s| s.reuses,
        ),
        (
            "retries_total",
            "Requests resent on a fresh connection after failing on a reused one.",
            |s| s.retries,
        ),
        (
            "retries_denied_total",
            "Resends refused by the retry budget (the error went to the caller).",
            |s| s.retries_denied,
        ),
        (
            "queue_timeouts_total",
            "Requests that failed after pool_wait_timeout waiting for a connection.",
            |s| s.queue_timeouts,
        ),
        (
            "queue_rejected_total",
            "Requests refused at once: max_waiters_per_host were already waiting.",
            |s| s.queue_rejected,
        ),
        (
            "silent_closes_total",
            "Connections the server closed without warning (idle, or as a request went out).",
            |s| s.learned.silent_closes,
        ),
    ];
    for (name, help, get) in counters {
        family(out, name, help, "counter")?;
        each(out, stats, |out, pool, s| {
            sample(out, name, pool, None, get(s))
        })?;
    }

    family(
        out,
        "tls_handshakes_total",
        "TLS handshakes, full (certificate verified) or resumed.",
        "counter",
    )?;
    each(out, stats, |out, pool, s| {
        let name = "tls_handshakes_total";
        sample(
            out,
            name,
            pool,
            Some(("kind", "full")),
            s.tls_full_handshakes,
        )?;
        sample(
            out,
            name,
            pool,
            Some(("kind", "resumed")),
            s.tls_resumed_handshakes,
        )
    })?;

    family(
        out,
        "connections",
        "Open connections by state: idle in the pool, active (carrying a request), connecting (DNS, TCP, TLS).",
        "gauge",
    )?;
    each(out, stats, |out, pool, s| {
        let name = "connections";
        sample(out, name, pool, Some(("state", "idle")), s.idle as u64)?;
        sample(out, name, pool, Some(("state", "active")), s.active as u64)?;
        sample(
            out,
            name,
            pool,
            Some(("state", "connecting")),
            s.connecting as u64,
        )
    })?;

    family(
        out,
        "waiting_requests",
        "Requests waiting for a connection (max_conns_per_host reached).",
        "gauge",
    )?;
    each(out, stats, |out, pool, s| {
        sample(out, "waiting_requests", pool, None, s.waiting as u64)
    })?;

    family(
        out,
        "closes_total",
        "Connections closed, by cause.",
        "counter",
    )?;
    each(out, stats, |out, pool, s| {
        for cause in CloseCause::ALL {
            let label = Some(("cause", cause_label(cause)));
            sample(out, "closes_total", pool, label, s.closes.get(cause))?;
        }
        Ok(())
    })?;

    family(
        out,
        "not_reusable_total",
        "Connections closed because the exchange left them unfit for reuse, by reason.",
        "counter",
    )?;
    each(out, stats, |out, pool, s| {
        not_reusable(out, pool, &s.closes)
    })?;

    family(
        out,
        "learned_requests_per_conn",
        "Responses per connection after which the server was learned to close silently (per pool, when learned).",
        "gauge",
    )?;
    for (key, host) in &stats.hosts {
        if let Some(n) = host.learned.requests_per_conn {
            sample(
                out,
                "learned_requests_per_conn",
                Some(key),
                None,
                u64::from(n),
            )?;
        }
    }
    family(
        out,
        "learned_idle_timeout_seconds",
        "Idle time after which the server was learned to close silently (per pool, when learned).",
        "gauge",
    )?;
    for (key, host) in &stats.hosts {
        if let Some(t) = host.learned.idle_timeout {
            let labels = Labels {
                pool: Some(key),
                extra: [None, None],
            };
            writeln!(
                out,
                "wirepool_learned_idle_timeout_seconds{labels} {}",
                t.as_secs_f64()
            )?;
        }
    }

    let histograms: [HistogramFamily; 5] = [
        (
            "connect_seconds",
            "TCP connect time of new connections.",
            |s| &s.timings.connect,
        ),
        (
            "tls_handshake_seconds",
            "TLS handshake time of new connections.",
            |s| &s.timings.tls,
        ),
        (
            "wait_seconds",
            "Time from submission until a request had a connection (queue, DNS, connect, TLS).",
            |s| &s.timings.wait,
        ),
        (
            "ttfb_seconds",
            "Time from submission to the first response byte, finished requests.",
            |s| &s.timings.ttfb,
        ),
        (
            "request_duration_seconds",
            "Time from submission to the end of the body, finished requests.",
            |s| &s.timings.total,
        ),
    ];
    for (name, help, get) in histograms {
        family(out, name, help, "histogram")?;
        each(out, stats, |out, pool, s| {
            histogram(out, name, pool, get(s))
        })?;
    }
    Ok(())
}

/// `# HELP` and `# TYPE` of a family.
fn family(out: &mut String, name: &str, help: &str, kind: &str) -> fmt::Result {
    writeln!(out, "# HELP wirepool_{name} {help}")?;
    writeln!(out, "# TYPE wirepool_{name} {kind}")
}

/// Runs `f` for the total (no pool label) and then for each host.
fn each(
    out: &mut String,
    stats: &Stats,
    mut f: impl FnMut(&mut String, Option<&PoolKey>, &HostStats) -> fmt::Result,
) -> fmt::Result {
    f(out, None, &stats.total)?;
    for (key, host) in &stats.hosts {
        f(out, Some(key), host)?;
    }
    Ok(())
}

/// The labels of a series: the pool's (if any), then `extra`.
struct Labels<'a> {
    pool: Option<&'a PoolKey>,
    extra: [Option<(&'a str, &'a str)>; 2],
}

impl fmt::Display for Labels<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut sep = |f: &mut fmt::Formatter<'_>| {
            let s = if first { "{" } else { "," };
            first = false;
            f.write_str(s)
        };
        if let Some(pool) = self.pool {
            sep(f)?;
            f.write_str("pool=\"")?;
            escaped(f, pool)?;
            f.write_str("\"")?;
        }
        for (name, value) in self.extra.iter().flatten() {
            sep(f)?;
            write!(f, "{name}=\"{value}\"")?;
        }
        if !first {
            f.write_str("}")?;
        }
        Ok(())
    }
}

/// A label value with `\`, `"` and newlines escaped, as the format requires.
fn escaped(f: &mut fmt::Formatter<'_>, value: &dyn fmt::Display) -> fmt::Result {
    struct Escape<'a, 'b>(&'a mut fmt::Formatter<'b>);
    impl fmt::Write for Escape<'_, '_> {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            for c in s.chars() {
                match c {
                    '\\' => self.0.write_str("\\\\")?,
                    '"' => self.0.write_str("\\\"")?,
                    '\n' => self.0.write_str("\\n")?,
                    c => self.0.write_char(c)?,
                }
            }
            Ok(())
        }
    }
    write!(Escape(f), "{value}")
}

fn sample(
    out: &mut String,
    name: &str,
    pool: Option<&PoolKey>,
    extra: Option<(&str, &str)>,
    value: u64,
) -> fmt::Result {
    let labels = Labels {
        pool,
        extra: [extra, None],
    };
    writeln!(out, "wirepool_{name}{labels} {value}")
}

fn not_reusable(out: &mut String, pool: Option<&PoolKey>, closes: &CloseCounts) -> fmt::Result {
    for why in NotReusable::ALL {
        let label = Some(("reason", reason_label(why)));
        sample(
            out,
            "not_reusable_total",
            pool,
            label,
            closes.not_reusable_by.get(why),
        )?;
    }
    Ok(())
}

/// Cumulative buckets (`le` in seconds, then `+Inf`), `_sum` and `_count`.
fn histogram(out: &mut String, name: &str, pool: Option<&PoolKey>, h: &Histogram) -> fmt::Result {
    let mut cumulative = 0;
    let mut le = String::new();
    for (bound, n) in h.buckets() {
        cumulative += n;
        le.clear();
        match bound {
            Some(b) => write!(le, "{}", b.as_secs_f64())?,
            None => le.push_str("+Inf"),
        }
        let labels = Labels {
            pool,
            extra: [Some(("le", &le)), None],
        };
        writeln!(out, "wirepool_{name}_bucket{labels} {cumulative}")?;
    }
    let labels = Labels {
        pool,
        extra: [None, None],
    };
    writeln!(out, "wirepool_{name}_sum{labels} {}", h.sum().as_secs_f64())?;
    writeln!(out, "wirepool_{name}_count{labels} {}", h.count())
}

/// The `cause` label of a close: the field name in [`CloseCounts`].
fn cause_label(cause: CloseCause) -> &'static str {
    match cause {
        CloseCause::IdleTimeout => "idle_timeout",
        CloseCause::Lifetime => "lifetime",
        CloseCause::ServerClose => "server_close",
        CloseCause::Error => "error",
        CloseCause::Evicted => "evicted",
        CloseCause::MaxRequests => "max_requests",
        CloseCause::NotReusable(_) => "not_reusable",
        CloseCause::Shutdown => "shutdown",
        CloseCause::Canceled => "canceled",
        CloseCause::KeepAliveTimeout => "keepalive_timeout",
        CloseCause::KeepAliveMax => "keepalive_max",
        CloseCause::LearnedRequestLimit => "learned_request_limit",
        CloseCause::LearnedIdleLimit => "learned_idle_limit",
        CloseCause::DnsChange => "dns_change",
        CloseCause::Rebalance => "rebalance",
    }
}

/// The `reason` label of a not-reusable close: the field name in
/// [`NotReusableCounts`](super::NotReusableCounts).
fn reason_label(why: NotReusable) -> &'static str {
    match why {
        NotReusable::ServerSentClose => "server_sent_close",
        NotReusable::RequestSentClose => "request_sent_close",
        NotReusable::Http10 => "http10",
        NotReusable::CloseDelimitedBody => "close_delimited_body",
        NotReusable::EarlyResponse => "early_response",
        NotReusable::DrainLimit => "drain_limit",
        NotReusable::DrainTimeout => "drain_timeout",
        NotReusable::Other => "other",
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::pool::{PoolLimits, Pools, ReuseOrder, Scheme};

    fn snapshot() -> Stats {
        let mut pools = Pools::new(PoolLimits {
            max_idle_per_host: 4,
            max_idle_total: 8,
            max_conns_per_host: None,
            order: ReuseOrder::Lifo,
        });
        let a = pools.host_id(Scheme::Http, "a.example", 80);
        let b = pools.host_id(Scheme::Https, "b.\"odd\"", 8443);
        let ca = pools.stats_mut(a);
        ca.requests = 5;
        ca.dials = 2;
        ca.closes
            .record(CloseCause::NotReusable(NotReusable::ServerSentClose));
        ca.closes.record(CloseCause::IdleTimeout);
        ca.timings.ttfb.record(Duration::from_micros(40));
        ca.timings.ttfb.record(Duration::from_millis(3));
        let cb = pools.stats_mut(b);
        cb.requests = 1;
        cb.tls_resumed_handshakes = 1;
        cb.timings.ttfb.record(Duration::from_secs(60));
        pools.conn_opened(a);
        pools.snapshot()
    }

    /// Every line is a comment or `name{labels} value` with a number value; families
    /// are declared once, before their samples.
    #[test]
    fn every_line_is_well_formed() {
        let text = snapshot().to_prometheus();
        let mut declared = std::collections::HashSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let name = rest.split(' ').next().unwrap();
                assert!(declared.insert(name.to_owned()), "{name} declared twice");
                continue;
            }
            if line.starts_with("# HELP ") {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').unwrap();
            assert!(value.parse::<f64>().is_ok(), "bad value in {line:?}");
            let name = series.split('{').next().unwrap();
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s).filter(|f| declared.contains(*f)))
                .unwrap_or(name);
            assert!(declared.contains(family), "{name} before its # TYPE");
        }
        assert_eq!(declared.len(), 20);
    }

    /// Two snapshots (two clients) merged: both hosts, totals added, still one family
    /// declaration each in the text.
    #[test]
    fn merged_snapshots_expose_both_pools_once() {
        let mut pools = Pools::new(PoolLimits {
            max_idle_per_host: 4,
            max_idle_total: 8,
            max_conns_per_host: None,
            order: ReuseOrder::Lifo,
        });
        let c = pools.host_id(Scheme::Http, "c.example", 80);
        pools.stats_mut(c).requests = 4;
        let mut merged = snapshot();
        merged.merge(pools.snapshot());
        assert_eq!(merged.total.requests, 10);
        let keys: Vec<String> = merged.hosts.iter().map(|(k, _)| k.to_string()).collect();
        assert_eq!(
            keys,
            [
                "http://a.example:80",
                "http://c.example:80",
                "https://b.\"odd\":8443"
            ]
        );
        let text = merged.to_prometheus();
        assert_eq!(text.matches("# TYPE wirepool_requests_total ").count(), 1);
        assert!(text.contains("wirepool_requests_total 10\n"));
        assert!(text.contains("wirepool_requests_total{pool=\"http://c.example:80\"} 4\n"));
    }

    #[test]
    fn policy_counters_and_learned_limits() {
        let mut pools = Pools::new(PoolLimits {
            max_idle_per_host: 4,
            max_idle_total: 8,
            max_conns_per_host: None,
            order: ReuseOrder::Lifo,
        });
        let a = pools.host_id(Scheme::Http, "a.example", 80);
        let t = std::time::Instant::now();
        let learner = pools.learner_mut(a);
        learner.on_silent_close(3, Duration::ZERO, false, t);
        learner.on_silent_close(3, Duration::ZERO, false, t);
        let counters = pools.stats_mut(a);
        counters.retries_denied = 2;
        counters.queue_rejected = 1;
        counters.closes.record(CloseCause::LearnedRequestLimit);
        counters.closes.record(CloseCause::DnsChange);
        let text = pools.snapshot().to_prometheus();
        for line in [
            "wirepool_retries_denied_total{pool=\"http://a.example:80\"} 2\n",
            "wirepool_queue_rejected_total 1\n",
            "wirepool_silent_closes_total{pool=\"http://a.example:80\"} 2\n",
            "wirepool_learned_requests_per_conn{pool=\"http://a.example:80\"} 3\n",
            "wirepool_closes_total{cause=\"learned_request_limit\"} 1\n",
            "wirepool_closes_total{pool=\"http://a.example:80\",cause=\"dns_change\"} 1\n",
        ] {
            assert!(text.contains(line), "{line}");
        }
        assert!(
            !text.contains("wirepool_learned_idle_timeout_seconds{"),
            "no idle limit learned: no series"
        );
    }

    #[test]
    fn totals_hosts_causes_and_histograms() {
        let text = snapshot().to_prometheus();
        for want in [
            "wirepool_requests_total 6\n",
            "wirepool_requests_total{pool=\"http://a.example:80\"} 5\n",
            "wirepool_requests_total{pool=\"https://b.\\\"odd\\\":8443\"} 1\n",
            "wirepool_tls_handshakes_total{kind=\"resumed\"} 1\n",
            "wirepool_connections{pool=\"http://a.example:80\",state=\"connecting\"} 1\n",
            "wirepool_closes_total{cause=\"not_reusable\"} 1\n",
            "wirepool_closes_total{cause=\"idle_timeout\"} 1\n",
            "wirepool_not_reusable_total{reason=\"server_sent_close\"} 1\n",
            "wirepool_not_reusable_total{reason=\"drain_limit\"} 0\n",
            "wirepool_ttfb_seconds_bucket{le=\"0.000025\"} 0\n",
            "wirepool_ttfb_seconds_bucket{le=\"0.00005\"} 1\n",
            "wirepool_ttfb_seconds_bucket{le=\"0.005\"} 2\n",
            "wirepool_ttfb_seconds_bucket{le=\"10\"} 2\n",
            "wirepool_ttfb_seconds_bucket{le=\"+Inf\"} 3\n",
            "wirepool_ttfb_seconds_count 3\n",
            "wirepool_ttfb_seconds_sum 60.00304\n",
            "wirepool_ttfb_seconds_bucket{pool=\"http://a.example:80\",le=\"+Inf\"} 2\n",
        ] {
            assert!(text.contains(want), "missing {want:?} in:\n{text}");
        }
    }
}
