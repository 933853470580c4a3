//! What `loadgen` and the benchmark peers share: one set of load options, how a run
//! stops, and the report every one of them prints ([`report`]).
//!
//! ```text
//!  argv ──clap──► LoadOptions ──check()──► Plan { targets, stop, rate, request template }
//!                                              │ each load generator runs it its own way
//!  Tally (per thread) ──merge──► LoadReport ──► the table, or one JSON line (--json)
//! ```
//!
//! The options follow wrk's and oha's spelling: `-c` connections, `-d 10s` duration
//! (`ms`, `s`, `m`, `h`; a bare number is seconds), `-n` requests, `-t` threads,
//! `-R` requests per second (wrk2's constant-throughput mode), `-H` header (repeatable),
//! `-m` method, `--body`, `--latency`; and curl's `--proxy` and `--unix-socket` for
//! where the connections go. A peer that cannot do one of them refuses it with a usage
//! error ([`Plan::refuse`]) instead of ignoring it.

pub mod report;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::error::ErrorKind as ClapErrorKind;
use wirepool::http::header::{HeaderName, HeaderValue};
use wirepool::http::{HeaderMap, Method, Request, Uri};
use wirepool::tls::{TlsConfig, TrustRoots};
use wirepool::{Body, Proxy};

/// Connections when `-c` is not given (wrk's default).
pub const DEFAULT_CONNECTIONS: usize = 10;

/// Run length when neither `-n` nor `-d` is given (wrk's default).
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);

/// The load options shared by `loadgen` and the peers (flattened into each command).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct LoadOptions {
    /// The URL to load (http:// or https://)
    #[arg(value_name = "URL")]
    pub url_arg: Option<String>,
    /// The URL, as an option (instead of the positional URL)
    #[arg(short = 'u', long = "url", value_name = "URL")]
    pub url: Option<String>,
    /// Spread the load over the URLs in FILE (one per line): in-flight slot i uses URL
    /// i mod their count
    #[arg(long, value_name = "FILE")]
    pub url_list: Option<PathBuf>,
    /// Connections: requests kept in flight [default: 10]
    #[arg(short = 'c', long = "connections", value_name = "N", value_parser = at_least_one_usize)]
    pub connections: Option<usize>,
    /// Stop after N finished requests (failed ones included)
    #[arg(short = 'n', long = "requests", value_name = "N", value_parser = at_least_one_u64,
          conflicts_with = "duration")]
    pub requests: Option<u64>,
    /// Stop sending after this long: 10s, 2m, 500ms, 1h; a bare number is seconds
    /// [default: 10s]
    #[arg(short = 'd', long = "duration", value_name = "TIME", value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Threads
    #[arg(short = 't', long = "threads", value_name = "N", value_parser = at_least_one_usize)]
    pub threads: Option<usize>,
    /// Constant throughput: send N requests per second in total, latency measured from
    /// when each request was due (coordinated omission corrected, as wrk2)
    #[arg(short = 'R', long = "rate", value_name = "N", value_parser = parse_rate)]
    pub rate: Option<f64>,
    /// Request method
    #[arg(short = 'm', long = "method", value_name = "METHOD", value_parser = parse_method)]
    pub method: Option<Method>,
    /// Add a request header 'Name: value' (repeatable)
    #[arg(short = 'H', long = "header", value_name = "HEADER", value_parser = parse_header)]
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Send DATA as the request body
    #[arg(long, value_name = "DATA", allow_hyphen_values = true)]
    pub body: Option<String>,
    /// Print the latency distribution (50, 75, 90, 99, 99.9, 99.99 %, max)
    #[arg(long)]
    pub latency: bool,
    /// One JSON object on one line on stdout instead of the table
    #[arg(long)]
    pub json: bool,
    /// Exit 0 even when requests failed (by default any failure makes the exit status 1)
    #[arg(long)]
    pub allow_errors: bool,
    /// https: trust only the CA certificates in this PEM file
    #[arg(long, value_name = "PATH")]
    pub cacert: Option<PathBuf>,
    /// https: do not verify certificates (testing only)
    #[arg(short = 'k', long)]
    pub insecure: bool,
    /// Keep no idle connection: a new connection per request
    #[arg(long)]
    pub no_reuse: bool,
    /// No TLS session cache: every handshake is a full one
    #[arg(long)]
    pub no_resume: bool,
    /// Send every request through this HTTP proxy ([http://|https://][user:pw@]host[:port]):
    /// http:// in absolute form, https:// through CONNECT tunnels (the environment's
    /// NO_PROXY still applies)
    #[arg(long, value_name = "URL")]
    pub proxy: Option<String>,
    /// Connect over this Unix domain socket instead of TCP (the URL's host is only the
    /// Host header and TLS name)
    #[arg(long, value_name = "PATH")]
    pub unix_socket: Option<PathBuf>,
}

