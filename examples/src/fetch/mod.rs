//! The `fetch` tool's command line: its options (curl's spellings), and how they become
//! [`Client`](wirepool::Client)s, requests, and where each response goes.
//!
//! ```text
//!  argv ──clap──► Cli ──check()──► Options ──► routing.via(url) ─► Direct | Proxy(P) | Unix
//!                 (+ environment)         ├──► client_builder(P) ─► one Client per route
//!                                         ├──► request(url) ─► Request<Body>
//!                                         └──► outputs: -o/-O per URL, in order, as curl
//! ```
//!
//! Everything the user typed is checked here, before any request is sent: URLs parse,
//! methods are tokens, header names are tokens and header values hold no CR, LF or NUL
//! (so a header can never inject a second header or request), seconds are in range,
//! `-d @file` files can be read, `-T` files exist, `-x`, `--resolve` and `--connect-to`
//! parse. The run loop lives in `src/bin/fetch.rs`; the `--trace` line in [`trace`]; `-w`
//! in [`write_out`]; the exit codes in [`exit`]; where each URL goes (proxies, Unix
//! sockets, the environment as curl reads it) in [`route`].

pub mod exit;
pub mod route;
pub mod trace;
pub mod write_out;

use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::{ArgAction, CommandFactory, FromArgMatches, Parser};
use wirepool::http::header::{HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use wirepool::http::{HeaderMap, Method, Request, Uri};
use wirepool::tls::{TlsConfig, TrustRoots};
use wirepool::{Body, Bytes, ClientBuilder, ConnectTo, Proxy, RedirectPolicy};

use crate::load::{parse_header, parse_method};
use crate::pool::PoolOptions;
use route::{ResolveRules, Routing};

/// The command line, as clap reads it (see [`Options`] for what it means once checked).
#[derive(Parser, Debug)]
#[command(
    name = "fetch",
    version,
    about = "A small curl over one shared wirepool client: fetches each URL in order (later \
             requests to the same host reuse its connection) and writes each body to stdout",
    after_help = "SECS may be fractional (0.5). A URL without a scheme gets http://.\n\n\
                  Exit status (curl's codes): 0 when the last URL got a response, 2 usage, \
                  3 malformed URL, 6 DNS, 7 connect, 8 bad response, 18 body cut short, \
                  22 HTTP status >= 400 with -f, 23 write error, 28 timeout, 35 TLS \
                  handshake, 52 empty reply, 56 receive error or proxy refused CONNECT, 60 \
                  certificate not trusted, 77 --cacert unusable, 4 SOCKS proxy, 5 proxy \
                  unresolvable or unparsable, 1 other. See docs/fetch.md.\n\n\
                  Environment (as curl reads it): http_proxy (lower case only) for http://, \
                  https_proxy or HTTPS_PROXY for https://, else all_proxy or ALL_PROXY; \
                  no_proxy or NO_PROXY. -x and --noproxy replace them."
)]
pub struct Cli {
    /// URLs to fetch, in order
    #[arg(value_name = "URL", required = true)]
    urls: Vec<String>,

