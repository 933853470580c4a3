//! What a slow reader really costs the Client: `body_buffer_limit` must bound the memory
//! held for a response, not just the payload bytes in it. A body of many tiny chunks is
//! the worst case: each piece the decoder hands out is one event, and if each became a
//! message of its own, the per-message overhead (an allocation and a queue slot, a few
//! hundred bytes) would dwarf the one byte of payload it carries.
//!
//! Memory is process-wide, so every test here holds `testkit::process_lock()`.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a broken step should fail loudly

mod common;

use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::WAIT;
use testkit::{pattern_byte, TestServer};
use wirepool::Client;

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

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
    kib * KIB
}

/// The wire bytes of a chunked body of `chunks` one-byte chunks (`1\r\nX\r\n`, the
/// byte of chunk `i` being `pattern_byte(i)`), then the last chunk.
fn one_byte_chunks(chunks: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(chunks * 6 + 5);
    for i in 0..chunks {
        out.extend_from_slice(b"1\r\n");
        out.push(pattern_byte(i as u64));
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// A server that answers `/warm` with a small body and anything else with `chunks`
/// one-byte chunks, written in 64 KiB pieces; `written` counts the wire bytes of the
/// chunked body written so far, so the test can see when the server is held back.
fn tiny_chunk_server(chunks: usize, written: Arc<AtomicUsize>) -> TestServer {
    let body = Arc::new(one_byte_chunks(chunks));
    TestServer::start(move |conn| {
        // The test stops reading for a while: let the writes wait for it.
        conn.set_io_timeout(WAIT * 3);
        while let Some(request) = conn.read_request() {
            if request.target == "/warm" {
                conn.respond(200, &[], b"warm");
                continue;
            }
            conn.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
            for piece in body.chunks(64 * KIB) {
                if conn.try_write(piece).is_err() {
                    return;
                }
                written.fetch_add(piece.len(), Ordering::SeqCst);
            }
        }
    })
}

/// Waits until `written` has not moved for `quiet` (the server is blocked by TCP flow
/// control, or done); gives up after `WAIT`.
fn wait_until_still(written: &AtomicUsize, quiet: Duration) {
    let deadline = Instant::now() + WAIT;
    let mut last = written.load(Ordering::SeqCst);
    let mut since = Instant::now();
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        let now = written.load(Ordering::SeqCst);
        if now != last {
            last = now;
            since = Instant::now();
        } else if since.elapsed() >= quiet {
            return;
        }
    }
}

/// 400 000 one-byte chunks to a reader that does not read for a while: the engine
/// stops at `body_buffer_limit` (256 KiB) of payload, and what it holds for those bytes
/// stays near that, not 256 Ki messages of tens of MiB. Then every byte arrives, in
/// order.
#[test]
fn tiny_chunks_for_a_paused_reader_hold_bounded_memory() {
    let _lock = testkit::process_lock();
    const CHUNKS: usize = 400_000;
    let written = Arc::new(AtomicUsize::new(0));
    let server = tiny_chunk_server(CHUNKS, Arc::clone(&written));
    let client = Client::builder()
        .body_buffer_limit(256 * KIB)
        .timeout(Some(Duration::from_secs(60)))
        .build()
        .unwrap();
    // Warm up: the engine thread's allocator arena, the connection's buffers.
    assert_eq!(
        client.get(&server.url("/warm")).unwrap().text().unwrap(),
        "warm"
    );
    let before = rss_bytes();
    let mut resp = client.get(&server.url("/tiny")).unwrap();
    assert_eq!(resp.status(), 200);
    // The reader pauses: the engine fills the budget, then stops reading the socket,
    // and the server stalls once the socket buffers are full (or finishes).
    wait_until_still(&written, Duration::from_millis(500));
    std::thread::sleep(Duration::from_millis(200));
    let after = rss_bytes();
    let growth = after.saturating_sub(before);
    assert!(
        growth < 16 * MIB,
        "RSS grew by {} MiB for a 256 KiB budget of one-byte chunks ({before} -> {after} \
         bytes; server wrote {} wire bytes)",
        growth / MIB,
        written.load(Ordering::SeqCst)
    );
    // Now read it all: every byte, in order.
    let mut buf = vec![0u8; 64 * KIB];
    let mut at = 0usize;
    loop {
        let n = resp.body_mut().read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        for (i, byte) in buf[..n].iter().enumerate() {
            assert_eq!(*byte, pattern_byte((at + i) as u64), "byte {}", at + i);
        }
        at += n;
    }
    assert_eq!(at, CHUNKS);
    // The connection went back to the pool: the next request reuses it.
    let mut again = client.get(&server.url("/warm")).unwrap();
    assert!(again.info().reused);
    assert_eq!(again.text().unwrap(), "warm");
}
