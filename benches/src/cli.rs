//! The command line every load generator in the benchmarks shares with `loadgen`.
//!
//! ```text
//! PEER --url URL -c CONNECTIONS (-n REQUESTS | -d SECONDS) [--json]
//!      [--cacert PATH | --insecure] [--no-reuse] [--no-resume]
//! ```
//!
//! Same spelling and meaning as `loadgen` (`examples/src/bin/loadgen.rs`), so the runner
//! can swap the program and keep the arguments; `--url=...` and a bare URL work too.
//! The TLS and connection options exist for the handshake runs:
//!
//! - `--cacert PATH`: trust only this CA (PEM) for `https://`; `--insecure` skips
//!   verification (testing only). Without either, the system's roots are used.
//! - `--no-reuse`: a new connection per request (the pool keeps no idle connection);
//!   over TLS every dial then resumes the previous session.
//! - `--no-resume`: no TLS session cache, so every handshake is a full one.
//!
//! Options a single peer adds (hyper's `--mode cur|mt`) are handed back to it in
//! [`LoadArgs::extra`]; it rejects what it does not know.

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// When a run ends (as `loadgen`'s `-n` / `-d`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Stop {
    /// After this many completed requests (failed ones included).
    Requests(u64),
    /// No new request after this long; requests in flight finish and count.
    Duration(Duration),
}

impl Stop {
    /// Whether request number `started` (0-based) may start, `t0` being the run's start.
    pub fn may_start(self, started: u64, t0: Instant) -> bool {
        match self {
            Stop::Requests(n) => started < n,
            Stop::Duration(d) => t0.elapsed() < d,
        }
    }
}

/// The parsed command line.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadArgs {
    /// `http://` or `https://` URL to GET.
    pub url: String,
    /// Requests kept in flight; each client's pool holds at least this many connections.
    pub connections: usize,
    /// When to stop.
    pub stop: Stop,
    /// One JSON line instead of the human-readable summary.
    pub json: bool,
    /// CA file to trust (alone) for `https://`.
    pub cacert: Option<PathBuf>,
    /// Skip certificate verification.
    pub insecure: bool,
    /// No idle connection is kept: a dial per request.
    pub no_reuse: bool,
    /// No TLS session cache: every handshake is full.
    pub no_resume: bool,
    /// `(flag, value)` pairs of options this module does not know, for the peer.
    pub extra: Vec<(String, String)>,
}

impl LoadArgs {
    /// Whether the URL is `https://`.
    pub fn is_https(&self) -> bool {
        self.url.starts_with("https://")
    }

    /// The TLS configuration the options ask for, built with tls-glue (ring provider,
    /// ALPN `http/1.1`, 256-entry resumption cache unless `--no-resume`). The peers hand
    /// its rustls `ClientConfig` to their own TLS stack, so both sides of a comparison
    /// use the same provider, roots and cache.
    pub fn tls_config(&self) -> Result<pool_core::tls::TlsConfig, String> {
        use pool_core::tls::{TlsConfig, TrustRoots};
        let mut b = TlsConfig::builder();
        if let Some(ca) = &self.cacert {
            b = b.trust_roots(TrustRoots::OnlyAdded).add_ca_pem_file(ca);
        }
        if self.insecure {
            b = b.danger_accept_invalid_certs_for_testing_only();
        }
        if self.no_resume {
            b = b.max_cached_sessions(0);
        }
        b.build().map_err(|e| format!("TLS configuration: {e}"))
    }
}

/// The start of every peer's `main`: the process's arguments parsed, or the exit code
/// after `--help` (usage on stdout, 0) or a usage error (message and usage on stderr, 2).
pub fn args_or_exit(program: &str, usage: &str) -> Result<LoadArgs, std::process::ExitCode> {
    match parse(std::env::args().skip(1)) {
        Ok(Some(args)) => Ok(args),
        Ok(None) => {
            println!("{usage}");
            Err(std::process::ExitCode::SUCCESS)
        }
        Err(msg) => {
            eprintln!("{program}: {msg}\n{usage}");
            Err(std::process::ExitCode::from(2))
        }
    }
}

