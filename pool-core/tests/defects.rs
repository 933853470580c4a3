//! Regression tests for defects found by running the pool under mixed faults and at
//! the edges of its settings (issue 9). Each test failed before its fix.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a broken step should fail loudly

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{get, Driver, Gate, WAIT};
use testkit::TestServer;
use wirepool::http::StatusCode;
use wirepool::{Config, Engine, ErrorKind};

/// A head longer than the first piece the slow server sends (no blank line in it).
fn long_head() -> Vec<u8> {
    let mut head = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n".to_vec();
    for i in 0..6 {
        head.extend_from_slice(format!("X-Padding-{i}: {}\r\n", "p".repeat(40)).as_bytes());
    }
    head.extend_from_slice(b"\r\nslow");
    head
}

/// Defect 1: the engine had one `ResponseParser` for every connection, and the parser
/// remembers how far it searched an unfinished head. One connection's head arriving in
/// pieces made another connection's complete head invisible (the search resumed past
/// its blank line): the complete response waited for `response_header_timeout`. Parse
/// state now belongs to the connection.
#[test]
fn a_trickled_head_on_one_connection_does_not_hide_complete_heads_on_others() {
    let head = long_head();
    let first_piece = 243;
    assert!(!head[..first_piece].windows(4).any(|w| w == b"\r\n\r\n"));
    let sent_first_piece = Arc::new(AtomicBool::new(false));
    let gate = Gate::new();
    let server = {
        let (sent, gate, head) = (Arc::clone(&sent_first_piece), gate.clone(), head.clone());
        TestServer::start(move |conn| {
            let Some(req) = conn.read_request() else {
                return;
            };
            if req.target == "/slow" {
                conn.write(&head[..first_piece]);
                sent.store(true, Ordering::SeqCst);
                if gate.pass(conn) {
                    conn.write(&head[first_piece..]);
                }
            } else {
                // Longer than the slow connection's first piece, so a search that
                // resumes at its offset skips this head's blank line.
                conn.respond(200, &[], &[b'f'; 300]);
            }
        })
    };
    let mut config = Config::default();
    config.response_header_timeout = Some(Duration::from_secs(3));
    let mut engine = Engine::new(config).unwrap();
    let mut driver = Driver::new();
    let slow = engine.submit(get(&server.url("/slow"))).unwrap();
    driver.run_until(&mut engine, "the slow head's first piece", |_, _| {
        sent_first_piece.load(Ordering::SeqCst)
    });
    // A few turns so the engine reads (and parses) the first piece.
    let settle = Instant::now() + Duration::from_millis(100);
    while Instant::now() < settle {
        driver.turn(&mut engine);
    }
    let fast: Vec<_> = (0..4)
        .map(|_| engine.submit(get(&server.url("/fast"))).unwrap())
        .collect();
    driver.run_all(&mut engine, &fast);
    for id in &fast {
        let reply = driver.outcome(*id).reply();
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.body, vec![b'f'; 300]);
    }
    assert!(driver.get(slow).is_none(), "the slow head is still held");
    gate.open(1);
    driver.run_all(&mut engine, &[slow]);
    assert_eq!(driver.outcome(slow).reply().body, b"slow");
    let _ = (WAIT, ErrorKind::Timeout);
}

/// A POST body large enough to fill every socket buffer between client and server.
fn big_post(url: &str) -> wirepool::http::Request<wirepool::Body> {
    wirepool::http::Request::post(url)
        .body(wirepool::Body::from(vec![b'u'; 64 << 20]))
        .unwrap()
}

/// Defect 5a (RFC 9112 §9.5): the server answers `413` after reading the head and
/// closes while the body is still being sent (with unread bytes, so the close is a
/// reset). The complete 413 is in the client's socket buffer: the caller gets it, not
/// `ConnectionClosed`.
#[test]
fn an_early_response_then_close_while_the_body_is_sent_is_delivered() {
    let server = TestServer::start(|conn| {
        if conn.read_head().is_ok() {
            conn.respond(413, &[("Connection", "close")], b"too large");
            conn.close();
        }
    });
    let client = wirepool::Client::new().unwrap();
    let mut resp = client
        .send(big_post(&server.url("/upload")))
        .expect("the early 413 is delivered");
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(resp.text().unwrap(), "too large");
}

/// Defect 5b: the same `413`, but the server neither reads the body nor closes. The
/// client used to wait out its whole timeout; it now reads while it writes, delivers
/// the response, stops sending and never pools the connection (the server cannot tell
/// where our unsent body would have ended).
#[test]
fn an_early_response_from_a_server_that_stops_reading_is_delivered_at_once() {
    let server = TestServer::start(|conn| {
        if conn.read_head().is_ok() {
            conn.respond(413, &[], b"too large");
            conn.stall(WAIT);
        }
    });
    let client = wirepool::Client::builder()
        .timeout(Some(Duration::from_secs(20)))
        .build()
        .unwrap();
    let mut resp = client
        .send(big_post(&server.url("/upload")))
        .expect("the early 413 is delivered");
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(resp.text().unwrap(), "too large");
    assert!(common::wait_until(WAIT, || {
        let closes = client.stats().unwrap().total.closes;
        closes.not_reusable == 1 && closes.not_reusable_by.early_response == 1
    }));
    assert_eq!(client.stats().unwrap().total.idle, 0, "never pooled");
}

