//! `loadgen`: a wrk-like HTTP/1.1 load generator on wirepool.
//!
//! ```text
//! loadgen [OPTIONS] URL        (loadgen --help for the options)
//! loadgen -c 64 -d 10s http://127.0.0.1:8080/            as wrk
//! loadgen -c 64 -d 30s -R 20000 --latency http://...      as wrk2: constant rate
//! ```
//!
//! Two ways to drive the pool, so their costs can be compared:
//!
//! - `--mode engine` (default): each thread (`-t`, default 1) owns an [`Engine`] and
//!   keeps its share of the C requests in flight, submitting the next one as soon as one
//!   finishes (after the poll turn that reported it — the earliest the API allows). No
//!   channel, no copy of body bytes (they are counted as borrowed slices). This is
//!   wrk's model: `-t` threads, `-c` connections shared among them.
//! - `--mode client`: `-t` threads (default C) share one [`Client`] whose pool may open
//!   C connections; each thread sends a request, reads its body to the end through
//!   `std::io::Read`, and sends the next. The engine runs on the Client's own thread, so
//!   every request crosses threads twice and each body is copied once: the price of the
//!   blocking facade. `--engine-threads N` gives the Client N engines (split by host, or
//!   with `--engine-split caller` by calling thread, so that one URL uses them all).
//!
//! Closed loop by default: a slot sends its next request when the last one finished.
//! With `-R N` (wrk2's constant throughput) request *k* of a thread is due at
//! `t0 + k / rate`; it is sent then (or as soon as a slot is free) and its latency is
//! measured **from when it was due**, so a server stall shows up as slow requests
//! (coordinated omission corrected), not as fewer of them.
//!
//! What is measured: the wall time from the first request sent to the last one
//! finished, with no warm-up (the C dials are included, as in wrk). `-n N` stops after
//! N finished requests, failed ones included; `-d TIME` stops sending after TIME and
//! lets the requests in flight finish, which count. Failed requests are reported by
//! kind and are not requests per second. CPU time is the whole process's
//! (`getrusage`) over the run. Ctrl-C stops the run and prints the report of what
//! finished until then (requests still in flight are left out).
//!
//! The pool is sized for the run: `max_idle_per_host` and `max_idle_total` are at least
//! C, so every connection can be reused; the pool options (`--dns-ttl`,
//! `--max-conns-per-host`, `--max-waiters`, `--pool-wait-timeout`, `--keepalive-margin`,
//! `--no-learn-limits`, `--no-follow-dns`: `examples::pool`) apply on top; other
//! settings are wirepool's defaults.
//!
//! The report adds wirepool's own view of each ok request (its `RequestInfo`): a
//! breakdown of where the time went — waiting for a connection, DNS, connect, TLS, the
//! first response byte, the whole exchange — and how many requests reused a connection
//! (`breakdown` in `--json`). Observability costs can be measured: `--noop-tracer`
//! installs a trace hook whose every method does nothing; `--log-layer` (client mode)
//! adds `layers::LogLayer` with a `log` backend writing each line to stderr.
//!
//! Exit status: 0 when every request succeeded (or `--allow-errors`), 1 when some
//! failed or the run could not start, 2 on bad usage.

use std::collections::HashMap;
use std::io::{self, Read};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use clap::{CommandFactory, Parser, ValueEnum};

use examples::cpu::{self, CpuUsage};
use examples::load::report::{Breakdown, LoadReport, Tally};
use examples::load::{parse_or_exit, usage_exit, LoadOptions, Plan, Stop};
use examples::pool::PoolOptions;
use examples::progress::Progress;
use wirepool::layers::LogLayer;
use wirepool::trace::Tracer;
use wirepool::{Client, Config, Engine, EngineSplit, Event, Flow, RequestId};

/// Longest poll wait: how often a loop looks at the clock and for Ctrl-C when nothing
/// happens.
const POLL_WAIT: Duration = Duration::from_millis(100);

/// Size of each client-mode thread's body read buffer.
const READ_BUF_BYTES: usize = 16 * 1024;