    /// Request method (default GET; HEAD with -I; POST with -d)
    #[arg(short = 'X', long = "request", visible_alias = "method", value_name = "METHOD",
          value_parser = parse_method)]
    method: Option<Method>,
    /// Add a request header 'Name: value' (repeatable); CR, LF or NUL is refused
    #[arg(short = 'H', long = "header", value_name = "HEADER", value_parser = parse_header)]
    headers: Vec<(HeaderName, HeaderValue)>,
    /// Send DATA as the body (POST unless -X; pieces joined with &; @FILE reads a file
    /// without its line breaks, @- stdin); adds Content-Type:
    /// application/x-www-form-urlencoded unless -H sets one
    #[arg(
        short = 'd',
        long = "data",
        value_name = "DATA",
        allow_hyphen_values = true
    )]
    data: Vec<String>,
    /// Like -d, but @FILE is sent byte for byte
    #[arg(long = "data-binary", value_name = "DATA", allow_hyphen_values = true)]
    data_binary: Vec<String>,
    /// Like -d, but @ has no special meaning
    #[arg(long = "data-raw", value_name = "DATA", allow_hyphen_values = true)]
    data_raw: Vec<String>,
    /// Send DATA as JSON (POST unless -X; repeated pieces are joined as they are; @FILE
    /// reads a file, @- stdin), with Content-Type and Accept: application/json unless -H
    /// sets them
    #[arg(long = "json", value_name = "DATA", allow_hyphen_values = true)]
    json: Vec<String>,
    /// Upload FILE with PUT (unless -X), streamed, never read whole into memory ('-':
    /// stdin, sent chunked); a URL ending in / gets the file's name appended
    #[arg(short = 'T', long = "upload-file", value_name = "FILE")]
    upload_file: Option<PathBuf>,
    /// Server credentials USER:PASSWORD, sent as Authorization: Basic (only to the
    /// URL's own host, also with -L); a missing :PASSWORD is an empty one (no prompt)
    #[arg(short = 'u', long = "user", value_name = "USER:PASSWORD")]
    user: Option<String>,
    /// The User-Agent to send instead of wirepool/VERSION ('': none)
    #[arg(
        short = 'A',
        long = "user-agent",
        value_name = "NAME",
        allow_hyphen_values = true
    )]
    user_agent: Option<String>,
    /// Follow redirects (3xx with a Location): POST becomes GET after 301/302/303,
    /// 307/308 resend the body; credentials are not sent to another host
    #[arg(short = 'L', long = "location")]
    location: bool,
    /// With -L, the most redirects followed (default 50; -1: no limit); more is exit 47
    #[arg(long = "max-redirs", value_name = "N", allow_negative_numbers = true,
          value_parser = parse_max_redirs)]
    max_redirs: Option<usize>,
    /// Ask for a compressed response (Accept-Encoding: gzip, deflate) and decode it
    #[arg(long)]
    compressed: bool,

    /// Print the status line and headers before each body
    #[arg(short = 'i', long)]
    include: bool,
    /// Send HEAD and print the status line and headers only
    #[arg(short = 'I', long)]
    head: bool,
    /// Write the body to FILE instead of stdout ('-': stdout); one per URL, in order
    #[arg(short = 'o', long = "output", value_name = "FILE", action = ArgAction::Append)]
    output: Vec<PathBuf>,
    /// Write the body to a file named like the URL's last path segment; one per URL
    #[arg(short = 'O', long = "remote-name", action = ArgAction::Append, num_args = 0,
          default_missing_value = "O")]
    remote_name: Vec<String>,
    /// Fail on HTTP status >= 400: print nothing of the response, exit 22
    #[arg(short = 'f', long)]
    fail: bool,
    /// Silent: no error messages (unless -S)
    #[arg(short = 's', long)]
    silent: bool,
    /// With -s, still show error messages
    #[arg(short = 'S', long)]
    show_error: bool,
    /// Request and response heads on stderr ('> ', '< '), and the pool's decisions ('* ')
    #[arg(short = 'v', long)]
    verbose: bool,
    /// After each transfer, print FORMAT on stdout with %{variable}s replaced
    /// (@FILE reads it from a file); see docs/fetch.md
    #[arg(
        short = 'w',
        long = "write-out",
        value_name = "FORMAT",
        allow_hyphen_values = true
    )]
    write_out: Option<String>,

    /// https: do not verify the server's certificate (testing only)
    #[arg(short = 'k', long)]
    insecure: bool,
    /// https: trust only the CA certificates in this PEM file
    #[arg(long, value_name = "PATH")]
    cacert: Option<PathBuf>,
    /// Total deadline per request, head and body (default 30)
    #[arg(short = 'm', long = "max-time", visible_alias = "timeout", value_name = "SECS",
          value_parser = parse_positive_secs)]
    max_time: Option<Duration>,
    /// Deadline for DNS + TCP connect (default 10)
    #[arg(long, value_name = "SECS", value_parser = parse_positive_secs)]
    connect_timeout: Option<Duration>,
    /// Use this HTTP proxy: [http://|https://][user:password@]host[:port] (port 1080
    /// when none; http:// requests in absolute form, https:// through CONNECT); "" turns
    /// proxies off, the environment's too
    #[arg(short = 'x', long = "proxy", value_name = "URL")]
    proxy: Option<String>,
    /// Hosts that bypass the proxy, comma-separated: names (and their subdomains), IP
    /// addresses, CIDR ranges; '*' alone for all; replaces NO_PROXY ("" for none)
    #[arg(long, value_name = "LIST")]
    noproxy: Option<String>,
    /// Connect over this Unix domain socket instead of the network (the URL's host is
    /// only the Host header and TLS name); wins over any proxy
    #[arg(long, value_name = "PATH")]
    unix_socket: Option<PathBuf>,
    /// Use these addresses for HOST:PORT instead of resolving it:
    /// [+]HOST:PORT:ADDR[,ADDR]... (HOST '*': any name on PORT; -HOST:PORT removes an
    /// entry); repeatable
    #[arg(long, value_name = "HOST:PORT:ADDR", allow_hyphen_values = true)]
    resolve: Vec<String>,
    /// Connect to HOST2:PORT2 when a request is for HOST1:PORT1 (the Host header, TLS
    /// name and certificate check stay HOST1's; an empty HOST1 or PORT1 matches any, an
    /// empty HOST2 or PORT2 keeps the original); repeatable, the first match wins
    #[arg(long, value_name = "HOST1:PORT1:HOST2:PORT2")]
    connect_to: Vec<String>,
    /// Idle connections kept per host (default 100)
    #[arg(long, value_name = "N")]
    max_idle_per_host: Option<usize>,
    /// Close connections idle longer than this (default 90)
    #[arg(long, value_name = "SECS", value_parser = parse_positive_secs)]
    idle_timeout: Option<Duration>,
    /// Pause between two URLs (not after the last)
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    sleep: Option<Duration>,

    /// One key=value line per request on stderr: url= method= status= reused= idle_us=
    /// conn_id= dns_us= connect_us= tls_us= wait_us= ttfb_us= head_us= total_us= bytes=
    /// (takes no value: never a URL)
    #[arg(long)]
    trace: bool,
    /// Append the --trace lines to FILE instead of stderr
    #[arg(long, value_name = "FILE")]
    trace_file: Option<PathBuf>,
    /// At exit, the pool's counters as one JSON line on stderr
    #[arg(long)]
    stats: bool,
    /// At exit, the pool's counters and latency histograms in Prometheus text format
    /// on stderr
    #[arg(long)]
    metrics: bool,

    #[command(flatten)]
    pool: PoolOptions,
}

