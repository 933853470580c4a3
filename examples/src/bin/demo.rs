//! `demo`: the classic connection-pooling experiment, against an embedded server.
//!
//! Many concurrent workers send requests through one shared [`Client`], four times:
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
//! For each it prints requests/s, p50/p99 latency, dials, reuses and the sockets left in
//! `TIME_WAIT` on the server's port. Runs in well under a minute with the defaults.
//!
//! ```text
//! demo [--workers N] [--requests N] [--body-bytes N] [--url URL]
//! ```

use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use examples::server::{time_wait_count, DemoServer};
use pool_core::http::Request;
use pool_core::{Body, Client, ClientBuilder};

/// Body size of the embedded server in the dropped-body phases: larger than a read
/// buffer, so the body cannot already be complete when the worker drops it.
const DROPPED_BODY_BYTES: usize = 64 * 1024;

const USAGE: &str = "usage: demo [--workers N] [--requests N] [--body-bytes N] [--url URL]

  --workers N      concurrent workers (default 100)
  --requests N     requests per phase (default 10000)
  --body-bytes N   response body size of the embedded server (default 1024)
  --url URL        use this server instead of the embedded one";

/// Settings from the command line.
struct Options {
    workers: usize,
    requests: usize,
    body_bytes: usize,
    url: Option<String>,
}

fn parse_args() -> Result<Options, String> {
    let mut opts = Options {
        workers: 100,
        requests: 10_000,
        body_bytes: 1024,
        url: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--workers" => opts.workers = number(&value("--workers")?)?,
            "--requests" => opts.requests = number(&value("--requests")?)?,
            "--body-bytes" => opts.body_bytes = number(&value("--body-bytes")?)?,
            "--url" => opts.url = Some(value("--url")?),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if opts.workers == 0 || opts.requests == 0 {
        return Err("--workers and --requests must be at least 1".into());
    }
    Ok(opts)
}

fn number(s: &str) -> Result<usize, String> {
    s.parse().map_err(|_| format!("not a number: {s:?}"))
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
}

/// How the workers treat response bodies.
#[derive(Clone, Copy, PartialEq)]
enum BodyUse {
    Read,
    Drop,
}

fn main() -> ExitCode {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("demo: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    println!(
        "wirepool demo: {} workers, {} requests per phase, {}",
        opts.workers,
        opts.requests,
        match &opts.url {
            Some(u) => format!("target {u}"),
            None => format!(
                "embedded server on 127.0.0.1 ({}-byte bodies)",
                opts.body_bytes
            ),
        }
    );
    println!();
    let big = opts.body_bytes.max(DROPPED_BODY_BYTES);
    let phases: [(&str, ClientBuilder, BodyUse, usize); 4] = [
        (
            "(a) Go defaults: 2 idle/host",
            Client::builder().max_idle_per_host(2),
            BodyUse::Read,
            opts.body_bytes,
        ),
        (
            "(b) wirepool defaults",
            Client::builder(),
            BodyUse::Read,
            opts.body_bytes,
        ),
        (
            "(c) 64K bodies dropped",
            Client::builder(),
            BodyUse::Drop,
            big,
        ),
        (
            "(d) dropped, no drain/read-ahead",
            Client::builder()
                .drain_limit(0)
                .body_buffer_limit(16 * 1024),
            BodyUse::Drop,
            big,
        ),
    ];
    println!(
        "{:<32} {:>10} {:>9} {:>9} {:>7} {:>7} {:>10} {:>7}",
        "phase", "req/s", "p50", "p99", "dials", "reuses", "TIME_WAIT", "errors"
    );
    let mut results = Vec::new();
    for (name, builder, body_use, body_bytes) in phases {
        match run_phase(&opts, name, builder, body_use, body_bytes) {
            Ok(r) => {
                print_row(name, &r);
                results.push(r);
            }
            Err(e) => {
                eprintln!("demo: {name}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    println!();
    if let [a, b, ..] = results.as_slice() {
        println!(
            "Go-style pool dialled {} times for {} requests; wirepool's defaults dialled {} times.",
            a.dials, a.requests, b.dials
        );
    }
    if results.iter().any(|r| r.errors > 0) {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn print_row(name: &str, r: &PhaseResult) {
    let tw = r.time_wait.map_or("n/a".to_string(), |n| n.to_string());
    println!(
        "{:<32} {:>10.0} {:>7}us {:>7}us {:>7} {:>7} {:>10} {:>7}",
        name,
        r.requests as f64 / r.secs,
        r.p50_us,
        r.p99_us,
        r.dials,
        r.reuses,
        tw,
        r.errors
    );
}

/// Runs one phase on a fresh server (so `TIME_WAIT` counts belong to this phase).
fn run_phase(
    opts: &Options,
    name: &str,
    builder: ClientBuilder,
    body_use: BodyUse,
    body_bytes: usize,
) -> Result<PhaseResult, String> {
    let server = match &opts.url {
        Some(_) => None,
        None => {
            Some(DemoServer::start(body_bytes).map_err(|e| format!("cannot start server: {e}"))?)
        }
    };
    let url = match (&opts.url, &server) {
        (Some(u), _) => u.clone(),
        (None, Some(s)) => s.url("/"),
        (None, None) => unreachable!("a server was started when no URL was given"),
    };
    let port = url
        .parse::<pool_core::http::Uri>()
        .map_err(|e| format!("bad URL {url:?}: {e}"))?
        .port_u16()
        .unwrap_or(80);
    let client = builder
        .build()
        .map_err(|e| format!("cannot build client: {e}"))?;
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let per_worker = opts.requests.div_ceil(opts.workers);
    let workers: Vec<_> = (0..opts.workers)
        .map(|w| {
            let (client, url, done, errors) = (
                client.clone(),
                url.clone(),
                Arc::clone(&done),
                Arc::clone(&errors),
            );
            let n = per_worker.min(opts.requests.saturating_sub(w * per_worker));
            thread::spawn(move || worker(&client, &url, n, body_use, &done, &errors))
        })
        .collect();
    let progress = std::io::stderr().is_terminal();
    while workers.iter().any(|w| !w.is_finished()) {
        if progress {
            draw_progress(name, done.load(Ordering::Relaxed), opts.requests as u64);
        }
        thread::sleep(Duration::from_millis(100));
    }
    let mut latencies: Vec<u32> = Vec::with_capacity(opts.requests);
    for w in workers {
        latencies.extend(w.join().map_err(|_| "a worker panicked".to_string())?);
    }
    let secs = started.elapsed().as_secs_f64();
    if progress {
        eprint!("\r{:<80}\r", "");
    }
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as u64
    };
    // Let the last drains and closes finish before counting.
    thread::sleep(Duration::from_millis(200));
    let stats = client.stats();
    drop(client);
    thread::sleep(Duration::from_millis(100));
    Ok(PhaseResult {
        requests: done.load(Ordering::Relaxed),
        errors: errors.load(Ordering::Relaxed),
        secs,
        p50_us: pct(0.50),
        p99_us: pct(0.99),
        dials: stats.total.dials,
        reuses: stats.total.reuses,
        time_wait: time_wait_count(port),
    })
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

fn draw_progress(name: &str, done: u64, total: u64) {
    let width = 30;
    let filled = ((done.min(total) * width) / total.max(1)) as usize;
    eprint!(
        "\r{name:<32} [{}{}] {done}/{total}",
        "#".repeat(filled),
        ".".repeat(width as usize - filled)
    );
    let _ = std::io::stderr().flush();
}
