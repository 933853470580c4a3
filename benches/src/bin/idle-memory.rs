//! `idle-memory`: memory per idle pooled connection in wirepool's engine.
//!
//! ```text
//! idle-memory (--url URL | --url-list FILE) -c N [--cacert PATH]
//! ```
//!
//! Opens N connections (N requests in flight at once; request *i* goes to URL *i* mod the
//! count, so N over H hosts gives N/H per host), waits until every response is done so
//! all N sit idle in the pool, then prints one JSON line with the growth of
//! - live heap bytes (allocations minus frees, counted by a `stats_alloc` global
//!   allocator: exact, and what issue 6's "≤ 4 KiB of heap per idle connection" means),
//! - resident memory (`VmRSS`, KiB: includes kernel-side nothing, but also the heap the
//!   allocator keeps after frees, and page-granular growth),
//!
//! each divided by N; then it closes the idle connections (`Engine::close_idle`) and
//! splits the heap growth into what closing freed (`heap_freed_per_conn_b`: what an
//! idle connection itself holds — socket wrapper, TLS state, pool entries) and what stays
//! (`heap_kept_per_conn_b`: capacity sized by the peak — slab slots for connections and
//! requests, host tables, spare buffers). "Before" is taken after the engine exists and
//! the URLs are parsed,
//! so the per-connection figure is what the N connections (slab entries, pool entries,
//! buffers still held, TLS sessions) cost. Socket buffers live in the kernel and are not
//! in either figure.

use std::alloc::System;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use examples::load::parse_or_exit;
use stats_alloc::{StatsAlloc, INSTRUMENTED_SYSTEM};
use wirepool::http::{Request, Uri};
use wirepool::{Body, Config, Engine, Event, Flow};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The command line.
#[derive(Parser, Debug)]
#[command(
    name = "idle-memory",
    about = "Memory per idle pooled connection in wirepool's engine"
)]
struct Cli {
    /// A URL to open connections to (repeatable)
    #[arg(long = "url", value_name = "URL", required_unless_present = "url_list")]
    urls: Vec<String>,
    /// More URLs, one per line
    #[arg(long, value_name = "FILE")]
    url_list: Option<PathBuf>,
    /// Connections to open
    #[arg(short = 'c', value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    connections: u64,
    /// https: trust only the CA certificates in this PEM file
    #[arg(long, value_name = "PATH")]
    cacert: Option<PathBuf>,
    /// Accepted for symmetry with the load generators (the output is always JSON)
    #[arg(long)]
    json: bool,
}

/// What one run measured: one JSON line.
#[derive(Debug, serde::Serialize)]
struct IdleMemory {
    client: &'static str,
    url: String,
    hosts: usize,
    conns: u64,
    idle: usize,
    failed: usize,
    first_error: String,
    tls_full: u64,
    tls_resumed: u64,
    open_secs: f64,
    heap_before_b: i64,
    heap_after_b: i64,
    heap_per_idle_conn_b: f64,
    heap_after_close_b: i64,
    heap_freed_per_conn_b: f64,
    heap_kept_per_conn_b: f64,
    rss_before_kb: u64,
    rss_after_kb: u64,
    rss_per_idle_conn_kb: f64,
}

/// Resident set size now, KiB (`VmRSS` of `/proc/self/status`; 0 where there is none).
fn rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse().ok())
        .unwrap_or(0)
}

fn round(x: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (x * scale).round() / scale
}

/// Longest time the N requests may take.
const OPEN_TIMEOUT: Duration = Duration::from_secs(120);

fn live_heap_bytes() -> i64 {
    let s = GLOBAL.stats();
    // stats_alloc already books a realloc's growth or shrink in these two counters.
    s.bytes_allocated as i64 - s.bytes_deallocated as i64
}

