//! `fetch`: a small curl over one shared wirepool [`Client`].
//!
//! ```text
//! fetch [OPTIONS] URL...     (fetch --help for the options; docs/fetch.md)
//!
//!   for each URL, in order:  Client::send ──► Response ──► -f check ──► -i/-I head ──► body
//!                            (--sleep between URLs)        -v heads, --trace line ──► stderr
//!                                                          -o/-O file, or stdout; then -w
//!   at exit:                 --stats: Client::stats() as one JSON line ──► stderr
//!                            --metrics: the same as Prometheus text ──► stderr
//! ```
//!
//! All requests go through one client, so a second URL on the same host reuses the
//! first one's connection: `fetch --stats URL URL` shows `"dials":1,"reused":1`, and
//! `-v` says `* Re-using existing connection`. Bodies stream with `std::io::copy` and are
//! never held whole in memory.
//!
//! Where each URL goes (straight, through a proxy, over a Unix socket) is decided before
//! the first request, with curl's rules (`examples::fetch::route`); URLs that go through
//! different proxies use different clients (one per route, so usually one), whose stats
//! `--stats` adds up.
//!
//! Exit status: curl's codes (see `examples::fetch::exit`); as in curl the last URL
//! decides it, and each failure is reported on stderr as `fetch: (CODE) URL: what: why`
//! (unless `-s`). Failing to write the output stops the run with 23.
//!
//! With `-v`, a middleware prints each request and response head as it goes out and
//! comes back, so with `-L` every hop of a redirect shows.
//!
//! This is example code: it uses only `wirepool`'s public API.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::process::ExitCode;
use std::time::Instant;

use clap::CommandFactory;
use examples::fetch::route::{redact, RouteError, Via};
use examples::fetch::trace::Trace;
use examples::fetch::write_out::{self, Transfer};
use examples::fetch::{exit, remote_name, Cli, CliError, Options, Output};
use examples::report::{error_chain, stats_json_all};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use wirepool::http::{HeaderMap, Method, Request, Uri};
use wirepool::{
    Body, Client, Error, ErrorKind, Next, Proxy, ProxyRefused, RequestInfo, RequestOptions,
    Response, Stats,
};

/// The clients of a run: one per proxy the URLs go through (`None`: straight, or over
/// the Unix socket).
type Clients = Vec<(Option<Proxy>, Client)>;

fn main() -> ExitCode {
    let options = match Cli::parse_args(std::env::args_os()) {
        Ok(options) => Arc::new(options),
        Err(e) => return ExitCode::from(report_cli_error(e)),
    };
    let routes: Vec<Result<Via, RouteError>> = options
        .urls
        .iter()
        .map(|u| options.routing.via(u))
        .collect();
    let mut clients: Clients = Vec::new();
    for via in routes.iter().flatten() {
        let proxy = via.proxy();
        if clients.iter().any(|(p, _)| p.as_ref() == proxy) {
            continue;
        }
        let builder = match options.client_builder(proxy) {
            Ok(builder) => builder,
            Err(e) => {
                let path = options
                    .cacert
                    .as_deref()
                    .unwrap_or(std::path::Path::new(""));
                if options.show_errors() {
                    eprintln!(
                        "fetch: ({}) --cacert {}: {}",
                        exit::SSL_CACERT_BADFILE,
                        path.display(),
                        error_chain(&e)
                    );
                }
                return ExitCode::from(exit::SSL_CACERT_BADFILE);
            }
        };
        // -v: each request and response head as it goes out and comes back, so with -L
        // every hop shows.
        let builder = if options.verbose {
            builder.middleware(verbose_layer(Arc::clone(&options)))
        } else {
            builder
        };
        match builder.build() {
            Ok(client) => clients.push((proxy.cloned(), client)),
            Err(e) => {
                eprintln!("fetch: (1) cannot start the client: {}", error_chain(&e));
                return ExitCode::from(exit::OTHER);
            }
        }
    }
    let mut trace_out: Box<dyn Write> = match &options.trace_file {
        None => Box::new(io::stderr()),
        Some(path) => match OpenOptions::new().create(true).append(true).open(path) {
            Ok(f) => Box::new(f),
            Err(e) => {
                eprintln!(
                    "fetch: ({}) --trace-file {}: {e}",
                    exit::WRITE_ERROR,
                    path.display()
                );
                return ExitCode::from(exit::WRITE_ERROR);
            }
        },
    };
    if options.verbose {
        // curl says this when it loads the entries, before the first transfer.
        for rule in &options.resolve.exact {
            eprintln!(
                "* Added {}:{}:{} to DNS cache",
                rule.host(),
                rule.port(),
                ips(rule.addrs())
            );
        }
        for (port, addrs) in &options.resolve.any_host {
            eprintln!("* Added *:{port}:{} to DNS cache", ips(addrs));
        }
    }
    let code = run(&clients, &routes, &options, &mut *trace_out);
    if options.stats || options.metrics {
        let mut all = Vec::with_capacity(clients.len());
        for (_, client) in &clients {
            match client.stats() {
                Ok(stats) => all.push(stats),
                Err(e) => eprintln!("fetch: --stats/--metrics: {}", error_chain(&e)),
            }
        }
        if options.stats {
            eprintln!("{}", stats_json_all(&all));
        }
        if options.metrics {
            // One exposition for every client (one per route): pools of different
            // routes have different keys, the totals add up.
            let mut merged = Stats::default();
            for stats in all {
                merged.merge(stats);
            }
            eprint!("{}", merged.to_prometheus());
        }
    }
    ExitCode::from(code)
}