/// When a run ends.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Stop {
    /// After this many finished requests (failed ones included).
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

    /// Whether a request due at `due` (rate mode) may still start.
    pub fn may_schedule(self, started: u64, due: Instant, t0: Instant) -> bool {
        match self {
            Stop::Requests(n) => started < n,
            Stop::Duration(d) => due.duration_since(t0) < d,
        }
    }

    /// Share of the run done (0.0 ..= 1.0), for a progress line.
    pub fn fraction_done(self, finished: u64, t0: Instant) -> f64 {
        let f = match self {
            Stop::Requests(n) => finished as f64 / n as f64,
            Stop::Duration(d) => t0.elapsed().as_secs_f64() / d.as_secs_f64(),
        };
        f.clamp(0.0, 1.0)
    }
}

/// Checked load options: what a run needs.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The URL named on the command line (the first of the list with `--url-list`).
    pub url: Uri,
    /// With `--url-list`: every URL, slot i using `urls[i % len]`; else just `url`.
    pub urls: Vec<Uri>,
    /// Requests in flight.
    pub connections: usize,
    /// `-t`, if given.
    pub threads: Option<usize>,
    /// When to stop.
    pub stop: Stop,
    /// `-R`: requests per second in total.
    pub rate: Option<f64>,
    /// Method, headers and body of every request.
    pub method: Method,
    /// `-H` headers.
    pub headers: HeaderMap,
    /// `--body`.
    pub body: Option<Vec<u8>>,
    /// `--proxy`, parsed.
    pub proxy: Option<Proxy>,
    /// The options as given (output and TLS switches).
    pub options: LoadOptions,
}

impl LoadOptions {
    /// Checks what clap cannot check alone; the error is a usage error for `cmd`.
    pub fn check(&self) -> Result<Plan, String> {
        let mut urls = Vec::new();
        if let Some(file) = &self.url_list {
            let text = std::fs::read_to_string(file)
                .map_err(|e| format!("--url-list {}: {e}", file.display()))?;
            for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
                urls.push(parse_url(line)?);
            }
            if urls.is_empty() {
                return Err(format!("--url-list {}: no URL in it", file.display()));
            }
        }
        let url = match (&self.url_arg, &self.url) {
            (Some(_), Some(_)) => return Err("give the URL once (positional or --url)".into()),
            (Some(u), None) | (None, Some(u)) => parse_url(u)?,
            (None, None) => match urls.first() {
                Some(u) => u.clone(),
                None => return Err("a URL is required (URL, --url or --url-list)".into()),
            },
        };
        if urls.is_empty() {
            urls.push(url.clone());
        }
        let connections = self.connections.unwrap_or(DEFAULT_CONNECTIONS);
        let stop = match (self.requests, self.duration) {
            (Some(n), _) => Stop::Requests(n),
            (None, Some(d)) => Stop::Duration(d),
            (None, None) => Stop::Duration(DEFAULT_DURATION),
        };
        if let Some(t) = self.threads {
            if t > connections {
                return Err(format!(
                    "-t {t}: more threads than connections ({connections}); each thread needs one"
                ));
            }
        }
        if self.insecure && self.cacert.is_some() {
            return Err("give --cacert or --insecure, not both".into());
        }
        let mut headers = HeaderMap::new();
        for (name, value) in &self.headers {
            headers.append(name.clone(), value.clone());
        }
        let proxy = match &self.proxy {
            Some(url) => Some(Proxy::parse(url).map_err(|e| {
                format!(
                    "--proxy: {}",
                    std::error::Error::source(&e)
                        .map_or_else(|| e.to_string(), ToString::to_string)
                )
            })?),
            None => None,
        };
        if proxy.is_some() && self.unix_socket.is_some() {
            return Err("give --proxy or --unix-socket, not both".into());
        }
        Ok(Plan {
            url,
            urls,
            connections,
            threads: self.threads,
            stop,
            rate: self.rate,
            method: self.method.clone().unwrap_or(Method::GET),
            headers,
            body: self.body.as_ref().map(|b| b.clone().into_bytes()),
            proxy,
            options: self.clone(),
        })
    }
}