/// Where one URL's body goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Standard output (no `-o`, or `-o -`).
    Stdout,
    /// `-o FILE`.
    File(PathBuf),
    /// `-O`: a file named after the URL's last path segment, in the current directory.
    RemoteName,
}

/// Everything `fetch` was told, checked.
#[derive(Debug)]
pub struct Options {
    /// `-X`: the method asked for explicitly.
    pub method: Option<Method>,
    /// `-H`, in the order given (repeated names are all sent).
    pub headers: HeaderMap,
    /// `-d`, `--data-binary`, `--data-raw` (pieces joined with `&`) or `--json` (joined
    /// as they are): the request body, shared by every URL without a copy.
    pub data: Option<Bytes>,
    /// `-T`: the file to upload, streamed.
    pub upload: Option<Upload>,
    /// `-A`: `Some(None)` sends no `User-Agent`.
    pub user_agent: Option<Option<String>>,
    /// `-L`: follow redirects, at most this many (`--max-redirs`, default 50).
    pub follow: Option<usize>,
    /// `--compressed`.
    pub compressed: bool,
    /// Bytes read from the `-T` file or stdin for the current URL (`size_upload`).
    pub upload_read: Arc<AtomicU64>,
    /// `-i`.
    pub include: bool,
    /// `-I`.
    pub head: bool,
    /// `-o`/`-O` for the first URLs, in order; later URLs go to stdout.
    pub outputs: Vec<Output>,
    /// `-f`.
    pub fail: bool,
    /// `-s`.
    pub silent: bool,
    /// `-S`.
    pub show_error: bool,
    /// `-v`.
    pub verbose: bool,
    /// `-w`: the format, `@file` already read.
    pub write_out: Option<String>,
    /// `-k`.
    pub insecure: bool,
    /// `--cacert`: the only CAs trusted for https (like curl's `--cacert`).
    pub cacert: Option<PathBuf>,
    /// `-m`/`--max-time`/`--timeout`: total deadline per request.
    pub timeout: Option<Duration>,
    /// `--connect-timeout`: DNS + connect deadline.
    pub connect_timeout: Option<Duration>,
    /// `--max-idle-per-host`.
    pub max_idle_per_host: Option<usize>,
    /// `--idle-timeout`.
    pub idle_timeout: Option<Duration>,
    /// `--sleep`: pause between two URLs.
    pub sleep: Option<Duration>,
    /// `--trace`.
    pub trace: bool,
    /// `--trace-file`.
    pub trace_file: Option<PathBuf>,
    /// `--stats`.
    pub stats: bool,
    /// `--dns-ttl`, `--max-conns-per-host`, `--max-waiters`, `--pool-wait-timeout`,
    /// `--keepalive-margin`, `--no-learn-limits`, `--no-follow-dns`.
    pub pool: PoolOptions,
    /// `-x`, `--noproxy`, `--unix-socket` and the environment: where each URL goes.
    pub routing: Routing,
    /// `--resolve`.
    pub resolve: ResolveRules,
    /// `--connect-to`, in order (the first that matches wins).
    pub connect_to: Vec<ConnectTo>,
    /// `--metrics`.
    pub metrics: bool,
    /// The URLs, in order (at least one).
    pub urls: Vec<Uri>,
}

/// What `-T` uploads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Upload {
    /// `-T -`: standard input, chunked (its length is not known).
    Stdin,
    /// `-T FILE`: the file, with `Content-Length`, opened again for each URL.
    File(PathBuf),
}

/// curl's default for `--max-redirs`.
pub const DEFAULT_MAX_REDIRS: usize = 50;

/// A command line that cannot run: a usage error (exit 2) or a malformed URL (exit 3).
#[derive(Debug)]
pub enum CliError {
    /// clap's own error (help and version too): it knows how to print and exit.
    Clap(clap::Error),
    /// A usage mistake found after parsing (exit 2).
    Usage(String),
    /// A URL that does not parse or names no host (curl's exit 3).
    BadUrl(String),
    /// A URL of another scheme (curl's exit 1, "unsupported protocol").
    UnsupportedScheme(String),
}