/// `127.0.0.1,::1`: the addresses of a `--resolve` entry as curl lists them.
fn ips(addrs: &[std::net::SocketAddr]) -> String {
    let ips: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
    ips.join(",")
}

/// Prints a command-line problem the way curl would and returns the exit code.
fn report_cli_error(e: CliError) -> u8 {
    match e {
        CliError::Clap(e) if !e.use_stderr() => {
            // --help and --version: stdout, success.
            let _ = e.print();
            exit::OK
        }
        CliError::Clap(e) => {
            let text = e.render().to_string();
            if text.contains("Usage:") {
                eprint!("fetch: {text}");
            } else {
                eprint!(
                    "fetch: {}\n{}\n",
                    text.trim_end(),
                    Cli::command().render_usage()
                );
            }
            exit::USAGE
        }
        CliError::Usage(message) => {
            eprint!(
                "fetch: error: {message}\n\n{}\n",
                Cli::command().render_usage()
            );
            exit::USAGE
        }
        CliError::BadUrl(message) => {
            eprintln!("fetch: ({}) {message}", exit::URL_MALFORMAT);
            exit::URL_MALFORMAT
        }
        CliError::UnsupportedScheme(message) => {
            eprintln!("fetch: ({}) {message}", exit::OTHER);
            exit::OTHER
        }
    }
}

/// Fetches every URL in order, each through the client of its route; returns the exit
/// code (the last URL's, as curl).
fn run(
    clients: &Clients,
    routes: &[Result<Via, RouteError>],
    options: &Options,
    trace_out: &mut dyn Write,
) -> u8 {
    let mut stdout = BufWriter::new(io::stdout().lock());
    let mut code = exit::OK;
    for (i, (url, route)) in options.urls.iter().zip(routes).enumerate() {
        if i > 0 {
            if let Some(pause) = options.sleep {
                std::thread::sleep(pause);
            }
        }
        let outcome = match route {
            Ok(via) => {
                let client = clients
                    .iter()
                    .find(|(p, _)| p.as_ref() == via.proxy())
                    .map(|(_, c)| c);
                match client {
                    Some(client) => fetch_one(client, via, options, i, url, &mut stdout),
                    // Every route got its client in main.
                    None => Outcome::failed(url, options, exit::OTHER, "no client".into()),
                }
            }
            Err(e) => {
                if options.verbose {
                    eprintln!("* {}", e.message);
                }
                Outcome::failed(url, options, e.code, e.message.clone())
            }
        };
        // Body first, then what we say about it, so a terminal shows them in order.
        let flushed = stdout.flush();
        code = outcome.transfer.exit_code;
        if options.trace {
            let _ = writeln!(trace_out, "{}", outcome.trace);
            let _ = trace_out.flush();
        }
        if let (Some(message), true) = (&outcome.transfer.error, options.show_errors()) {
            eprintln!("fetch: ({code}) {url}: {message}");
        }
        if let Some(format) = &options.write_out {
            let written = write_out::write(format, &outcome.transfer, options.silent, &mut stdout)
                .and_then(|()| stdout.flush());
            if let Err(e) = written {
                return write_failed(options, url, "stdout", &e);
            }
        }
        if let Some(e) = flushed.err() {
            return write_failed(options, url, "stdout", &e);
        }
        if outcome.stop {
            break;
        }
    }
    code
}

