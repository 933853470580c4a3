//! Every timeout fires as its own error kind: connect, response head, total (also
//! while reading the body), a request's own timeout or deadline, a waiter in the queue,
//! and the expect-continue wait in its three outcomes.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a broken step should fail loudly

mod common;

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{gated_server, get, kind_of, Driver, Gate, WAIT};
use socket2::{Domain, Protocol, Socket, Type};
use testkit::{ReadError, Script, TestServer, IO_TIMEOUT};
use wirepool::http::Request;
use wirepool::{Client, Config, Engine, ErrorKind, RequestOptions};

/// A listener whose accept queue is full and is never accepted from: a new connect to
/// it gets no SYN-ACK and hangs (Linux drops the SYN when the queue is full). Returns
/// the listener and the connections that fill its queue; keep both alive.
fn hanging_listener() -> (Socket, Vec<TcpStream>, SocketAddr) {
    let listener = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).unwrap();
    listener
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    listener.listen(0).unwrap();
    let addr = listener.local_addr().unwrap().as_socket().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..8 {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Ok(s) => fillers.push(s),
            // The queue is full: connects now hang, which is what we want.
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return (listener, fillers, addr),
            Err(e) => panic!("unexpected connect error while filling the backlog: {e}"),
        }
    }
    panic!("this kernel completes connects to a full accept queue; cannot make one hang");
}

#[test]
fn connect_timeout_fires_as_connect_timeout() {
    let (_listener, _fillers, addr) = hanging_listener();
    let client = Client::builder()
        .connect_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let err = client.get(&format!("http://{addr}/")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectTimeout, "{err:?}");
    assert!(err.is_timeout());
    assert!(err.is_retry_safe(), "nothing was sent");
    let stats = client.stats().unwrap();
    assert_eq!((stats.total.connecting, stats.total.active), (0, 0));
    assert_eq!(stats.total.dials, 1);
}

#[test]
fn total_timeout_shorter_than_connect_timeout_fires_as_timeout() {
    let (_listener, _fillers, addr) = hanging_listener();
    let client = Client::builder()
        .connect_timeout(Duration::from_secs(20))
        .timeout(Some(Duration::from_millis(200)))
        .build()
        .unwrap();
    let err = client.get(&format!("http://{addr}/")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err:?}");
    assert_eq!(client.stats().unwrap().total.connecting, 0);
}

#[test]
fn response_header_timeout_when_the_server_never_answers() {
    let server = TestServer::scripted(Script::NeverAnswer);
    let client = Client::builder()
        .response_header_timeout(Some(Duration::from_millis(200)))
        .build()
        .unwrap();
    let err = client.get(&server.url("/")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ResponseHeaderTimeout, "{err:?}");
    assert!(err.is_timeout());
    // Sent once (a fresh connection is never retried), and the connection is closed.
    assert_eq!(server.requests(), 1);
    assert!(server.wait_for_open_connections(0, WAIT));
    assert_eq!(client.stats().unwrap().total.idle, 0);
}

#[test]
fn response_header_timeout_covers_a_trickled_head() {
    let server = TestServer::scripted(Script::TrickleHead {
        per_byte: Duration::from_millis(30),
    });
    let client = Client::builder()
        .response_header_timeout(Some(Duration::from_millis(250)))
        .build()
        .unwrap();
    let err = client.get(&server.url("/")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ResponseHeaderTimeout, "{err:?}");
}

#[test]
fn trickled_head_within_the_timeout_is_parsed() {
    let server = TestServer::scripted(Script::TrickleHead {
        per_byte: Duration::from_millis(1),
    });
    let client = Client::new().unwrap();
    let mut resp = client.get(&server.url("/")).unwrap();
    assert_eq!(resp.text().unwrap(), "hello");
    let mut resp = client.get(&server.url("/")).unwrap();
    assert!(resp.info().reused);
    assert_eq!(resp.text().unwrap(), "hello");
}

#[test]
fn total_timeout_before_the_head() {
    let server = TestServer::scripted(Script::NeverAnswer);
    let client = Client::builder()
        .timeout(Some(Duration::from_millis(200)))
        .response_header_timeout(Some(Duration::from_secs(20)))
        .build()
        .unwrap();
    let err = client.get(&server.url("/")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err:?}");
}

/// A server that sends the head, then trickles a 200-byte body one byte per 20 ms.
fn slow_body_server() -> TestServer {
    TestServer::start(|conn| {
        if conn.read_request().is_some() {
            conn.write(b"HTTP/1.1 200 OK\r\nContent-Length: 200\r\n\r\n");
            conn.trickle(&[b'z'; 200], Duration::from_millis(20));
        }
    })
}

