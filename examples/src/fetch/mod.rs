//! The `fetch` tool's command line: its options, its usage text, and how they become a
//! [`Client`](pool_core::Client) and requests.
//!
//! ```text
//!  argv ──args::Parser──► parse() ──► Command::Help
//!                                 └─► Command::Run(Options) ──► client_builder() ─► Client
//!                                                          └──► request(url) ─► Request<Body>
//! ```
//!
//! Everything the user typed is checked here, before any request is sent: URLs parse,
//! methods are tokens, header names are tokens and header values hold no CR, LF or NUL
//! (so a header can never inject a second header or request), numbers and seconds are
//! in range. The run loop lives in `src/bin/fetch.rs`; the `--trace` line format in
//! [`trace`].

pub mod trace;

use std::path::PathBuf;
use std::time::Duration;

use pool_core::http::header::{HeaderName, HeaderValue};
use pool_core::http::{HeaderMap, Method, Request, Uri};
use pool_core::tls::{TlsConfig, TrustRoots};
use pool_core::{Body, ClientBuilder, RedirectPolicy};

use crate::args::{parse_number, parse_positive_secs, parse_secs, Arg, Parser, UsageError};

/// `fetch --help`, also printed (to stderr) after a usage error.
pub const USAGE: &str = "\
usage: fetch [OPTIONS] URL...

Fetches each URL in order over one shared wirepool client (so later requests to the
same host reuse its connection) and writes each response body to stdout.

options:
  -X, --method M            request method (default GET, or POST with -d)
  -H, --header 'Name: value'
                            add a request header (repeatable); CR, LF or NUL in a
                            header is refused
  -d, --data STRING         send STRING as the request body (implies POST unless -X)
  -i, --include             print the status line and headers before each body
      --timeout SECS        total deadline per request, head and body (default 30)
      --connect-timeout SECS
                            deadline for DNS + TCP connect (default 10)
      --max-idle-per-host N idle connections kept per host (default 100)
      --idle-timeout SECS   close connections idle longer than this (default 90)
      --sleep SECS          pause between two URLs (not after the last)
      --cacert PATH         trust only the CA certificates in this PEM file for
                            https (instead of the system trust store)
      --trace               one key=value line per request on stderr:
                            url= method= status= reused= idle_us= dns_us=
                            connect_us= head_us= total_us= bytes=
      --stats               at exit, the pool's counters as one JSON line on stderr:
                            {\"requests\":N,\"dials\":N,\"reused\":N,...}
  -h, --help                print this help and exit

SECS may be fractional (0.5). A URL without a scheme gets http://.

exit status: 0 if every request got a response (any status), 1 if any failed (each
failure is an 'error:' line on stderr; the other URLs are still fetched), 2 on a
usage error.
";

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    /// `-h` / `--help`: print [`USAGE`] to stdout and exit 0.
    Help,
    /// Fetch URLs with these options (boxed: they are large, help is not).
    Run(Box<Options>),
}

/// Everything `fetch` was told, validated.
#[derive(Debug, Default)]
pub struct Options {
    /// `-X`: the method asked for explicitly.
    pub method: Option<Method>,
    /// `-H`, in the order given (repeated names are all sent).
    pub headers: HeaderMap,
    /// `-d`: the request body.
    pub data: Option<String>,
    /// `-i`: print the status line and headers before each body.
    pub include: bool,
    /// `--timeout`: total deadline per request.
    pub timeout: Option<Duration>,
    /// `--connect-timeout`: DNS + connect deadline.
    pub connect_timeout: Option<Duration>,
    /// `--max-idle-per-host`.
    pub max_idle_per_host: Option<usize>,
    /// `--idle-timeout`.
    pub idle_timeout: Option<Duration>,
    /// `--sleep`: pause between two URLs.
    pub sleep: Option<Duration>,
    /// `--cacert`: the only CAs trusted for https (like curl's `--cacert`).
    pub cacert: Option<PathBuf>,
    /// `--trace`: one line per request on stderr.
    pub trace: bool,
    /// `--stats`: the pool's counters as JSON on stderr at exit.
    pub stats: bool,
    /// The URLs, in order (at least one).
    pub urls: Vec<Uri>,
}

