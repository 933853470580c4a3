//! The Client's lifecycle: who keeps the engine thread alive, how it stops, and what
//! every caller hears when it stops or dies.
//!
//! - A `Response` keeps its engine alive until its body is read or dropped, so a helper
//!   that builds a client, sends and returns the response works for any body size.
//! - `Client::shutdown` is the hard stop: in-flight requests and bodies fail with
//!   `PoolClosed`, the thread is joined; calling it again does nothing.
//! - Every caller gets an answer in bounded time whatever happens to the engine thread:
//!   a send racing a shutdown, or an engine thread that panics.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a broken step should fail loudly

mod common;

use std::io::Read;
use std::sync::mpsc;
use std::time::Duration;

use common::{kind_of, Gate, WAIT};
use testkit::{pattern_byte, Script, TestServer};
use wirepool::{Client, Error, ErrorKind, Response};

const MIB: usize = 1024 * 1024;

/// Runs `f` on a thread and waits for it at most `WAIT`: a hang fails the test.
fn within_wait<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(WAIT)
        .unwrap_or_else(|_| panic!("{what} did not finish within {WAIT:?}"))
}

/// Reads `body` to its end, checking every byte against the pattern from `offset`;
/// returns where it ended.
fn read_checking_pattern(body: &mut impl Read, offset: usize) -> std::io::Result<usize> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut at = offset;
    loop {
        let n = body.read(&mut buf)?;
        if n == 0 {
            return Ok(at);
        }
        for (i, byte) in buf[..n].iter().enumerate() {
            assert_eq!(*byte, pattern_byte((at + i) as u64), "byte {}", at + i);
        }
        at += n;
    }
}

/// The helper everyone writes: a client of its own, one request, the response handed
/// back. The client is gone when it returns.
fn fetch(url: &str) -> Response {
    let client = Client::new().unwrap();
    client.get(url).unwrap()
}

/// A response outlives its client: the 8 MiB body (far more than the buffer budget, so
/// most of it is still on the wire when the client goes) is read in full.
#[test]
fn a_response_keeps_its_engine_alive() {
    const LEN: usize = 8 * MIB;
    let server = TestServer::scripted(Script::PatternBody { len: LEN as u64 });
    let url = server.url("/big");
    let read = within_wait("reading the body", move || {
        let mut resp = fetch(&url);
        assert_eq!(resp.status(), 200);
        read_checking_pattern(resp.body_mut(), 0).map_err(|e| format!("{e:?} {:?}", kind_of(&e)))
    });
    assert_eq!(read, Ok(LEN));
    // The last owner (the body) is gone: the engine stopped and closed its sockets.
    assert!(server.wait_for_open_connections(0, WAIT));
}

/// The last owner of the engine may be a body dropped unread: the engine then stops and
/// closes its sockets (nothing is left running in the background).
#[test]
fn the_last_body_dropped_stops_the_engine() {
    let server = TestServer::scripted(Script::PatternBody { len: 1 << 30 });
    let mut resp = fetch(&server.url("/"));
    let mut first = vec![0u8; 1000];
    resp.body_mut().read_exact(&mut first).unwrap();
    assert_eq!(first[999], pattern_byte(999));
    within_wait("dropping the last body", move || drop(resp));
    assert!(server.wait_for_open_connections(0, WAIT));
}

/// A body read to its end releases the engine at once: a finished response kept
/// around does not keep the pool (and its idle connection) alive.
#[test]
fn a_finished_body_releases_the_engine() {
    let server = TestServer::keep_alive(b"done");
    let mut resp = fetch(&server.url("/"));
    assert_eq!(resp.text().unwrap(), "done");
    assert!(server.wait_for_open_connections(0, WAIT));
    assert!(resp.body_mut().final_info().is_some());
    drop(resp);
}

/// `shutdown` is the hard stop: a body still arriving fails with `PoolClosed` after the
/// bytes already delivered, every handle's later sends fail the same way, and calling
/// it again (from any handle) returns at once.
#[test]
fn shutdown_fails_an_in_flight_body_and_is_idempotent() {
    let server = TestServer::scripted(Script::PatternBody { len: 1 << 30 });
    let client = Client::new().unwrap();
    let other = client.clone();
    let mut resp = client.get(&server.url("/")).unwrap();
    let mut first = vec![0u8; 1000];
    resp.body_mut().read_exact(&mut first).unwrap();
    let stopper = client.clone();
    within_wait("shutting down", move || stopper.shutdown());
    let err = read_checking_pattern(resp.body_mut(), 1000).unwrap_err();
    assert_eq!(kind_of(&err), Some(ErrorKind::PoolClosed), "{err:?}");
    assert!(server.wait_for_open_connections(0, WAIT));
    // Again, from another handle, and from the first: nothing left to do.
    within_wait("shutting down again", move || {
        other.shutdown();
        other.shutdown();
    });
    client.shutdown();
    let err = client.get(&server.url("/")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PoolClosed, "{err:?}");
    drop(resp); // a Discard to a stopped engine is harmless
    assert_eq!(server.connections(), 1);
}

