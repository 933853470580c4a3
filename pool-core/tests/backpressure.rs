//! Backpressure: a slow reader slows the socket, never memory. The Client stops the
//! engine reading a response once `body_buffer_limit` bytes wait for the reader; the
//! Engine does so when the caller answers `Flow::Pause`.
//!
//! Memory is process-wide, so every test here holds `testkit::process_lock()`.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a broken step should fail loudly

mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use common::{get, WAIT};
use testkit::{pattern, pattern_byte, Script, TestServer};
use wirepool::{Client, Config, Engine, Event, Flow};

const MIB: usize = 1024 * 1024;

/// This process's resident set size in bytes (`VmRSS` of `/proc/self/status`).
fn rss_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS in /proc/self/status");
    let kib: usize = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("VmRSS value");
    kib * 1024
}

/// Reads exactly `len` bytes, checking them against the pattern from `offset` (one
/// byte per read, which catches a misplaced or repeated chunk cheaply).
fn read_pattern(body: &mut impl Read, offset: u64, len: usize, buf: &mut [u8]) {
    let mut done = 0;
    while done < len {
        let want = buf.len().min(len - done);
        let n = body.read(&mut buf[..want]).unwrap();
        assert!(n > 0, "body ended early at {}", offset + done as u64);
        let at = offset + done as u64;
        assert_eq!(buf[0], pattern_byte(at), "byte {at}");
        assert_eq!(
            buf[n - 1],
            pattern_byte(at + n as u64 - 1),
            "byte {}",
            at + n as u64
        );
        done += n;
    }
}

/// A 1 GiB body read slowly: after 64 MiB the process has not grown by more than a
/// few buffers' worth, however far the server could have run ahead.
#[test]
fn slow_reader_of_a_huge_body_keeps_memory_flat() {
    let _lock = testkit::process_lock();
    let server = TestServer::scripted(Script::PatternBody { len: 1 << 30 });
    let client = Client::builder()
        .timeout(Some(Duration::from_secs(60)))
        .build()
        .unwrap();
    let mut resp = client.get(&server.url("/")).unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-length"].to_str().unwrap(),
        (1u64 << 30).to_string()
    );
    let mut buf = vec![0u8; 64 * 1024];
    let mut offset = 0u64;
    // Warm up: buffers, channel blocks and allocator arenas reach their working size.
    read_pattern(resp.body_mut(), offset, 4 * MIB, &mut buf);
    offset += 4 * MIB as u64;
    let before = rss_bytes();
    // Slowly: stop for a moment after every MiB. A client that buffered everything
    // the server can send would grow by the server's rate times the pauses.
    let started = Instant::now();
    for _ in 0..64 {
        read_pattern(resp.body_mut(), offset, MIB, &mut buf);
        offset += MIB as u64;
        std::thread::sleep(Duration::from_millis(5));
    }
    // A longer stop: the engine must be paused, not filling memory.
    std::thread::sleep(Duration::from_millis(300));
    let after = rss_bytes();
    let growth = after.saturating_sub(before);
    assert!(
        growth < 32 * MIB,
        "RSS grew by {} MiB while reading 64 MiB slowly ({before} -> {after} bytes)",
        growth / MIB
    );
    assert!(started.elapsed() < Duration::from_secs(60));
    // Dropping the rest (far over drain_limit) closes the connection.
    drop(resp);
    assert!(common::wait_until(WAIT, || {
        client.stats().unwrap().total.closes.not_reusable == 1
    }));
    assert!(server.wait_for_open_connections(0, WAIT));
}

/// Many pause/resume cycles with a budget of one byte: every byte arrives, in order,
/// and the connection is reusable afterwards.
#[test]
fn tiny_budget_delivers_every_byte_in_order() {
    let _lock = testkit::process_lock();
    const LEN: usize = 2 * MIB + 17;
    let server = TestServer::scripted(Script::PatternBody { len: LEN as u64 });
    let client = Client::builder().body_buffer_limit(1).build().unwrap();
    for i in 0..2 {
        let mut resp = client.get(&server.url("/")).unwrap();
        assert_eq!(resp.info().reused, i > 0);
        // Odd-sized reads so chunk and read boundaries never line up.
        let mut body = Vec::with_capacity(LEN);
        let mut buf = [0u8; 3001];
        loop {
            let n = resp.body_mut().read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            body.extend_from_slice(&buf[..n]);
        }
        assert_eq!(body.len(), LEN);
        assert!(body == pattern(0, LEN), "body differs from the pattern");
    }
    assert_eq!(server.connections(), 1);
}

/// A reader that reads nothing for a while, then everything: nothing lost, nothing
/// stuck (the resume after a long pause works).
#[test]
fn reader_stalls_then_reads_everything() {
    let _lock = testkit::process_lock();
    const LEN: usize = 4 * MIB;
    let server = TestServer::scripted(Script::PatternBody { len: LEN as u64 });
    let client = Client::builder()
        .body_buffer_limit(64 * 1024)
        .build()
        .unwrap();
    let mut resp = client.get(&server.url("/")).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let body = resp.bytes().unwrap();
    assert_eq!(body.len(), LEN);
    assert!(body == pattern(0, LEN));
    assert!(client.get(&server.url("/")).unwrap().info().reused);
}

/// Engine mode: after `Flow::Pause` no more data comes until `resume`.
#[test]
fn engine_pause_stops_data_until_resume() {
    let _lock = testkit::process_lock();
    const LEN: usize = MIB;
    let server = TestServer::scripted(Script::PatternBody { len: LEN as u64 });
    let mut engine = Engine::new(Config::default()).unwrap();
    let id = engine.submit(get(&server.url("/"))).unwrap();
    let mut body = Vec::new();
    let mut done = false;
    let mut pause_next = true;
    let deadline = Instant::now() + WAIT;
    let turn = |engine: &mut Engine, pause_next: &mut bool, body: &mut Vec<u8>| {
        let mut finished = false;
        engine
            .poll(Some(Duration::from_millis(10)), |ev| match ev {
                Event::Data { data, .. } => {
                    body.extend_from_slice(data);
                    if std::mem::take(pause_next) {
                        Flow::Pause
                    } else {
                        Flow::Continue
                    }
                }
                Event::Done { .. } => {
                    finished = true;
                    Flow::Continue
                }
                Event::Failed { error, .. } => panic!("{error:?}"),
                Event::Head { .. } => Flow::Continue,
            })
            .unwrap();
        finished
    };
    // Until the first data (and the pause it answers).
    while body.is_empty() {
        assert!(Instant::now() < deadline, "no data");
        done = turn(&mut engine, &mut pause_next, &mut body);
    }
    assert!(!done);
    let at_pause = body.len();
    for _ in 0..10 {
        assert!(!turn(&mut engine, &mut pause_next, &mut body));
    }
    assert_eq!(body.len(), at_pause, "data arrived while paused");
    engine.resume(id);
    while !done {
        assert!(
            Instant::now() < deadline,
            "body did not finish after resume"
        );
        done = turn(&mut engine, &mut pause_next, &mut body);
    }
    assert_eq!(body.len(), LEN);
    assert!(body == pattern(0, LEN));
    assert_eq!(engine.stats().total.idle, 1);
}