fn main() -> ExitCode {
    let cli: Cli = parse_or_exit();
    match run(cli).and_then(|r| serde_json::to_string(&r).map_err(|e| e.to_string())) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(msg) => {
            eprintln!("idle-memory: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<IdleMemory, String> {
    let mut urls = cli.urls;
    if let Some(file) = &cli.url_list {
        let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
        urls.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from),
        );
    }
    if urls.is_empty() {
        return Err("no URL given".into());
    }
    let n = usize::try_from(cli.connections).map_err(|e| e.to_string())?;
    let cacert = cli.cacert;
    let uris: Vec<Uri> = urls
        .iter()
        .map(|u| u.parse().map_err(|e| format!("{u}: {e}")))
        .collect::<Result<_, _>>()?;
    let mut config = Config::default();
    config.max_idle_per_host = n;
    config.max_idle_total = n;
    // Memory is measured, not speed: on a busy machine 10 000 handshakes queued at
    // once take longer than the default 10 s handshake timeout (and the others).
    config.tls_handshake_timeout = OPEN_TIMEOUT;
    config.connect_timeout = OPEN_TIMEOUT;
    config.response_header_timeout = Some(OPEN_TIMEOUT);
    config.timeout = Some(OPEN_TIMEOUT);
    if let Some(ca) = &cacert {
        use wirepool::tls::{TlsConfig, TrustRoots};
        let tls = TlsConfig::builder()
            .trust_roots(TrustRoots::OnlyAdded)
            .add_ca_pem_file(ca)
            .build()
            .map_err(|e| format!("TLS configuration: {e}"))?;
        config.tls = Some(tls);
    }
    let mut engine = Engine::new(config).map_err(|e| format!("engine: {e}"))?;
    let mut requests = Vec::with_capacity(n);
    for i in 0..n {
        let mut req = Request::new(Body::empty());
        *req.uri_mut() = uris[i % uris.len()].clone();
        requests.push(req);
    }
    let heap0 = live_heap_bytes();
    let rss0 = rss_kb();
    for req in requests {
        engine.submit(req).map_err(|e| format!("submit: {e}"))?;
    }
    let (mut done, mut failed) = (0usize, 0usize);
    let mut first_error = String::new();
    let t0 = std::time::Instant::now();
    while done + failed < n && t0.elapsed() < OPEN_TIMEOUT {
        engine
            .poll(Some(Duration::from_millis(100)), |ev| {
                match ev {
                    Event::Done { .. } => done += 1,
                    Event::Failed { error, .. } => {
                        if failed == 0 {
                            first_error = error.to_string();
                        }
                        failed += 1;
                    }
                    _ => {}
                }
                Flow::Continue
            })
            .map_err(|e| format!("poll: {e}"))?;
    }
    let open_secs = t0.elapsed().as_secs_f64();
    let heap1 = live_heap_bytes();
    let rss1 = rss_kb();
    let stats = engine.stats();
    let idle = stats.total.idle;
    if idle == 0 {
        return Err(format!(
            "no idle connection ({failed} failed: {first_error})"
        ));
    }
    // Close them: what that frees is what an idle connection itself holds; what stays
    // is capacity the engine keeps for its peak (slab slots, tables, spare buffers).
    engine.close_idle();
    for _ in 0..3 {
        engine
            .poll(Some(Duration::from_millis(10)), |_| Flow::Continue)
            .map_err(|e| format!("poll: {e}"))?;
    }
    let heap2 = live_heap_bytes();
    let per_idle = |bytes: i64| round(bytes as f64 / idle as f64, 1);
    Ok(IdleMemory {
        client: "wirepool-engine",
        url: urls[0].clone(),
        hosts: urls.len(),
        conns: n as u64,
        idle,
        failed,
        first_error,
        tls_full: stats.total.tls_full_handshakes,
        tls_resumed: stats.total.tls_resumed_handshakes,
        open_secs: round(open_secs, 3),
        heap_before_b: heap0,
        heap_after_b: heap1,
        heap_per_idle_conn_b: per_idle(heap1 - heap0),
        heap_after_close_b: heap2,
        heap_freed_per_conn_b: per_idle(heap1 - heap2),
        heap_kept_per_conn_b: per_idle(heap2 - heap0),
        rss_before_kb: rss0,
        rss_after_kb: rss1,
        rss_per_idle_conn_kb: round(rss1.saturating_sub(rss0) as f64 / idle as f64, 2),
    })
}
