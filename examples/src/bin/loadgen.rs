//! `loadgen`: a wrk-like HTTP/1.1 load generator on wirepool.
//!
//! ```text
//! loadgen --url URL -c CONNECTIONS (-n REQUESTS | -d SECONDS) [--json] [--mode engine|client]
//!         [--cacert PATH | --insecure] [--no-reuse] [--no-resume] [--url-list FILE]
//! ```
//!
//! Two ways to drive the pool, so their costs can be compared:
//!
//! - `--mode engine` (default): one thread owns an [`Engine`] and keeps exactly C
//!   requests in flight, submitting the next one as soon as one finishes (after the poll
//!   turn that reported it — the earliest the API allows). No other thread, no channel,
//!   no copy of body bytes (they are counted as borrowed slices). This is wrk's model.
//! - `--mode client`: C threads share one [`Client`]; each sends a request, reads its
//!   body to the end through `std::io::Read`, and sends the next. The engine runs on the
//!   Client's own thread, so every request crosses threads twice and each body is copied
//!   once: the price of the blocking facade.
//!
//! What is measured: the wall time from the first request submitted to the last one
//! finished, with no warm-up (so the C dials are included, as in wrk). `-n N` stops after
//! N requests *completed*, failed ones included; `-d S` stops submitting after S seconds
//! and lets the requests already in flight finish, which are counted (so the report
//! always matches what the server saw). Latency is per successful request: from submit
//! (or `send`) to the end of its body. CPU time is the whole process's over the same
//! interval (see `examples::cpu_time` for sources and precision).
//!
//! The pool is sized for the run: `max_idle_per_host` and `max_idle_total` are at least
//! C, so every connection can be reused; other settings are wirepool's defaults.
//!
//! Benchmark options (`benches/` uses them; the peers there take the same ones):
//! `--cacert PATH` trusts only that CA for `https://` (`--insecure`: no verification);
//! `--no-reuse` keeps no idle connection (`max_idle_per_host = 0`: a dial per request,
//! so over TLS every handshake after the first resumes); `--no-resume` turns the TLS
//! session cache off (every handshake full); `--url-list FILE` spreads the load over
//! the URLs in FILE (one per line): in-flight slot (engine) or thread (client) *i*
//! always uses URL *i* mod the count, so C slots over H hosts open C/H connections each.
//! The JSON also has `peak_rss_kb` (`VmHWM` at exit) and `tls_full`/`tls_resumed`.
//!
//! Observability costs (docs/benchmarks.md): `--noop-tracer` installs a trace hook whose
//! every method does nothing (the cost of having one installed); `--log-layer` (client
//! mode) adds `layers::LogLayer` and a `log` backend that writes each line to stderr
//! (one `write` per line; send stderr to a file or `/dev/null`).
//!
//! Exit status: 0 when the run finished (request errors are part of the report), 1 when
//! it could not run (engine setup, a request the pool refuses), 2 on bad usage.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use examples::cpu_time::{self, CpuUsage};
use examples::histogram::Histogram;
use examples::json::JsonObject;
use examples::progress::Progress;
use pool_core::http::{Request, Uri};
use pool_core::layers::LogLayer;
use pool_core::trace::Tracer;
use pool_core::{Body, Client, Config, Engine, Event, Flow};

const USAGE: &str = "\
usage: loadgen --url URL -c CONNECTIONS (-n REQUESTS | -d SECONDS) [--json] [--mode engine|client]
               [--cacert PATH | --insecure] [--no-reuse] [--no-resume] [--url-list FILE]
               [--noop-tracer] [--log-layer]

  --url URL          http:// or https:// URL to GET
  -c, --connections  requests kept in flight (engine) or threads (client); one
                     connection each
  -n, --requests N   stop after N completed requests (errors included)
  -d, --duration S   stop submitting after S seconds (decimals allowed, e.g. 0.5)
  --json             one JSON object on one line on stdout instead of the table
  --mode MODE        engine (default: one thread driving the Engine, like wrk) or
                     client (C threads sharing one blocking Client)
  --cacert PATH      https: trust only this CA (PEM file)
  --insecure         https: do not verify certificates (testing only)
  --no-reuse         keep no idle connection: a new connection per request
  --no-resume        no TLS session cache: every handshake is a full one
  --url-list FILE    URLs to spread the load over, one per line (instead of --url)
  --noop-tracer      install a trace hook that does nothing (measures its cost)
  --log-layer        client mode: log every request (LogLayer) to stderr
  -h, --help         this text";