/// Reads the whole command line.
pub fn parse(mut parser: Parser) -> Result<Command, UsageError> {
    let mut o = Options::default();
    while let Some(arg) = parser.next_arg()? {
        let name = arg.to_string();
        match &arg {
            Arg::Short('h') => return Ok(Command::Help),
            Arg::Long(l) if l == "help" => return Ok(Command::Help),
            Arg::Short('X') => o.method = Some(parse_method(&parser.value()?)?),
            Arg::Long(l) if l == "method" => o.method = Some(parse_method(&parser.value()?)?),
            Arg::Short('H') => add_header(&mut o.headers, &parser.value()?)?,
            Arg::Long(l) if l == "header" => add_header(&mut o.headers, &parser.value()?)?,
            Arg::Short('d') => o.data = Some(parser.value()?),
            Arg::Long(l) if l == "data" => o.data = Some(parser.value()?),
            Arg::Short('i') => o.include = true,
            Arg::Long(l) if l == "include" => o.include = true,
            Arg::Long(l) => match l.as_str() {
                "timeout" => o.timeout = Some(parse_positive_secs(&name, &parser.value()?)?),
                "connect-timeout" => {
                    o.connect_timeout = Some(parse_positive_secs(&name, &parser.value()?)?)
                }
                "max-idle-per-host" => {
                    o.max_idle_per_host = Some(parse_number(&name, &parser.value()?)?)
                }
                "idle-timeout" => {
                    o.idle_timeout = Some(parse_positive_secs(&name, &parser.value()?)?)
                }
                "sleep" => o.sleep = Some(parse_secs(&name, &parser.value()?)?),
                "cacert" => o.cacert = Some(PathBuf::from(parser.value()?)),
                "trace" => o.trace = true,
                "stats" => o.stats = true,
                _ => return Err(arg.unexpected()),
            },
            Arg::Positional(url) => o.urls.push(parse_url(url)?),
            Arg::Short(_) => return Err(arg.unexpected()),
        }
    }
    if o.urls.is_empty() {
        return Err(UsageError::new("no URL given"));
    }
    Ok(Command::Run(Box::new(o)))
}

impl Options {
    /// The method every request uses: `-X`, else POST with `-d`, else GET.
    pub fn method(&self) -> Method {
        match (&self.method, &self.data) {
            (Some(m), _) => m.clone(),
            (None, Some(_)) => Method::POST,
            (None, None) => Method::GET,
        }
    }

    /// A client builder with the settings given on the command line; the rest keep
    /// wirepool's defaults. `--timeout` bounds the whole request, so it replaces the
    /// separate response-head deadline (10 s by default) instead of racing it.
    ///
    /// Fails when the `--cacert` file cannot be used.
    pub fn client_builder(&self) -> Result<ClientBuilder, pool_core::tls::Error> {
        // As curl: no redirects followed and no compression asked for unless told.
        let mut b = ClientBuilder::new()
            .redirect(RedirectPolicy::none())
            .decompress(false);
        if let Some(path) = &self.cacert {
            let tls = TlsConfig::builder()
                .trust_roots(TrustRoots::OnlyAdded)
                .add_ca_pem_file(path)
                .build()?;
            b = b.tls_config(tls);
        }
        if let Some(t) = self.timeout {
            b = b.timeout(Some(t)).response_header_timeout(None);
        }
        if let Some(t) = self.connect_timeout {
            b = b.connect_timeout(t);
        }
        if let Some(n) = self.max_idle_per_host {
            b = b.max_idle_per_host(n);
        }
        if let Some(t) = self.idle_timeout {
            b = b.idle_timeout(t);
        }
        Ok(b)
    }

