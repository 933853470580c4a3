//! `trace-alloc`: heap allocations per request in the engine, with and without tracers.
//!
//! ```text
//! trace-alloc --url URL [-c CONNECTIONS] [-n REQUESTS]
//! ```
//!
//! Drives an [`Engine`] on this thread with C requests in flight (default 64) until N
//! (default 20 000) have finished, three times over the same warm pool: with no tracer,
//! with a client tracer whose hooks do nothing, and with a do-nothing tracer on each
//! request (`RequestTracer`). A `stats_alloc` global allocator counts every allocation
//! of the process while the engine runs; the requests themselves (`http::Request`,
//! its URI, the tracer extension) are built before counting starts, so what is counted is
//! the engine's own work per request. Prints one JSON line per variant:
//! `{"variant":"none","requests":20000,"allocs_per_req":0.0,"bytes_per_req":0.0}`.
//!
//! Run it against `bench-server` or nginx with a literal IP (no resolver thread), e.g.
//! `target/release/bench-server --port 8080 & target/release/trace-alloc --url
//! http://127.0.0.1:8080/`. The pool is warmed first (one round of C requests), so
//! dials and buffer growth are not counted.

use std::alloc::System;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use wirepool::http::Request;
use wirepool::trace::{RequestTracer, Tracer};
use wirepool::{Body, Config, Engine, Event, Flow};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const USAGE: &str = "usage: trace-alloc --url URL [-c CONNECTIONS] [-n REQUESTS]";

/// A tracer whose every hook is the trait's no-op default.
struct Noop;
impl Tracer for Noop {}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Variant {
    None,
    ClientTracer,
    RequestTracer,
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::None => "none",
            Variant::ClientTracer => "noop_client_tracer",
            Variant::RequestTracer => "noop_request_tracer",
        }
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("trace-alloc: {msg}\n{USAGE}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let (mut url, mut c, mut n) = (None, 64usize, 20_000usize);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--url" => url = Some(value()?),
            "-c" => c = value()?.parse().map_err(|_| "-c wants a number")?,
            "-n" => n = value()?.parse().map_err(|_| "-n wants a number")?,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let url = url.ok_or("--url is required")?;
    let mut config = Config::default();
    config.max_idle_per_host = c.max(1);
    let mut engine = Engine::new(config).map_err(|e| e.to_string())?;
    let noop: Arc<dyn Tracer> = Arc::new(Noop);
    // Warm the pool: C connections open and idle, spare buffers grown.
    drive(&mut engine, build(&url, c, Variant::None, &noop)?, c)?;
    for variant in [Variant::None, Variant::ClientTracer, Variant::RequestTracer] {
        engine.set_tracer((variant == Variant::ClientTracer).then(|| Arc::clone(&noop)));
        let requests = build(&url, n, variant, &noop)?;
        let region = Region::new(GLOBAL);
        let done = drive(&mut engine, requests, c)?;
        let change = region.change();
        println!(
            "{{\"variant\":\"{}\",\"requests\":{done},\"allocs_per_req\":{:.3},\"bytes_per_req\":{:.1}}}",
            variant.name(),
            change.allocations as f64 / done as f64,
            change.bytes_allocated as f64 / done as f64,
        );
    }
    Ok(())
}

/// `n` GETs of `url`, each with a do-nothing tracer for `Variant::RequestTracer`.
fn build(
    url: &str,
    n: usize,
    variant: Variant,
    noop: &Arc<dyn Tracer>,
) -> Result<Vec<Request<Body>>, String> {
    (0..n)
        .map(|_| {
            let mut r = Request::get(url)
                .body(Body::empty())
                .map_err(|e| e.to_string())?;
            if variant == Variant::RequestTracer {
                r.extensions_mut().insert(RequestTracer(Arc::clone(noop)));
            }
            Ok(r)
        })
        .collect()
}

/// Runs `requests` with `c` in flight; returns how many finished.
fn drive(engine: &mut Engine, mut requests: Vec<Request<Body>>, c: usize) -> Result<usize, String> {
    // Submitted in order from the back; reversing keeps the Vec from reallocating.
    requests.reverse();
    let total = requests.len();
    let (mut in_flight, mut done, mut failed) = (0usize, 0usize, 0usize);
    let deadline = Instant::now() + Duration::from_secs(120);
    while done + failed < total {
        while in_flight < c {
            let Some(r) = requests.pop() else { break };
            engine.submit(r).map_err(|e| e.to_string())?;
            in_flight += 1;
        }
        engine
            .poll(Some(Duration::from_millis(100)), |ev| {
                match ev {
                    Event::Done { .. } => {
                        done += 1;
                        in_flight -= 1;
                    }
                    Event::Failed { .. } => {
                        failed += 1;
                        in_flight -= 1;
                    }
                    _ => {}
                }
                Flow::Continue
            })
            .map_err(|e| e.to_string())?;
        if Instant::now() > deadline {
            return Err("requests did not finish in 120 s".into());
        }
    }
    if failed > 0 {
        return Err(format!("{failed} requests failed"));
    }
    Ok(done)
}
