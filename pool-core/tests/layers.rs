//! The ready-made layers and the reusable `Next`: a layer that sends twice, `RetryLayer`
//! (statuses, `Retry-After`, idempotency, the budget, the deadline, broken connections)
//! and `LogLayer` (its lines, through a capturing `log` backend).
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a broken step should fail loudly

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use testkit::{ServerConn, TestServer};
use wirepool::http::Request;
use wirepool::layers::{LogLayer, RetryBudget, RetryLayer};
use wirepool::{Body, Client, ErrorKind, Next, RequestOptions};

/// A server whose connections answer the `n`-th request overall (from 0) with
/// `answer(n)`: status, headers, body.
fn counting_server(
    answer: impl Fn(usize) -> (u16, Vec<(&'static str, &'static str)>) + Send + Sync + 'static,
) -> TestServer {
    let seen = AtomicUsize::new(0);
    TestServer::start(move |conn: &mut ServerConn| {
        while conn.read_request().is_some() {
            let n = seen.fetch_add(1, Ordering::SeqCst);
            let (status, headers) = answer(n);
            conn.respond(status, &headers, format!("answer {n}").as_bytes());
        }
    })
}

fn retrying_client(layer: RetryLayer) -> Client {
    Client::builder().middleware(layer).build().unwrap()
}

/// No waiting in tests unless the test is about waiting.
fn quick() -> RetryLayer {
    RetryLayer::new()
        .base_backoff(Duration::from_millis(1))
        .max_backoff(Duration::from_millis(5))
}

#[test]
fn next_can_be_run_more_than_once() {
    let server = TestServer::keep_alive(b"twice");
    let client = Client::builder()
        .middleware(|req: Request<Body>, opts: RequestOptions, next: Next<'_>| {
            let mut copy = Request::new(req.body().try_clone().expect("an in-memory body"));
            *copy.uri_mut() = req.uri().clone();
            let first = next.run(copy, opts)?;
            drop(first);
            next.run(req, opts)
        })
        .build()
        .unwrap();
    assert_eq!(
        client.get(server.url("/x")).send().unwrap().text().unwrap(),
        "twice"
    );
    assert_eq!(server.requests(), 2);
}

#[test]
fn a_503_with_retry_after_zero_is_retried() {
    let server = counting_server(|n| match n {
        0 => (503, vec![("Retry-After", "0")]),
        _ => (200, vec![]),
    });
    let client = retrying_client(quick());
    let resp = client.get(server.url("/")).send().unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().unwrap(), "answer 1");
    assert_eq!(server.requests(), 2);
}

#[test]
fn gateway_errors_and_429_are_retried_up_to_max_retries() {
    let server = counting_server(|n| match n {
        0 => (502, vec![]),
        1 => (504, vec![]),
        2 => (429, vec![]),
        _ => (200, vec![]),
    });
    let client = retrying_client(quick().max_retries(2));
    let resp = client.get(server.url("/")).send().unwrap();
    assert_eq!(
        resp.status(),
        429,
        "two retries, then the third answer stands"
    );
    assert_eq!(server.requests(), 3);
}

#[test]
fn retry_after_seconds_are_waited_for() {
    let server = counting_server(|n| match n {
        0 => (429, vec![("Retry-After", "1")]),
        _ => (200, vec![]),
    });
    let client = retrying_client(quick());
    let started = Instant::now();
    let resp = client.get(server.url("/")).send().unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "retried before Retry-After: {:?}",
        started.elapsed()
    );
}

#[test]
fn a_retry_after_past_the_limit_or_the_deadline_returns_the_response() {
    let server = counting_server(|_| (503, vec![("Retry-After", "3600")]));
    let client = retrying_client(quick().max_retry_after(Duration::from_secs(60)));
    let started = Instant::now();
    assert_eq!(client.get(server.url("/")).send().unwrap().status(), 503);
    assert_eq!(server.requests(), 1);

    let server = counting_server(|_| (503, vec![("Retry-After", "5")]));
    let request = Request::get(server.url("/")).body(Body::empty()).unwrap();
    let opts = RequestOptions::timeout(Duration::from_millis(500));
    let resp = client.send_with(request, opts).unwrap();
    assert_eq!(resp.status(), 503, "5 s would pass the 500 ms timeout");
    assert_eq!(server.requests(), 1);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "it did not wait"
    );
}

#[test]
fn a_post_is_not_retried_unless_it_has_an_idempotency_key() {
    let server = counting_server(|n| match n {
        0 | 1 => (503, vec![]),
        _ => (200, vec![]),
    });
    let client = retrying_client(quick());
    let post = Request::post(server.url("/"))
        .body(Body::from("x"))
        .unwrap();
    assert_eq!(client.send(post).unwrap().status(), 503);
    assert_eq!(server.requests(), 1);
    let keyed = Request::post(server.url("/"))
        .header("Idempotency-Key", "k1")
        .body(Body::from("x"))
        .unwrap();
    assert_eq!(client.send(keyed).unwrap().status(), 200);
    assert_eq!(server.requests(), 3);
}

