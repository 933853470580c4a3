//! Streamed request bodies: chunked and sized uploads from readers, backpressure from a
//! slow server, early responses and `Expect: 100-continue`, the resend rule (only a body
//! that can start again is resent), readers that fail or end early, a reader that
//! blocks without blocking anyone else, and the Engine's pull-based `BodySource`.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a broken step should fail loudly

mod common;

use std::collections::VecDeque;
use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{wait_until, Driver, Gate, WAIT};
use testkit::tls::{ServerSetup, TestPki, TlsTestServer};
use testkit::{pattern, pattern_byte, Script, TestServer};
use wirepool::http::{Method, Request};
use wirepool::{Body, BodySource, Bytes, Client, Config, Engine, ErrorKind, Pull};

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

/// `len` bytes of the test pattern, counting in `read` how far the client has read.
struct PatternReader {
    pos: u64,
    len: u64,
    read: Arc<AtomicU64>,
}

impl PatternReader {
    fn new(len: usize) -> (PatternReader, Arc<AtomicU64>) {
        let read = Arc::new(AtomicU64::new(0));
        let reader = PatternReader {
            pos: 0,
            len: len as u64,
            read: Arc::clone(&read),
        };
        (reader, read)
    }
}

impl Read for PatternReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min((self.len - self.pos) as usize);
        for (i, b) in buf[..n].iter_mut().enumerate() {
            *b = pattern_byte(self.pos + i as u64);
        }
        self.pos += n as u64;
        self.read.store(self.pos, Ordering::SeqCst);
        Ok(n)
    }
}

/// Whether `body` is the first `body.len()` bytes of the pattern.
fn is_pattern(body: &[u8]) -> bool {
    body.iter()
        .enumerate()
        .all(|(i, &b)| b == pattern_byte(i as u64))
}

/// A server that reads each request whole and answers with the body's length, after
/// checking it is the pattern ("bad" otherwise).
fn length_echo() -> TestServer {
    TestServer::start(|conn| {
        while let Some(req) = conn.read_request() {
            let answer = if is_pattern(&req.body) {
                req.body.len().to_string()
            } else {
                "bad".to_owned()
            };
            conn.respond(200, &[], answer.as_bytes());
        }
    })
}

/// Waits until `counter` stops moving (unchanged over 300 ms), within `WAIT`; returns
/// where it stopped.
fn settles(counter: &AtomicU64) -> u64 {
    let mut last = counter.load(Ordering::SeqCst);
    let mut still_since = Instant::now();
    assert!(
        wait_until(WAIT, || {
            let now = counter.load(Ordering::SeqCst);
            if now != last {
                last = now;
                still_since = Instant::now();
            }
            still_since.elapsed() >= Duration::from_millis(300)
        }),
        "the reader never stopped"
    );
    last
}

#[test]
fn a_reader_of_unknown_length_goes_out_chunked_and_whole() {
    let server = length_echo();
    let client = Client::new().unwrap();
    let (reader, read) = PatternReader::new(3 * MIB + 7);
    let resp = client
        .put(server.url("/up"))
        .body(Body::from_reader(reader))
        .send()
        .unwrap();
    assert_eq!(resp.text().unwrap(), (3 * MIB + 7).to_string());
    assert_eq!(read.load(Ordering::SeqCst), (3 * MIB + 7) as u64);
    let req = &server.recorded()[0];
    assert_eq!(req.header("transfer-encoding"), Some("chunked"));
    assert_eq!(req.header("content-length"), None);
}

#[test]
fn a_sized_reader_goes_out_with_content_length() {
    let server = length_echo();
    let client = Client::new().unwrap();
    let (reader, _) = PatternReader::new(MIB + 3);
    let resp = client
        .post(server.url("/up"))
        .body(Body::sized_reader(reader, (MIB + 3) as u64))
        .send()
        .unwrap();
    assert_eq!(resp.text().unwrap(), (MIB + 3).to_string());
    let req = &server.recorded()[0];
    assert_eq!(req.header("content-length"), Some("1048579"));
    assert_eq!(req.header("transfer-encoding"), None);
    // The connection is reusable after a streamed request.
    let again = client.get(server.url("/")).send().unwrap();
    assert!(again.info().reused);
}

