//! The pool settings both tools take (`fetch` and `loadgen`): DNS, connection limits,
//! bounded waiting and the policies about the server (`docs/tuning.md`).
//!
//! They are wirepool's own settings, not curl's or wrk's, so they have their own group
//! in `--help` and keep wirepool's names: `--dns-ttl` is `Config::dns_ttl`,
//! `--max-waiters` is `Config::max_waiters_per_host`, and so on. Durations take a unit
//! (`500ms`, `2s`, `1m`); a bare number is seconds. Settings not given keep wirepool's
//! defaults; `Config::validate` has the last word on every value.

use std::time::Duration;

use clap::Args;
use wirepool::{ClientBuilder, Config};

/// Pool settings from the command line (`#[command(flatten)]` into a tool's options).
#[derive(Args, Clone, Debug, Default, PartialEq, Eq)]
#[command(next_help_heading = "Pool")]
pub struct PoolOptions {
    /// How long a DNS answer is used before it is looked up again (with connections
    /// open, the pool refreshes it then); 0: no cache [default: 30s]
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub dns_ttl: Option<Duration>,
    /// Open connections per host; more requests wait for one [default: no limit]
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    pub max_conns_per_host: Option<usize>,
    /// Requests that may wait per host at --max-conns-per-host; one more fails at once
    /// (wait queue full) [default: no limit]
    #[arg(long = "max-waiters", value_name = "N")]
    pub max_waiters: Option<usize>,
    /// Longest wait for a connection at --max-conns-per-host; then the request fails
    /// (timed out waiting for a connection), apart from the total timeout
    #[arg(long, value_name = "TIME", value_parser = parse_positive_time)]
    pub pool_wait_timeout: Option<Duration>,
    /// Time taken off a server's idle timeout (Keep-Alive: timeout=, or learned)
    /// before its connections stop being reused [default: 1s]
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub keepalive_margin: Option<Duration>,
    /// Do not learn the limits a server shows by closing connections without warning
    /// (reuse every connection until the server closes it)
    #[arg(long)]
    pub no_learn_limits: bool,
    /// Pin the DNS answer: dial its first address first and never look it up again
    /// while connections are open
    #[arg(long)]
    pub no_follow_dns: bool,
}

impl PoolOptions {
    /// Writes the settings given into `config`.
    pub fn apply(&self, config: &mut Config) {
        if let Some(ttl) = self.dns_ttl {
            config.dns_ttl = ttl;
        }
        if let Some(n) = self.max_conns_per_host {
            config.max_conns_per_host = Some(n);
        }
        if let Some(n) = self.max_waiters {
            config.max_waiters_per_host = Some(n);
        }
        if let Some(t) = self.pool_wait_timeout {
            config.pool_wait_timeout = Some(t);
        }
        if let Some(m) = self.keepalive_margin {
            config.keepalive_margin = m;
        }
        if self.no_learn_limits {
            config.learn_server_limits = false;
        }
        if self.no_follow_dns {
            config.follow_dns = false;
        }
    }

    /// The same settings on a client builder.
    pub fn apply_to(&self, mut builder: ClientBuilder) -> ClientBuilder {
        if let Some(ttl) = self.dns_ttl {
            builder = builder.dns_ttl(ttl);
        }
        if let Some(n) = self.max_conns_per_host {
            builder = builder.max_conns_per_host(Some(n));
        }
        if let Some(n) = self.max_waiters {
            builder = builder.max_waiters_per_host(Some(n));
        }
        if let Some(t) = self.pool_wait_timeout {
            builder = builder.pool_wait_timeout(Some(t));
        }
        if let Some(m) = self.keepalive_margin {
            builder = builder.keepalive_margin(m);
        }
        if self.no_learn_limits {
            builder = builder.learn_server_limits(false);
        }
        if self.no_follow_dns {
            builder = builder.follow_dns(false);
        }
        builder
    }
}

/// A duration with a unit (`ms`, `s`, `m`, `h`) or a bare number of seconds, fractions
/// allowed; zero allowed.
pub fn parse_time(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let scale = match unit {
        "" | "s" => 1.0,
        "ms" => 1e-3,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("'{text}': the unit is one of ms, s, m, h")),
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("'{text}' is not a duration like 500ms, 2s or 1.5"))?;
    let secs = value * scale;
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("'{text}': must be 0 or more"));
    }
    Duration::try_from_secs_f64(secs).map_err(|_| format!("'{text}' is too long"))
}

/// Like [`parse_time`], but zero is refused: for waits, where zero would fail at once.
pub fn parse_positive_time(text: &str) -> Result<Duration, String> {
    let d = parse_time(text)?;
    if d.is_zero() {
        return Err(format!("'{text}': must be more than 0"));
    }
    Ok(d)
}

fn at_least_one(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("'{text}' is not a count")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        pool: PoolOptions,
    }

    fn parse(args: &[&str]) -> Result<PoolOptions, String> {
        let argv = std::iter::once("tool").chain(args.iter().copied());
        Cli::try_parse_from(argv)
            .map(|c| c.pool)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn every_option_reaches_the_config() {
        let o = parse(&[
            "--dns-ttl",
            "500ms",
            "--max-conns-per-host",
            "8",
            "--max-waiters",
            "0",
            "--pool-wait-timeout",
            "1.5",
            "--keepalive-margin",
            "0",
            "--no-learn-limits",
            "--no-follow-dns",
        ])
        .unwrap();
        let mut c = Config::default();
        o.apply(&mut c);
        assert_eq!(c.dns_ttl, Duration::from_millis(500));
        assert_eq!(c.max_conns_per_host, Some(8));
        assert_eq!(c.max_waiters_per_host, Some(0));
        assert_eq!(c.pool_wait_timeout, Some(Duration::from_millis(1500)));
        assert_eq!(c.keepalive_margin, Duration::ZERO);
        assert!(!c.learn_server_limits && !c.follow_dns);
        assert!(c.validate().is_ok());
        // Nothing given: wirepool's defaults.
        let mut d = Config::default();
        parse(&[]).unwrap().apply(&mut d);
        assert_eq!(format!("{d:?}"), format!("{:?}", Config::default()));
    }

    #[test]
    fn bad_values_are_usage_errors() {
        for args in [
            &["--dns-ttl", "-1"][..],
            &["--dns-ttl", "10x"],
            &["--max-conns-per-host", "0"],
            &["--max-waiters", "-3"],
            &["--pool-wait-timeout", "0"],
            &["--keepalive-margin", "soon"],
        ] {
            assert!(parse(args).is_err(), "{args:?}");
        }
    }
}