impl Plan {
    /// The URL in-flight slot (or thread) `slot` uses.
    pub fn url_for(&self, slot: usize) -> &Uri {
        &self.urls[slot % self.urls.len()]
    }

    /// The request a slot sends: method, URL, `-H` headers and `--body`. A plain GET
    /// allocates nothing but the `Request` itself (the `Uri` clone shares its bytes).
    pub fn request(&self, slot: usize) -> Request<Body> {
        let body = match &self.body {
            Some(b) => Body::from(b.clone()),
            None => Body::empty(),
        };
        let mut req = Request::new(body);
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = self.url_for(slot).clone();
        if !self.headers.is_empty() {
            *req.headers_mut() = self.headers.clone();
        }
        req
    }

    /// The TLS settings the options ask for, if they ask for any (`--cacert`,
    /// `--insecure`, `--no-resume`); else `None` and the defaults apply.
    pub fn tls_config(&self) -> Result<Option<TlsConfig>, String> {
        let o = &self.options;
        if o.cacert.is_none() && !o.insecure && !o.no_resume {
            return Ok(None);
        }
        let mut tls = TlsConfig::builder();
        if let Some(ca) = &o.cacert {
            tls = tls.trust_roots(TrustRoots::OnlyAdded).add_ca_pem_file(ca);
        }
        if o.insecure {
            tls = tls.danger_accept_invalid_certs_for_testing_only();
        }
        if o.no_resume {
            tls = tls.max_cached_sessions(0);
        }
        tls.build()
            .map(Some)
            .map_err(|e| format!("TLS configuration: {e}"))
    }

    /// Whether the (first) URL is `https://`.
    pub fn is_https(&self) -> bool {
        self.url.scheme_str() == Some("https")
    }

    /// A usage error naming `option` for a peer that cannot do it, if it was given.
    pub fn refuse(&self, given: bool, option: &str, who: &str) -> Result<(), String> {
        if given {
            Err(format!("{who} does not support {option}"))
        } else {
            Ok(())
        }
    }

    /// How the connections reach the server, for the report: `via proxy URL` (the
    /// password hidden), `via unix:PATH`, or `None` (straight, or as the environment's
    /// proxy variables say).
    pub fn route(&self) -> Option<String> {
        match (&self.proxy, &self.options.unix_socket) {
            (Some(proxy), _) => Some(format!("via proxy {proxy}")),
            (None, Some(path)) => Some(format!("via unix:{}", path.display())),
            (None, None) => None,
        }
    }

    /// The options a closed-loop GET-only peer cannot honour, refused in one place:
    /// `-t`, `-R`, `-m`, `-H`, `--body`, `--url-list`, `--proxy`, `--unix-socket`.
    pub fn refuse_unsupported(&self, who: &str) -> Result<(), String> {
        let o = &self.options;
        self.refuse(o.threads.is_some(), "-t/--threads", who)?;
        self.refuse(o.rate.is_some(), "-R/--rate", who)?;
        self.refuse(
            o.method.as_ref().is_some_and(|m| m != Method::GET),
            "-m/--method",
            who,
        )?;
        self.refuse(!o.headers.is_empty(), "-H/--header", who)?;
        self.refuse(o.body.is_some(), "--body", who)?;
        self.refuse(o.url_list.is_some(), "--url-list", who)?;
        self.refuse(o.proxy.is_some(), "--proxy", who)?;
        self.refuse(o.unix_socket.is_some(), "--unix-socket", who)
    }
}

/// Prints `message` as a usage error of `cmd` (with its usage line) and exits with 2.
pub fn usage_exit(cmd: &mut clap::Command, message: impl std::fmt::Display) -> ! {
    let err = cmd.error(ClapErrorKind::ValueValidation, message);
    exit_with_usage(cmd, &err)
}

