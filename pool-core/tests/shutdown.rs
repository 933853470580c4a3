//! Shutdown with requests in flight: `Client::shutdown` fails readers with `PoolClosed`
//! (never a hang), joins the engine thread and closes every socket; `Engine::shutdown`
//! does the same for an engine driven by hand. (Dropping the last Client handle does not
//! stop an engine that still has a body to deliver: see `client_lifecycle.rs`.)
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a broken step should fail loudly

mod common;

use std::io::Read;
use std::sync::mpsc;
use std::time::Duration;

use common::{get, kind_of, Driver, WAIT};
use testkit::{Script, TestServer};
use wirepool::{Client, Config, Engine, ErrorKind, Event, Flow};

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

/// Runs `f` on a thread and waits for it at most `WAIT`: a hang fails the test.
fn within_wait<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(WAIT)
        .unwrap_or_else(|_| panic!("{what} did not finish within {WAIT:?}"))
}

#[test]
fn shutdown_fails_a_blocked_reader_with_pool_closed() {
    let server = stalled_body_server();
    let client = Client::builder().timeout(None).build().unwrap();
    let resp = client.get(&server.url("/")).unwrap();
    let (_head, mut body) = resp.into_parts();
    let (started_tx, started_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = [0u8; 64];
        let result = loop {
            match body.read(&mut buf) {
                Ok(0) => break Ok(got),
                Ok(n) => {
                    got.extend_from_slice(&buf[..n]);
                    if got.len() == 10 {
                        let _ = started_tx.send(());
                    }
                }
                Err(e) => break Err((got, e)),
            }
        };
        let _ = done_tx.send(result);
    });
    // The reader has the first bytes and now blocks for more.
    started_rx
        .recv_timeout(WAIT)
        .expect("reader got the first bytes");
    std::thread::sleep(Duration::from_millis(50));
    // The hard stop: it joins the engine thread.
    within_wait("shutting the client down", move || client.shutdown());
    let (got, err) = done_rx
        .recv_timeout(WAIT)
        .expect("the reader was woken")
        .expect_err("the body cannot complete");
    assert_eq!(got, b"0123456789");
    assert_eq!(kind_of(&err), Some(ErrorKind::PoolClosed), "{err:?}");
    assert!(server.wait_for_open_connections(0, WAIT));
}

/// The reader is not blocked when the client stops; its next read reports the shutdown
/// after the bytes that had already arrived.
#[test]
fn reading_after_a_shutdown_reports_pool_closed() {
    let server = TestServer::scripted(Script::PatternBody { len: 1 << 30 });
    let client = Client::new().unwrap();
    let mut resp = client.get(&server.url("/")).unwrap();
    let mut first = vec![0u8; 1000];
    resp.body_mut().read_exact(&mut first).unwrap();
    within_wait("shutting the client down", move || client.shutdown());
    let err = resp.bytes().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PoolClosed, "{err:?}");
    assert!(server.wait_for_open_connections(0, WAIT));
    drop(resp); // a Discard to a stopped engine is harmless
}

/// A body that had fully arrived before the shutdown is still readable in full.
#[test]
fn a_complete_body_survives_the_client() {
    let server = TestServer::keep_alive(b"complete");
    let client = Client::new().unwrap();
    let mut resp = client.get(&server.url("/")).unwrap();
    assert!(common::wait_until(WAIT, || client
        .stats()
        .unwrap()
        .total
        .idle
        == 1));
    client.shutdown();
    assert_eq!(resp.text().unwrap(), "complete");
    assert!(server.wait_for_open_connections(0, WAIT));
}

/// A caller blocked in `send` holds a handle: dropping every other handle does not
/// stop the engine under it (only the last handle does), and its answer still comes.
#[test]
fn a_blocked_caller_keeps_the_engine_alive() {
    let gate = common::Gate::new();
    let server = common::gated_server(&gate, b"late");
    let client = Client::new().unwrap();
    let other = client.clone();
    let url = server.url("/");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(other.get(&url).and_then(|mut r| r.text()));
    });
    assert!(server.wait_for_requests(1, WAIT));
    within_wait("dropping a non-last handle", move || drop(client));
    gate.open_all();
    let text = rx.recv_timeout(WAIT).expect("the caller was answered");
    assert_eq!(text.unwrap(), "late");
}

/// Dropping one clone leaves the others working.
#[test]
fn dropping_a_clone_keeps_the_engine() {
    let server = TestServer::keep_alive(b"alive");
    let client = Client::new().unwrap();
    let clone = client.clone();
    assert_eq!(
        clone.get(&server.url("/")).unwrap().text().unwrap(),
        "alive"
    );
    drop(clone);
    let mut resp = client.get(&server.url("/")).unwrap();
    assert!(resp.info().reused);
    assert_eq!(resp.text().unwrap(), "alive");
}

/// `Engine::shutdown` fails every request (in flight and waiting) with `PoolClosed`
/// and closes every connection.
#[test]
fn engine_shutdown_fails_everything_and_closes_sockets() {
    let server = TestServer::scripted(Script::NeverAnswer);
    let idle_server = TestServer::keep_alive(b"idle");
    let mut config = Config::default();
    config.max_conns_per_host = Some(2);
    let mut engine = Engine::new(config).unwrap();
    let mut driver = Driver::new();
    let warm = engine.submit(get(&idle_server.url("/"))).unwrap();
    driver.run_all(&mut engine, &[warm]);
    let ids: Vec<_> = (0..4)
        .map(|_| engine.submit(get(&server.url("/"))).unwrap())
        .collect();
    driver.run_until(&mut engine, "two requests at the server", |_, _| {
        server.requests() == 2
    });
    let stats = engine.stats();
    assert_eq!(
        (stats.total.active, stats.total.waiting, stats.total.idle),
        (2, 2, 1)
    );
    let mut failed = Vec::new();
    engine.shutdown(|ev| {
        match ev {
            Event::Failed { id, error } => {
                assert_eq!(error.kind(), ErrorKind::PoolClosed);
                failed.push(id);
            }
            other => panic!("unexpected {other:?}"),
        }
        Flow::Continue
    });
    failed.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(failed, expected);
    assert_eq!(engine.in_flight(), 0);
    let stats = engine.stats();
    assert_eq!(
        (stats.total.active, stats.total.waiting, stats.total.idle),
        (0, 0, 0)
    );
    assert_eq!(stats.total.closes.shutdown, 3);
    assert!(server.wait_for_open_connections(0, WAIT));
    assert!(idle_server.wait_for_open_connections(0, WAIT));
    // Polling a shut-down engine reports nothing.
    driver.turn(&mut engine);
    assert!(ids.iter().all(|id| driver.get(*id).is_none()));
}