impl Cli {
    /// Parses `args` (the program name first) and checks them, reading the proxy
    /// variables from the process environment.
    pub fn parse_args<I, T>(args: I) -> Result<Options, CliError>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        Cli::parse_args_with_env(args, |name| std::env::var(name).ok())
    }

    /// [`Cli::parse_args`] with the environment read through `getenv`.
    pub fn parse_args_with_env<I, T>(
        args: I,
        getenv: impl Fn(&str) -> Option<String>,
    ) -> Result<Options, CliError>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let mut cmd = Cli::command();
        let matches = cmd.try_get_matches_from_mut(args).map_err(CliError::Clap)?;
        let cli = Cli::from_arg_matches(&matches).map_err(CliError::Clap)?;
        // -o and -O are handed to the URLs in the order they were given, as curl does.
        let mut outputs: Vec<(usize, Output)> = Vec::new();
        if let Some(indices) = matches.indices_of("output") {
            for (index, path) in indices.zip(&cli.output) {
                let out = if path.as_os_str() == "-" {
                    Output::Stdout
                } else {
                    Output::File(path.clone())
                };
                outputs.push((index, out));
            }
        }
        if let Some(indices) = matches.indices_of("remote_name") {
            outputs.extend(indices.map(|i| (i, Output::RemoteName)));
        }
        outputs.sort_by_key(|(i, _)| *i);
        cli.check(outputs.into_iter().map(|(_, o)| o).collect(), getenv)
    }

    fn check(
        self,
        outputs: Vec<Output>,
        getenv: impl Fn(&str) -> Option<String>,
    ) -> Result<Options, CliError> {
        let upload = match &self.upload_file {
            None => None,
            Some(path) if path.as_os_str() == "-" => Some(Upload::Stdin),
            Some(path) => {
                let meta = std::fs::metadata(path)
                    .map_err(|e| CliError::Usage(format!("-T {}: {e}", path.display())))?;
                if meta.is_dir() {
                    return Err(CliError::Usage(format!(
                        "-T {}: is a directory",
                        path.display()
                    )));
                }
                Some(Upload::File(path.clone()))
            }
        };
        let mut urls = Vec::with_capacity(self.urls.len());
        for text in &self.urls {
            let url = parse_url(text)?;
            urls.push(match &upload {
                Some(Upload::File(path)) => with_file_name(url, path)?,
                _ => url,
            });
        }
        if upload == Some(Upload::Stdin) && urls.len() > 1 {
            return Err(CliError::Usage(
                "-T - reads stdin once: give one URL".into(),
            ));
        }
        let has_data =
            !(self.data.is_empty() && self.data_binary.is_empty() && self.data_raw.is_empty());
        if upload.is_some() && (has_data || !self.json.is_empty()) {
            return Err(CliError::Usage(
                "give -T or a body (-d, --json), not both".into(),
            ));
        }
        if has_data && !self.json.is_empty() {
            return Err(CliError::Usage("give -d or --json, not both".into()));
        }
        let mut pieces: Vec<Vec<u8>> = Vec::new();
        for d in &self.data {
            pieces.push(data_piece(d, DataKind::Text)?);
        }
        for d in &self.data_binary {
            pieces.push(data_piece(d, DataKind::Binary)?);
        }
        for d in &self.data_raw {
            pieces.push(d.clone().into_bytes());
        }
        // One piece is the body as it is (no second copy of a large @FILE).
        let mut data = match pieces.len() {
            0 => None,
            1 => pieces.pop(),
            _ => Some(pieces.join(&b'&')),
        };
        let mut json = Vec::new();
        for d in &self.json {
            json.extend(data_piece(d, DataKind::Binary)?);
        }
        let mut headers = HeaderMap::new();
        for (name, value) in self.headers {
            headers.append(name, value);
        }
        if !self.json.is_empty() {
            data = Some(json);
            for name in [CONTENT_TYPE, ACCEPT] {
                if !headers.contains_key(&name) {
                    headers.insert(name, HeaderValue::from_static("application/json"));
                }
            }
        } else if data.is_some() && !headers.contains_key(CONTENT_TYPE) {
            headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            );
        }
        if let Some(user) = &self.user {
            // -H Authorization wins, as in curl.
            if !headers.contains_key(AUTHORIZATION) {
                let (name, password) = match user.split_once(':') {
                    Some((name, password)) => (name, password),
                    None => (user.as_str(), ""),
                };
                headers.insert(AUTHORIZATION, wirepool::basic_auth(name, Some(password)));
            }
        }
        if let Some(ua) = &self.user_agent {
            if HeaderValue::from_str(ua).is_err() {
                return Err(CliError::Usage(format!(
                    "-A {}: not a valid header value",
                    ua.escape_debug()
                )));
            }
        }
        let write_out = match self.write_out {
            Some(f) => Some(write_out::read_format(&f).map_err(CliError::Usage)?),
            None => None,
        };
        if self.insecure && self.cacert.is_some() {
            return Err(CliError::Usage("give --cacert or -k, not both".into()));
        }
        let mut resolve = ResolveRules::default();
        for spec in &self.resolve {
            resolve.add(spec).map_err(CliError::Usage)?;
        }
        let connect_to = self
            .connect_to
            .iter()
            .map(|spec| {
                ConnectTo::parse(spec).map_err(|e| {
                    CliError::Usage(
                        std::error::Error::source(&e)
                            .map_or_else(|| e.to_string(), ToString::to_string),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let routing = Routing::new(self.proxy, self.noproxy, self.unix_socket, getenv);
        if outputs.len() > urls.len() {
            return Err(CliError::Usage(format!(
                "{} -o/-O for {} URL(s): one per URL at most",
                outputs.len(),
                urls.len()
            )));
        }
        Ok(Options {
            method: self.method,
            headers,
            data: data.map(Bytes::from),
            upload,
            user_agent: self.user_agent.map(|ua| (!ua.is_empty()).then_some(ua)),
            // --max-redirs without -L is accepted and ignored, as curl does.
            follow: self
                .location
                .then(|| self.max_redirs.unwrap_or(DEFAULT_MAX_REDIRS)),
            compressed: self.compressed,
            upload_read: Arc::default(),
            include: self.include,
            head: self.head,
            outputs,
            fail: self.fail,
            silent: self.silent,
            show_error: self.show_error,
            verbose: self.verbose,
            write_out,
            insecure: self.insecure,
            cacert: self.cacert,
            timeout: self.max_time,
            connect_timeout: self.connect_timeout,
            max_idle_per_host: self.max_idle_per_host,
            idle_timeout: self.idle_timeout,
            sleep: self.sleep,
            trace: self.trace || self.trace_file.is_some(),
            trace_file: self.trace_file,
            stats: self.stats,
            pool: self.pool,
            routing,
            resolve,
            connect_to,
            metrics: self.metrics,
            urls,
        })
    }
}

/// How a `-d`-style piece treats `@`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum DataKind {
    /// `-d`: `@file` is read and its CR and LF bytes dropped (as curl).
    Text,
    /// `--data-binary`: `@file` is read as is.
    Binary,
}

/// One `-d` value: the text, or the contents of `@file` (`@-`: stdin).
fn data_piece(value: &str, kind: DataKind) -> Result<Vec<u8>, CliError> {
    let Some(path) = value.strip_prefix('@') else {
        return Ok(value.as_bytes().to_vec());
    };
    let mut bytes = Vec::new();
    let read = if path == "-" {
        std::io::stdin().lock().read_to_end(&mut bytes)
    } else {
        std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut bytes))
    };
    read.map_err(|e| CliError::Usage(format!("-d @{path}: {e}")))?;
    if kind == DataKind::Text {
        bytes.retain(|&b| b != b'\r' && b != b'\n');
    }
    Ok(bytes)
}