/// Parses this process's command line as `T`; `--help` and `--version` print to stdout
/// and exit 0, any mistake prints the message and the usage line on stderr and exits
/// with 2 (clap leaves the usage line out of some messages; it is always there here).
pub fn parse_or_exit<T: clap::Parser>() -> T {
    match T::try_parse() {
        Ok(parsed) => parsed,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => exit_with_usage(&mut T::command(), &e),
    }
}

fn exit_with_usage(cmd: &mut clap::Command, err: &clap::Error) -> ! {
    let text = err.render().to_string();
    if text.contains("Usage:") {
        eprint!("{text}");
    } else {
        eprint!("{}\n{}\n", text.trim_end(), cmd.render_usage());
    }
    std::process::exit(2)
}

/// Parses a URL; it must be `http://` or `https://` and name a host.
pub fn parse_url(text: &str) -> Result<Uri, String> {
    let shown = text.escape_debug();
    if !text.contains("://") {
        return Err(format!("the URL '{shown}' needs http:// or https://"));
    }
    let uri: Uri = text
        .parse()
        .map_err(|e| format!("invalid URL '{shown}': {e}"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        Some(other) => return Err(format!("unsupported scheme '{other}' in '{shown}'")),
        None => return Err(format!("the URL '{shown}' needs http:// or https://")),
    }
    if uri.host().map_or(true, str::is_empty) {
        return Err(format!("the URL '{shown}' has no host"));
    }
    Ok(uri)
}

/// Parses a duration: a number with an optional unit `ms`, `s`, `m` or `h` (`10s`, `2m`,
/// `1.5`, `250ms`); a bare number is seconds. Zero, negative and absurd values are
/// refused (the tools' one duration parser, [`crate::pool::parse_positive_time`]).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    crate::pool::parse_positive_time(text)
}

fn at_least_one_usize(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("'{text}' is not a whole number")),
    }
}

fn at_least_one_u64(text: &str) -> Result<u64, String> {
    match text.trim().parse::<u64>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("'{text}' is not a whole number")),
    }
}

fn parse_rate(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 && r <= 1e9 => Ok(r),
        _ => Err(format!("'{text}' is not a rate in requests per second")),
    }
}

/// A method: an HTTP token (`GET`, `POST`, `PURGE`).
pub fn parse_method(text: &str) -> Result<Method, String> {
    Method::from_bytes(text.as_bytes()).map_err(|_| format!("'{text}' is not a valid method"))
}

