//! `demo`: the classic connection-pooling experiment, against embedded servers.
//!
//! Many concurrent workers send requests through one shared [`Client`], phase after
//! phase, each phase with a fresh client and a fresh server. Over plain HTTP:
//!
//! - **(a) Go's defaults**: at most 2 idle connections per host. After every burst the
//!   pool keeps 2 and closes the rest, so most requests dial a new connection, and every
//!   closed connection leaves a socket in `TIME_WAIT`.
//! - **(b) wirepool's defaults**: 100 idle per host; the pool settles at one connection
//!   per worker and reuses them.
//! - **(c) bodies dropped unread**, wirepool's defaults, 64 KiB bodies: the engine has
//!   read ahead (up to `body_buffer_limit`) or drains the rest in the background (up to
//!   `drain_limit`), so the connection still goes back to the pool.
//! - **(d) bodies dropped unread, no read-ahead and no drain** (`body_buffer_limit =
//!   16 KiB`, `drain_limit = 0`), 64 KiB bodies: each dropped body costs its connection,
//!   as it does in clients that close a connection whose body was not read to the end.
//!
//! Then over HTTPS, against an embedded rustls server whose certificate is issued at
//! start by a CA made at start (the client trusts that CA and nothing else) — where
//! pooling matters most, because every dial is also a TLS handshake:
//!
//! - **(e) Go's defaults over TLS**: 2 idle per host, and no session resumption (Go's
//!   `tls.Config.ClientSessionCache` is nil by default): every dial is a full handshake.
//! - **(f) 2 idle per host with resumption** (wirepool's TLS default): re-dials resume
//!   the session, which is cheaper than a full handshake but still a dial and a handshake.
//! - **(g) wirepool's defaults.**
//!
//! For each phase it prints requests/s, p50/p99 latency, dials, reuses, the sockets left
//! in `TIME_WAIT` on the server's port, **the client's CPU time per request**, and the TLS
//! handshakes (full / resumed) the pool ran.
//!
//! # What the CPU column counts
//!
//! The servers run in a child process (this binary with `--serve plain|tls`), so this
//! process holds only the client side: the workers, the client's engine thread and the
//! main thread. The CPU time is this process's, from `getrusage` (see `examples::cpu`),
//! between the moment the client is built and the moment every worker is done and the
//! pool has settled. Loopback TCP is kernel work done on behalf of
//! both ends; the share charged to the client's threads is counted, the server's is not.
//!
//! Runs in well under a minute with the defaults on a 2-core machine.
//!
//! ```text
//! demo [--workers N] [--requests N] [--tls-requests N] [--body-bytes N] [--url URL] [--no-tls]
//!      [--svg FILE]
//! ```
//!
//! `--svg FILE` also draws the phases as a chart: dials, client CPU per request and p99
//! latency, one bar per phase. The servers are `testkit`'s loopback servers (the ones
//! the tests use), with a PKI made at start for the HTTPS one. (`demo --serve plain|tls
//! [--body-bytes N]` is how the demo starts its server child; see [`serve`].)

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::thread;
use std::time::{Duration, Instant};

use clap::{CommandFactory, Parser, ValueEnum};
use examples::chart::{self, BarPanel};
use examples::cpu::{self, CpuUsage};
use examples::load::{parse_or_exit, usage_exit};
use examples::progress::Progress;
use testkit::tls::{ServerResumption, ServerSetup, TestPki, TlsTestServer};
use testkit::TestServer;
use wirepool::http::{Request, Uri};
use wirepool::tls::{TlsConfig, TrustRoots};
use wirepool::{Body, Client, ClientBuilder};

/// Body size of the embedded server in the dropped-body phases: larger than a read
/// buffer, so the body cannot already be complete when the worker drops it.
const DROPPED_BODY_BYTES: usize = 64 * 1024;

/// Default requests per plain-HTTP phase.
const DEFAULT_REQUESTS: usize = 10_000;

/// Default requests per HTTPS phase: Go-style pooling over TLS costs a handshake for
/// about half the requests, so the TLS phases run fewer requests to keep the whole demo
/// around 20 s on 2 cores.
const DEFAULT_TLS_REQUESTS: usize = 5_000;

