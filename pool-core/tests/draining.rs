//! Drain on drop: a response dropped with a small unread body is read to its end in the
//! background and its connection goes back to the pool; past `drain_limit` bytes or
//! `drain_timeout` the connection is closed instead.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a broken step should fail loudly

mod common;

use std::io::Read;
use std::time::Duration;

use common::{get, Driver, WAIT};
use testkit::{Script, TestServer};
use wirepool::{Client, Config, Engine, Event, Flow};

static SMALL: [u8; 10 * 1024] = [b's'; 10 * 1024];

#[test]
fn dropped_small_body_returns_the_connection() {
    let server = TestServer::keep_alive(&SMALL);
    let client = Client::new().unwrap();
    for i in 0..5 {
        let resp = client.get(&server.url("/")).unwrap();
        assert_eq!(resp.info().reused, i > 0, "request {i}");
        drop(resp); // not a byte read
    }
    let mut resp = client.get(&server.url("/")).unwrap();
    assert!(resp.info().reused);
    assert_eq!(resp.bytes().unwrap().len(), SMALL.len());
    assert_eq!(server.connections(), 1);
    let stats = client.stats().unwrap();
    assert_eq!((stats.total.dials, stats.total.reuses), (1, 5));
    assert_eq!(stats.total.closes.total(), 0);
}

/// The rest of the body is already in the socket when the response is dropped (the
/// engine paused for the slow reader): the next request, sent right after the drop,
/// finds the connection drained and reuses it.
#[test]
fn drop_then_send_at_once_reuses_a_drainable_connection() {
    static BODY: [u8; 48 * 1024] = [b'b'; 48 * 1024];
    let server = TestServer::keep_alive(&BODY);
    let client = Client::builder()
        .body_buffer_limit(8 * 1024)
        .build()
        .unwrap();
    for i in 0..20 {
        let mut resp = client.get(&server.url("/")).unwrap();
        assert_eq!(resp.info().reused, i > 0, "request {i}");
        let mut first = [0u8; 10];
        resp.body_mut().read_exact(&mut first).unwrap();
        drop(resp);
    }
    assert_eq!(server.connections(), 1);
}

#[test]
fn partly_read_body_is_drained_too() {
    let server = TestServer::keep_alive(&SMALL);
    let client = Client::new().unwrap();
    let mut resp = client.get(&server.url("/")).unwrap();
    let mut first = [0u8; 100];
    resp.body_mut().read_exact(&mut first).unwrap();
    assert_eq!(first, [b's'; 100]);
    drop(resp);
    let mut resp = client.get(&server.url("/")).unwrap();
    assert!(resp.info().reused);
    assert_eq!(resp.bytes().unwrap().len(), SMALL.len());
}

#[test]
fn dropped_chunked_body_is_drained() {
    let server = TestServer::start(|conn| {
        while conn.read_request().is_some() {
            conn.respond_chunked(200, &[&[b'c'; 3000], &[b'd'; 3000], b"end"]);
        }
    });
    let client = Client::new().unwrap();
    drop(client.get(&server.url("/")).unwrap());
    // The chunks after the first may still be on their way when the response is
    // dropped: the drain finishes when they arrive (a request sent meanwhile dials).
    assert!(common::wait_until(WAIT, || client
        .stats()
        .unwrap()
        .total
        .idle
        == 1));
    let mut resp = client.get(&server.url("/")).unwrap();
    assert!(resp.info().reused);
    assert_eq!(resp.bytes().unwrap().len(), 6003);
    assert_eq!(server.connections(), 1);
}

#[test]
fn dropped_body_over_the_drain_limit_closes_the_connection() {
    let server = TestServer::scripted(Script::PatternBody { len: 1 << 20 });
    let client = Client::new().unwrap(); // drain_limit: 64 KiB
    let resp = client.get(&server.url("/")).unwrap();
    drop(resp);
    assert!(common::wait_until(WAIT, || {
        client.stats().unwrap().total.closes.not_reusable == 1
    }));
    let resp = client.get(&server.url("/")).unwrap();
    assert!(!resp.info().reused);
    drop(resp);
    assert_eq!(server.connections(), 2);
    assert!(common::wait_until(WAIT, || {
        client.stats().unwrap().total.closes.not_reusable == 2
    }));
    assert_eq!(client.stats().unwrap().total.idle, 0);
}

/// A chunked body has no announced length: the drain stops, and closes, once it has
/// read more than the limit.
#[test]
fn dropped_chunked_body_over_the_limit_closes() {
    static CHUNK: [u8; 16 * 1024] = [b'x'; 16 * 1024];
    let server = TestServer::start(|conn| {
        while conn.read_request().is_some() {
            conn.respond_chunked(200, &[&CHUNK[..]; 16]); // 256 KiB
        }
    });
    // A small buffer for the reader, so the engine pauses (and the drop finds most of
    // the body still on the wire) instead of having read it all already.
    let client = Client::builder()
        .drain_limit(32 * 1024)
        .body_buffer_limit(8 * 1024)
        .build()
        .unwrap();
    drop(client.get(&server.url("/")).unwrap());
    let resp = client.get(&server.url("/")).unwrap();
    assert!(!resp.info().reused);
    drop(resp);
    assert!(common::wait_until(WAIT, || {
        client.stats().unwrap().total.closes.not_reusable == 2
    }));
}