    /// The request for `url`: method, `-H` headers and `-d` body.
    pub fn request(&self, url: &Uri) -> Result<Request<Body>, pool_core::http::Error> {
        let mut builder = Request::builder().method(self.method()).uri(url.clone());
        if let Some(headers) = builder.headers_mut() {
            headers.extend(self.headers.clone());
        }
        let body = match &self.data {
            Some(data) => Body::from(data.clone()),
            None => Body::empty(),
        };
        builder.body(body)
    }
}

fn parse_method(value: &str) -> Result<Method, UsageError> {
    Method::from_bytes(value.as_bytes())
        .map_err(|_| UsageError(format!("-X: '{value}' is not a valid method")))
}

/// Parses `Name: value` (whitespace around the value trimmed) and appends it.
fn add_header(headers: &mut HeaderMap, line: &str) -> Result<(), UsageError> {
    let shown = line.escape_debug();
    let Some((name, value)) = line.split_once(':') else {
        return Err(UsageError(format!(
            "-H: '{shown}' is not of the form 'Name: value'"
        )));
    };
    let name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| UsageError(format!("-H: '{shown}': invalid header name")))?;
    let value = HeaderValue::from_str(value.trim_matches([' ', '\t'])).map_err(|_| {
        UsageError(format!(
            "-H: '{shown}': invalid header value (CR, LF, NUL or another control character)"
        ))
    })?;
    headers.append(name, value);
    Ok(())
}