/// How long a stopped server child may take to exit before it is killed.
const CHILD_EXIT_WAIT: Duration = Duration::from_secs(2);

/// Settings from the command line.
#[derive(Parser, Debug)]
#[command(
    name = "demo",
    about = "The connection-pooling experiment: Go's pool defaults against wirepool's, over \
             HTTP and HTTPS, against embedded servers"
)]
struct Options {
    /// Concurrent workers
    #[arg(long, default_value_t = 100, value_parser = at_least_one)]
    workers: usize,
    /// Requests per plain-HTTP phase [default: 10000]
    #[arg(long, value_parser = at_least_one)]
    requests: Option<usize>,
    /// Requests per HTTPS phase [default: 5000, or --requests if given]
    #[arg(long, value_parser = at_least_one)]
    tls_requests: Option<usize>,
    /// Response body size of the embedded servers
    #[arg(long, default_value_t = 1024)]
    body_bytes: usize,
    /// Use this server instead of the embedded ones: an http:// URL runs the plain
    /// phases (a)-(d), an https:// URL the HTTPS phases (e)-(g) with the system trust
    /// store
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// Skip the HTTPS phases
    #[arg(long)]
    no_tls: bool,
    /// Also draw the phases (dials, CPU per request, p99) as an SVG chart into FILE
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
    /// Internal: run an embedded server and report its address on stdout (see
    /// `serve`); the demo starts itself this way.
    #[arg(long, value_enum, hide = true)]
    serve: Option<Scheme>,
}

impl Options {
    /// Requests per plain-HTTP phase.
    fn requests(&self) -> usize {
        self.requests.unwrap_or(DEFAULT_REQUESTS)
    }

    /// Requests per HTTPS phase: `--tls-requests`, else `--requests` if given, else
    /// [`DEFAULT_TLS_REQUESTS`].
    fn tls_requests(&self) -> usize {
        self.tls_requests
            .or(self.requests)
            .unwrap_or(DEFAULT_TLS_REQUESTS)
    }
}

fn at_least_one(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("'{text}' is not a whole number")),
    }
}

/// Plain HTTP or HTTPS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Scheme {
    /// Plain HTTP (`--serve plain`).
    #[value(name = "plain")]
    Http,
    /// HTTPS (`--serve tls`).
    #[value(name = "tls")]
    Https,
}

/// How the workers treat response bodies.
#[derive(Clone, Copy, PartialEq)]
enum BodyUse {
    Read,
    Drop,
}

/// One row of the experiment.
struct Phase {
    name: &'static str,
    builder: ClientBuilder,
    body_use: BodyUse,
    body_bytes: usize,
    scheme: Scheme,
    /// HTTPS only: keep TLS sessions for resumption (wirepool's default).
    resumption: bool,
    requests: usize,
}

/// What one phase measured.
struct PhaseResult {
    requests: u64,
    errors: u64,
    secs: f64,
    p50_us: u64,
    p99_us: u64,
    dials: u64,
    reuses: u64,
    time_wait: Option<usize>,
    /// This process's CPU time over the phase, if `/proc` could tell.
    cpu: Option<CpuUsage>,
    /// `(full, resumed)` TLS handshakes, for HTTPS phases.
    tls_handshakes: Option<(u64, u64)>,
}

impl PhaseResult {
    fn cpu_us_per_request(&self) -> Option<f64> {
        let cpu = self.cpu?;
        (self.requests > 0).then(|| cpu.total.as_secs_f64() * 1e6 / self.requests as f64)
    }
}

