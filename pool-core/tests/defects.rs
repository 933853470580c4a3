//! Regression tests for defects found by running the pool under mixed faults and at
//! the edges of its settings (issue 9). Each test failed before its fix.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a broken step should fail loudly

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{get, Driver, Gate, WAIT};
use pool_core::http::StatusCode;
use pool_core::{Config, Engine, ErrorKind};
use testkit::TestServer;

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
