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
use std::process::ExitCode;
use std::time::Duration;

use examples::json::JsonObject;
use pool_core::http::{Request, Uri};
use pool_core::{Body, Config, Engine, Event, Flow};
use stats_alloc::{StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const USAGE: &str = "usage: idle-memory (--url URL | --url-list FILE) -c N [--cacert PATH]";

/// Longest time the N requests may take.
const OPEN_TIMEOUT: Duration = Duration::from_secs(120);

fn live_heap_bytes() -> i64 {
    let s = GLOBAL.stats();
    // stats_alloc already books a realloc's growth or shrink in these two counters.
    s.bytes_allocated as i64 - s.bytes_deallocated as i64
}

fn main() -> ExitCode {
    match run() {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(msg) => {
            eprintln!("idle-memory: {msg}\n{USAGE}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<String, String> {
    let (mut urls, mut n, mut cacert) = (Vec::new(), 0usize, None);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--url" => urls.push(value()?),
            "--url-list" => {
                let file = value()?;
                let text = std::fs::read_to_string(&file).map_err(|e| format!("{file}: {e}"))?;
                urls.extend(
                    text.lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .map(String::from),
                );
            }
            "-c" => n = value()?.parse().map_err(|_| "-c wants a number")?,
            "--cacert" => cacert = Some(value()?),
            "--json" => {}
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if urls.is_empty() || n == 0 {
        return Err("give --url or --url-list, and -c N".into());
    }
    let uris: Vec<Uri> = urls
        .iter()
        .map(|u| u.parse().map_err(|e| format!("{u}: {e}")))
        .collect::<Result<_, _>>()?;
    let mut config = Config::default();
    config.max_idle_per_host = n;
    config.max_idle_total = n;
    if let Some(ca) = &cacert {
        use pool_core::tls::{TlsConfig, TrustRoots};
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
    let rss0 = examples::memory::rss_kb().unwrap_or(0);
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
    let rss1 = examples::memory::rss_kb().unwrap_or(0);
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
    let mut o = JsonObject::new();
    o.str("client", "wirepool-engine")
        .str("url", &urls[0])
        .u64("hosts", urls.len() as u64)
        .u64("conns", n as u64)
        .u64("idle", idle as u64)
        .u64("failed", failed as u64)
        .str("first_error", &first_error)
        .u64("tls_full", stats.total.tls_full_handshakes)
        .u64("tls_resumed", stats.total.tls_resumed_handshakes)
        .f64("open_secs", open_secs, 3)
        .f64("heap_before_b", heap0 as f64, 0)
        .f64("heap_after_b", heap1 as f64, 0)
        .f64(
            "heap_per_idle_conn_b",
            (heap1 - heap0) as f64 / idle as f64,
            1,
        )
        .f64("heap_after_close_b", heap2 as f64, 0)
        .f64(
            "heap_freed_per_conn_b",
            (heap1 - heap2) as f64 / idle as f64,
            1,
        )
        .f64(
            "heap_kept_per_conn_b",
            (heap2 - heap0) as f64 / idle as f64,
            1,
        )
        .u64("rss_before_kb", rss0)
        .u64("rss_after_kb", rss1)
        .f64(
            "rss_per_idle_conn_kb",
            rss1.saturating_sub(rss0) as f64 / idle as f64,
            2,
        );
    Ok(o.finish())
}