/// With `drain_limit` 0 a body still on the wire when dropped closes its connection.
/// (Bytes the engine already handed to the reader's buffer are read: a body that fits
/// in `body_buffer_limit` has usually ended by the time the caller drops it.)
#[test]
fn drain_limit_zero_closes_every_unread_body() {
    let server = TestServer::scripted(Script::PatternBody { len: 200 * 1024 });
    let client = Client::builder()
        .drain_limit(0)
        .body_buffer_limit(4 * 1024)
        .build()
        .unwrap();
    drop(client.get(&server.url("/")).unwrap());
    let resp = client.get(&server.url("/")).unwrap();
    assert!(!resp.info().reused);
    assert_eq!(server.connections(), 2);
}

/// A dropped body that the engine had already read to its end (it fitted in the
/// reader's buffer) does not even need a drain.
#[test]
fn dropped_body_already_buffered_for_the_reader_is_reused() {
    let server = TestServer::keep_alive(&SMALL);
    let client = Client::builder().drain_limit(0).build().unwrap();
    let resp = client.get(&server.url("/")).unwrap();
    assert!(common::wait_until(WAIT, || client
        .stats()
        .unwrap()
        .total
        .idle
        == 1));
    drop(resp);
    assert!(client.get(&server.url("/")).unwrap().info().reused);
}

/// A body that trickles in slower than `drain_timeout` allows: closed, not waited for.
#[test]
fn drain_that_takes_too_long_closes_the_connection() {
    let server = TestServer::start(|conn| {
        while conn.read_request().is_some() {
            conn.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
            conn.trickle(&[b't'; 100], Duration::from_millis(20));
        }
    });
    let client = Client::builder()
        .drain_timeout(Duration::from_millis(150))
        .build()
        .unwrap();
    drop(client.get(&server.url("/")).unwrap());
    assert!(common::wait_until(WAIT, || {
        client.stats().unwrap().total.closes.not_reusable == 1
    }));
    assert_eq!(client.stats().unwrap().total.idle, 0);
    assert!(server.wait_for_open_connections(0, WAIT));
}

/// A body read to its end and then dropped is the ordinary case: reused.
#[test]
fn body_read_to_the_end_then_dropped_is_reused() {
    let server = TestServer::keep_alive(&SMALL);
    let client = Client::new().unwrap();
    let mut resp = client.get(&server.url("/")).unwrap();
    let mut body = Vec::new();
    resp.body_mut().read_to_end(&mut body).unwrap();
    assert!(resp.body_mut().final_info().is_some());
    drop(resp);
    assert!(client.get(&server.url("/")).unwrap().info().reused);
}

/// Engine mode: `discard` after the head drains in the background.
#[test]
fn engine_discard_drains_and_reuses() {
    let server = TestServer::keep_alive(&SMALL);
    let mut engine = Engine::new(Config::default()).unwrap();
    let id = engine.submit(get(&server.url("/"))).unwrap();
    let mut got_head = false;
    let deadline = std::time::Instant::now() + WAIT;
    while !got_head {
        assert!(std::time::Instant::now() < deadline, "no head");
        engine
            .poll(Some(Duration::from_millis(20)), |ev| {
                if let Event::Head { .. } = ev {
                    got_head = true;
                    return Flow::Pause;
                }
                Flow::Continue
            })
            .unwrap();
    }
    engine.discard(id);
    assert_eq!(engine.in_flight(), 0);
    let mut driver = Driver::new();
    driver.run_until(&mut engine, "the drain to finish", |_, e| {
        e.stats().total.idle == 1
    });
    let next = engine.submit(get(&server.url("/"))).unwrap();
    driver.run_all(&mut engine, &[next]);
    let reply = driver.outcome(next).reply();
    assert!(reply.info.reused);
    assert_eq!(reply.body.len(), SMALL.len());
    assert!(driver.get(id).is_none(), "no event after discard");
}

/// Dropping a response while the request is still waiting for a connection (engine:
/// `discard` before any head) behaves as a cancel and leaves the pool consistent.
#[test]
fn engine_discard_before_the_head_cancels() {
    let server = TestServer::scripted(Script::NeverAnswer);
    let mut engine = Engine::new(Config::default()).unwrap();
    let mut driver = Driver::new();
    let id = engine.submit(get(&server.url("/"))).unwrap();
    driver.run_until(&mut engine, "the request at the server", |_, _| {
        server.requests() == 1
    });
    engine.discard(id);
    driver.turn(&mut engine);
    let stats = engine.stats();
    assert_eq!((stats.total.active, stats.total.idle), (0, 0));
    assert_eq!(stats.total.closes.canceled, 1);
    assert!(server.wait_for_open_connections(0, WAIT));
}