/// A server that reads nothing of the body holds the caller's reader back: what it read
/// ahead is bounded by the upload queue and the sockets' buffers, not by the body.
/// When the server reads, the whole body arrives.
#[test]
fn a_slow_server_holds_the_reader_back() {
    const LEN: usize = 48 * MIB;
    let gate = Gate::new();
    let server = {
        let gate = gate.clone();
        TestServer::start(move |conn| {
            conn.set_io_timeout(WAIT * 3);
            let Ok(head) = conn.read_head() else { return };
            if !gate.pass(conn) {
                return;
            }
            let Ok(req) = conn.read_body(head) else {
                return;
            };
            let ok = req.body.len() == LEN && is_pattern(&req.body);
            conn.respond(200, &[], if ok { b"whole" } else { b"bad" });
        })
    };
    let client = Client::new().unwrap();
    let (reader, read) = PatternReader::new(LEN);
    let upload = std::thread::spawn(move || {
        client
            .put(server.url("/big"))
            .timeout(WAIT * 3)
            .body(Body::from_reader(reader))
            .send()
            .and_then(|r| r.text())
    });
    let held = settles(&read);
    // 256 KiB of queue, two 64 KiB pieces, and the kernel's socket buffers (a few MiB
    // on loopback): far below the body.
    assert!(
        held < 16 * MIB as u64,
        "read {held} bytes ahead of a server reading nothing"
    );
    assert!(held > 0, "the upload never started");
    gate.open_all();
    assert_eq!(upload.join().unwrap().unwrap(), "whole");
    assert_eq!(read.load(Ordering::SeqCst), LEN as u64);
}

#[test]
fn a_sized_reader_that_ends_early_fails_with_request_body() {
    let server = TestServer::start(|conn| {
        let _ = conn.wait_for_client_close();
    });
    let client = Client::new().unwrap();
    let (reader, _) = PatternReader::new(1000);
    let err = client
        .post(server.url("/"))
        .body(Body::sized_reader(reader, 5000))
        .send()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RequestBody, "{err:?}");
    let why = std::error::Error::source(&err).unwrap().to_string();
    assert!(why.contains("1000 of its declared 5000"), "{why}");
    // The server cannot know where the request ended: the connection is closed.
    assert!(server.wait_for_open_connections(0, WAIT));
}

/// A reader that gives `good` bytes and then fails.
struct Failing {
    good: usize,
}

impl Read for Failing {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.good == 0 {
            return Err(io::Error::other("disk on fire"));
        }
        let n = buf.len().min(self.good);
        buf[..n].fill(b'x');
        self.good -= n;
        Ok(n)
    }
}

#[test]
fn a_reader_error_fails_the_request_with_it_as_the_source() {
    let server = TestServer::start(|conn| {
        let _ = conn.wait_for_client_close();
    });
    let client = Client::new().unwrap();
    let err = client
        .post(server.url("/"))
        .body(Body::from_reader(Failing { good: 100 * KIB }))
        .send()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RequestBody);
    assert_eq!(
        std::error::Error::source(&err).unwrap().to_string(),
        "disk on fire"
    );
    assert!(server.wait_for_open_connections(0, WAIT));
    assert_eq!(client.stats().unwrap().total.idle, 0);
}

/// The server answers `413` after the head, without reading the body: the response is
/// delivered, the rest of the body is never read from the caller's reader, and the
/// connection is not reused.
#[test]
fn an_early_response_stops_the_upload() {
    const LEN: usize = 64 * MIB;
    let server = TestServer::start(|conn| {
        let Ok(_head) = conn.read_head() else { return };
        conn.respond(413, &[], b"too large");
        let _ = conn.wait_for_client_close();
    });
    let client = Client::new().unwrap();
    let (reader, read) = PatternReader::new(LEN);
    let resp = client
        .put(server.url("/"))
        .body(Body::sized_reader(reader, LEN as u64))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 413);
    assert_eq!(resp.text().unwrap(), "too large");
    let stopped_at = read.load(Ordering::SeqCst);
    assert!(stopped_at < 32 * MIB as u64, "read {stopped_at} of {LEN}");
    assert!(server.wait_for_open_connections(0, WAIT), "not pooled");
    let stats = client.stats().unwrap();
    assert_eq!(stats.total.idle, 0);
}