impl Options {
    /// The method every request uses: `-X`, else HEAD with `-I`, else PUT with `-T`,
    /// else POST with a body, else GET.
    pub fn method(&self) -> Method {
        match (&self.method, self.head, &self.upload, &self.data) {
            (Some(m), ..) => m.clone(),
            (None, true, ..) => Method::HEAD,
            (None, false, Some(_), _) => Method::PUT,
            (None, false, None, Some(_)) => Method::POST,
            (None, false, None, None) => Method::GET,
        }
    }

    /// Where URL number `i` writes its body.
    pub fn output(&self, i: usize) -> &Output {
        self.outputs.get(i).unwrap_or(&Output::Stdout)
    }

    /// Whether error messages are shown (`-s` hides them, `-S` brings them back).
    pub fn show_errors(&self) -> bool {
        !self.silent || self.show_error
    }

    /// A client builder with the settings given on the command line, for the URLs that
    /// go through `proxy` (or none); the rest keep wirepool's defaults. `-m`/`--timeout`
    /// bounds the whole request, so it replaces the separate response-head deadline
    /// (10 s by default) instead of racing it.
    ///
    /// The library's own reading of the proxy variables is off: [`route`] decided each
    /// URL's route with curl's rules, and a URL goes to the client of its proxy, which
    /// sends every request there. `--unix-socket`, `--connect-to` and `--resolve` apply
    /// to every client.
    ///
    /// Fails when the `--cacert` file cannot be used.
    pub fn client_builder(
        &self,
        proxy: Option<&Proxy>,
    ) -> Result<ClientBuilder, wirepool::tls::Error> {
        // As curl: redirects followed only with -L (and then, as curl, also from https
        // to http, credentials stripped when the host changes); compression only with
        // --compressed.
        let redirect = match self.follow {
            None => RedirectPolicy::none(),
            Some(max) => RedirectPolicy::limited(max).allow_https_downgrade(true),
        };
        let mut b = ClientBuilder::new()
            .proxy_from_env(false)
            .redirect(redirect)
            .decompress(self.compressed);
        if let Some(ua) = &self.user_agent {
            b = b.user_agent(ua.as_deref());
        }
        if let Some(proxy) = proxy {
            b = b.proxy(proxy.clone());
        }
        if let Some(path) = self.routing.unix_socket() {
            b = b.unix_socket(path.clone());
        }
        for rule in &self.connect_to {
            b = b.connect_to(rule.clone());
        }
        for rule in &self.resolve.exact {
            b = b.resolve(rule.clone());
        }
        if let Some(resolver) = self.resolve.wildcard_resolver() {
            b = b.resolver(resolver);
        }
        if self.cacert.is_some() || self.insecure {
            let mut tls = TlsConfig::builder();
            if let Some(path) = &self.cacert {
                tls = tls.trust_roots(TrustRoots::OnlyAdded).add_ca_pem_file(path);
            }
            if self.insecure {
                tls = tls.danger_accept_invalid_certs_for_testing_only();
            }
            b = b.tls_config(tls.build()?);
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
        Ok(self.pool.apply_to(b))
    }

    /// The request for `url`: method, `-H` headers and the body (`-d`/`--json` bytes,
    /// or the `-T` file or stdin, streamed). Fails when the `-T` file cannot be opened.
    pub fn request(&self, url: &Uri) -> Result<Request<Body>, String> {
        let mut builder = Request::builder().method(self.method()).uri(url.clone());
        if let Some(headers) = builder.headers_mut() {
            headers.extend(self.headers.clone());
        }
        self.upload_read.store(0, Ordering::SeqCst);
        let read = Arc::clone(&self.upload_read);
        let body = match (&self.upload, &self.data) {
            (Some(Upload::Stdin), _) => Body::from_reader(Counted(std::io::stdin(), read)),
            (Some(Upload::File(path)), _) => {
                let len = std::fs::metadata(path)
                    .map_err(|e| format!("-T {}: {e}", path.display()))?
                    .len();
                let path = path.clone();
                // Opened again for a resend (the count starts again with it).
                Body::from_factory(Some(len), move || {
                    read.store(0, Ordering::SeqCst);
                    std::fs::File::open(&path).map(|f| Counted(f, Arc::clone(&read)))
                })
            }
            (None, Some(data)) => Body::from(data.clone()),
            (None, None) => Body::empty(),
        };
        builder.body(body).map_err(|e| e.to_string())
    }
}

/// The file name `-O` uses for `url`: its last path segment; `None` if it is empty.
pub fn remote_name(url: &Uri) -> Option<String> {
    let name = url.path().rsplit('/').next().unwrap_or("");
    (!name.is_empty() && name != "." && name != "..").then(|| name.to_owned())
}

/// A reader that counts what it gives (`-T`'s `size_upload`).
struct Counted<R>(R, Arc<AtomicU64>);

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.0.read(buf)?;
        self.1.fetch_add(n as u64, Ordering::SeqCst);
        Ok(n)
    }
}