fn write_failed(options: &Options, url: &Uri, what: &str, e: &io::Error) -> u8 {
    if options.show_errors() {
        eprintln!(
            "fetch: ({}) {url}: writing to {what}: {e}",
            exit::WRITE_ERROR
        );
    }
    exit::WRITE_ERROR
}

/// What happened to one URL.
struct Outcome {
    trace: Trace,
    transfer: Transfer,
    /// Writing the output failed: no point going on.
    stop: bool,
}

impl Outcome {
    /// What is known of a request before it is sent.
    fn new(url: &Uri, options: &Options) -> Outcome {
        let method = options.method();
        Outcome {
            trace: Trace::new(url.clone(), method.clone()),
            transfer: Transfer {
                url: url.clone(),
                method,
                status: None,
                headers: HeaderMap::new(),
                info: None,
                total: std::time::Duration::ZERO,
                downloaded: 0,
                uploaded: options.data.as_ref().map_or(0, |d| d.len() as u64),
                effective_url: None,
                redirects: 0,
                exit_code: exit::OK,
                error: None,
            },
            stop: false,
        }
    }

    /// A request that could not be sent at all (its proxy is unusable).
    fn failed(url: &Uri, options: &Options, code: u8, message: String) -> Outcome {
        let mut o = Outcome::new(url, options);
        o.trace.error = Some(ErrorKind::Proxy);
        o.fail(code, message);
        o
    }

    fn fail(&mut self, code: u8, message: String) {
        self.transfer.exit_code = code;
        self.transfer.error = Some(message);
    }
}