#[test]
fn expect_continue_streams_the_body_after_100() {
    let server = TestServer::scripted(Script::ExpectContinue);
    let client = Client::new().unwrap();
    let (reader, _) = PatternReader::new(200 * KIB);
    let resp = client
        .put(server.url("/"))
        .header("expect", "100-continue")
        .body(Body::from_reader(reader))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body = resp.bytes().unwrap();
    assert_eq!(body.len(), 200 * KIB);
    assert!(is_pattern(&body));
}

/// `417` instead of `100 Continue`: the body is never sent; at most the upload queue's
/// worth was read from the reader.
#[test]
fn a_refused_expectation_never_sends_the_streamed_body() {
    let server = TestServer::scripted(Script::RejectExpectation);
    let client = Client::new().unwrap();
    let (reader, read) = PatternReader::new(64 * MIB);
    let resp = client
        .put(server.url("/"))
        .header("expect", "100-continue")
        .body(Body::from_reader(reader))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 417);
    let limit = Config::default().body_buffer_limit as u64;
    assert!(read.load(Ordering::SeqCst) <= limit + 64 * KIB as u64);
}

/// A `PUT` whose body comes from a factory meets a stale reused connection: the body is
/// opened again and the request resent on a fresh connection, whole.
#[test]
fn a_stale_connection_resends_a_body_that_can_start_again() {
    let server = TestServer::start(|conn| match conn.index() {
        0 => Script::StaleOnReuse(b"warm").run(conn),
        _ => {
            while let Some(req) = conn.read_request() {
                let ok = is_pattern(&req.body) && req.body.len() == 300 * KIB;
                conn.respond(200, &[], if ok { b"whole" } else { b"bad" });
            }
        }
    });
    let client = Client::new().unwrap();
    assert_eq!(
        client.get(server.url("/")).send().unwrap().text().unwrap(),
        "warm"
    );
    let opened = Arc::new(AtomicUsize::new(0));
    let body = {
        let opened = Arc::clone(&opened);
        Body::from_factory(Some(300 * KIB as u64), move || {
            opened.fetch_add(1, Ordering::SeqCst);
            Ok(PatternReader::new(300 * KIB).0)
        })
    };
    let resp = client.put(server.url("/f")).body(body).send().unwrap();
    let info = *resp.info();
    assert_eq!(resp.text().unwrap(), "whole");
    assert_eq!(info.retries, 1);
    assert_eq!(
        opened.load(Ordering::SeqCst),
        2,
        "opened again for the resend"
    );
}

/// The same with a reader that can be read only once: the stale-connection error is
/// returned, and nothing is resent.
#[test]
fn a_stale_connection_never_resends_a_one_shot_body() {
    let server = TestServer::start(|conn| match conn.index() {
        0 => Script::StaleOnReuse(b"warm").run(conn),
        _ => conn.serve_keep_alive(b"second connection"),
    });
    let client = Client::new().unwrap();
    assert_eq!(
        client.get(server.url("/")).send().unwrap().text().unwrap(),
        "warm"
    );
    let (reader, _) = PatternReader::new(300 * KIB);
    let err = client
        .put(server.url("/once"))
        .body(Body::from_reader(reader))
        .send()
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::ConnectionClosed | ErrorKind::Io),
        "{err:?}"
    );
    assert_eq!(
        server.connections(),
        1,
        "no second connection: nothing resent"
    );
    assert_eq!(client.stats().unwrap().total.retries, 0);
}

/// A reader that blocks until the test releases it, then gives `after`.
struct Blocked {
    release: std::sync::mpsc::Receiver<Vec<u8>>,
}

impl Read for Blocked {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.release.recv_timeout(WAIT) {
            Ok(bytes) => {
                let n = bytes.len().min(buf.len());
                buf[..n].copy_from_slice(&bytes[..n]);
                Ok(n)
            }
            Err(_) => Ok(0), // the sender is gone: end of body
        }
    }
}