fn main() -> ExitCode {
    let opts: Options = parse_or_exit();
    if let Some(scheme) = opts.serve {
        return match serve(scheme, opts.body_bytes) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("demo --serve: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let url_scheme = match &opts.url {
        None => None,
        Some(u) => match scheme_of(u) {
            Ok(s) => Some(s),
            Err(e) => usage_exit(&mut Options::command(), e),
        },
    };
    let run_plain = url_scheme != Some(Scheme::Https);
    let run_tls = !opts.no_tls && url_scheme != Some(Scheme::Http);
    print_intro(&opts, run_plain, run_tls);

    let big = opts.body_bytes.max(DROPPED_BODY_BYTES);
    let plain = |name, builder, body_use, body_bytes| Phase {
        name,
        builder,
        body_use,
        body_bytes,
        scheme: Scheme::Http,
        resumption: false,
        requests: opts.requests(),
    };
    let tls = |name, builder, resumption| Phase {
        name,
        builder,
        body_use: BodyUse::Read,
        body_bytes: opts.body_bytes,
        scheme: Scheme::Https,
        resumption,
        requests: opts.tls_requests(),
    };
    let mut phases = Vec::new();
    if run_plain {
        phases.extend([
            plain(
                "(a) Go defaults: 2 idle/host",
                Client::builder().max_idle_per_host(2),
                BodyUse::Read,
                opts.body_bytes,
            ),
            plain(
                "(b) wirepool defaults",
                Client::builder(),
                BodyUse::Read,
                opts.body_bytes,
            ),
            plain(
                "(c) 64K bodies dropped",
                Client::builder(),
                BodyUse::Drop,
                big,
            ),
            plain(
                "(d) dropped, no drain/read-ahead",
                Client::builder()
                    .drain_limit(0)
                    .body_buffer_limit(16 * 1024),
                BodyUse::Drop,
                big,
            ),
        ]);
    }
    if run_tls {
        phases.extend([
            tls(
                "(e) https, Go defaults",
                Client::builder().max_idle_per_host(2),
                false,
            ),
            tls(
                "(f) https, 2 idle + resumption",
                Client::builder().max_idle_per_host(2),
                true,
            ),
            tls("(g) https, wirepool defaults", Client::builder(), true),
        ]);
    }

    println!(
        "{:<32} {:>10} {:>9} {:>9} {:>7} {:>7} {:>10} {:>9} {:>8} {:>7} {:>7}",
        "phase",
        "req/s",
        "p50",
        "p99",
        "dials",
        "reuses",
        "TIME_WAIT",
        "CPU/req",
        "TLS-full",
        "resumed",
        "errors"
    );
    let mut results: Vec<(&str, PhaseResult)> = Vec::new();
    let mut printed_tls_heading = false;
    for phase in phases {
        if phase.scheme == Scheme::Https && !printed_tls_heading && run_plain {
            println!("{:-<32}", "HTTPS ");
            printed_tls_heading = true;
        }
        let name = phase.name;
        match run_phase(&opts, phase) {
            Ok(r) => {
                print_row(name, &r);
                results.push((name, r));
            }
            Err(e) => {
                eprintln!("demo: {name}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    println!();
    print_summary(&results);
    if let Some(path) = &opts.svg {
        match draw_svg(path, &opts, &results) {
            Ok(()) => println!("chart: {}", path.display()),
            Err(e) => {
                eprintln!("demo: --svg: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    if results.iter().any(|(_, r)| r.errors > 0) {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn print_intro(opts: &Options, run_plain: bool, run_tls: bool) {
    let target = match &opts.url {
        Some(u) => format!("target {u}"),
        None => format!(
            "embedded servers on 127.0.0.1 ({}-byte bodies), run in a child process",
            opts.body_bytes
        ),
    };
    println!("wirepool demo: {} workers, {target}", opts.workers);
    let mut counts = Vec::new();
    if run_plain {
        counts.push(format!("{} requests per plain-HTTP phase", opts.requests()));
    }
    if run_tls {
        counts.push(format!("{} per HTTPS phase", opts.tls_requests()));
        if opts.url.is_none() {
            counts.push("HTTPS server certificate issued by a CA made at start, the only CA the client trusts".into());
        }
        counts.push("(e) is Go's defaults over TLS: 2 idle/host and no session resumption (Go's ClientSessionCache is nil); (f) adds resumption".into());
    }
    match (&opts.url, run_plain, run_tls) {
        (Some(_), false, _) => counts.push("plain-HTTP phases skipped: the URL is https".into()),
        (Some(_), _, false) if !opts.no_tls => {
            counts.push("HTTPS phases skipped: the URL is not https".into())
        }
        _ => {}
    }
    if opts.no_tls {
        counts.push("HTTPS phases skipped (--no-tls)".into());
    }
    for line in counts {
        println!("  {line}");
    }
    println!("  CPU/req: this process's CPU time (client workers + engine thread) per request; the server's is not counted");
    println!();
}

fn print_row(name: &str, r: &PhaseResult) {
    let tw = r.time_wait.map_or("n/a".to_string(), |n| n.to_string());
    let cpu = r
        .cpu_us_per_request()
        .map_or("n/a".to_string(), |us| format!("{us:.1}us"));
    let (full, resumed) = match r.tls_handshakes {
        Some((f, r)) => (f.to_string(), r.to_string()),
        None => ("-".to_string(), "-".to_string()),
    };
    println!(
        "{:<32} {:>10.0} {:>7}us {:>7}us {:>7} {:>7} {:>10} {:>9} {:>8} {:>7} {:>7}",
        name,
        r.requests as f64 / r.secs,
        r.p50_us,
        r.p99_us,
        r.dials,
        r.reuses,
        tw,
        cpu,
        full,
        resumed,
        r.errors
    );
}

/// The closing comparison: Go-style (a) against wirepool (b) over plain HTTP, and Go's
/// defaults (e) against wirepool (g) over HTTPS, in dials and CPU per request.
fn print_summary(results: &[(&str, PhaseResult)]) {
    let find = |prefix: &str| {
        results
            .iter()
            .find(|(name, _)| name.starts_with(prefix))
            .map(|(_, r)| r)
    };
    let ratio =
        |a: &PhaseResult, b: &PhaseResult| match (a.cpu_us_per_request(), b.cpu_us_per_request()) {
            (Some(x), Some(y)) if y > 0.0 => Some(x / y),
            _ => None,
        };
    let cpu = |r: &PhaseResult| {
        r.cpu_us_per_request()
            .map_or("n/a".to_string(), |us| format!("{us:.0} us"))
    };
    let plain_ratio = match (find("(a)"), find("(b)")) {
        (Some(a), Some(b)) => {
            println!(
                "Plain HTTP: the Go-style pool dialled {} times for {} requests; wirepool's defaults dialled {} times.",
                a.dials, a.requests, b.dials
            );
            let r = ratio(a, b);
            if let Some(r) = r {
                println!(
                    "  client CPU per request: {} against {}: {r:.1}x.",
                    cpu(a),
                    cpu(b)
                );
            }
            r
        }
        _ => None,
    };
    if let (Some(e), Some(g)) = (find("(e)"), find("(g)")) {
        let (full, resumed) = e.tls_handshakes.unwrap_or((0, 0));
        println!(
            "HTTPS: Go's defaults dialled {} times ({full} full handshakes, {resumed} resumed) for {} requests; wirepool's defaults dialled {} times.",
            e.dials, e.requests, g.dials
        );
        if let Some(r) = ratio(e, g) {
            let vs_plain = plain_ratio.map_or(String::new(), |p| format!(" (plain HTTP: {p:.1}x)"));
            println!(
                "  client CPU per request: {} against {}: {r:.1}x{vs_plain}.",
                cpu(e),
                cpu(g)
            );
        }
        if let Some(rf) = find("(f)").and_then(|f| ratio(f, g)) {
            println!(
                "  with session resumption, the 2-idle pool still costs {rf:.1}x wirepool's defaults."
            );
        }
        println!(
            "  (reported for Go's net/http on a similar machine: 13-21x over TLS at 64+ concurrent requests, 1-4x plain.)"
        );
    }
}

/// `http://` or `https://`, from a URL given with `--url`.
fn scheme_of(url: &str) -> Result<Scheme, String> {
    let uri: Uri = url.parse().map_err(|e| format!("bad URL {url:?}: {e}"))?;
    match uri.scheme_str() {
        Some("http") => Ok(Scheme::Http),
        Some("https") => Ok(Scheme::Https),
        _ => Err(format!("URL must be http:// or https://: {url:?}")),
    }
}

/// Runs one phase with a fresh client against a fresh server (so `TIME_WAIT` counts
/// belong to this phase).
fn run_phase(opts: &Options, phase: Phase) -> Result<PhaseResult, String> {
    let Phase {
        name,
        builder,
        body_use,
        body_bytes,
        scheme,
        resumption,
        requests,
    } = phase;
    let server = match &opts.url {
        Some(_) => None,
        None => Some(ServerProcess::spawn(scheme, body_bytes)?),
    };
    let (url, ca_pem) = match (&opts.url, &server) {
        (Some(u), _) => (u.clone(), None),
        (None, Some(s)) => (s.url.clone(), s.ca_pem.as_deref()),
        (None, None) => unreachable!("a server was started when no URL was given"),
    };
    let uri: Uri = url.parse().map_err(|e| format!("bad URL {url:?}: {e}"))?;
    let port = uri.port_u16().unwrap_or(match scheme {
        Scheme::Http => 80,
        Scheme::Https => 443,
    });
    let builder = match scheme {
        Scheme::Http => builder,
        Scheme::Https => builder.tls_config(tls_config(ca_pem, resumption)?),
    };
    let client = builder
        .build()
        .map_err(|e| format!("cannot build client: {e}"))?;

    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    // Workers wait here when done, so that they are alive at the second CPU sample
    // (the time of a thread that has exited cannot be read per thread any more).
    let gate = Arc::new(RwLock::new(()));
    let gate_closed = gate.write().unwrap_or_else(PoisonError::into_inner);
    let cpu_start = cpu::sample().ok();
    let started = Instant::now();
    let per_worker = requests.div_ceil(opts.workers);
    let workers: Vec<_> = (0..opts.workers)
        .map(|w| {
            let (client, url, done, errors, finished, gate) = (
                client.clone(),
                url.clone(),
                Arc::clone(&done),
                Arc::clone(&errors),
                Arc::clone(&finished),
                Arc::clone(&gate),
            );
            let n = per_worker.min(requests.saturating_sub(w * per_worker));
            thread::spawn(move || {
                let latencies = worker(&client, &url, n, body_use, &done, &errors);
                let ended = Instant::now();
                drop(client);
                finished.fetch_add(1, Ordering::SeqCst);
                drop(gate.read());
                (latencies, ended)
            })
        })
        .collect();
    let mut progress = Progress::new(&format!("{name:<32} "));
    // A handle that finishes before the gate opens belongs to a worker that panicked.
    while finished.load(Ordering::SeqCst) < opts.workers && !workers.iter().any(|w| w.is_finished())
    {
        let n = done.load(Ordering::Relaxed);
        let failed = errors.load(Ordering::Relaxed);
        progress.update(n, failed, n as f64 / requests.max(1) as f64);
        thread::sleep(Duration::from_millis(100));
    }
    progress.finish();
    // Let the last drains and closes finish before counting.
    thread::sleep(Duration::from_millis(200));
    let cpu_end = cpu::sample().ok();
    let stats = client.stats().map_err(|e| format!("pool stats: {e}"))?;
    drop(gate_closed);
    let mut latencies: Vec<u32> = Vec::with_capacity(requests);
    let mut last_end = started;
    for w in workers {
        let (l, ended) = w.join().map_err(|_| "a worker panicked".to_string())?;
        latencies.extend(l);
        last_end = last_end.max(ended);
    }
    let secs = (last_end - started).as_secs_f64().max(1e-6);
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as u64
    };
    drop(client);
    thread::sleep(Duration::from_millis(100));
    let time_wait = time_wait_count(port);
    drop(server);
    Ok(PhaseResult {
        requests: done.load(Ordering::Relaxed),
        errors: errors.load(Ordering::Relaxed),
        secs,
        p50_us: pct(0.50),
        p99_us: pct(0.99),
        dials: stats.total.dials,
        reuses: stats.total.reuses,
        time_wait,
        cpu: cpu_start
            .zip(cpu_end)
            .map(|(a, b)| CpuUsage::between(&a, &b)),
        tls_handshakes: (scheme == Scheme::Https).then_some((
            stats.total.tls_full_handshakes,
            stats.total.tls_resumed_handshakes,
        )),
    })
}

/// The TLS settings of an HTTPS phase: the embedded server's CA alone if there is one
/// (otherwise the system trust store), with or without session resumption.
fn tls_config(ca_pem: Option<&str>, resumption: bool) -> Result<TlsConfig, String> {
    let mut tls = TlsConfig::builder();
    if let Some(pem) = ca_pem {
        tls = tls.trust_roots(TrustRoots::OnlyAdded).add_ca_pem(pem);
    }
    if !resumption {
        tls = tls.max_cached_sessions(0);
    }
    tls.build().map_err(|e| format!("TLS configuration: {e}"))
}

/// One worker: `n` sequential requests; returns each one's latency in microseconds.
fn worker(
    client: &Client,
    url: &str,
    n: usize,
    body_use: BodyUse,
    done: &AtomicU64,
    errors: &AtomicU64,
) -> Vec<u32> {
    let mut latencies = Vec::with_capacity(n);
    let mut sink = [0u8; 16 * 1024];
    for _ in 0..n {
        let t = Instant::now();
        let ok = match Request::get(url).body(Body::empty()) {
            Ok(req) => match client.send(req) {
                Ok(mut resp) => match body_use {
                    BodyUse::Read => read_all(resp.body_mut(), &mut sink),
                    BodyUse::Drop => true, // dropped here, unread
                },
                Err(_) => false,
            },
            Err(_) => false,
        };
        if !ok {
            errors.fetch_add(1, Ordering::Relaxed);
        }
        latencies.push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
        done.fetch_add(1, Ordering::Relaxed);
    }
    latencies
}

fn read_all(body: &mut impl Read, buf: &mut [u8]) -> bool {
    loop {
        match body.read(buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
}

// ---------------------------------------------------------------------------------------
// The servers, in a child process
// ---------------------------------------------------------------------------------------

/// Marks the end of what `demo --serve` prints before it starts answering.
const READY_LINE: &str = "ready";

/// `demo --serve plain|tls`: runs an embedded server in this process and tells the
/// parent where it is, on stdout:
///
/// ```text
/// url http://127.0.0.1:PORT/
/// <the CA certificate, PEM, for tls>
/// ready
/// ```
///
/// then serves until stdin reaches EOF (the parent closed it, or exited).
fn serve(scheme: Scheme, body_bytes: usize) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    // Served until this process exits: leaking the body once gives the servers the
    // `'static` bytes they answer with.
    let body: &'static [u8] = Box::leak(
        (0..body_bytes)
            .map(|i| b'a' + (i % 26) as u8)
            .collect::<Vec<u8>>()
            .into_boxed_slice(),
    );
    let _server: Box<dyn std::fmt::Debug> = match scheme {
        Scheme::Http => {
            let server = TestServer::keep_alive(body);
            writeln!(out, "url {}", server.url("/")).map_err(|e| e.to_string())?;
            Box::new(server)
        }
        Scheme::Https => {
            // A CA made now, a certificate for localhost and 127.0.0.1, and session
            // resumption by tickets, as on any production server.
            let pki = TestPki::with_name("wirepool demo CA (generated at start)");
            let setup = ServerSetup::localhost(&pki).resumption(ServerResumption::Tickets);
            let server = TlsTestServer::keep_alive(setup, body);
            writeln!(out, "url {}", server.url("/")).map_err(|e| e.to_string())?;
            out.write_all(pki.ca_pem().as_bytes())
                .map_err(|e| e.to_string())?;
            Box::new(server)
        }
    };
    writeln!(out, "{READY_LINE}")
        .and_then(|()| out.flush())
        .map_err(|e| e.to_string())?;
    // Serve until the parent lets go of our stdin.
    let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
    Ok(())
}

/// An embedded server running in a child process (this binary, `--serve`), so that
/// this process's CPU time is the client's alone. Stops when dropped.
struct ServerProcess {
    child: Child,
    /// Held open while the server should run; closing it asks the child to exit.
    stdin: Option<ChildStdin>,
    url: String,
    /// The CA to trust, for an HTTPS server.
    ca_pem: Option<String>,
}

impl ServerProcess {
    fn spawn(scheme: Scheme, body_bytes: usize) -> Result<ServerProcess, String> {
        let exe = std::env::current_exe().map_err(|e| format!("cannot find own binary: {e}"))?;
        let kind = scheme
            .to_possible_value()
            .map_or("plain".to_owned(), |v| v.get_name().to_owned());
        let mut child = Command::new(exe)
            .args(["--serve", &kind, "--body-bytes", &body_bytes.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start the server process: {e}"))?;
        let stdin = child.stdin.take();
        let mut server = ServerProcess {
            child,
            stdin,
            url: String::new(),
            ca_pem: None,
        };
        let stdout = server
            .child
            .stdout
            .take()
            .ok_or("the server process has no stdout")?;
        let mut pem = String::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.map_err(|e| format!("reading the server process: {e}"))?;
            if line == READY_LINE {
                server.ca_pem = (!pem.is_empty()).then_some(pem);
                return if server.url.is_empty() {
                    Err("the server process gave no URL".into())
                } else {
                    Ok(server)
                };
            }
            match line.strip_prefix("url ") {
                Some(url) => server.url = url.to_string(),
                None => {
                    pem.push_str(&line);
                    pem.push('\n');
                }
            }
        }
        Err("the server process exited before it was ready".into())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + CHILD_EXIT_WAIT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) | Err(_) = self.child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sockets in TCP `TIME_WAIT` whose local or remote port is `port`, read from
/// `/proc/net/tcp` and `/proc/net/tcp6` (Linux). `None` where those files do not exist.
fn time_wait_count(port: u16) -> Option<usize> {
    let mut total = 0;
    let mut found = false;
    for path in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        found = true;
        total += text
            .lines()
            .skip(1)
            .filter(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.len() > 3
                    && f[3] == "06"
                    && (port_of(f[1]) == Some(port) || port_of(f[2]) == Some(port))
            })
            .count();
    }
    found.then_some(total)
}

/// The port of an `ADDR:PORT` hex pair from `/proc/net/tcp`.
fn port_of(field: &str) -> Option<u16> {
    u16::from_str_radix(field.rsplit(':').next()?, 16).ok()
}

/// `--svg`: the phases as bars, one panel per figure.
fn draw_svg(
    path: &std::path::Path,
    opts: &Options,
    results: &[(&str, PhaseResult)],
) -> Result<(), String> {
    let rows: Vec<String> = results.iter().map(|(name, _)| (*name).to_owned()).collect();
    let panel = |title: &str, f: &dyn Fn(&PhaseResult) -> Option<f64>| BarPanel {
        title: title.to_owned(),
        values: results.iter().map(|(_, r)| f(r)).collect(),
    };
    let title = format!(
        "wirepool demo: {} workers, {} requests per phase ({} over HTTPS)",
        opts.workers,
        opts.requests(),
        opts.tls_requests()
    );
    chart::bar_panels(
        path,
        &title,
        &rows,
        &[
            panel("dials (new connections)", &|r| Some(r.dials as f64)),
            panel("client CPU per request (µs)", &|r| r.cpu_us_per_request()),
            panel("p99 latency (ms)", &|r| Some(r.p99_us as f64 / 1000.0)),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_net_ports() {
        assert_eq!(port_of("0100007F:1F90"), Some(8080));
        assert_eq!(port_of("garbage"), None);
        assert!(time_wait_count(1).is_some() || !std::path::Path::new("/proc/net/tcp").exists());
    }

    #[test]
    fn options() {
        let o = Options::try_parse_from(["demo", "--requests", "500"]).expect("valid");
        assert_eq!((o.requests(), o.tls_requests()), (500, 500));
        let o = Options::try_parse_from(["demo"]).expect("valid");
        assert_eq!(o.tls_requests(), DEFAULT_TLS_REQUESTS);
        assert!(Options::try_parse_from(["demo", "--workers", "0"]).is_err());
        let o = Options::try_parse_from(["demo", "--serve", "tls"]).expect("valid");
        assert_eq!(o.serve, Some(Scheme::Https));
        Options::command().debug_assert();
    }
}