/// Parses `args` (without the program name). `Ok(None)` means `--help`.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Option<LoadArgs>, String> {
    let mut url = None;
    let mut connections = None;
    let mut requests = None;
    let mut duration = None;
    let mut out = LoadArgs {
        url: String::new(),
        connections: 0,
        stop: Stop::Requests(0),
        json: false,
        cacert: None,
        insecure: false,
        no_reuse: false,
        no_resume: false,
        extra: Vec::new(),
    };
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--url" | "-u" => url = Some(value("--url")?),
            "-c" | "--connections" => {
                let v = value("-c")?;
                connections = Some(
                    v.parse::<usize>()
                        .ok()
                        .filter(|&c| c > 0)
                        .ok_or_else(|| format!("-c wants a whole number ≥ 1, not {v:?}"))?,
                );
            }
            "-n" | "--requests" => {
                let v = value("-n")?;
                requests = Some(
                    v.parse::<u64>()
                        .ok()
                        .filter(|&n| n > 0)
                        .ok_or_else(|| format!("-n wants a whole number ≥ 1, not {v:?}"))?,
                );
            }
            "-d" | "--duration" => {
                let v = value("-d")?;
                let secs: f64 = v
                    .trim_end_matches('s')
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s > 0.0 && *s < 1e7)
                    .ok_or_else(|| format!("-d wants a positive number of seconds, not {v:?}"))?;
                duration = Some(Duration::from_secs_f64(secs));
            }
            "--json" => out.json = true,
            "--cacert" => out.cacert = Some(PathBuf::from(value("--cacert")?)),
            "--insecure" | "-k" => out.insecure = true,
            "--no-reuse" => out.no_reuse = true,
            "--no-resume" => out.no_resume = true,
            other if other.starts_with("--") => {
                let v = value(other)?;
                out.extra.push((other.to_string(), v));
            }
            other if other.starts_with('-') => return Err(format!("unknown option {other:?}")),
            other if url.is_none() => url = Some(other.to_string()),
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    let url = url.ok_or("--url is required")?;
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(format!("the URL {url:?} needs http:// or https://"));
    }
    out.url = url;
    out.connections = connections.ok_or("-c is required")?;
    out.stop = match (requests, duration) {
        (Some(n), None) => Stop::Requests(n),
        (None, Some(d)) => Stop::Duration(d),
        (Some(_), Some(_)) => return Err("give -n or -d, not both".into()),
        (None, None) => return Err("give -n REQUESTS or -d SECONDS".into()),
    };
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_line(line: &str) -> Result<Option<LoadArgs>, String> {
        parse(line.split_whitespace().map(String::from))
    }

    #[test]
    fn parses_loadgen_spelling_and_extras() {
        let a = parse_line("--url http://127.0.0.1:1/ -c 64 -d 5 --json --mode mt")
            .expect("valid")
            .expect("not help");
        assert_eq!(a.connections, 64);
        assert_eq!(a.stop, Stop::Duration(Duration::from_secs(5)));
        assert!(a.json && !a.is_https());
        assert_eq!(a.extra, vec![("--mode".to_string(), "mt".to_string())]);

        let a = parse_line("https://h/ -c 1 -n 10 --cacert=/ca.pem --no-reuse --no-resume")
            .expect("valid")
            .expect("not help");
        assert!(a.is_https() && a.no_reuse && a.no_resume);
        assert_eq!(a.stop, Stop::Requests(10));
        assert_eq!(a.cacert, Some(PathBuf::from("/ca.pem")));
        assert_eq!(parse_line("-h"), Ok(None));
    }

    #[test]
    fn rejects_bad_usage() {
        for (line, needle) in [
            ("-c 1 -n 1", "--url is required"),
            ("--url http://h/ -n 1", "-c is required"),
            ("--url http://h/ -c 0 -n 1", "≥ 1"),
            ("--url http://h/ -c 1", "give -n"),
            ("--url http://h/ -c 1 -n 1 -d 1", "not both"),
            ("--url ftp://h/ -c 1 -n 1", "http://"),
            ("--url http://h/ -c 1 -n 1 -x", "unknown option"),
            ("--url http://h/ -c 1 -d 1 --mode", "needs a value"),
        ] {
            let err = parse_line(line).expect_err(line);
            assert!(err.contains(needle), "{line}: {err}");
        }
    }

    #[test]
    fn stop_rules() {
        let t0 = Instant::now();
        assert!(Stop::Requests(2).may_start(1, t0));
        assert!(!Stop::Requests(2).may_start(2, t0));
        assert!(Stop::Duration(Duration::from_secs(60)).may_start(1_000_000, t0));
        assert!(!Stop::Duration(Duration::ZERO).may_start(0, t0));
    }
}
