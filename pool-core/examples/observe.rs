//! `observe`: everything wirepool says about its requests, against loopback servers made
//! on the spot — the trace events ([`LogTracer`]), the timing summary of each response,
//! the log layer's lines, and the stats as Prometheus text.
//!
//! ```text
//! cargo run -p wirepool --example observe            # all of it
//! cargo run -p wirepool --example observe -- metrics # only the Prometheus text
//! ```
//!
//! Log lines go to stderr through a ten-line `log` backend below (a program would use
//! env_logger or its own); the summary table and the metrics go to stdout. The output is
//! what `docs/observability.md` shows.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use testkit::tls::{ServerSetup, TestPki, TlsTestServer};
use testkit::{Script, TestServer};
use wirepool::http::Request;
use wirepool::layers::{LogLayer, RetryLayer};
use wirepool::tls::{TlsConfig, TrustRoots};
use wirepool::trace::LogTracer;
use wirepool::{Body, Client, RequestInfo, RequestOptions};

/// Writes every record to stderr as `target: message`, relative time first.
struct Stderr(Instant);

impl log::Log for Stderr {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        ["wirepool::trace", "wirepool::http", "wirepool::retry"].contains(&m.target())
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            let t = self.0.elapsed().as_secs_f64() * 1e3;
            eprintln!("{t:8.3}ms {:<15} {}", r.target(), r.args());
        }
    }
    fn flush(&self) {}
}

fn us(d: Option<Duration>) -> String {
    d.map_or_else(|| "-".into(), |d| d.as_micros().to_string())
}

/// One line of the summary: the `fetch --trace` columns.
fn summary(what: &str, info: &RequestInfo) {
    println!(
        "{what:<24} {:>6} {:>10} {:>6} {:>7} {:>7} {:>8} {:>6} {:>7} {:>7}",
        us(info.dns),
        us(info.connect),
        us(info.tls),
        info.wait.as_micros(),
        info.ttfb.as_micros(),
        info.total.as_micros(),
        info.reused,
        us(info.idle_for),
        info.conn_id,
    );
}

fn get(client: &Client, url: &str, what: &str) {
    get_with(client, url, what, RequestOptions::default());
}

fn get_with(client: &Client, url: &str, what: &str, opts: RequestOptions) {
    let request = Request::get(url).body(Body::empty()).expect("a valid URL");
    match client.send_with(request, opts) {
        Ok(mut resp) => {
            let _ = resp.body_mut().read_all();
            let info = resp.body_mut().final_info().copied();
            summary(what, &info.unwrap_or(*resp.info()));
        }
        Err(e) => println!("{what:<24} failed: {e}"),
    }
    let _ = std::io::stdout().flush();
}

fn main() {
    let metrics_only = std::env::args().nth(1).as_deref() == Some("metrics");
    let logger: &'static Stderr = Box::leak(Box::new(Stderr(Instant::now())));
    if !metrics_only {
        log::set_logger(logger).expect("the only logger");
        log::set_max_level(log::LevelFilter::Debug);
    }

    let plain = TestServer::keep_alive(b"hello");
    let stale = TestServer::scripted(Script::StaleOnReuse(b"ok"));
    let slow = TestServer::start(|conn| {
        while conn.read_request().is_some() {
            conn.stall(Duration::from_millis(300));
        }
    });
    let unavailable_once = {
        let seen = std::sync::atomic::AtomicBool::new(false);
        TestServer::start(move |conn| {
            while conn.read_request().is_some() {
                if seen.swap(true, std::sync::atomic::Ordering::SeqCst) {
                    conn.respond(200, &[], b"back");
                } else {
                    conn.respond(503, &[("Retry-After", "0")], b"busy");
                }
            }
        })
    };
    let pki = TestPki::new();
    let tls_server = TlsTestServer::keep_alive(ServerSetup::localhost(&pki), b"secret");
    let tls = TlsConfig::builder()
        .trust_roots(TrustRoots::OnlyAdded)
        .add_ca_pem(pki.ca_pem())
        .build()
        .expect("the test CA");

    let client = Client::builder()
        .tracer(Arc::new(LogTracer))
        .middleware(LogLayer::new())
        .middleware(RetryLayer::new())
        .tls_config(tls)
        .build()
        .expect("a client");

    println!(
        "{:<24} {:>6} {:>10} {:>6} {:>7} {:>7} {:>8} {:>6} {:>7} {:>7}",
        "request",
        "dns_us",
        "connect_us",
        "tls_us",
        "wait_us",
        "ttfb_us",
        "total_us",
        "reused",
        "idle_us",
        "conn_id"
    );
    let port = plain.addr().port();
    get(
        &client,
        &format!("http://localhost:{port}/a"),
        "fresh dial (by name)",
    );
    get(&client, &format!("http://localhost:{port}/b"), "reuse");
    get(&client, &tls_server.url("/"), "https, full handshake");
    client.close_idle();
    get(&client, &tls_server.url("/"), "https, resumed");
    get(&client, &stale.url("/1"), "stale server, first");
    get(&client, &stale.url("/2"), "stale server, retried");
    get(&client, &unavailable_once.url("/"), "503, then 200 (layer)");
    get_with(
        &client,
        &slow.url("/"),
        "timeout",
        RequestOptions::timeout(Duration::from_millis(100)),
    );

    if let Ok(stats) = client.stats() {
        if metrics_only {
            print!("{}", stats.to_prometheus());
        } else {
            // The families of the plain server's pool, for the docs; `metrics` prints all.
            let key = format!("pool=\"http://localhost:{port}\"");
            println!();
            for line in stats.to_prometheus().lines() {
                let ttfb_bucket = line.starts_with("wirepool_ttfb_seconds_bucket{");
                if line.contains(&key) && (ttfb_bucket || !line.contains("_bucket")) {
                    println!("{line}");
                }
            }
        }
    }
}