#[test]
fn total_timeout_while_reading_a_slow_body() {
    let server = slow_body_server();
    let client = Client::builder()
        .timeout(Some(Duration::from_millis(400)))
        .build()
        .unwrap();
    let mut resp = client.get(&server.url("/")).unwrap();
    assert_eq!(resp.status(), 200);
    let mut got = Vec::new();
    let err = resp.body_mut().read_to_end(&mut got).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    assert_eq!(kind_of(&err), Some(ErrorKind::Timeout), "{err:?}");
    assert!(got.len() < 200);
    assert!(server.wait_for_open_connections(0, WAIT));
    assert_eq!(client.stats().unwrap().total.idle, 0);
}

#[test]
fn total_timeout_through_response_bytes() {
    let server = slow_body_server();
    let client = Client::builder()
        .timeout(Some(Duration::from_millis(300)))
        .build()
        .unwrap();
    let err = client.get(&server.url("/")).unwrap().bytes().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err:?}");
}

/// A server that answers each request after 700 ms.
fn late_server() -> TestServer {
    TestServer::start(|conn| {
        while conn.read_request().is_some() {
            if !conn.stall(Duration::from_millis(700)) {
                return;
            }
            conn.respond(200, &[], b"late");
        }
    })
}

#[test]
fn request_timeout_overrides_the_client_timeout_both_ways() {
    let server = late_server();
    // The client's timeout would fire; the request's own, longer one wins.
    let client = Client::builder()
        .timeout(Some(Duration::from_millis(200)))
        .build()
        .unwrap();
    let mut resp = client
        .send_with(get(&server.url("/")), RequestOptions::timeout(WAIT))
        .unwrap();
    assert_eq!(resp.text().unwrap(), "late");
    assert_eq!(
        client.get(&server.url("/")).unwrap_err().kind(),
        ErrorKind::Timeout
    );
    // The other way: a generous client timeout, a short request timeout.
    let client = Client::builder().timeout(Some(WAIT)).build().unwrap();
    let err = client
        .send_with(
            get(&server.url("/")),
            RequestOptions::timeout(Duration::from_millis(200)),
        )
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err:?}");
    assert_eq!(
        client.get(&server.url("/")).unwrap().text().unwrap(),
        "late"
    );
}

#[test]
fn request_deadline_applies_and_the_earlier_one_wins() {
    let server = late_server();
    let client = Client::builder().timeout(Some(WAIT)).build().unwrap();
    let err = client
        .send_with(
            get(&server.url("/")),
            RequestOptions::deadline(Instant::now() + Duration::from_millis(200)),
        )
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err:?}");
    // Timeout long, deadline short: the deadline wins.
    let mut opts = RequestOptions::timeout(WAIT);
    opts.deadline = Some(Instant::now() + Duration::from_millis(200));
    let err = client.send_with(get(&server.url("/")), opts).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err:?}");
    // Deadline long, timeout short: the timeout wins.
    let mut opts = RequestOptions::timeout(Duration::from_millis(200));
    opts.deadline = Some(Instant::now() + WAIT);
    let err = client.send_with(get(&server.url("/")), opts).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err:?}");
    // A deadline far enough away lets it through.
    let mut resp = client
        .send_with(
            get(&server.url("/")),
            RequestOptions::deadline(Instant::now() + WAIT),
        )
        .unwrap();
    assert_eq!(resp.text().unwrap(), "late");
}

#[test]
fn waiter_times_out_in_the_queue() {
    let gate = Gate::new();
    let server = gated_server(&gate, b"g");
    let mut config = Config::default();
    config.max_conns_per_host = Some(1);
    let mut engine = Engine::new(config).unwrap();
    let mut driver = Driver::new();
    let first = engine.submit(get(&server.url("/first"))).unwrap();
    let waiter = engine
        .submit_with(
            get(&server.url("/waiter")),
            RequestOptions::timeout(Duration::from_millis(200)),
        )
        .unwrap();
    driver.run_until(&mut engine, "the waiter to time out", |d, _| {
        d.get(waiter).is_some()
    });
    let err = driver.outcome(waiter).error();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err:?}");
    assert!(driver.get(first).is_none(), "the first is still held");
    assert_eq!(engine.stats().total.waiting, 0);
    gate.open_all();
    driver.run_all(&mut engine, &[first]);
    driver.outcome(first).reply();
    // The timed-out waiter never reached the server.
    let targets: Vec<String> = server.recorded().into_iter().map(|r| r.target).collect();
    assert_eq!(targets, ["/first"]);
    assert_eq!(engine.stats().total.idle, 1);
}