/// The engine thread never calls `Read`: while one caller's reader blocks, other
/// requests on the same client (and its engine thread) go on.
#[test]
fn a_blocking_reader_does_not_block_other_requests() {
    let server = length_echo();
    let other = TestServer::keep_alive(b"not blocked");
    let client = Client::new().unwrap();
    let (release, rx) = std::sync::mpsc::channel();
    let upload = {
        let client = client.clone();
        let url = server.url("/slow");
        std::thread::spawn(move || {
            client
                .post(url)
                .body(Body::from_reader(Blocked { release: rx }))
                .send()
                .and_then(|r| r.text())
        })
    };
    assert!(server.wait_for_connections(1, WAIT));
    for _ in 0..3 {
        let resp = client.get(other.url("/")).send().unwrap();
        assert_eq!(resp.text().unwrap(), "not blocked");
    }
    release.send(pattern(0, 10)).unwrap();
    drop(release);
    assert_eq!(upload.join().unwrap().unwrap(), "10");
}

#[test]
fn a_streamed_upload_over_tls_arrives_whole() {
    let pki = TestPki::new();
    let server = TlsTestServer::start(ServerSetup::localhost(&pki), |conn| {
        while let Some(req) = conn.read_request() {
            let ok = is_pattern(&req.body) && req.body.len() == 2 * MIB + 1;
            conn.respond(200, &[], if ok { b"whole" } else { b"bad" });
        }
    });
    let tls = wirepool::tls::TlsConfig::builder()
        .trust_roots(wirepool::tls::TrustRoots::OnlyAdded)
        .add_ca_pem(pki.ca_pem())
        .build()
        .unwrap();
    let client = Client::builder().tls_config(tls).build().unwrap();
    let (reader, _) = PatternReader::new(2 * MIB + 1);
    let resp = client
        .post(server.url("/"))
        .body(Body::from_reader(reader))
        .send()
        .unwrap();
    assert_eq!(resp.text().unwrap(), "whole");
}

// ---- the Engine's pull-based source -------------------------------------------------

/// A source fed by the test: pieces, then the end; counts how often it was pulled dry.
#[derive(Clone, Default)]
struct Fed(Arc<Mutex<(VecDeque<Bytes>, bool, usize)>>);

impl BodySource for Fed {
    fn content_length(&self) -> Option<u64> {
        None
    }
    fn pull(&mut self) -> Pull {
        let mut state = self.0.lock().unwrap();
        match state.0.pop_front() {
            Some(piece) => Pull::Data(piece),
            None if state.1 => Pull::End,
            None => {
                state.2 += 1;
                Pull::Pending
            }
        }
    }
}

#[test]
fn the_engine_waits_for_body_ready_and_writes_on() {
    let server = TestServer::start(|conn| {
        while let Some(req) = conn.read_request() {
            conn.respond(200, &[], &req.body);
        }
    });
    let mut engine = Engine::new(Config::default()).unwrap();
    let mut driver = Driver::new();
    let fed = Fed::default();
    let request = Request::post(server.url("/"))
        .body(Body::from_source(fed.clone()))
        .unwrap();
    let id = engine.submit(request).unwrap();
    // Nothing to pull yet: the connection writes the head and waits.
    driver.run_until(&mut engine, "the source to be pulled dry", |_, _| {
        fed.0.lock().unwrap().2 > 0
    });
    fed.0
        .lock()
        .unwrap()
        .0
        .push_back(Bytes::from_static(b"hello "));
    engine.body_ready(id);
    driver.run_until(&mut engine, "the source to be pulled dry again", |_, _| {
        fed.0.lock().unwrap().2 > 1
    });
    {
        let mut state = fed.0.lock().unwrap();
        state.0.push_back(Bytes::from_static(b"world"));
        state.1 = true;
    }
    engine.body_ready(id);
    driver.run_all(&mut engine, &[id]);
    assert_eq!(driver.outcome(id).reply().body, b"hello world");
    let raw = &server.recorded()[0].raw;
    assert!(
        raw.ends_with(b"\r\n\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n"),
        "{}",
        testkit::show(raw)
    );
}

#[test]
fn the_engine_refuses_a_blocking_reader() {
    let mut engine = Engine::new(Config::default()).unwrap();
    let request = Request::builder()
        .method(Method::POST)
        .uri("http://127.0.0.1:1/")
        .body(Body::from_reader(io::empty()))
        .unwrap();
    let err = engine.submit(request).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
}