/// Sends one request (through `client`, whose route is `via`) and streams its response
/// where it should go.
fn fetch_one(
    client: &Client,
    via: &Via,
    options: &Options,
    index: usize,
    url: &Uri,
    stdout: &mut impl Write,
) -> Outcome {
    let started = Instant::now();
    let method = options.method();
    let mut o = Outcome::new(url, options);
    let request = match options.request(url) {
        Ok(request) => request,
        // The -T file could not be opened (curl's read error), or the request is bad.
        Err(e) if options.upload.is_some() => {
            o.fail(exit::READ_ERROR, e);
            return o;
        }
        Err(e) => {
            o.fail(exit::USAGE, format!("invalid request: {e}"));
            return o;
        }
    };
    let for_error = if via.proxy().is_some() {
        exit::for_proxied_error
    } else {
        exit::for_error
    };
    let result = client.send(request);
    if options.upload.is_some() {
        // What was read of the -T file or stdin (all of it was sent if this succeeded).
        o.transfer.uploaded = options.upload_read.load(Ordering::SeqCst);
    }
    let mut response = match result {
        Ok(response) => response,
        Err(e) => {
            o.trace.total = started.elapsed();
            o.transfer.total = o.trace.total;
            o.trace.error = Some(e.kind());
            if options.verbose {
                let mut err = io::stderr().lock();
                for line in route_lines(url, via, options) {
                    let _ = writeln!(err, "* {line}");
                }
                if let Some(refused) = proxy_refused(&e) {
                    let _ = writeln!(
                        err,
                        "* CONNECT tunnel failed, response {}",
                        refused.status().as_u16()
                    );
                }
                let _ = writeln!(err, "* {}", error_chain(&e));
            }
            let message = match via.proxy() {
                Some(proxy) => format!("via proxy {proxy}: {}", error_chain(&e)),
                None => error_chain(&e),
            };
            o.fail(for_error(&e, false), message);
            return o;
        }
    };
    let status = response.status();
    o.trace.status = Some(status);
    o.trace.info = Some(*response.info());
    o.transfer.status = Some(status);
    o.transfer.info = Some(*response.info());
    o.transfer.headers = response.headers().clone();
    o.transfer.effective_url = Some(response.url().clone());
    o.transfer.redirects = response.redirects().len();
    let finish = |o: &mut Outcome, response: &mut Response| {
        if let Some(info) = response.body_mut().final_info() {
            o.trace.info = Some(*info);
            o.transfer.info = Some(*info);
            o.trace.total = info.total;
        } else {
            o.trace.total = started.elapsed();
        }
        o.transfer.total = o.trace.total;
    };
    if options.fail && status.as_u16() >= 400 {
        // Nothing of the response is printed; dropping it lets the pool drain it.
        o.fail(
            exit::HTTP_RETURNED_ERROR,
            format!("The requested URL returned error: {}", status.as_u16()),
        );
        o.trace.total = started.elapsed();
        o.transfer.total = o.trace.total;
        return o;
    }
    // Where this URL's output goes.
    let mut file;
    let out: &mut dyn Write = match options.output(index) {
        Output::Stdout => stdout,
        target => {
            let path = match target {
                Output::File(path) => path.clone(),
                _ => match remote_name(url) {
                    Some(name) => name.into(),
                    None => {
                        o.fail(exit::WRITE_ERROR, "Remote file name has no length".into());
                        return o;
                    }
                },
            };
            match File::create(&path) {
                Ok(f) => {
                    file = BufWriter::new(f);
                    &mut file
                }
                Err(e) => {
                    o.fail(
                        exit::WRITE_ERROR,
                        format!("cannot write {}: {e}", path.display()),
                    );
                    return o;
                }
            }
        }
    };
    if options.include || options.head {
        if let Err(e) = write_head(out, &response) {
            o.fail(exit::WRITE_ERROR, format!("writing the output: {e}"));
            o.stop = true;
            return o;
        }
    }
    if options.head || method == Method::HEAD {
        let _ = out.flush();
        finish(&mut o, &mut response);
        return o;
    }
    let mut body = CountingReader::new(response.body_mut());
    let copied = io::copy(&mut body, out).and_then(|n| out.flush().map(|()| n));
    o.trace.bytes = body.bytes;
    o.transfer.downloaded = body.bytes;
    let failed = body.failed;
    match copied {
        Ok(_) => {}
        Err(e) if failed => {
            // The body's own error, kind and all: no downcast.
            let e = Error::from_io(e);
            o.trace.error = Some(e.kind());
            o.fail(
                for_error(&e, true),
                format!("reading the body: {}", error_chain(&e)),
            );
        }
        Err(e) => {
            o.fail(exit::WRITE_ERROR, format!("writing the output: {e}"));
            o.stop = true;
        }
    }
    finish(&mut o, &mut response);
    o
}