/// Parses a URL, adding `http://` when it has no scheme; it must name a host.
fn parse_url(text: &str) -> Result<Uri, UsageError> {
    let full = if text.contains("://") {
        text.to_owned()
    } else {
        format!("http://{text}")
    };
    let shown = text.escape_debug();
    let uri: Uri = full
        .parse()
        .map_err(|e| UsageError(format!("invalid URL '{shown}': {e}")))?;
    if uri.host().map_or(true, str::is_empty) {
        return Err(UsageError(format!("invalid URL '{shown}': no host")));
    }
    Ok(uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Options {
        match parse(Parser::new(args.iter().copied())) {
            Ok(Command::Run(o)) => *o,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    fn usage_error(args: &[&str]) -> String {
        match parse(Parser::new(args.iter().copied())) {
            Err(e) => e.0,
            Ok(other) => panic!("{args:?} should fail, got {other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let o = run(&["http://127.0.0.1:8080/"]);
        assert_eq!(o.method(), Method::GET);
        assert!(o.headers.is_empty() && o.data.is_none() && !o.include);
        assert!(!o.trace && !o.stats && o.sleep.is_none() && o.cacert.is_none());
        assert_eq!(o.urls.len(), 1);
        assert_eq!(o.urls[0].to_string(), "http://127.0.0.1:8080/");
    }

    #[test]
    fn every_option() {
        let o = run(&[
            "-X",
            "PUT",
            "-H",
            "X-One: 1",
            "--header=X-Two:\t two ",
            "-H",
            "x-one: again",
            "-d",
            "a=b",
            "-i",
            "--timeout",
            "0.5",
            "--connect-timeout=2",
            "--max-idle-per-host",
            "4",
            "--idle-timeout",
            "1.5",
            "--sleep",
            "0",
            "--cacert",
            "/tmp/ca.pem",
            "--trace",
            "--stats",
            "http://a/",
            "b:81/x",
        ]);
        assert_eq!(o.method(), Method::PUT);
        let ones: Vec<_> = o.headers.get_all("x-one").iter().collect();
        assert_eq!(ones, ["1", "again"]);
        assert_eq!(o.headers["x-two"], "two");
        assert_eq!(o.data.as_deref(), Some("a=b"));
        assert!(o.include && o.trace && o.stats);
        assert_eq!(o.timeout, Some(Duration::from_millis(500)));
        assert_eq!(o.connect_timeout, Some(Duration::from_secs(2)));
        assert_eq!(o.max_idle_per_host, Some(4));
        assert_eq!(o.idle_timeout, Some(Duration::from_millis(1500)));
        assert_eq!(o.sleep, Some(Duration::ZERO));
        assert_eq!(o.cacert, Some(PathBuf::from("/tmp/ca.pem")));
        let urls: Vec<String> = o.urls.iter().map(Uri::to_string).collect();
        assert_eq!(urls, ["http://a/", "http://b:81/x"]);
    }

    #[test]
    fn data_implies_post_unless_method_given() {
        assert_eq!(run(&["-d", "x", "u"]).method(), Method::POST);
        assert_eq!(
            run(&["-d", "x", "-X", "PATCH", "u"]).method(),
            Method::PATCH
        );
        assert_eq!(run(&["-XDELETE", "u"]).method(), Method::DELETE);
    }

    #[test]
    fn request_carries_method_headers_and_body() {
        let o = run(&["-H", "X-A: 1", "-d", "hello", "http://h/p?q"]);
        let req = o.request(&o.urls[0]).unwrap();
        assert_eq!(req.method(), Method::POST);
        assert_eq!(req.uri(), "http://h/p?q");
        assert_eq!(req.headers()["x-a"], "1");
        assert_eq!(req.body().as_bytes(), Some(&b"hello"[..]));
    }

    #[test]
    fn help_wins() {
        for args in [
            &["-h"][..],
            &["--help"],
            &["u", "--help"],
            &["--bogus=1", "-h"],
        ] {
            // An unknown option before --help is still an error; after it, help wins.
            let got = parse(Parser::new(args.iter().copied()));
            if args[0] == "--bogus=1" {
                assert!(got.is_err());
            } else {
                assert!(matches!(got, Ok(Command::Help)), "{args:?}");
            }
        }
    }

    #[test]
    fn usage_errors() {
        let cases: &[(&[&str], &str)] = &[
            (&[], "no URL given"),
            (&["--trace"], "no URL given"),
            (&["--bogus", "u"], "unknown option --bogus"),
            (&["-z", "u"], "unknown option -z"),
            (&["-X"], "option -X needs a value"),
            (&["-X", "GE T", "u"], "-X: 'GE T' is not a valid method"),
            (&["-H", "NoColon", "u"], "is not of the form 'Name: value'"),
            (&["-H", "Bad Name: v", "u"], "invalid header name"),
            (&["-H", ": v", "u"], "invalid header name"),
            (&["-H", "X: a\r\nInjected: 1", "u"], "invalid header value"),
            (&["-H", "X: a\nb", "u"], "invalid header value"),
            (&["-H", "X: a\0b", "u"], "invalid header value"),
            (
                &["--timeout", "soon", "u"],
                "--timeout: 'soon' is not a number",
            ),
            (&["--timeout", "0", "u"], "--timeout: must be more than 0"),
            (&["--timeout", "-1", "u"], "--timeout: '-1' is not a number"),
            (&["--sleep", "x", "u"], "--sleep: 'x' is not a number"),
            (
                &["--max-idle-per-host", "many", "u"],
                "'many' is not a valid number",
            ),
            (&["--include=1", "u"], "option --include takes no value"),
            (&["http://"], "invalid URL 'http://'"),
            (&["http:///path"], "invalid URL"),
            (&["http://a b/"], "invalid URL"),
        ];
        for (args, expected) in cases {
            let message = usage_error(args);
            assert!(
                message.contains(expected),
                "{args:?}: {message:?} should contain {expected:?}"
            );
        }
    }

    #[test]
    fn timeout_replaces_head_deadline() {
        let o = run(&["--timeout", "60", "u"]);
        let config = o
            .client_builder()
            .unwrap()
            .build()
            .unwrap()
            .config()
            .clone();
        assert_eq!(config.timeout, Some(Duration::from_secs(60)));
        assert_eq!(config.response_header_timeout, None);
        let o = run(&["u"]);
        let config = o
            .client_builder()
            .unwrap()
            .build()
            .unwrap()
            .config()
            .clone();
        assert!(config.response_header_timeout.is_some(), "default kept");
    }
}