/// The command line.
#[derive(Parser, Debug)]
#[command(
    name = "loadgen",
    version,
    about = "A wrk-like HTTP/1.1 load generator on wirepool",
    after_help = "Exit status: 0 when every request succeeded (or --allow-errors), 1 when some \
                  failed or the run could not start, 2 on bad usage. Ctrl-C prints the report \
                  of what finished so far."
)]
struct Cli {
    #[command(flatten)]
    load: LoadOptions,
    /// engine: threads each driving an Engine (like wrk); client: threads sharing one
    /// blocking Client
    #[arg(long, value_enum, default_value_t = Mode::Engine)]
    mode: Mode,
    /// Install a trace hook whose every method does nothing (what having one costs)
    #[arg(long)]
    noop_tracer: bool,
    /// Client mode: log every request with layers::LogLayer, one line each on stderr
    #[arg(long)]
    log_layer: bool,
    /// Client mode: engine threads behind the Client (ClientBuilder::engine_threads)
    #[arg(long, value_name = "N")]
    engine_threads: Option<usize>,
    /// Client mode, with --engine-threads: which engine a request goes to (host: by
    /// its origin; caller: by the sending thread)
    #[arg(long, value_enum, value_name = "host|caller")]
    engine_split: Option<Split>,
    #[command(flatten)]
    pool: PoolOptions,
}

/// What the command line asked of the pool, besides the load.
#[derive(Clone, Copy, Debug, Default)]
struct Extras {
    noop_tracer: bool,
    log_layer: bool,
    /// Client mode: engine threads (`None`: the Client's default, 1).
    engine_threads: Option<usize>,
    /// Client mode: how requests are split among the engines.
    engine_split: Option<Split>,
}

/// `--engine-split`: [`EngineSplit`] on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Split {
    Host,
    Caller,
}

impl Split {
    fn engine_split(self) -> EngineSplit {
        match self {
            Split::Host => EngineSplit::ByHost,
            Split::Caller => EngineSplit::ByCaller,
        }
    }
}

/// A tracer whose every hook is the trait's default, which does nothing.
struct NoopTracer;

impl Tracer for NoopTracer {}

/// The `log` backend of `--log-layer`: each `wirepool::http` line formatted and written
/// to stderr with one `write`, as a plain line logger would.
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

/// Which API drives the load.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
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

/// What the load threads share with the main thread.
#[derive(Debug)]
struct Shared {
    /// Requests started (closed-loop tickets for `-n`).
    started: AtomicU64,
    /// Requests finished, for the progress line.
    finished: AtomicU64,
    /// Of those, failed.
    failed: AtomicU64,
    /// Set by Ctrl-C: stop now.
    interrupted: Arc<AtomicBool>,
    /// Every load thread and the main thread meet here; the clock starts then.
    start: Barrier,
}

impl Shared {
    fn new(threads: usize, interrupted: Arc<AtomicBool>) -> Shared {
        Shared {
            started: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            interrupted,
            start: Barrier::new(threads + 1),
        }
    }

    fn is_interrupted(&self) -> bool {
        self.interrupted.load(Ordering::Relaxed)
    }

    /// A closed-loop ticket: whether one more request may start.
    fn take_ticket(&self, stop: Stop, t0: Instant) -> bool {
        match stop {
            Stop::Requests(n) => self.started.fetch_add(1, Ordering::Relaxed) < n,
            Stop::Duration(d) => t0.elapsed() < d,
        }
    }