/// Sends `GET url` on a thread of its own; the receiver gets the body or the error.
fn spawn_get(client: &Client, url: String) -> mpsc::Receiver<Result<String, Error>> {
    let client = client.clone();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(client.get(&url).and_then(|mut r| r.text()));
    });
    rx
}

/// A server that sends a head announcing 1000 bytes, 10 of them, then nothing until
/// the client closes.
fn stalled_body_server() -> TestServer {
    TestServer::start(|conn| {
        if conn.read_request().is_some() {
            conn.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789");
            conn.wait_for_client_close();
        }
    })
}

/// Requests sent while the engine stops (queued in the channel behind the shutdown, or
/// sent as it goes) are answered with `PoolClosed`, never left waiting. Many rounds,
/// each with senders hammering the client while it shuts down.
#[test]
fn a_send_racing_a_shutdown_never_hangs() {
    const ROUNDS: u64 = 40;
    const SENDERS: usize = 4;
    let server = TestServer::keep_alive(b"ok");
    for round in 0..ROUNDS {
        let client = Client::new().unwrap();
        let (tx, rx) = mpsc::channel();
        for _ in 0..SENDERS {
            let client = client.clone();
            let url = server.url("/");
            let tx = tx.clone();
            std::thread::spawn(move || {
                let kind = loop {
                    if let Err(e) = client.get(&url).and_then(|mut r| r.text()) {
                        break e.kind();
                    }
                };
                let _ = tx.send(kind);
            });
        }
        drop(tx);
        std::thread::sleep(Duration::from_millis(1 + round % 7));
        let stopper = client.clone();
        within_wait("shutting down", move || stopper.shutdown());
        for _ in 0..SENDERS {
            let kind = rx.recv_timeout(WAIT).unwrap_or_else(|_| {
                panic!("round {round}: a sender racing the shutdown was left waiting")
            });
            assert_eq!(kind, ErrorKind::PoolClosed, "round {round}");
        }
        assert_eq!(client.stats().unwrap_err().kind(), ErrorKind::PoolClosed);
    }
}

/// The engine thread panics with callers waiting for heads, a reader waiting for body
/// bytes and requests still queued for it: every one of them gets `EngineFailed`
/// promptly, and so does every later call; the sockets are closed.
#[test]
fn an_engine_panic_fails_every_caller_and_reader_promptly() {
    let gate = Gate::new();
    let waiting = common::gated_server(&gate, b"never");
    let stalled = stalled_body_server();
    let client = Client::builder().timeout(None).build().unwrap();
    // A body being read: its first bytes arrive, then the reader blocks for the rest.
    let (_head, mut body) = client.get(&stalled.url("/")).unwrap().into_parts();
    let (started_tx, started_rx) = mpsc::channel();
    let (read_tx, read_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut first = [0u8; 10];
        let _ = started_tx.send(body.read_exact(&mut first).map(|()| first));
        let mut rest = Vec::new();
        let _ = read_tx.send(body.read_to_end(&mut rest).map_err(|e| kind_of(&e)));
    });
    let first = started_rx.recv_timeout(WAIT).expect("the first bytes");
    assert_eq!(&first.unwrap(), b"0123456789");
    // Callers waiting for a head: their requests are at the server, which holds them.
    let in_flight: Vec<_> = (0..3)
        .map(|_| spawn_get(&client, waiting.url("/held")))
        .collect();
    assert!(waiting.wait_for_requests(3, WAIT));
    // The engine sleeps, then panics; requests sent meanwhile queue up behind the panic.
    client.__panic_engine_for_tests(Duration::from_millis(300));
    let queued: Vec<_> = (0..3)
        .map(|_| spawn_get(&client, waiting.url("/queued")))
        .collect();
    for (i, rx) in in_flight.iter().chain(&queued).enumerate() {
        let result = rx
            .recv_timeout(WAIT)
            .unwrap_or_else(|_| panic!("caller {i} was left waiting"));
        let err = result.expect_err("the engine died");
        assert_eq!(err.kind(), ErrorKind::EngineFailed, "caller {i}: {err:?}");
    }
    let read = read_rx.recv_timeout(WAIT).expect("the reader was woken");
    assert_eq!(read, Err(Some(ErrorKind::EngineFailed)));
    // Every later call says so too, at once.
    let err = client.stats().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::EngineFailed, "{err:?}");
    assert_eq!(err.culprit(), wirepool::Culprit::Internal);
    let err = client.get(&stalled.url("/")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::EngineFailed, "{err:?}");
    within_wait("shutting a dead engine down", move || client.shutdown());
    assert!(stalled.wait_for_open_connections(0, WAIT));
    assert_eq!(waiting.requests(), 3, "a queued request reached the server");
    gate.open_all();
}