/// Longest poll wait: how often the loop looks at the clock when nothing happens.
const POLL_WAIT: Duration = Duration::from_millis(100);

/// Size of each client-mode thread's body read buffer.
const READ_BUF_BYTES: usize = 16 * 1024;

/// Which API drives the load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Engine,
    Client,
}

impl Mode {
    /// The `client` field of the report.
    fn client_name(self) -> &'static str {
        match self {
            Mode::Engine => "wirepool-engine",
            Mode::Client => "wirepool-client",
        }
    }
}

/// When the run ends.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Stop {
    /// After this many completed requests.
    Requests(u64),
    /// No new request after this long.
    Duration(Duration),
}

/// Parsed command line.
#[derive(Clone, Debug, PartialEq)]
struct Args {
    url: Uri,
    connections: usize,
    stop: Stop,
    json: bool,
    mode: Mode,
    bench: BenchOptions,
}

/// The benchmark options (see the module docs).
#[derive(Clone, Debug, Default, PartialEq)]
struct BenchOptions {
    cacert: Option<String>,
    insecure: bool,
    no_reuse: bool,
    no_resume: bool,
    /// From `--url-list`; empty: only `url`.
    urls: Vec<Uri>,
    /// `--noop-tracer`.
    noop_tracer: bool,
    /// `--log-layer`.
    log_layer: bool,
}

/// What the command line asked for.
#[derive(Debug, PartialEq)]
enum Command {
    Run(Args),
    Help,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut url = None;
    let mut connections = None;
    let mut requests = None;
    let mut duration = None;
    let mut json = false;
    let mut mode = Mode::Engine;
    let mut bench = BenchOptions::default();
    let mut url_list = None;
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        // Accept both `--flag value` and `--flag=value`.
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
            "-h" | "--help" => return Ok(Command::Help),
            "--url" | "-u" => url = Some(value("--url")?),
            "-c" | "--connections" => connections = Some(at_least_one("-c", &value("-c")?)?),
            "-n" | "--requests" => requests = Some(at_least_one("-n", &value("-n")?)?),
            "-d" | "--duration" => {
                let v = value("-d")?;
                let secs: f64 = v
                    .trim_end_matches('s')
                    .parse()
                    .map_err(|_| format!("-d wants seconds, not {v:?}"))?;
                if !(secs.is_finite() && secs > 0.0 && secs < 1e7) {
                    return Err(format!("-d wants a positive number of seconds, not {v:?}"));
                }
                duration = Some(Duration::from_secs_f64(secs));
            }
            "--json" => json = true,
            "--cacert" => bench.cacert = Some(value("--cacert")?),
            "--insecure" => bench.insecure = true,
            "--no-reuse" => bench.no_reuse = true,
            "--no-resume" => bench.no_resume = true,
            "--url-list" => url_list = Some(value("--url-list")?),
            "--noop-tracer" => bench.noop_tracer = true,
            "--log-layer" => bench.log_layer = true,
            "--mode" | "-m" => {
                mode = match value("--mode")?.as_str() {
                    "engine" => Mode::Engine,
                    "client" => Mode::Client,
                    other => return Err(format!("--mode is engine or client, not {other:?}")),
                }
            }
            other if other.starts_with('-') => return Err(format!("unknown option {other:?}")),
            other if url.is_none() => url = Some(other.to_string()),
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    if let Some(file) = url_list {
        let text = std::fs::read_to_string(&file).map_err(|e| format!("{file}: {e}"))?;
        bench.urls = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| parse_url(l.trim()))
            .collect::<Result<_, _>>()?;
        if url.is_none() {
            url = bench.urls.first().map(ToString::to_string);
        }
    }
    let url = url.ok_or("--url is required")?;
    let url = parse_url(&url)?;
    let connections = connections.ok_or("-c is required")?;
    if bench.log_layer && mode == Mode::Engine {
        return Err("--log-layer needs --mode client (layers wrap Client::send)".into());
    }
    let stop = match (requests, duration) {
        (Some(n), None) => Stop::Requests(n),
        (None, Some(d)) => Stop::Duration(d),
        (Some(_), Some(_)) => return Err("give -n or -d, not both".into()),
        (None, None) => return Err("give -n REQUESTS or -d SECONDS".into()),
    };
    Ok(Command::Run(Args {
        url,
        connections,
        stop,
        json,
        mode,
        bench,
    }))
}