/// Defect 5c: the server answers and resets at once. The write fails with a reset, and
/// the response that arrived before it is still read and delivered.
#[test]
fn a_response_that_arrived_before_a_reset_is_delivered_after_the_write_fails() {
    let server = TestServer::start(|conn| {
        if conn.read_head().is_ok() {
            conn.respond(413, &[("Connection", "close")], b"too large");
            conn.reset();
        }
    });
    let client = wirepool::Client::new().unwrap();
    for _ in 0..3 {
        let mut resp = client
            .send(big_post(&server.url("/upload")))
            .expect("the 413 sent before the reset is delivered");
        assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(resp.text().unwrap(), "too large");
    }
}

/// Defect 7a: a connection whose TLS handshake is running is still connecting; the
/// gauge counted it as active from the moment TCP was up.
#[test]
fn the_connecting_gauge_counts_tls_handshakes() {
    // A TCP server that never answers the ClientHello: the handshake stays pending.
    let server = TestServer::start(|conn| {
        conn.stall(WAIT);
    });
    let mut config = Config::default();
    config.tls = Some(
        wirepool::tls::TlsConfig::builder()
            .danger_accept_invalid_certs_for_testing_only()
            .build()
            .unwrap(),
    );
    let mut engine = Engine::new(config).unwrap();
    let mut driver = Driver::new();
    let url = format!("https://127.0.0.1:{}/", server.addr().port());
    let id = engine.submit(get(&url)).unwrap();
    driver.run_until(&mut engine, "the TCP connection", |_, _| {
        server.connections() == 1
    });
    // TCP is up and the ClientHello is out; give the engine turns to see it.
    let settle = Instant::now() + Duration::from_millis(100);
    while Instant::now() < settle {
        driver.turn(&mut engine);
    }
    let total = engine.stats().total;
    assert_eq!(
        (total.connecting, total.active),
        (1, 0),
        "handshaking is connecting"
    );
    engine.cancel(id);
    driver.turn(&mut engine);
    let total = engine.stats().total;
    assert_eq!((total.connecting, total.active, total.idle), (0, 0, 0));
}

/// Defect 7b/7c: two idle connections go stale (the server reset them) and three
/// requests arrive at once with `max_conns_per_host = 2`. The two that met a stale
/// connection are retried on fresh ones; one of those retries finds the host full and
/// waits. It was then handed a *used* connection by the waiter hand-off; a retry now
/// always gets a fresh one. And `reuses` counts exactly the exchanges that went out on
/// a used connection.
#[test]
fn a_retry_waiting_for_a_connection_never_gets_a_used_one() {
    let reset_now = Gate::new();
    let server = {
        let reset_now = reset_now.clone();
        TestServer::start(move |conn| {
            let index = conn.index();
            if index < 2 {
                // The first two connections serve one request each, then reset.
                if conn.read_request().is_some() {
                    conn.respond(200, &[], b"warm");
                    if reset_now.pass(conn) {
                        conn.reset();
                    }
                }
            } else {
                conn.serve_keep_alive(b"fresh");
            }
        })
    };
    let mut config = Config::default();
    config.max_conns_per_host = Some(2);
    let mut engine = Engine::new(config).unwrap();
    let mut driver = Driver::new();
    let warm: Vec<_> = (0..2)
        .map(|_| engine.submit(get(&server.url("/warm"))).unwrap())
        .collect();
    driver.run_all(&mut engine, &warm);
    assert_eq!(engine.stats().total.idle, 2);
    reset_now.open(2);
    assert!(server.wait_for_open_connections(0, WAIT));
    std::thread::sleep(Duration::from_millis(50)); // the resets reach our sockets
                                                   // No turn in between: the engine has not seen the resets and reuses both.
    let ids: Vec<_> = (0..3)
        .map(|_| engine.submit(get(&server.url("/again"))).unwrap())
        .collect();
    driver.run_all(&mut engine, &ids);
    let mut used = 0;
    for id in &ids {
        let reply = driver.outcome(*id).reply();
        assert_eq!(reply.body, b"fresh");
        used += u64::from(reply.info.reused);
        if reply.info.retries > 0 {
            assert!(
                !reply.info.reused,
                "{id}: a retry went out on a used connection"
            );
        }
    }
    let total = engine.stats().total;
    assert_eq!(total.retries, 2, "both stale reuses were retried");
    // The two stale attempts were reuses too; nothing else was.
    assert_eq!(total.reuses, 2 + used);
}

/// Defect 7d: `RequestInfo::conn_id` was the connection's slab index, given to the next
/// connection once the first closed. It now identifies a connection uniquely.
#[test]
fn conn_ids_are_never_reused() {
    let server = TestServer::start(|conn| {
        if conn.read_request().is_some() {
            conn.respond(200, &[("Connection", "close")], b"once");
        }
    });
    let mut engine = Engine::new(Config::default()).unwrap();
    let mut driver = Driver::new();
    let mut seen = Vec::new();
    for _ in 0..3 {
        let id = engine.submit(get(&server.url("/"))).unwrap();
        driver.run_all(&mut engine, &[id]);
        let info = driver.outcome(id).reply().info;
        assert!(!info.reused);
        assert!(!seen.contains(&info.conn_id), "{seen:?} {}", info.conn_id);
        seen.push(info.conn_id);
    }
}