/// `-T FILE` to a URL ending in `/`: the file's name appended, as curl does.
fn with_file_name(url: Uri, file: &std::path::Path) -> Result<Uri, CliError> {
    if !url.path().ends_with('/') {
        return Ok(url);
    }
    let Some(name) = file.file_name().and_then(|n| n.to_str()) else {
        return Ok(url);
    };
    let mut encoded = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(b));
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    let mut parts = url.into_parts();
    let pq = parts.path_and_query.as_ref().map_or("/", |p| p.as_str());
    let (path, query) = match pq.split_once('?') {
        Some((p, q)) => (p.to_owned(), format!("?{q}")),
        None => (pq.to_owned(), String::new()),
    };
    let joined = format!("{path}{encoded}{query}");
    parts.path_and_query = Some(
        joined
            .parse()
            .map_err(|e| CliError::BadUrl(format!("URL rejected: '{joined}': {e}")))?,
    );
    Uri::from_parts(parts).map_err(|e| CliError::BadUrl(format!("URL rejected: {e}")))
}

/// `--max-redirs`: a count, or -1 for no limit (as curl).
fn parse_max_redirs(value: &str) -> Result<usize, String> {
    match value.trim().parse::<i64>() {
        Ok(-1) => Ok(usize::MAX),
        Ok(n) if n >= 0 => usize::try_from(n).map_err(|e| e.to_string()),
        _ => Err(format!("'{value}' is not a count (or -1 for no limit)")),
    }
}

/// Parses a number of seconds, fractions allowed (`0.5`, `2`, `1e-3`). Negative,
/// infinite and NaN values are refused, and so is a value too large for a `Duration`.
pub fn parse_secs(value: &str) -> Result<Duration, String> {
    let bad = || format!("'{value}' is not a number of seconds");
    let secs: f64 = value.trim().parse().map_err(|_| bad())?;
    if !secs.is_finite() || secs < 0.0 {
        return Err(bad());
    }
    Duration::try_from_secs_f64(secs).map_err(|_| bad())
}

/// Like [`parse_secs`], but zero is refused too: for timeouts, where zero would fail
/// every request at once.
pub fn parse_positive_secs(value: &str) -> Result<Duration, String> {
    let d = parse_secs(value)?;
    if d.is_zero() {
        return Err("must be more than 0 seconds".into());
    }
    Ok(d)
}