/// Parses `Name: value` (spaces and tabs around the value trimmed). A name that is not
/// a token, or a value with CR, LF, NUL or another control character, is refused: a
/// header can never smuggle a second header or request onto the wire.
pub fn parse_header(line: &str) -> Result<(HeaderName, HeaderValue), String> {
    let shown = line.escape_debug();
    let Some((name, value)) = line.split_once(':') else {
        return Err(format!("'{shown}' is not of the form 'Name: value'"));
    };
    let name = HeaderName::from_bytes(name.trim_end().as_bytes())
        .map_err(|_| format!("'{shown}': invalid header name"))?;
    let value = HeaderValue::from_str(value.trim_matches([' ', '\t'])).map_err(|_| {
        format!("'{shown}': invalid header value (CR, LF, NUL or another control character)")
    })?;
    Ok((name, value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(clap::Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        load: LoadOptions,
    }

    fn plan(line: &str) -> Result<Plan, String> {
        let args = std::iter::once("t").chain(line.split_whitespace());
        Cli::try_parse_from(args)
            .map_err(|e| e.to_string())?
            .load
            .check()
    }

    #[test]
    fn wrk_spellings() {
        let p = plan("-c 64 -d 2m -t 2 http://127.0.0.1:8080/x").expect("valid");
        assert_eq!(p.connections, 64);
        assert_eq!(p.stop, Stop::Duration(Duration::from_secs(120)));
        assert_eq!(p.threads, Some(2));
        assert_eq!(p.url, "http://127.0.0.1:8080/x");

        let p = plan("--url=http://h/ -c2 -n 10 -R 500 -H X-A:1 -H x-b:2 -m POST --body hi")
            .expect("valid");
        assert_eq!(p.stop, Stop::Requests(10));
        assert_eq!(p.rate, Some(500.0));
        assert_eq!(p.method, Method::POST);
        let req = p.request(0);
        assert_eq!(req.headers()["x-a"], "1");
        assert_eq!(req.headers()["x-b"], "2");
        assert_eq!(req.body().as_bytes(), Some(&b"hi"[..]));

        let (name, value) = parse_header("X-Pad:\t padded \t").expect("valid");
        assert_eq!(
            (name.as_str(), value.to_str().ok()),
            ("x-pad", Some("padded"))
        );
        for bad in ["X: a\r\nInjected: 1", "X: a\0b", "Bad Name: v", ": v"] {
            assert!(parse_header(bad).is_err(), "{bad:?}");
        }

        let p = plan("http://h/").expect("defaults");
        assert_eq!(p.connections, DEFAULT_CONNECTIONS);
        assert_eq!(p.stop, Stop::Duration(DEFAULT_DURATION));
        assert_eq!(p.method, Method::GET);
    }

    #[test]
    fn durations() {
        for (text, ms) in [
            ("10s", 10_000),
            ("2m", 120_000),
            ("1.5", 1_500),
            ("250ms", 250),
            ("1h", 3_600_000),
            (" 3 ", 3_000),
        ] {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_millis(ms)),
                "{text}"
            );
        }
        for bad in ["", "0", "-1s", "abc", "5x", "inf", "nan", "1e30"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn usage_errors_say_what() {
        for (line, needle) in [
            ("-c 1 -n 1", "a URL is required"),
            ("-c 0 -n 1 http://h/", "at least 1"),
            ("-c x http://h/", "not a whole number"),
            ("-n 1 -d 1 http://h/", "cannot be used with"),
            ("-d 0 http://h/", "more than 0"),
            ("-c 2 -t 3 http://h/", "more threads than connections"),
            ("-R 0 http://h/", "not a rate"),
            ("-H NoColon http://h/", "Name: value"),
            ("-m GE;T http://h/", "not a valid method"),
            ("ftp://h/", "unsupported scheme"),
            ("127.0.0.1:80/", "http://"),
            ("http://h/ --url http://g/", "once"),
            ("--frobnicate http://h/", "--frobnicate"),
            ("--url-list /nonexistent", "/nonexistent"),
            (
                "--proxy socks5://127.0.0.1:1080 http://h/",
                "socks5:// proxies are not",
            ),
            ("--proxy http://h:x http://h/", "--proxy: proxy"),
            ("--proxy h:1 --unix-socket /s http://h/", "not both"),
        ] {
            match plan(line) {
                Err(msg) => assert!(msg.contains(needle), "{line}: {msg:?} lacks {needle:?}"),
                Ok(p) => panic!("{line}: accepted as {p:?}"),
            }
        }
    }

    #[test]
    fn proxy_and_unix_socket() {
        let p = plan("--proxy http://u:secret@127.0.0.1:3128 https://h/").expect("valid");
        let proxy = p.proxy.clone().expect("parsed");
        assert_eq!((proxy.host(), proxy.port()), ("127.0.0.1", 3128));
        assert_eq!(
            p.route().as_deref(),
            Some("via proxy http://u:***@127.0.0.1:3128")
        );
        let p = plan("--unix-socket /run/app.sock http://h/").expect("valid");
        assert_eq!(p.route().as_deref(), Some("via unix:/run/app.sock"));
        assert_eq!(plan("http://h/").expect("valid").route(), None);
        // The peers refuse what they cannot do.
        for line in ["--proxy h:1 http://h/", "--unix-socket /s http://h/"] {
            let p = plan(line).expect("valid");
            let e = p.refuse_unsupported("peer").unwrap_err();
            assert!(e.contains(line.split(' ').next().unwrap()), "{e}");
        }
    }

    #[test]
    fn stop_rules() {
        let t0 = Instant::now();
        assert!(Stop::Requests(2).may_start(1, t0));
        assert!(!Stop::Requests(2).may_start(2, t0));
        assert!(Stop::Duration(Duration::from_secs(60)).may_start(1_000_000, t0));
        let d = Stop::Duration(Duration::from_secs(1));
        assert!(d.may_schedule(0, t0 + Duration::from_millis(999), t0));
        assert!(!d.may_schedule(0, t0 + Duration::from_secs(1), t0));
        assert_eq!(Stop::Requests(4).fraction_done(2, t0), 0.5);
    }
}