/// `-i`/`-I`: the status line and the headers, then a blank line (`\n` line ends).
fn write_head(out: &mut dyn Write, response: &Response) -> io::Result<()> {
    let status = response.status();
    write!(out, "{:?} {}", response.version(), status.as_u16())?;
    if let Some(reason) = status.canonical_reason() {
        write!(out, " {reason}")?;
    }
    out.write_all(b"\n")?;
    for (name, value) in response.headers() {
        out.write_all(name.as_str().as_bytes())?;
        out.write_all(b": ")?;
        out.write_all(value.as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.write_all(b"\n")
}

/// A middleware that prints, for each request it sees (each hop of a redirect too), the
/// `-v` lines: the route and connection (`*`), the request head as the client writes it
/// (`>`), the response head (`<`).
fn verbose_layer(
    options: Arc<Options>,
) -> impl Fn(Request<Body>, RequestOptions, Next<'_>) -> Result<Response, Error> + Send + Sync + 'static
{
    move |request: Request<Body>, opts: RequestOptions, next: Next<'_>| {
        let url = request.uri().clone();
        let via = options.routing.via(&url).ok();
        let lines = via.as_ref().map(|via| {
            request_head_lines(
                &request,
                via,
                verbose_user_agent(&options).as_deref(),
                options.compressed,
            )
        });
        let result = next.run(request, opts);
        if let (Ok(response), Some(via), Some(lines)) = (&result, &via, &lines) {
            print_verbose(&url, via, &options, response, lines);
        }
        result
    }
}

/// `-v`: the request head as the client writes it: request line, `Host` first, the
/// `User-Agent` (`ua`) unless the request sets one, the caller's headers, with
/// `--compressed` the `Accept-Encoding` the client adds, then the body's framing
/// (`Content-Length`, or `Transfer-Encoding: chunked` for a streamed body of unknown
/// length). Names in `Title-Case`, as the client writes them. An `http://` request
/// through a proxy has the absolute URL as its target and, when the proxy URL has
/// credentials, the `Proxy-Authorization` the client adds (shown as `Basic ***`); an
/// `https://` one goes inside the tunnel as usual.
fn request_head_lines(
    request: &Request<Body>,
    via: &Via,
    ua: Option<&str>,
    compressed: bool,
) -> Vec<String> {
    let uri = request.uri();
    let headers = request.headers();
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let absolute = via.proxy().is_some() && uri.scheme_str() == Some("http");
    let target = match (absolute, uri.authority()) {
        (true, Some(authority)) => format!("http://{authority}{path}"),
        _ => path.to_owned(),
    };
    let mut lines = vec![format!("{} {target} HTTP/1.1", request.method())];
    if !headers.contains_key("host") {
        if let Some(authority) = uri.authority() {
            let default = match uri.scheme_str() {
                Some("https") => 443,
                _ => 80,
            };
            let host = match authority.port_u16() {
                Some(port) if port != default => format!("{}:{port}", authority.host()),
                _ => authority.host().to_owned(),
            };
            lines.push(format!("Host: {host}"));
        }
    }
    if let (Some(ua), false) = (ua, headers.contains_key("user-agent")) {
        lines.push(format!("User-Agent: {ua}"));
    }
    if absolute
        && via.proxy().is_some_and(Proxy::has_credentials)
        && !headers.contains_key("proxy-authorization")
    {
        lines.push("Proxy-Authorization: Basic ***".into());
    }
    for (name, value) in headers {
        if name == "content-length" {
            continue;
        }
        lines.push(format!(
            "{}: {}",
            title_case(name.as_str()),
            String::from_utf8_lossy(value.as_bytes())
        ));
    }
    if compressed && !headers.contains_key("accept-encoding") && !headers.contains_key("range") {
        lines.push("Accept-Encoding: gzip, deflate".to_owned());
    }
    let expects_body = matches!(
        *request.method(),
        Method::POST | Method::PUT | Method::PATCH
    );
    match request.body().len() {
        None => lines.push("Transfer-Encoding: chunked".to_owned()),
        Some(len) if len > 0 || expects_body => lines.push(format!("Content-Length: {len}")),
        Some(_) => {}
    }
    lines
}

/// The `User-Agent` the client sends: `-A`, or wirepool's default.
fn verbose_user_agent(options: &Options) -> Option<String> {
    match &options.user_agent {
        Some(ua) => ua.clone(),
        None => Some(wirepool::DEFAULT_USER_AGENT.to_owned()),
    }
}

/// `x-request-id` as `X-Request-Id`: what the client writes by default.
fn title_case(name: &str) -> String {
    let mut upper = true;
    name.chars()
        .map(|c| {
            let out = if upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            upper = c == '-';
            out
        })
        .collect()
}

/// The URL's host (as written, an IPv6 literal in brackets) and port.
fn host_port(url: &Uri) -> (&str, u16) {
    let default = if url.scheme_str() == Some("https") {
        443
    } else {
        80
    };
    (url.host().unwrap_or(""), url.port_u16().unwrap_or(default))
}

/// `-v`: what curl says about the route before it connects: the proxy variable used
/// (`* Uses proxy env variable https_proxy == 'http://proxy:3128'`, a password hidden),
/// or where a `--connect-to` rule sends the connection.
fn route_lines(url: &Uri, via: &Via, options: &Options) -> Vec<String> {
    let mut lines = Vec::new();
    match via {
        Via::Proxy { env: Some(var), .. } => lines.push(format!(
            "Uses proxy env variable {} == '{}'",
            var.name,
            redact(&var.value)
        )),
        Via::Direct => {
            let (host, port) = host_port(url);
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            if let Some((to_host, to_port)) =
                options.connect_to.iter().find_map(|r| r.target(host, port))
            {
                if !to_host.eq_ignore_ascii_case(bare) {
                    lines.push(format!("Connecting to hostname: {to_host}"));
                }
                if to_port != port {
                    lines.push(format!("Connecting to port: {to_port}"));
                }
            }
        }
        Via::Proxy { env: None, .. } | Via::Unix(_) => {}
    }
    lines
}

/// `-v`: the `*` lines of a new or reused connection, from what the client reported
/// (`info`) and the route fetch chose.
fn connection_lines(url: &Uri, via: &Via, options: &Options, info: &RequestInfo) -> Vec<String> {
    let (host, port) = host_port(url);
    let mut lines = Vec::new();
    if info.reused {
        let with = match via.proxy() {
            Some(proxy) => format!("proxy {}", proxy.host()),
            None => format!("host {host}"),
        };
        lines.push(format!(
            "Re-using existing connection with {with} (#{}, idle {} µs)",
            info.conn_id,
            info.idle_for.map_or(0, |d| d.as_micros())
        ));
    } else {
        let found = |name: &str, port: u16| {
            options
                .resolve
                .lookup(name, port)
                .map(|_| format!("Hostname {name} was found in DNS cache"))
        };
        match via {
            Via::Direct => {
                let (to_host, to_port) = options
                    .connect_to
                    .iter()
                    .find_map(|r| r.target(host, port))
                    .unwrap_or((host, port));
                lines.extend(found(to_host, to_port));
                lines.push(format!(
                    "Connected to {to_host} port {to_port} (#{})",
                    info.conn_id
                ));
            }
            Via::Proxy { proxy, .. } => {
                lines.extend(found(proxy.host(), proxy.port()));
                lines.push(format!(
                    "Connected to proxy {} port {} (#{})",
                    proxy.host(),
                    proxy.port(),
                    info.conn_id
                ));
                if url.scheme_str() == Some("https") {
                    // The library reports that the proxy answered 2xx, not which 2xx.
                    lines.push(format!("Establish HTTP proxy tunnel to {host}:{port}"));
                    lines.push("CONNECT tunnel established, response 2xx".into());
                }
            }
            Via::Unix(path) => lines.push(format!(
                "Connected to {host} ({}) port {port} (#{})",
                path.display(),
                info.conn_id
            )),
        }
    }
    if info.retries > 0 {
        lines.push(format!(
            "Resent {} time(s) on a fresh connection after a stale one failed",
            info.retries
        ));
    }
    lines
}

/// The proxy's refusal of `CONNECT` behind `error`, if that is what it is.
fn proxy_refused(error: &wirepool::Error) -> Option<&ProxyRefused> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(e) = next {
        if let Some(refused) = e.downcast_ref::<ProxyRefused>() {
            return Some(refused);
        }
        next = e.source();
    }
    None
}

/// `-v`: the route and the pool's decision (`*`), the request head (`>`), the response
/// head (`<`).
fn print_verbose(
    url: &Uri,
    via: &Via,
    options: &Options,
    response: &Response,
    request_lines: &[String],
) {
    let mut err = io::stderr().lock();
    let star = route_lines(url, via, options)
        .into_iter()
        .chain(connection_lines(url, via, options, response.info()));
    for line in star {
        let _ = writeln!(err, "* {line}");
    }
    for line in request_lines {
        let _ = writeln!(err, "> {line}");
    }
    let _ = writeln!(err, ">");
    let status = response.status();
    let _ = writeln!(
        err,
        "< {:?} {} {}",
        response.version(),
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    for (name, value) in response.headers() {
        let _ = writeln!(
            err,
            "< {name}: {}",
            String::from_utf8_lossy(value.as_bytes())
        );
    }
    let _ = writeln!(err, "<");
}

/// Counts the bytes read through it and remembers whether reading failed, so that
/// after `io::copy` we know how much arrived and which side an error came from.
struct CountingReader<R> {
    inner: R,
    bytes: u64,
    failed: bool,
}

impl<R> CountingReader<R> {
    fn new(inner: R) -> Self {
        CountingReader {
            inner,
            bytes: 0,
            failed: false,
        }
    }
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.bytes += n as u64;
                Ok(n)
            }
            Err(e) => {
                self.failed |= e.kind() != io::ErrorKind::Interrupted;
                Err(e)
            }
        }
    }
}