/// A waiter's own deadline still applies after it is handed a connection.
#[test]
fn waiter_deadline_applies_after_the_handoff() {
    let gate = Gate::new();
    let server = gated_server(&gate, b"g");
    let mut config = Config::default();
    config.max_conns_per_host = Some(1);
    let mut engine = Engine::new(config).unwrap();
    let mut driver = Driver::new();
    let first = engine.submit(get(&server.url("/first"))).unwrap();
    let waiter = engine
        .submit_with(
            get(&server.url("/waiter")),
            RequestOptions::timeout(Duration::from_millis(600)),
        )
        .unwrap();
    driver.run_until(&mut engine, "the first at the server", |_, _| {
        server.requests() == 1
    });
    gate.open(1);
    driver.run_until(&mut engine, "the waiter at the server", |_, _| {
        server.requests() == 2
    });
    driver.outcome(first).reply();
    driver.run_until(&mut engine, "the waiter to time out", |d, _| {
        d.get(waiter).is_some()
    });
    let err = driver.outcome(waiter).error();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err:?}");
    let stats = engine.stats();
    assert_eq!((stats.total.active, stats.total.waiting), (0, 0));
}

fn expect_continue_post(url: &str) -> Request<wirepool::Body> {
    Request::post(url)
        .header("Expect", "100-continue")
        .body("payload".into())
        .unwrap()
}

/// No `100 Continue` ever: the body goes out after `expect_continue_timeout` anyway.
#[test]
fn expect_continue_sends_the_body_after_the_timeout() {
    let server = TestServer::start(|conn| {
        let Ok(head) = conn.read_head() else { return };
        assert!(head.expects_continue());
        // The body is held back at first...
        conn.set_io_timeout(Duration::from_millis(100));
        assert_eq!(conn.read_raw(1), Err(ReadError::Timeout));
        // ...and arrives once the client stops waiting for 100.
        conn.set_io_timeout(IO_TIMEOUT);
        let Ok(request) = conn.read_body(head) else {
            return;
        };
        conn.respond(200, &[], &request.body);
        conn.serve_keep_alive(b"next");
    });
    let client = Client::builder()
        .expect_continue_timeout(Duration::from_millis(400))
        .build()
        .unwrap();
    let mut resp = client.send(expect_continue_post(&server.url("/"))).unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().unwrap(), "payload");
    assert_eq!(server.recorded()[0].body, b"payload");
    let mut resp = client.get(&server.url("/")).unwrap();
    assert!(resp.info().reused);
    assert_eq!(resp.text().unwrap(), "next");
}

/// `100 Continue` releases the body at once (the expect-continue timeout is far away,
/// the total timeout would fire first if the client kept waiting).
#[test]
fn expect_continue_sends_the_body_on_100() {
    let server = TestServer::scripted(Script::ExpectContinue);
    let client = Client::builder()
        .expect_continue_timeout(Duration::from_secs(60))
        .timeout(Some(WAIT))
        .build()
        .unwrap();
    for i in 0..3 {
        let mut resp = client.send(expect_continue_post(&server.url("/"))).unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.info().reused, i > 0);
        assert_eq!(resp.text().unwrap(), "payload");
    }
    assert_eq!(server.connections(), 1);
}

/// A final answer before `100`: delivered as the response; the body is never sent on
/// that connection and the connection is not reused.
#[test]
fn expect_continue_rejected_with_417() {
    let server = TestServer::start(|conn| {
        if conn.index() > 0 {
            return conn.serve_keep_alive(b"fresh");
        }
        let Ok(head) = conn.read_head() else { return };
        assert!(head.expects_continue());
        // No `Connection: close`: the client must decide on its own not to reuse.
        conn.respond(417, &[], b"no");
        let rest = conn.wait_for_client_close();
        assert!(rest.is_empty(), "client sent {:?}", testkit::show(&rest));
    });
    let client = Client::builder()
        .expect_continue_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let mut resp = client.send(expect_continue_post(&server.url("/"))).unwrap();
    assert_eq!(resp.status(), 417);
    assert_eq!(resp.text().unwrap(), "no");
    let mut resp = client.get(&server.url("/")).unwrap();
    assert!(!resp.info().reused);
    assert_eq!(resp.text().unwrap(), "fresh");
    assert_eq!(server.connections(), 2);
    assert_eq!(client.stats().unwrap().total.closes.not_reusable, 1);
}

#[test]
fn expect_continue_rejected_with_connection_close() {
    let server = TestServer::scripted(Script::RejectExpectation);
    let client = Client::new().unwrap();
    let mut resp = client.send(expect_continue_post(&server.url("/"))).unwrap();
    assert_eq!(resp.status(), 417);
    resp.bytes().unwrap();
    assert_eq!(client.stats().unwrap().total.idle, 0);
    assert!(server.wait_for_open_connections(0, WAIT));
}