/// Parses a URL, adding `http://` when it has no scheme; it must name a host.
fn parse_url(text: &str) -> Result<Uri, CliError> {
    let full = if text.contains("://") {
        text.to_owned()
    } else {
        format!("http://{text}")
    };
    let shown = text.escape_debug();
    let uri: Uri = full
        .parse()
        .map_err(|e| CliError::BadUrl(format!("URL rejected: '{shown}': {e}")))?;
    if uri.host().map_or(true, str::is_empty) {
        return Err(CliError::BadUrl(format!(
            "URL rejected: '{shown}': no host part"
        )));
    }
    match uri.scheme_str() {
        Some("http" | "https") => Ok(uri),
        other => Err(CliError::UnsupportedScheme(format!(
            "protocol '{}' not supported: '{shown}'",
            other.unwrap_or("")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Options {
        let all = std::iter::once("fetch").chain(args.iter().copied());
        match Cli::parse_args_with_env(all, |_| None) {
            Ok(o) => o,
            Err(e) => panic!("{args:?}: {e:?}"),
        }
    }

    fn error(args: &[&str]) -> String {
        let all = std::iter::once("fetch").chain(args.iter().copied());
        match Cli::parse_args_with_env(all, |_| None) {
            Err(CliError::Clap(e)) => e.to_string(),
            Err(CliError::Usage(m) | CliError::BadUrl(m) | CliError::UnsupportedScheme(m)) => m,
            Ok(o) => panic!("{args:?} should fail, got {o:?}"),
        }
    }

    #[test]
    fn defaults() {
        let o = run(&["http://127.0.0.1:8080/"]);
        assert_eq!(o.method(), Method::GET);
        assert!(o.headers.is_empty() && o.data.is_none() && !o.include);
        assert!(!o.trace && !o.stats && o.sleep.is_none() && o.cacert.is_none());
        assert_eq!(o.output(0), &Output::Stdout);
        assert!(o.show_errors());
        assert_eq!(o.urls[0].to_string(), "http://127.0.0.1:8080/");
    }

    #[test]
    fn every_option_that_fetch_had() {
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
        assert_eq!(
            o.headers["content-type"],
            "application/x-www-form-urlencoded"
        );
        assert_eq!(o.data.as_deref(), Some(&b"a=b"[..]));
        assert!(o.include && o.trace && o.stats);
        assert_eq!(o.timeout, Some(Duration::from_millis(500)));
        assert_eq!(o.connect_timeout, Some(Duration::from_secs(2)));
        assert_eq!(o.max_idle_per_host, Some(4));
        assert_eq!(o.idle_timeout, Some(Duration::from_millis(1500)));
        assert_eq!(o.sleep, Some(Duration::ZERO));
        assert_eq!(o.cacert, Some(PathBuf::from("/tmp/ca.pem")));
        let urls: Vec<String> = o.urls.iter().map(Uri::to_string).collect();
        assert_eq!(urls, ["http://a/", "http://b:81/x"]);
        assert_eq!(run(&["--method", "PATCH", "u"]).method(), Method::PATCH);
    }

    #[test]
    fn curl_options() {
        let o = run(&["-sSvfkI", "-m", "1.5", "-w", "%{http_code}\\n", "u"]);
        assert!(o.silent && o.show_error && o.verbose && o.fail && o.insecure && o.head);
        assert!(o.show_errors());
        assert_eq!(o.method(), Method::HEAD);
        assert_eq!(o.timeout, Some(Duration::from_millis(1500)));
        assert_eq!(o.write_out.as_deref(), Some("%{http_code}\\n"));
        assert!(!run(&["-s", "u"]).show_errors());
        let o = run(&["--trace-file", "/tmp/t", "u"]);
        assert!(o.trace);
        // --trace takes no value: what follows is a URL.
        let o = run(&["--trace", "out.txt", "http://h/"]);
        assert_eq!(o.urls.len(), 2);
    }

    #[test]
    fn outputs_pair_with_urls_in_order() {
        let o = run(&["a/1", "-O", "b/2", "-o", "x", "c/3", "-o", "-"]);
        assert_eq!(
            o.outputs,
            [Output::RemoteName, Output::File("x".into()), Output::Stdout]
        );
        let o = run(&["-o", "x", "-O", "-O", "a/1", "b/2", "c/3"]);
        assert_eq!(
            o.outputs,
            [
                Output::File("x".into()),
                Output::RemoteName,
                Output::RemoteName
            ]
        );
        assert_eq!(o.output(3), &Output::Stdout);
        assert_eq!(
            remote_name(&"http://h/a/file.txt?q=1".parse().unwrap()),
            Some("file.txt".into())
        );
        assert_eq!(remote_name(&"http://h/".parse().unwrap()), None);
        assert!(error(&["-o", "a", "-o", "b", "u"]).contains("one per URL"));
    }

    #[test]
    fn data_pieces_and_files() {
        let dir = std::env::temp_dir().join(format!("fetch-data-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("body.txt");
        std::fs::write(&file, "line one\r\nline two\n").unwrap();
        let at = format!("@{}", file.display());
        let o = run(&["-d", "a=1", "-d", &at, "u"]);
        assert_eq!(o.data.as_deref(), Some(&b"a=1&line oneline two"[..]));
        let o = run(&["--data-binary", &at, "u"]);
        assert_eq!(o.data.as_deref(), Some(&b"line one\r\nline two\n"[..]));
        let o = run(&["--data-raw", &at, "-H", "Content-Type: text/plain", "u"]);
        assert_eq!(o.data.as_deref(), Some(at.as_bytes()));
        assert_eq!(o.headers["content-type"], "text/plain");
        assert!(error(&["-d", "@/nonexistent/file", "u"]).contains("/nonexistent/file"));
        let _ = std::fs::remove_dir_all(&dir);
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
    fn the_sending_options() {
        let o = run(&["-L", "--compressed", "-A", "curl/8", "-u", "al:pw", "h/"]);
        assert_eq!(o.follow, Some(DEFAULT_MAX_REDIRS));
        assert!(o.compressed);
        assert_eq!(o.user_agent, Some(Some("curl/8".into())));
        assert_eq!(o.headers["authorization"], "Basic YWw6cHc=");
        assert_eq!(run(&["-L", "--max-redirs", "3", "u"]).follow, Some(3));
        assert_eq!(
            run(&["-L", "--max-redirs", "-1", "u"]).follow,
            Some(usize::MAX)
        );
        assert_eq!(
            run(&["--max-redirs", "3", "u"]).follow,
            None,
            "only with -L"
        );
        assert_eq!(run(&["-A", "", "u"]).user_agent, Some(None));
        assert_eq!(
            run(&["-u", "solo", "u"]).headers["authorization"],
            "Basic c29sbzo="
        );
        let o = run(&["-u", "al:pw", "-H", "Authorization: Bearer t", "u"]);
        assert_eq!(o.headers["authorization"], "Bearer t", "-H wins");
        let o = run(&["--json", r#"{"a":"#, "--json", "1}", "u"]);
        assert_eq!(o.method(), Method::POST);
        assert_eq!(o.data.as_deref(), Some(&br#"{"a":1}"#[..]));
        assert_eq!(o.headers["content-type"], "application/json");
        assert_eq!(o.headers["accept"], "application/json");
        let o = run(&["--json", "[]", "-H", "Accept: text/plain", "u"]);
        assert_eq!(o.headers["accept"], "text/plain");
    }

    #[test]
    fn upload_file() {
        let dir = std::env::temp_dir().join(format!("fetch-upload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("my file.bin");
        std::fs::write(&file, b"0123456789").unwrap();
        let t = file.display().to_string();
        let o = run(&[
            "-T",
            &t,
            "http://h/dir/",
            "http://h/exact?x=1",
            "http://h/?q",
        ]);
        assert_eq!(o.method(), Method::PUT);
        let urls: Vec<String> = o.urls.iter().map(Uri::to_string).collect();
        assert_eq!(
            urls,
            [
                "http://h/dir/my%20file.bin",
                "http://h/exact?x=1",
                "http://h/my%20file.bin?q"
            ]
        );
        let req = o.request(&o.urls[0]).unwrap();
        assert_eq!(req.body().len(), Some(10));
        assert!(req.body().is_replayable());
        assert_eq!(run(&["-T", "-", "-X", "POST", "u"]).method(), Method::POST);
        let o = run(&["-T", "-", "u"]);
        assert_eq!(o.upload, Some(Upload::Stdin));
        assert_eq!(o.request(&o.urls[0]).unwrap().body().len(), None, "chunked");
        assert!(error(&["-T", "-", "a", "b"]).contains("one URL"));
        assert!(error(&["-T", &t, "-d", "x", "u"]).contains("not both"));
        assert!(error(&["-T", "/nonexistent/f", "u"]).contains("/nonexistent/f"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn usage_errors() {
        let cases: &[(&[&str], &str)] = &[
            (&[], "required"),
            (&["--bogus", "u"], "--bogus"),
            (&["-z", "u"], "-z"),
            (&["-X"], "a value is required"),
            (&["-X", "GE T", "u"], "not a valid method"),
            (&["-H", "NoColon", "u"], "is not of the form 'Name: value'"),
            (&["-H", "Bad Name: v", "u"], "invalid header name"),
            (&["-H", "X: a\r\nInjected: 1", "u"], "invalid header value"),
            (&["-H", "X: a\0b", "u"], "invalid header value"),
            (&["--timeout", "soon", "u"], "not a number of seconds"),
            (&["-m", "0", "u"], "more than 0"),
            (&["--sleep", "x", "u"], "not a number of seconds"),
            (&["--max-idle-per-host", "many", "u"], "many"),
            (&["--include=1", "u"], "unexpected value"),
            (&["-k", "--cacert", "x", "u"], "not both"),
            (&["http://"], "URL rejected"),
            (&["http:///path"], "URL rejected"),
            (&["http://a b/"], "URL rejected"),
            (&["ftp://h/"], "not supported"),
            (&["--max-redirs", "-2", "u"], "not a count"),
            (&["-d", "x", "--json", "{}", "u"], "not both"),
            (&["--resolve", "h:80", "u"], "no address"),
            (&["--resolve", "h:x:127.0.0.1", "u"], "bad port"),
            (&["--resolve", "-h", "u"], "-HOST:PORT"),
            (&["--connect-to", "a:1:b", "u"], "HOST1:PORT1:HOST2:PORT2"),
            (&["--connect-to", "a:1:b:x", "u"], "HOST1:PORT1:HOST2:PORT2"),
            (&["-x"], "a value is required"),
        ];
        for (args, expected) in cases {
            let message = error(args);
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
            .client_builder(None)
            .unwrap()
            .build()
            .unwrap()
            .config()
            .clone();
        assert_eq!(config.timeout, Some(Duration::from_secs(60)));
        assert_eq!(config.response_header_timeout, None);
        let o = run(&["u"]);
        let config = o
            .client_builder(None)
            .unwrap()
            .build()
            .unwrap()
            .config()
            .clone();
        assert!(config.response_header_timeout.is_some(), "default kept");
        Cli::command().debug_assert();
    }

    #[test]
    fn route_options_reach_the_client() {
        let o = run(&[
            "-x",
            "proxy.test:3128",
            "--noproxy",
            "skip.test",
            "--resolve",
            "a.test:80:127.0.0.1",
            "--resolve",
            "+b.test:443:[::1]",
            "--connect-to",
            "a.test:80:127.0.0.1:8080",
            "--connect-to",
            "::c.test:",
            "http://a.test/",
            "http://skip.test/",
        ]);
        let via: Vec<_> = o.urls.iter().map(|u| o.routing.via(u).unwrap()).collect();
        let proxy = via[0].proxy().expect("proxied").clone();
        assert_eq!(proxy.to_string(), "http://proxy.test:3128");
        assert_eq!(via[1], route::Via::Direct);
        assert_eq!(o.resolve.exact.len(), 2);
        assert_eq!(o.connect_to.len(), 2);
        let config = o
            .client_builder(Some(&proxy))
            .unwrap()
            .build()
            .unwrap()
            .config()
            .clone();
        assert!(!config.proxy_from_env, "fetch reads the environment itself");
        assert_eq!(config.proxy, Some(proxy));
        assert_eq!(config.resolve, o.resolve.exact);
        assert_eq!(config.connect_to, o.connect_to);
        assert!(config.unix_socket.is_none() && config.resolver.is_none());
        let o = run(&[
            "--unix-socket",
            "/run/x.sock",
            "--resolve",
            "*:80:127.0.0.1",
            "u",
        ]);
        let config = o
            .client_builder(None)
            .unwrap()
            .build()
            .unwrap()
            .config()
            .clone();
        assert_eq!(config.unix_socket, Some(PathBuf::from("/run/x.sock")));
        assert!(config.resolver.is_some(), "the '*' entry needs a resolver");
        // -x "" is accepted (it turns proxies off).
        let o = run(&["-x", "", "u"]);
        assert_eq!(o.routing.via(&o.urls[0]).unwrap(), route::Via::Direct);
    }
}