    fn count(&self, failed: bool) {
        self.finished.fetch_add(1, Ordering::Relaxed);
        if failed {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// What one load thread brings back.
#[derive(Debug, Default)]
struct ThreadResult {
    tally: Tally,
    breakdown: Breakdown,
    /// When it finished its last request (or stopped for Ctrl-C).
    end: Option<Instant>,
    dials: u64,
    reuses: u64,
    tls_full: u64,
    tls_resumed: u64,
}

/// The schedule of one thread in `-R` mode: request k is due at `t0 + k * interval`.
#[derive(Clone, Copy, Debug)]
struct Schedule {
    interval: Duration,
    sent: u64,
}

impl Schedule {
    /// The schedule for `share` of a total `rate`.
    fn new(rate: f64, share: f64) -> Schedule {
        let per_thread = (rate * share).max(1e-9);
        Schedule {
            interval: Duration::try_from_secs_f64(1.0 / per_thread).unwrap_or(Duration::MAX),
            sent: 0,
        }
    }

    /// When the next request is due.
    fn next_due(&self, t0: Instant) -> Instant {
        let offset = self
            .interval
            .checked_mul(u32::try_from(self.sent).unwrap_or(u32::MAX))
            .unwrap_or(Duration::MAX);
        t0.checked_add(offset)
            .unwrap_or(t0 + Duration::from_secs(86_400 * 365))
    }
}

/// Pool settings for a thread with `connections` concurrent requests, with the pool
/// options of the command line applied last.
fn config_for(plan: &Plan, pool: &PoolOptions, connections: usize) -> Result<Config, String> {
    let mut config = Config::default();
    config.max_idle_per_host = config.max_idle_per_host.max(connections);
    config.max_idle_total = config.max_idle_total.max(connections);
    if plan.options.no_reuse {
        config.max_idle_per_host = 0;
    }
    config.tls = plan.tls_config()?;
    config.proxy = plan.proxy.clone();
    config.unix_socket = plan.options.unix_socket.clone();
    pool.apply(&mut config);
    Ok(config)
}

/// Splits `total` slots over `threads`: thread i gets the slots `start..end`.
fn split(total: usize, threads: usize) -> Vec<std::ops::Range<usize>> {
    let (base, extra) = (total / threads, total % threads);
    let mut start = 0;
    (0..threads)
        .map(|i| {
            let len = base + usize::from(i < extra);
            let range = start..start + len;
            start += len;
            range
        })
        .collect()
}

/// Engine mode: each thread drives its own Engine with its share of the slots.
fn engine_thread(
    plan: &Plan,
    pool: &PoolOptions,
    shared: &Shared,
    slots: std::ops::Range<usize>,
    mut schedule: Option<Schedule>,
    extras: Extras,
) -> Result<ThreadResult, String> {
    let prepared = config_for(plan, pool, slots.len())
        .and_then(|c| Engine::new(c).map_err(|e| format!("cannot start the engine: {e}")))
        .map(|mut engine| {
            if extras.noop_tracer {
                engine.set_tracer(Some(Arc::new(NoopTracer)));
            }
            engine
        });
    // Meet the others even on failure, so nobody waits for ever.
    shared.start.wait();
    let mut engine = prepared?;
    let t0 = Instant::now();
    let mut out = ThreadResult::default();
    // Request → (its latency clock start: sent, or due in rate mode; slot; status).
    let mut in_flight: HashMap<RequestId, (Instant, usize, u16)> =
        HashMap::with_capacity(slots.len());
    let mut free: Vec<usize> = slots.rev().collect();
    let mut exhausted = false;
    loop {
        if shared.is_interrupted() {
            break;
        }
        let now = Instant::now();
        while !exhausted && !free.is_empty() {
            let clock = match &mut schedule {
                None => {
                    if !shared.take_ticket(plan.stop, t0) {
                        exhausted = true;
                        break;
                    }
                    now
                }
                Some(s) => {
                    let due = s.next_due(t0);
                    let in_time = match plan.stop {
                        Stop::Duration(d) => now.duration_since(t0) < d,
                        Stop::Requests(_) => true,
                    };
                    if !in_time || !plan.stop.may_schedule(0, due, t0) {
                        exhausted = true;
                        break;
                    }
                    if due > now {
                        break;
                    }
                    if !shared.take_ticket(plan.stop, t0) {
                        exhausted = true;
                        break;
                    }
                    s.sent += 1;
                    due
                }
            };
            let Some(slot) = free.pop() else { break };
            let id = engine
                .submit(plan.request(slot))
                .map_err(|e| format!("the pool refused the request: {e}"))?;
            in_flight.insert(id, (clock, slot, 0));
        }
        if in_flight.is_empty() && exhausted {
            break;
        }
        let mut wait = POLL_WAIT;
        if let (Some(s), false, false) = (&schedule, exhausted, free.is_empty()) {
            wait = wait.min(s.next_due(t0).saturating_duration_since(Instant::now()));
        }
        let (tally, breakdown) = (&mut out.tally, &mut out.breakdown);
        engine
            .poll(Some(wait), |ev| {
                match ev {
                    Event::Head { id, head, .. } => {
                        if let Some(entry) = in_flight.get_mut(&id) {
                            entry.2 = head.status().as_u16();
                        }
                    }
                    Event::Data { data, .. } => tally.body_bytes += data.len() as u64,
                    Event::Done { id, info } => {
                        if let Some((clock, slot, status)) = in_flight.remove(&id) {
                            tally.ok(status, 0, clock.elapsed());
                            breakdown.record(&info);
                            shared.count(false);
                            free.push(slot);
                        }
                    }
                    Event::Failed { id, error } => {
                        if let Some((_, slot, _)) = in_flight.remove(&id) {
                            tally.error(error.kind().as_str());
                            shared.count(true);
                            free.push(slot);
                        }
                    }
                }
                Flow::Continue
            })
            .map_err(|e| format!("the engine's poll failed: {e}"))?;
    }
    out.end = Some(Instant::now());
    let stats = engine.stats();
    out.dials = stats.total.dials;
    out.reuses = stats.total.reuses;
    out.tls_full = stats.total.tls_full_handshakes;
    out.tls_resumed = stats.total.tls_resumed_handshakes;
    Ok(out)
}

/// Client mode: one thread's loop of send, read the body to its end, repeat.
fn client_thread(
    client: &Client,
    plan: &Plan,
    shared: &Shared,
    slot: usize,
    mut schedule: Option<Schedule>,
) -> ThreadResult {
    let mut out = ThreadResult::default();
    shared.start.wait();
    let t0 = Instant::now();
    let mut buf = vec![0u8; READ_BUF_BYTES];
    loop {
        if shared.is_interrupted() {
            break;
        }
        let clock = match &mut schedule {
            None => {
                if !shared.take_ticket(plan.stop, t0) {
                    break;
                }
                Instant::now()
            }
            Some(s) => {
                let due = s.next_due(t0);
                if !plan.stop.may_schedule(0, due, t0) {
                    break;
                }
                // Sleep until due, waking for Ctrl-C.
                while Instant::now() < due && !shared.is_interrupted() {
                    let left = due.saturating_duration_since(Instant::now());
                    std::thread::sleep(left.min(POLL_WAIT));
                }
                if shared.is_interrupted() || !shared.take_ticket(plan.stop, t0) {
                    break;
                }
                s.sent += 1;
                due
            }
        };
        let outcome = client.send(plan.request(slot)).and_then(|mut resp| {
            let status = resp.status().as_u16();
            let read = read_to_end_counting(resp.body_mut(), &mut buf);
            let info = resp.body_mut().final_info().copied();
            read.map(|n| (status, n, info)).map_err(|e| io_error(&e))
        });
        if shared.is_interrupted() {
            break; // cut short by Ctrl-C (the client is shut down): not counted
        }
        match outcome {
            Ok((status, bytes, info)) => {
                out.tally.ok(status, bytes, clock.elapsed());
                if let Some(info) = info {
                    out.breakdown.record(&info);
                }
                shared.count(false);
            }
            Err(e) => {
                out.tally.error(e.kind().as_str());
                shared.count(true);
            }
        }
    }
    out.end = Some(Instant::now());
    out
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

/// The pool's error inside an `io::Error` from a body read (or an I/O error).
fn io_error(e: &io::Error) -> wirepool::Error {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<wirepool::Error>())
    {
        Some(ours) => wirepool::Error::new(ours.kind()),
        None => wirepool::Error::new(wirepool::ErrorKind::Io),
    }
}

/// Runs the load threads, watching for the end, Ctrl-C and the progress line.
fn run(
    plan: &Plan,
    pool: &PoolOptions,
    mode: Mode,
    extras: Extras,
    interrupted: Arc<AtomicBool>,
) -> Result<LoadReport, String> {
    let c = plan.connections;
    let threads = match mode {
        Mode::Engine => plan.threads.unwrap_or(1),
        Mode::Client => plan.threads.unwrap_or(c),
    };
    let shared = Shared::new(threads, interrupted);
    let client = match mode {
        Mode::Engine => None,
        Mode::Client => {
            let mut config = config_for(plan, pool, c)?;
            if threads > c && pool.max_conns_per_host.is_none() {
                config.max_conns_per_host = Some(c);
            }
            let mut builder = Client::builder().config(config);
            if extras.noop_tracer {
                builder = builder.tracer(Arc::new(NoopTracer));
            }
            if extras.log_layer {
                builder = builder.middleware(LogLayer::new());
            }
            if let Some(n) = extras.engine_threads {
                builder = builder.engine_threads(n);
            }
            if let Some(split) = extras.engine_split {
                builder = builder.engine_split(split.engine_split());
            }
            let client = builder
                .build()
                .map_err(|e| format!("cannot start the client: {e}"))?;
            Some(client)
        }
    };
    let mut progress = Progress::new("");
    let slots = split(c, threads);
    std::thread::scope(|scope| {
        let mut workers = Vec::with_capacity(threads);
        for (i, range) in slots.iter().cloned().enumerate() {
            let share = range.len() as f64 / c as f64;
            let schedule = plan.rate.map(|r| match mode {
                Mode::Engine => Schedule::new(r, share),
                Mode::Client => Schedule::new(r, 1.0 / threads as f64),
            });
            let (shared, client) = (&shared, client.as_ref());
            let spawned = std::thread::Builder::new()
                .name(format!("loadgen-{i}"))
                .spawn_scoped(scope, move || match client {
                    None => engine_thread(plan, pool, shared, range, schedule, extras),
                    Some(client) => Ok(client_thread(client, plan, shared, i, schedule)),
                });
            match spawned {
                Ok(w) => workers.push(w),
                Err(e) => {
                    // The threads already started wait at the barrier for ever.
                    eprintln!("loadgen: cannot start thread {i} of {threads}: {e}");
                    std::process::exit(1);
                }
            }
        }
        let cpu0 = cpu::sample().ok();
        shared.start.wait();
        let t0 = Instant::now();
        let mut stopped_at = None;
        let mut client_stats = None;
        while !workers.iter().all(|w| w.is_finished()) {
            if shared.is_interrupted() && stopped_at.is_none() {
                stopped_at = Some(Instant::now());
                if let Some(client) = &client {
                    // Fail what is in flight now, so blocked threads return at once.
                    client_stats = client.stats().ok();
                    client.shutdown();
                }
            }
            let done = shared.finished.load(Ordering::Relaxed);
            let failed = shared.failed.load(Ordering::Relaxed);
            progress.update(done, failed, plan.stop.fraction_done(done, t0));
            std::thread::sleep(Duration::from_millis(10));
        }
        progress.finish();
        if shared.is_interrupted() && stopped_at.is_none() {
            stopped_at = Some(Instant::now()); // the load threads saw it first
        }
        let mut merged = ThreadResult::default();
        let mut end = t0;
        let mut first_error = None;
        for w in workers {
            match w.join() {
                Ok(Ok(r)) => {
                    merged.tally.merge(&r.tally);
                    merged.breakdown.merge(&r.breakdown);
                    end = end.max(r.end.unwrap_or(t0));
                    merged.dials += r.dials;
                    merged.reuses += r.reuses;
                    merged.tls_full += r.tls_full;
                    merged.tls_resumed += r.tls_resumed;
                }
                Ok(Err(msg)) => first_error = first_error.or(Some(msg)),
                Err(_) => first_error = first_error.or(Some("a load thread panicked".into())),
            }
        }
        let cpu1 = cpu::sample().ok();
        if let Some(msg) = first_error {
            return Err(msg);
        }
        if let Some(at) = stopped_at {
            end = end.min(at).max(t0);
        }
        if let Some(client) = &client {
            if let Some(stats) = client_stats.or_else(|| client.stats().ok()) {
                merged.dials = stats.total.dials;
                merged.reuses = stats.total.reuses;
                merged.tls_full = stats.total.tls_full_handshakes;
                merged.tls_resumed = stats.total.tls_resumed_handshakes;
            }
        }
        Ok(LoadReport {
            client: mode.client_name().to_owned(),
            url: plan.url.to_string(),
            route: plan.route(),
            connections: c,
            threads,
            elapsed: end.duration_since(t0),
            tally: merged.tally,
            latency: None,
            dials: Some(merged.dials),
            reuses: Some(merged.reuses),
            tls_handshakes: plan
                .urls
                .iter()
                .any(|u| u.scheme_str() == Some("https"))
                .then_some((merged.tls_full, merged.tls_resumed)),
            cpu: cpu0.zip(cpu1).map(|(a, b)| CpuUsage::between(&a, &b)),
            peak_rss_kb: cpu::peak_rss_kb(),
            rate: plan.rate,
            interrupted: stopped_at.is_some(),
            breakdown: Some(merged.breakdown),
            ..LoadReport::default()
        })
    })
}

fn main() -> ExitCode {
    let cli: Cli = parse_or_exit();
    let plan = match cli.load.check() {
        Ok(plan) => plan,
        Err(msg) => usage_exit(&mut Cli::command(), msg),
    };
    if cli.log_layer && cli.mode == Mode::Engine {
        usage_exit(
            &mut Cli::command(),
            "--log-layer needs --mode client (layers wrap Client::send)",
        );
    }
    if cli.mode == Mode::Engine && (cli.engine_threads.is_some() || cli.engine_split.is_some()) {
        usage_exit(
            &mut Cli::command(),
            "--engine-threads and --engine-split need --mode client (engine mode: use -t)",
        );
    }
    if let Some(n) = cli.engine_threads {
        if n == 0 || n > wirepool::MAX_ENGINE_THREADS {
            usage_exit(
                &mut Cli::command(),
                format!(
                    "--engine-threads must be from 1 to {}, got {n}",
                    wirepool::MAX_ENGINE_THREADS
                ),
            );
        }
    }
    if cli.log_layer && log::set_logger(&StderrLines).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
    let extras = Extras {
        noop_tracer: cli.noop_tracer,
        log_layer: cli.log_layer,
        engine_threads: cli.engine_threads,
        engine_split: cli.engine_split,
    };
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let flag = Arc::clone(&interrupted);
        if let Err(e) = ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed)) {
            eprintln!("loadgen: note: Ctrl-C will not print a report: {e}");
        }
    }
    match run(&plan, &cli.pool, cli.mode, extras, interrupted) {
        Ok(report) => {
            if plan.options.json {
                println!("{}", report.to_json());
            } else {
                println!("{}", report.to_table(plan.options.latency));
            }
            if report.tally.error_count() > 0 && !plan.options.allow_errors {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
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

    #[test]
    fn slots_are_split_evenly() {
        assert_eq!(split(10, 3), vec![0..4, 4..7, 7..10]);
        assert_eq!(split(4, 4), vec![0..1, 1..2, 2..3, 3..4]);
        assert_eq!(split(1, 1), vec![0..1]);
    }

    #[test]
    fn schedule_spaces_requests_by_the_rate() {
        let t0 = Instant::now();
        let mut s = Schedule::new(1000.0, 0.5); // 500/s for this thread
        assert_eq!(s.next_due(t0), t0);
        s.sent = 3;
        assert_eq!(s.next_due(t0), t0 + Duration::from_millis(6));
    }

    #[test]
    fn cli_mode_and_method_spellings() {
        let cli = Cli::try_parse_from([
            "loadgen",
            "-c",
            "4",
            "-m",
            "PUT",
            "--mode",
            "client",
            "http://h/",
        ])
        .expect("valid");
        assert_eq!(cli.mode, Mode::Client);
        let plan = cli.load.check().expect("valid");
        assert_eq!(plan.method, wirepool::http::Method::PUT);
        assert!(Cli::try_parse_from(["loadgen", "--mode", "fast", "http://h/"]).is_err());
        Cli::command().debug_assert();
    }
}