/// A count option's value: a whole number, at least 1.
fn at_least_one<T: std::str::FromStr + PartialEq + From<u8>>(
    flag: &str,
    v: &str,
) -> Result<T, String> {
    let n: T = v
        .parse()
        .map_err(|_| format!("{flag} wants a whole number, not {v:?}"))?;
    if n == T::from(0) {
        return Err(format!("{flag} must be at least 1"));
    }
    Ok(n)
}

/// Checks the URL up front so a typo is a usage error, not C failed requests.
fn parse_url(text: &str) -> Result<Uri, String> {
    if !text.contains("://") {
        return Err(format!("the URL {text:?} needs http://"));
    }
    let uri: Uri = text.parse().map_err(|e| format!("bad URL {text:?}: {e}"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        Some(other) => return Err(format!("unsupported scheme {other:?} in {text:?}")),
        None => return Err(format!("the URL {text:?} needs http:// or https://")),
    }
    if uri.host().map_or(true, str::is_empty) {
        return Err(format!("the URL {text:?} has no host"));
    }
    Ok(uri)
}

/// A GET of `url` (the `Uri` clone shares its bytes; no header is allocated).
fn get(url: &Uri) -> Request<Body> {
    let mut req = Request::new(Body::empty());
    *req.uri_mut() = url.clone();
    req
}

/// Outcomes counted during a run (one per thread in client mode, merged after).
#[derive(Debug, Default)]
struct Tally {
    /// Requests finished, failed ones included.
    completed: u64,
    /// Latency of each successful request.
    latency: Histogram,
    /// Failed requests by error kind.
    errors: BTreeMap<&'static str, u64>,
    /// Responses whose status is not 2xx or 3xx (not errors: the server answered).
    non_2xx_3xx: u64,
    /// Response body bytes received.
    body_bytes: u64,
}

impl Tally {
    fn error(&mut self, kind: &'static str) {
        *self.errors.entry(kind).or_default() += 1;
        self.completed += 1;
    }

    fn status(&mut self, status: pool_core::http::StatusCode) {
        if !(status.is_success() || status.is_redirection()) {
            self.non_2xx_3xx += 1;
        }
    }

    fn merge(&mut self, other: Tally) {
        self.completed += other.completed;
        self.latency.merge(&other.latency);
        for (kind, n) in other.errors {
            *self.errors.entry(kind).or_default() += n;
        }
        self.non_2xx_3xx += other.non_2xx_3xx;
        self.body_bytes += other.body_bytes;
    }

    fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// The result of a run.
#[derive(Debug)]
struct Report {
    mode: Mode,
    url: Uri,
    connections: usize,
    elapsed: Duration,
    tally: Tally,
    dials: u64,
    reuses: u64,
    tls_full: u64,
    tls_resumed: u64,
    cpu: Option<CpuUsage>,
}

/// Whether another request may start.
fn may_start(stop: Stop, started: u64, t0: Instant) -> bool {
    match stop {
        Stop::Requests(n) => started < n,
        Stop::Duration(d) => t0.elapsed() < d,
    }
}

/// Share of the run done, for the progress bar.
fn fraction_done(stop: Stop, completed: u64, t0: Instant) -> f64 {
    match stop {
        Stop::Requests(n) => completed as f64 / n as f64,
        Stop::Duration(d) => t0.elapsed().as_secs_f64() / d.as_secs_f64(),
    }
}

/// Pool settings for a run with `connections` concurrent requests.
fn config_for(connections: usize, bench: &BenchOptions) -> Result<Config, String> {
    let mut config = Config::default();
    config.max_idle_per_host = config.max_idle_per_host.max(connections);
    config.max_idle_total = config.max_idle_total.max(connections);
    if bench.no_reuse {
        config.max_idle_per_host = 0;
    }
    if bench.cacert.is_some() || bench.insecure || bench.no_resume {
        use pool_core::tls::{TlsConfig, TrustRoots};
        let mut tls = TlsConfig::builder();
        if let Some(ca) = &bench.cacert {
            tls = tls.trust_roots(TrustRoots::OnlyAdded).add_ca_pem_file(ca);
        }
        if bench.insecure {
            tls = tls.danger_accept_invalid_certs_for_testing_only();
        }
        if bench.no_resume {
            tls = tls.max_cached_sessions(0);
        }
        config.tls = Some(tls.build().map_err(|e| format!("TLS configuration: {e}"))?);
    }
    Ok(config)
}

/// The URL in-flight slot or thread `slot` uses.
fn url_for(args: &Args, slot: usize) -> &Uri {
    match args.bench.urls.len() {
        0 => &args.url,
        n => &args.bench.urls[slot % n],
    }
}

/// Engine mode: one thread keeps `C` requests in flight.
fn run_engine(args: &Args) -> Result<Report, String> {
    let c = args.connections;
    let mut engine = Engine::new(config_for(c, &args.bench)?)
        .map_err(|e| format!("cannot start the engine: {e}"))?;
    if args.bench.noop_tracer {
        engine.set_tracer(Some(Arc::new(NoopTracer)));
    }
    let mut tally = Tally::default();
    // Request → (submitted at, its slot); free slots are handed out again.
    let mut in_flight: HashMap<pool_core::RequestId, (Instant, usize)> = HashMap::with_capacity(c);
    let mut free_slots: Vec<usize> = (0..c).rev().collect();
    let mut started = 0u64;
    let mut progress = Progress::new();
    let cpu0 = cpu_time::sample().ok();
    let t0 = Instant::now();
    loop {
        while in_flight.len() < c && may_start(args.stop, started, t0) {
            let slot = free_slots.pop().unwrap_or(0);
            let id = engine
                .submit(get(url_for(args, slot)))
                .map_err(|e| format!("the pool refused the request: {e}"))?;
            in_flight.insert(id, (Instant::now(), slot));
            started += 1;
        }
        if in_flight.is_empty() {
            break;
        }
        engine
            .poll(Some(POLL_WAIT), |ev| {
                match ev {
                    Event::Head { head, .. } => tally.status(head.status()),
                    Event::Data { data, .. } => tally.body_bytes += data.len() as u64,
                    Event::Done { id, .. } => {
                        if let Some((sent, slot)) = in_flight.remove(&id) {
                            tally.latency.record(sent.elapsed());
                            tally.completed += 1;
                            free_slots.push(slot);
                        }
                    }
                    Event::Failed { id, error } => {
                        if let Some((_, slot)) = in_flight.remove(&id) {
                            tally.error(error.kind().as_str());
                            free_slots.push(slot);
                        }
                    }
                }
                Flow::Continue
            })
            .map_err(|e| format!("the engine's poll failed: {e}"))?;
        progress.update(
            tally.completed,
            fraction_done(args.stop, tally.completed, t0),
        );
    }
    let elapsed = t0.elapsed();
    let cpu1 = cpu_time::sample().ok();
    progress.finish();
    let stats = engine.stats();
    Ok(Report {
        mode: Mode::Engine,
        url: args.url.clone(),
        connections: c,
        elapsed,
        tally,
        dials: stats.total.dials,
        reuses: stats.total.reuses,
        tls_full: stats.total.tls_full_handshakes,
        tls_resumed: stats.total.tls_resumed_handshakes,
        cpu: cpu0.zip(cpu1).map(|(a, b)| CpuUsage::between(&a, &b)),
    })
}

/// A gate threads wait at until it opens (`true`) or the run is abandoned (`false`).
#[derive(Debug, Default)]
struct Gate {
    state: Mutex<Option<bool>>,
    changed: Condvar,
}

impl Gate {
    fn set(&self, open: bool) {
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = Some(open);
        self.changed.notify_all();
    }

    fn wait(&self) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(open) = *state {
                return open;
            }
            state = self.changed.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// What the client-mode threads share.
#[derive(Debug, Default)]
struct Shared {
    /// Requests started (tickets handed out).
    started: AtomicU64,
    /// Requests finished, for the progress bar.
    completed: AtomicU64,
    /// Opens when every thread is ready; the clock starts then.
    start: Gate,
    /// Threads done sending.
    finished: Mutex<usize>,
    finished_changed: Condvar,
    /// Opens after the CPU sample: threads stay alive until then so that their CPU
    /// time is still in `/proc` when it is read.
    release: Gate,
}

/// Client mode: C threads share one `Client`.
fn run_client(args: &Args) -> Result<Report, String> {
    let c = args.connections;
    let mut builder = Client::builder().config(config_for(c, &args.bench)?);
    if args.bench.noop_tracer {
        builder = builder.tracer(Arc::new(NoopTracer));
    }
    if args.bench.log_layer {
        builder = builder.middleware(LogLayer::new());
    }
    let client = builder
        .build()
        .map_err(|e| format!("cannot start the client: {e}"))?;
    let shared = Shared::default();
    let mut progress = Progress::new();
    std::thread::scope(|scope| {
        let mut workers = Vec::with_capacity(c);
        for i in 0..c {
            let spawned = std::thread::Builder::new()
                .name(format!("loadgen-{i}"))
                .spawn_scoped(scope, {
                    let (client, shared) = (&client, &shared);
                    move || client_worker(client, args, i, shared)
                });
            match spawned {
                Ok(w) => workers.push(w),
                Err(e) => {
                    shared.start.set(false);
                    return Err(format!("cannot start thread {i} of {c}: {e}"));
                }
            }
        }
        let cpu0 = cpu_time::sample().ok();
        let t0 = Instant::now();
        shared.start.set(true);
        {
            let mut finished = shared.finished.lock().unwrap_or_else(|p| p.into_inner());
            while *finished < c {
                let done = shared.completed.load(Ordering::Relaxed);
                progress.update(done, fraction_done(args.stop, done, t0));
                finished = shared
                    .finished_changed
                    .wait_timeout(finished, POLL_WAIT)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
        }
        let cpu1 = cpu_time::sample().ok();
        shared.release.set(true);
        progress.finish();
        let mut tally = Tally::default();
        let mut end = t0;
        for w in workers {
            let (t, worker_end) = w.join().map_err(|_| "a load thread panicked".to_string())?;
            tally.merge(t);
            end = end.max(worker_end);
        }
        let stats = client.stats().map_err(|e| format!("pool stats: {e}"))?;
        Ok(Report {
            mode: Mode::Client,
            url: args.url.clone(),
            connections: c,
            elapsed: end.duration_since(t0),
            tally,
            dials: stats.total.dials,
            reuses: stats.total.reuses,
            tls_full: stats.total.tls_full_handshakes,
            tls_resumed: stats.total.tls_resumed_handshakes,
            cpu: cpu0.zip(cpu1).map(|(a, b)| CpuUsage::between(&a, &b)),
        })
    })
}

/// One client-mode thread: send, read the body to its end, repeat. Returns its tally
/// and when it finished its last request.
fn client_worker(client: &Client, args: &Args, slot: usize, shared: &Shared) -> (Tally, Instant) {
    let mut tally = Tally::default();
    if !shared.start.wait() {
        return (tally, Instant::now());
    }
    // All threads open together, so the time they passed the gate is the run's start.
    let t0 = Instant::now();
    let mut buf = vec![0u8; READ_BUF_BYTES];
    loop {
        let ticket = shared.started.fetch_add(1, Ordering::Relaxed);
        if !may_start(args.stop, ticket, t0) {
            break;
        }
        let sent = Instant::now();
        match client.send(get(url_for(args, slot))) {
            Ok(mut resp) => {
                tally.status(resp.status());
                match read_to_end_counting(resp.body_mut(), &mut buf) {
                    Ok(n) => {
                        tally.body_bytes += n;
                        tally.latency.record(sent.elapsed());
                        tally.completed += 1;
                    }
                    Err(e) => tally.error(io_error_kind(&e)),
                }
            }
            Err(e) => tally.error(e.kind().as_str()),
        }
        shared.completed.fetch_add(1, Ordering::Relaxed);
    }
    let end = Instant::now();
    *shared.finished.lock().unwrap_or_else(|p| p.into_inner()) += 1;
    shared.finished_changed.notify_all();
    shared.release.wait();
    (tally, end)
}

/// Reads `body` to its end into the scratch `buf`; returns the byte count.
fn read_to_end_counting(body: &mut impl Read, buf: &mut [u8]) -> io::Result<u64> {
    let mut total = 0u64;
    loop {
        match body.read(buf) {
            Ok(0) => return Ok(total),
            Ok(n) => total += n as u64,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// The pool's error kind inside an `io::Error` from a body read.
fn io_error_kind(e: &io::Error) -> &'static str {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<pool_core::Error>())
        .map_or("i/o error", |ours| ours.kind().as_str())
}

fn micros(d: Duration) -> f64 {
    d.as_nanos() as f64 / 1000.0
}

/// A latency for people: µs below 1 ms, ms below 1 s, else s.
fn human(d: Duration) -> String {
    let us = micros(d);
    if us < 1_000.0 {
        format!("{us:.1} µs")
    } else if us < 1_000_000.0 {
        format!("{:.2} ms", us / 1_000.0)
    } else {
        format!("{:.3} s", us / 1_000_000.0)
    }
}

impl Report {
    fn rps(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.tally.completed as f64 / secs
        } else {
            0.0
        }
    }

    fn cpu_us_per_req(&self) -> Option<f64> {
        let cpu = self.cpu?;
        (self.tally.completed > 0).then(|| micros(cpu.total) / self.tally.completed as f64)
    }

    fn to_json(&self) -> String {
        let h = &self.tally.latency;
        let mut errors = JsonObject::new();
        for (kind, n) in &self.tally.errors {
            errors.u64(kind, *n);
        }
        let mut o = JsonObject::new();
        o.str("client", self.mode.client_name())
            .str("url", &self.url.to_string())
            .u64("c", self.connections as u64)
            .u64("n", self.tally.completed)
            .f64("secs", self.elapsed.as_secs_f64(), 6)
            .f64("rps", self.rps(), 1)
            .f64("min_us", micros(h.min()), 1)
            .f64("mean_us", micros(h.mean()), 1)
            .f64("p50_us", micros(h.percentile(50.0)), 1)
            .f64("p90_us", micros(h.percentile(90.0)), 1)
            .f64("p99_us", micros(h.percentile(99.0)), 1)
            .f64("p999_us", micros(h.percentile(99.9)), 1)
            .f64("max_us", micros(h.max()), 1);
        let nan = f64::NAN; // written as null: no CPU figures on this system
        let cpu = self.cpu;
        o.f64("cpu_user_s", cpu.map_or(nan, |c| c.user.as_secs_f64()), 6)
            .f64("cpu_sys_s", cpu.map_or(nan, |c| c.sys.as_secs_f64()), 6)
            .f64("cpu_total_s", cpu.map_or(nan, |c| c.total.as_secs_f64()), 6)
            .f64("cpu_us_per_req", self.cpu_us_per_req().unwrap_or(nan), 3)
            .str("cpu_source", cpu.map_or("none", |c| c.source.as_str()))
            .u64("cpu_ticks", cpu.map_or(0, |c| c.ticks))
            .u64("dials", self.dials)
            .u64("reuses", self.reuses)
            .u64("errors", self.tally.error_count())
            .object("errors_by_kind", errors)
            .u64("non_2xx_3xx", self.tally.non_2xx_3xx)
            .u64("body_bytes", self.tally.body_bytes)
            .f64(
                "peak_rss_kb",
                examples::memory::peak_rss_kb().map_or(nan, |kb| kb as f64),
                0,
            )
            .u64("tls_full", self.tls_full)
            .u64("tls_resumed", self.tls_resumed);
        o.finish()
    }

    fn to_table(&self) -> String {
        use std::fmt::Write as _;
        let t = &self.tally;
        let h = &t.latency;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} → {}, {} connections",
            self.mode.client_name(),
            self.url,
            self.connections
        );
        let _ = writeln!(
            s,
            "  requests     {} in {:.3} s: {:.1} requests/s ({} body bytes)",
            t.completed,
            self.elapsed.as_secs_f64(),
            self.rps(),
            t.body_bytes
        );
        let _ = writeln!(
            s,
            "  latency      p50 {}   p90 {}   p99 {}   p99.9 {}   max {}   (mean {}, {} samples)",
            human(h.percentile(50.0)),
            human(h.percentile(90.0)),
            human(h.percentile(99.0)),
            human(h.percentile(99.9)),
            human(h.max()),
            human(h.mean()),
            h.count()
        );
        if t.errors.is_empty() {
            let _ = writeln!(s, "  errors       0");
        } else {
            let kinds: Vec<String> = t.errors.iter().map(|(k, n)| format!("{k}: {n}")).collect();
            let _ = writeln!(
                s,
                "  errors       {} ({})",
                t.error_count(),
                kinds.join(", ")
            );
        }
        if t.non_2xx_3xx > 0 {
            let _ = writeln!(s, "  non-2xx/3xx  {}", t.non_2xx_3xx);
        }
        let _ = writeln!(
            s,
            "  pool         {} dials, {} reuses",
            self.dials, self.reuses
        );
        match (self.cpu, self.cpu_us_per_req()) {
            (Some(cpu), per_req) => {
                let _ = writeln!(
                    s,
                    "  cpu          {:.3} s user + {:.3} s sys = {:.3} s; {} per request",
                    cpu.user.as_secs_f64(),
                    cpu.sys.as_secs_f64(),
                    cpu.total.as_secs_f64(),
                    per_req.map_or("-".to_string(), |us| format!("{us:.2} µs")),
                );
                let _ = writeln!(
                    s,
                    "               (total from {}; user/sys split from {} ticks of {} ms)",
                    cpu.source.as_str(),
                    cpu.ticks,
                    1000 / cpu.clk_tck.max(1)
                );
            }
            (None, _) => {
                let _ = writeln!(s, "  cpu          unavailable (no /proc)");
            }
        }
        let _ = write!(
            s,
            "  measured     first request sent → last finished, dials included, no warm-up"
        );
        s
    }
}

/// A tracer whose every hook is the trait's default, which does nothing.
struct NoopTracer;

impl Tracer for NoopTracer {}

/// The `log` backend of `--log-layer`: each `wirepool::http` line formatted and written
/// to stderr with one `write`, as a plain file logger would.
struct StderrLines;

impl log::Log for StderrLines {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.target() == "wirepool::http"
    }

    fn log(&self, record: &log::Record<'_>) {
        use std::io::Write;
        if self.enabled(record.metadata()) {
            let line = format!("{} {}\n", record.level(), record.args());
            let _ = io::stderr().write_all(line.as_bytes());
        }
    }

    fn flush(&self) {}
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Command::Run(args)) => args,
        Ok(Command::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("loadgen: {msg}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if args.bench.log_layer && log::set_logger(&StderrLines).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
    let report = match args.mode {
        Mode::Engine => run_engine(&args),
        Mode::Client => run_client(&args),
    };
    match report {
        Ok(report) => {
            if args.json {
                println!("{}", report.to_json());
            } else {
                println!("{}", report.to_table());
            }
            ExitCode::SUCCESS
        }
        Err(msg) => {
            eprintln!("loadgen: {msg}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Command, String> {
        parse_args(line.split_whitespace().map(String::from))
    }

    fn run_args(line: &str) -> Args {
        match parse(line) {
            Ok(Command::Run(a)) => a,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn parses_the_documented_forms() {
        let a = run_args("--url http://127.0.0.1:8080/x -c 64 -n 1000");
        assert_eq!(a.url, "http://127.0.0.1:8080/x");
        assert_eq!((a.connections, a.stop), (64, Stop::Requests(1000)));
        assert_eq!((a.json, a.mode), (false, Mode::Engine));

        let a = run_args("--url=http://h/ -c 2 -d 1.5s --json --mode client");
        assert_eq!(a.stop, Stop::Duration(Duration::from_millis(1500)));
        assert_eq!((a.json, a.mode), (true, Mode::Client));

        let a = run_args("http://h:1/ --connections 3 --duration 2 --mode=engine");
        assert_eq!(a.stop, Stop::Duration(Duration::from_secs(2)));
        assert_eq!(parse("-h"), Ok(Command::Help));
    }

    #[test]
    fn rejects_bad_usage_with_a_message() {
        for (line, needle) in [
            ("-c 1 -n 1", "--url is required"),
            ("--url http://h/ -n 1", "-c is required"),
            ("--url http://h/ -c 1", "give -n"),
            ("--url http://h/ -c 1 -n 1 -d 1", "not both"),
            ("--url http://h/ -c 0 -n 1", "at least 1"),
            ("--url http://h/ -c x -n 1", "whole number"),
            ("--url http://h/ -c 1 -n -5", "whole number"),
            ("--url http://h/ -c 1 -d -1", "positive"),
            ("--url http://h/ -c 1 -d nan", "positive"),
            ("--url http://h/ -c 1 -n 1 --mode fast", "engine or client"),
            ("--url http://h/ -c 1 -n 1 --frobnicate", "unknown option"),
            ("--url http://h/ -c", "needs a value"),
            (
                "--url http://h/ -c 1 -n 1 --url-list /nonexistent",
                "/nonexistent",
            ),
            ("--url ftp://h/ -c 1 -n 1", "unsupported scheme"),
            ("--url 127.0.0.1:80/ -c 1 -n 1", "http://"),
            ("--url http://[::1 -c 1 -n 1", "bad URL"),
            ("--url http://h/ http://g/ -c 1 -n 1", "unexpected argument"),
        ] {
            match parse(line) {
                Err(msg) => assert!(msg.contains(needle), "{line}: {msg:?} lacks {needle:?}"),
                Ok(c) => panic!("{line}: accepted as {c:?}"),
            }
        }
    }

    #[test]
    fn json_report_has_every_field_and_nulls_without_cpu() {
        let mut tally = Tally::default();
        tally.latency.record(Duration::from_micros(100));
        tally.completed = 2;
        tally.error("connect failed");
        tally.completed -= 1; // `error` counted one of the two
        let report = Report {
            mode: Mode::Client,
            url: "http://h/".parse().expect("static URL"),
            connections: 1,
            elapsed: Duration::from_secs(1),
            tally,
            dials: 1,
            reuses: 0,
            tls_full: 0,
            tls_resumed: 0,
            cpu: None,
        };
        let json = report.to_json();
        for key in [
            "\"client\":\"wirepool-client\"",
            "\"c\":1",
            "\"n\":2",
            "\"rps\":2.0",
            "\"p50_us\":100.0",
            "\"cpu_us_per_req\":null",
            "\"errors\":1",
            "\"errors_by_kind\":{\"connect failed\":1}",
        ] {
            assert!(json.contains(key), "{json} lacks {key}");
        }
        assert!(!json.contains('\n'));
    }
}
