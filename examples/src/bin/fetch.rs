//! `fetch`: a small curl-like tool over one shared wirepool [`Client`].
//!
//! ```text
//! fetch [OPTIONS] URL...     (fetch --help for the options)
//!
//!   for each URL, in order:  Client::send ──► Response ──► -i head ──► io::copy body ──► stdout
//!                            (--sleep between URLs)        --trace line ──► stderr
//!   at exit:                 --stats: Client::stats() as one JSON line ──► stderr
//! ```
//!
//! All requests go through one client, so a second URL on the same host reuses the
//! first one's connection: `fetch --stats URL URL` shows `"dials":1,"reused":1`.
//! Bodies stream to stdout with `std::io::copy` and are never held whole in memory.
//!
//! Exit status: 0 if every request got a response (whatever its status), 1 if any
//! failed (each failure is reported as `error: URL: what: why` on stderr and the next
//! URL is fetched anyway), 2 for a usage error. Failing to write stdout (a closed pipe)
//! stops the run with status 1.
//!
//! This is example code: it uses only `pool-core`'s public API.

use std::io::{self, BufWriter, Read, Write};
use std::process::ExitCode;
use std::time::Instant;

use examples::args::Parser;
use examples::fetch::trace::Trace;
use examples::fetch::{self, Command, Options, USAGE};
use examples::report::{error_chain, stats_json};
use pool_core::http::Uri;
use pool_core::{Client, Error, ErrorKind, Response};

/// Exit status for a usage error (curl and the GNU tools use 2 as well).
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let options = match Parser::from_env().and_then(fetch::parse) {
        Ok(Command::Run(options)) => options,
        Ok(Command::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprint!("fetch: {e}\n\n{USAGE}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let builder = match options.client_builder() {
        Ok(builder) => builder,
        Err(e) => {
            let path = options
                .cacert
                .as_deref()
                .unwrap_or(std::path::Path::new(""));
            eprintln!("error: --cacert {}: {}", path.display(), error_chain(&e));
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let client = match builder.build() {
        Ok(client) => client,
        Err(e) => {
            eprintln!("error: cannot start the client: {}", error_chain(&e));
            return ExitCode::FAILURE;
        }
    };
    let ok = run(&client, &options);
    if options.stats {
        match client.stats() {
            Ok(stats) => eprintln!("{}", stats_json(&stats)),
            Err(e) => eprintln!("error: --stats: {}", error_chain(&e)),
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Fetches every URL in order; true if each one got a response.
fn run(client: &Client, options: &Options) -> bool {
    let mut out = BufWriter::new(io::stdout().lock());
    let mut all_ok = true;
    for (i, url) in options.urls.iter().enumerate() {
        if i > 0 {
            if let Some(pause) = options.sleep {
                std::thread::sleep(pause);
            }
        }
        let outcome = fetch_one(client, options, url, &mut out);
        // Body first, then what we say about it, so a terminal shows them in order.
        let flushed = out.flush();
        if options.trace {
            eprintln!("{}", outcome.trace);
        }
        if let Some(failure) = &outcome.failure {
            eprintln!("error: {url}: {failure}");
            all_ok = false;
        }
        if let Some(e) = outcome.output_error.or(flushed.err()) {
            eprintln!("error: {url}: writing to stdout: {e}");
            return false;
        }
    }
    all_ok
}

/// What happened to one URL.
struct Outcome {
    trace: Trace,
    /// The request failed: the error and its causes on one line.
    failure: Option<String>,
    /// Writing to stdout failed: no point going on.
    output_error: Option<io::Error>,
}

/// Sends one request and streams its response to `out`.
fn fetch_one(client: &Client, options: &Options, url: &Uri, out: &mut impl Write) -> Outcome {
    let started = Instant::now();
    let mut outcome = Outcome {
        trace: Trace::new(url.clone(), options.method()),
        failure: None,
        output_error: None,
    };
    let sent = options
        .request(url)
        .map_err(|e| Error::with_source(ErrorKind::InvalidRequest, e))
        .and_then(|request| client.send(request));
    let mut response = match sent {
        Ok(response) => response,
        Err(e) => {
            outcome.trace.total = started.elapsed();
            outcome.trace.error = Some(e.kind());
            outcome.failure = Some(error_chain(&e));
            return outcome;
        }
    };
    outcome.trace.status = Some(response.status());
    outcome.trace.info = Some(*response.info());
    if options.include {
        if let Err(e) = write_head(out, &response) {
            outcome.output_error = Some(e);
            return outcome;
        }
    }
    let mut body = CountingReader::new(response.body_mut());
    let copied = io::copy(&mut body, out);
    outcome.trace.bytes = body.bytes;
    match copied {
        Ok(_) => {}
        Err(e) if body.failed => {
            outcome.trace.error = Some(pool_kind(&e));
            outcome.failure = Some(format!("reading the body: {}", error_chain(&e)));
        }
        Err(e) => outcome.output_error = Some(e),
    }
    match response.body_mut().final_info() {
        Some(info) => {
            outcome.trace.total = info.total;
            outcome.trace.info = Some(*info);
        }
        None => outcome.trace.total = started.elapsed(),
    }
    outcome
}

/// `-i`: the status line and the headers, then a blank line (`\n` line ends).
fn write_head(out: &mut impl Write, response: &Response) -> io::Result<()> {
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

/// The kind of the pool error inside an `io::Error` from the body reader.
fn pool_kind(e: &io::Error) -> ErrorKind {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<Error>())
        .map_or(ErrorKind::Io, Error::kind)
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