#[test]
fn a_spent_budget_stops_retries() {
    let server = counting_server(|n| match n % 2 {
        0 => (503, vec![]),
        _ => (200, vec![]),
    });
    // One retry in reserve for the window, no share of requests.
    let budget = Arc::new(RetryBudget::new(0.0, 1, Duration::from_secs(1)));
    let layer = quick().budget(Arc::clone(&budget));
    let client = retrying_client(layer);
    assert_eq!(client.get(server.url("/")).send().unwrap().status(), 200);
    assert_eq!(budget.available(), 0);
    // The next 503 stands: the budget is spent.
    assert_eq!(client.get(server.url("/")).send().unwrap().status(), 503);
    assert_eq!(server.requests(), 3);
}

/// A fresh connection reset before any response byte: the engine does not retry (the
/// connection was not reused), the layer does (the GET is idempotent).
#[test]
fn a_broken_connection_is_retried_by_the_layer() {
    // Connection 0 is the plain client's, 1 the retrying client's first attempt.
    let server = TestServer::start(|conn| {
        if conn.index() < 2 {
            if conn.read_request().is_some() {
                conn.reset();
            }
            return;
        }
        conn.serve_keep_alive(b"third connection");
    });
    let plain = Client::new().unwrap();
    let err = plain.get(server.url("/")).send().unwrap_err();
    assert!(matches!(
        err.kind(),
        ErrorKind::ConnectionClosed | ErrorKind::Io
    ));
    let client = retrying_client(quick());
    let resp = client.get(server.url("/")).send().unwrap();
    assert_eq!(resp.text().unwrap(), "third connection");
    assert_eq!(server.connections(), 3);
}

// ---------------------------------------------------------------------------------------
// LogLayer
// ---------------------------------------------------------------------------------------

/// A `log` backend that keeps every record (installed once for this test binary).
struct Capture(Mutex<Vec<(log::Level, String, String)>>);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        self.0.lock().unwrap().push((
            record.level(),
            record.target().to_owned(),
            record.args().to_string(),
        ));
    }
    fn flush(&self) {}
}

fn captured() -> &'static Capture {
    static CAPTURE: OnceLock<&'static Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let capture: &'static Capture = Box::leak(Box::new(Capture(Mutex::new(Vec::new()))));
        log::set_logger(capture).unwrap();
        log::set_max_level(log::LevelFilter::Trace);
        capture
    })
}

/// The `wirepool::http` lines that mention `needle`.
fn http_lines(needle: &str) -> Vec<(log::Level, String)> {
    captured()
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, target, msg)| target == "wirepool::http" && msg.contains(needle))
        .map(|(level, _, msg)| (*level, msg.clone()))
        .collect()
}

#[test]
fn log_layer_writes_one_line_per_request() {
    captured();
    let server = TestServer::keep_alive(b"logged");
    let client = Client::builder()
        .middleware(LogLayer::new())
        .build()
        .unwrap();
    let url = server.url("/log");
    client.get(&url).send().unwrap().text().unwrap();
    client.get(&url).send().unwrap().text().unwrap();
    let refused = format!("http://{}/gone", testkit::free_port_refused());
    assert!(client.get(&refused).send().is_err());

    let lines = http_lines(&url);
    assert_eq!(lines.len(), 2, "{lines:?}");
    let first = format!("GET {url} 200 in ");
    assert_eq!(lines[0].0, log::Level::Info);
    assert!(lines[0].1.starts_with(&first), "{:?}", lines[0]);
    assert!(lines[0].1.ends_with(" conn#1 fresh"), "{:?}", lines[0]);
    assert!(
        lines[1].1.contains(" conn#1 reused (idle "),
        "{:?}",
        lines[1]
    );
    let failed = http_lines(&refused);
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].0, log::Level::Warn);
    assert!(
        failed[0]
            .1
            .starts_with(&format!("GET {refused} failed after ")),
        "{failed:?}"
    );
    assert!(failed[0].1.contains("connect failed"), "{failed:?}");
}

/// Layers compose: the log layer outside the retry layer logs once per send (the
/// retry's final answer), the retry layer logs each retry at debug level.
#[test]
fn log_outside_retry_logs_the_final_answer_once() {
    captured();
    let server = counting_server(|n| match n {
        0 => (503, vec![("Retry-After", "0")]),
        _ => (200, vec![]),
    });
    let client = Client::builder()
        .middleware(LogLayer::new())
        .middleware(quick())
        .build()
        .unwrap();
    let url = server.url("/composed");
    client.get(&url).send().unwrap().text().unwrap();
    let lines = http_lines(&url);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].1.starts_with(&format!("GET {url} 200 in ")));
    let retries: Vec<String> = captured()
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, target, msg)| target == "wirepool::retry" && msg.contains(&url))
        .map(|(_, _, msg)| msg.clone())
        .collect();
    assert_eq!(retries.len(), 1, "{retries:?}");
    assert!(retries[0].contains(": retry 1 in 0ns after status 503 (Retry-After 0ns)"));
}
