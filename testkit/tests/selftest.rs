//! Tests of the loopback test server in `tests/support`, driven by plain
//! `std::net::TcpStream` clients.
//!
//! Every test holds [`process_lock`]: one of them compares the process's open file
//! descriptors before and after, which only works while no other test opens sockets.
#![allow(clippy::unwrap_used)]

use testkit as support;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use support::{
    free_port_refused, open_fds, pattern, process_lock, ReadError, Script, TestServer,
    ANNOUNCED_LEN, GARBAGE, SCRIPT_BODY, SENT_PREFIX,
};

/// Long enough for any step on a loaded machine; the server's own timeouts are 5 s.
const WAIT: Duration = Duration::from_secs(5);

/// A minimal blocking client: writes requests, reads Content-Length responses.
struct Client {
    stream: TcpStream,
    /// Bytes read past the last response.
    buf: Vec<u8>,
}

impl Client {
    fn connect(server: &TestServer) -> Client {
        let stream = TcpStream::connect(server.addr()).unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Reads once more; `Ok(0)` is EOF.
    fn fill(&mut self) -> std::io::Result<usize> {
        let mut chunk = [0u8; 64 * 1024];
        let n = self.stream.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Reads a response head; returns it as text.
    fn read_head(&mut self) -> String {
        loop {
            if let Some(at) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head: Vec<u8> = self.buf.drain(..at + 4).collect();
                return String::from_utf8(head).unwrap();
            }
            assert!(self.fill().unwrap() > 0, "EOF before a response head");
        }
    }

    /// Reads a response framed by Content-Length; returns head and body.
    fn read_response(&mut self) -> (String, Vec<u8>) {
        let head = self.read_head();
        let len: usize = header(&head, "content-length").unwrap().parse().unwrap();
        while self.buf.len() < len {
            assert!(self.fill().unwrap() > 0, "EOF inside a response body");
        }
        (head, self.buf.drain(..len).collect())
    }

    /// Reads until EOF or an error; returns what arrived and how reading ended.
    fn read_to_end(&mut self) -> (Vec<u8>, std::io::Result<()>) {
        let ended = loop {
            match self.fill() {
                Ok(0) => break Ok(()),
                Ok(_) => {}
                Err(e) => break Err(e),
            }
        };
        (std::mem::take(&mut self.buf), ended)
    }
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.split("\r\n").find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").into_bytes()
}

#[test]
fn keep_alive_serves_three_requests_on_one_connection() {
    let _serial = process_lock();
    let server = TestServer::keep_alive(b"pong");
    let mut client = Client::connect(&server);
    for i in 0..3 {
        client.send(&get(&format!("/{i}")));
        let (head, body) = client.read_response();
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert_eq!(header(&head, "content-length"), Some("4"));
        assert_eq!(body, b"pong");
    }
    assert_eq!(server.connections(), 1);
    assert_eq!(server.requests(), 3);
    assert_eq!(server.open_connections(), 1);
    let targets: Vec<_> = server
        .recorded()
        .into_iter()
        .map(|r| (r.conn, r.target))
        .collect();
    assert_eq!(
        targets,
        [(0, "/0".into()), (0, "/1".into()), (0, "/2".into())]
    );
}

#[test]
fn open_connections_drop_to_zero_after_the_client_closes() {
    let _serial = process_lock();
    let server = TestServer::keep_alive(b"x");
    let mut a = Client::connect(&server);
    let mut b = Client::connect(&server);
    a.send(&get("/a"));
    b.send(&get("/b"));
    a.read_response();
    b.read_response();
    assert!(server.wait_for_connections(2, WAIT));
    assert_eq!(server.open_connections(), 2);
    drop(a);
    assert!(server.wait_for_open_connections(1, WAIT));
    drop(b);
    assert!(server.wait_for_open_connections(0, WAIT));
    assert_eq!(server.connections(), 2);
}

#[test]
fn recorded_requests_carry_method_target_and_decoded_body() {
    let _serial = process_lock();
    let server = TestServer::keep_alive(b"ok");
    let mut client = Client::connect(&server);
    let post = b"POST /upload?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello";
    let put = b"PUT /chunks HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n\
                3;ext=1\r\nabc\r\nA\r\n0123456789\r\n0\r\nTrailer-Field: t\r\n\r\n";
    client.send(post);
    client.read_response();
    client.send(put);
    client.read_response();
    client.send(&get("/last"));
    client.read_response();

    let recorded = server.recorded();
    assert_eq!(recorded.len(), 3);
    assert_eq!(recorded[0].method, "POST");
    assert_eq!(recorded[0].target, "/upload?x=1");
    assert_eq!(recorded[0].header("content-length"), Some("5"));
    assert_eq!(recorded[0].body, b"hello");
    assert_eq!(recorded[0].raw, post);
    assert_eq!(recorded[1].method, "PUT");
    assert_eq!(recorded[1].body, b"abc0123456789");
    assert_eq!(
        recorded[1].raw, put,
        "chunked framing and trailers are kept in raw"
    );
    assert_eq!(recorded[2].method, "GET");
    assert_eq!(recorded[2].body, b"");
    assert!(recorded.iter().all(|r| r.conn == 0));
}

#[test]
fn pipelined_requests_are_read_one_at_a_time() {
    let _serial = process_lock();
    let server = TestServer::keep_alive(b"p");
    let mut client = Client::connect(&server);
    let mut both = get("/one");
    both.extend_from_slice(b"POST /two HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi");
    client.send(&both);
    client.read_response();
    client.read_response();
    let recorded = server.recorded();
    assert_eq!(recorded[0].target, "/one");
    assert_eq!(
        (recorded[1].target.as_str(), recorded[1].body.as_slice()),
        ("/two", &b"hi"[..])
    );
}

#[test]
fn expect_request_bytes_passes_on_exact_bytes() {
    let _serial = process_lock();
    let server = TestServer::start(|conn| {
        let request = conn.expect_request_bytes(b"GET /exact HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        assert_eq!(request.target, "/exact");
        conn.respond(204, &[], b"");
    });
    let mut client = Client::connect(&server);
    client.send(&get("/exact"));
    let head = client.read_head();
    assert!(head.starts_with("HTTP/1.1 204 No Content\r\n"));
    assert_eq!(
        header(&head, "content-length"),
        None,
        "no Content-Length on a 204"
    );
    assert_eq!(server.requests(), 1);
}

#[test]
#[should_panic(expected = "request bytes differ")]
fn a_failed_expectation_in_a_handler_fails_the_test_when_the_server_drops() {
    let _serial = process_lock();
    let server = TestServer::start(|conn| {
        conn.expect_request_bytes(b"GET /expected HTTP/1.1\r\n\r\n");
        conn.respond(200, &[], b"unreachable");
    });
    let mut client = Client::connect(&server);
    client.send(&get("/other"));
    // The handler panicked and its connection closed; the client only sees EOF.
    let (bytes, _) = client.read_to_end();
    assert!(bytes.is_empty());
    drop(server);
}

#[test]
fn reset_gives_the_client_econnreset() {
    let _serial = process_lock();
    let server = TestServer::start(|conn| {
        conn.read_request();
        conn.reset();
    });
    let mut client = Client::connect(&server);
    client.send(&get("/"));
    let (bytes, ended) = client.read_to_end();
    assert!(bytes.is_empty());
    assert_eq!(ended.unwrap_err().kind(), ErrorKind::ConnectionReset);
    assert!(server.wait_for_open_connections(0, WAIT));
}

#[test]
fn reset_mid_body_delivers_the_prefix_then_econnreset() {
    let _serial = process_lock();
    let server = TestServer::scripted(Script::ResetMidBody);
    let mut client = Client::connect(&server);
    client.send(&get("/"));
    // Let the RST arrive before reading: the bytes before it must still be readable.
    assert!(server.wait_for_open_connections(0, WAIT));
    std::thread::sleep(Duration::from_millis(20));
    let (bytes, ended) = client.read_to_end();
    let expected = format!("HTTP/1.1 200 OK\r\nContent-Length: {ANNOUNCED_LEN}\r\n\r\n");
    let mut expected = expected.into_bytes();
    expected.extend_from_slice(SENT_PREFIX);
    assert_eq!(bytes, expected);
    assert_eq!(ended.unwrap_err().kind(), ErrorKind::ConnectionReset);
}

#[test]
fn truncated_body_closes_after_the_promised_prefix() {
    let _serial = process_lock();
    let server = TestServer::scripted(Script::TruncatedBody);
    let mut client = Client::connect(&server);
    client.send(&get("/"));
    let head = client.read_head();
    assert_eq!(header(&head, "content-length"), Some("1000"));
    let (body, ended) = client.read_to_end();
    ended.unwrap(); // an orderly FIN, not a reset
    assert_eq!(body, SENT_PREFIX);
    assert!(body.len() < ANNOUNCED_LEN);
}

#[test]
fn close_after_response_and_connection_close_end_with_eof() {
    let _serial = process_lock();
    for (script, wants_close_header) in [
        (Script::CloseAfterResponse(b"bye"), false),
        (Script::ConnectionClose(b"bye"), true),
    ] {
        let server = TestServer::scripted(script);
        let mut client = Client::connect(&server);
        client.send(&get("/"));
        let (head, body) = client.read_response();
        assert_eq!(body, b"bye");
        assert_eq!(
            header(&head, "connection") == Some("close"),
            wants_close_header
        );
        let (rest, ended) = client.read_to_end();
        ended.unwrap();
        assert!(rest.is_empty());
    }
}

#[test]
fn stale_on_reuse_closes_without_answering_the_second_request() {
    let _serial = process_lock();
    let server = TestServer::scripted(Script::StaleOnReuse(b"first"));
    let mut client = Client::connect(&server);
    client.send(&get("/1"));
    assert_eq!(client.read_response().1, b"first");
    client.send(&get("/2"));
    let (bytes, ended) = client.read_to_end();
    ended.unwrap();
    assert!(bytes.is_empty(), "no response byte for the reused request");
    assert_eq!(server.requests(), 2);
}

#[test]
fn keep_alive_answers_head_without_a_body_and_honours_connection_close() {
    let _serial = process_lock();
    let server = TestServer::keep_alive(b"body");
    let mut client = Client::connect(&server);
    client.send(b"HEAD / HTTP/1.1\r\n\r\n");
    assert_eq!(
        client.read_head(),
        "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n"
    );
    client.send(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
    let (head, body) = client.read_response();
    assert_eq!(header(&head, "connection"), Some("close"));
    assert_eq!(body, b"body");
    let (rest, ended) = client.read_to_end();
    ended.unwrap();
    assert!(rest.is_empty());
}

#[test]
fn garbage_and_ambiguous_framing_scripts_send_their_bytes() {
    let _serial = process_lock();
    let mut garbage = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello".to_vec();
    garbage.extend_from_slice(GARBAGE);
    let cases: [(Script, &[u8]); 3] = [
        (Script::GarbageAfterBody, &garbage),
        (
            Script::ContentLengthAndChunked,
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n\
              5\r\nhello\r\n0\r\n\r\n",
        ),
        (
            Script::ConflictingContentLengths,
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        ),
    ];
    for (script, expected) in cases {
        let server = TestServer::scripted(script.clone());
        let mut client = Client::connect(&server);
        client.send(&get("/"));
        while client.buf.len() < expected.len() {
            assert!(client.fill().unwrap() > 0, "{script:?}: early EOF");
        }
        assert_eq!(client.buf, expected, "{script:?}");
        // The connection stays open and keeps answering: a client that reused it
        // would show up as a second request on connection 0.
        client.send(&get("/again"));
        assert!(server.wait_for_requests(2, WAIT), "{script:?}");
        assert!(server.recorded().iter().all(|r| r.conn == 0));
    }
}

#[test]
fn chunked_responses_frame_each_chunk() {
    let _serial = process_lock();
    let server = TestServer::start(|conn| {
        conn.read_request();
        conn.respond_chunked(200, &[b"abc", b"", b"0123456789"]);
        conn.close();
    });
    let mut client = Client::connect(&server);
    client.send(&get("/"));
    let (bytes, ended) = client.read_to_end();
    ended.unwrap();
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\na\r\n0123456789\r\n0\r\n\r\n"
    );
}

#[test]
fn expect_continue_sends_100_then_echoes_the_body() {
    let _serial = process_lock();
    let server = TestServer::scripted(Script::ExpectContinue);
    let mut client = Client::connect(&server);
    client.send(b"POST /e HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
    assert_eq!(client.read_head(), "HTTP/1.1 100 Continue\r\n\r\n");
    client.send(b"data");
    let (head, body) = client.read_response();
    assert!(head.starts_with("HTTP/1.1 200 OK"));
    assert_eq!(body, b"data");
    assert_eq!(server.recorded()[0].body, b"data");
}

#[test]
fn reject_expectation_answers_417_without_reading_the_body() {
    let _serial = process_lock();
    let server = TestServer::scripted(Script::RejectExpectation);
    let mut client = Client::connect(&server);
    client.send(b"PUT /r HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
    let (head, body) = client.read_response();
    assert!(
        head.starts_with("HTTP/1.1 417 Expectation Failed\r\n"),
        "{head}"
    );
    assert!(body.is_empty());
    assert_eq!(
        server.requests(),
        0,
        "a head alone is not a recorded request"
    );
}

#[test]
fn trickled_head_arrives_whole_and_slowly() {
    let _serial = process_lock();
    let per_byte = Duration::from_millis(2);
    let server = TestServer::scripted(Script::TrickleHead { per_byte });
    let mut client = Client::connect(&server);
    let started = Instant::now();
    client.send(&get("/"));
    let (head, body) = client.read_response();
    assert!(started.elapsed() >= per_byte * (head.len() as u32 - 1));
    assert_eq!(head, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
    assert_eq!(body, SCRIPT_BODY);
}

#[test]
fn pattern_body_feeds_a_slow_reader_and_stops_when_it_leaves() {
    let _serial = process_lock();
    let len = 1 << 30;
    let server = TestServer::scripted(Script::PatternBody { len });
    let mut client = Client::connect(&server);
    client.send(&get("/big"));
    let head = client.read_head();
    assert_eq!(header(&head, "content-length"), Some("1073741824"));
    // Read 4 MiB in small sips with pauses: the server keeps up and stays bounded.
    let mut offset = 0u64;
    let mut sip = [0u8; 256 * 1024];
    while offset < 4 << 20 {
        let from_buf = client.buf.len().min(sip.len());
        let n = if from_buf > 0 {
            sip[..from_buf].copy_from_slice(&client.buf[..from_buf]);
            client.buf.drain(..from_buf);
            from_buf
        } else {
            client.stream.read(&mut sip).unwrap()
        };
        assert!(n > 0);
        assert_eq!(sip[..n], pattern(offset, n), "at offset {offset}");
        offset += n as u64;
        if offset % (1 << 20) < n as u64 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    drop(client);
    // The server's write fails once the client is gone; its thread ends and closes.
    assert!(server.wait_for_open_connections(0, WAIT));
}

#[test]
fn read_errors_say_timeout_or_malformed() {
    let _serial = process_lock();
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let server = TestServer::start(move |conn| {
        conn.set_io_timeout(Duration::from_millis(50));
        let outcome = conn.try_read_request().map(|r| r.target);
        tx.lock().unwrap().send(outcome).unwrap();
    });
    let _silent = Client::connect(&server);
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), Err(ReadError::Timeout));
    let mut garbage = Client::connect(&server);
    garbage.send(b"NOT-HTTP\r\n\r\n");
    assert!(matches!(
        rx.recv_timeout(WAIT).unwrap(),
        Err(ReadError::Malformed(_))
    ));
    let mut cut = Client::connect(&server);
    cut.send(b"GET / HTTP/1.1\r\n");
    cut.stream.shutdown(Shutdown::Write).unwrap();
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), Err(ReadError::Truncated));
    let mut raw = Client::connect(&server);
    raw.send(b"\x16\x03\x01 not http either\r\n\r\n");
    assert!(matches!(
        rx.recv_timeout(WAIT).unwrap(),
        Err(ReadError::Malformed(_))
    ));
    let quiet = Client::connect(&server);
    quiet.stream.shutdown(Shutdown::Write).unwrap();
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), Err(ReadError::Closed));
}

#[test]
fn read_raw_takes_bytes_without_parsing_or_recording() {
    let _serial = process_lock();
    let server = TestServer::start(|conn| {
        let hello = conn.read_raw(4).unwrap();
        conn.write(&hello);
        conn.serve_keep_alive(b"after");
    });
    let mut client = Client::connect(&server);
    client.send(b"\x16\x03\x01\x00");
    client.send(&get("/"));
    while client.buf.len() < 4 {
        assert!(client.fill().unwrap() > 0);
    }
    assert_eq!(client.buf.drain(..4).as_slice(), b"\x16\x03\x01\x00");
    assert_eq!(client.read_response().1, b"after");
    assert_eq!(server.requests(), 1);
}

#[test]
fn never_answer_holds_until_the_client_closes() {
    let _serial = process_lock();
    let server = TestServer::scripted(Script::NeverAnswer);
    let mut client = Client::connect(&server);
    client.send(&get("/"));
    assert!(server.wait_for_requests(1, WAIT));
    client
        .stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let err = client.fill().unwrap_err();
    assert!(matches!(
        err.kind(),
        ErrorKind::WouldBlock | ErrorKind::TimedOut
    ));
    assert_eq!(server.open_connections(), 1);
    drop(client);
    assert!(server.wait_for_open_connections(0, WAIT));
}

#[test]
fn dropping_the_server_is_quick_and_leaks_nothing() {
    let _serial = process_lock();
    let baseline = open_fds();
    let server = TestServer::start(|conn| {
        if let Some(request) = conn.read_request() {
            if request.target == "/big" {
                conn.respond_with_pattern(1 << 30);
            } else {
                conn.stall(Duration::MAX);
            }
        }
    });
    let mut stalled = Client::connect(&server);
    stalled.send(&get("/stall"));
    let mut unread = Client::connect(&server); // the server blocks writing to it
    unread.send(&get("/big"));
    let mut idle = Client::connect(&server); // accepted, never sends a byte
    assert!(server.wait_for_requests(2, WAIT));
    assert!(server.wait_for_connections(3, WAIT));
    std::thread::sleep(Duration::from_millis(50)); // let the writer fill the socket
    assert!(open_fds() > baseline);

    let started = Instant::now();
    drop(server);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "drop took {took:?}");

    // The clients see the server side go away.
    for client in [&mut stalled, &mut idle] {
        let (bytes, ended) = client.read_to_end();
        assert!(bytes.is_empty());
        ended.unwrap();
    }
    let (bytes, _) = unread.read_to_end();
    assert!(
        bytes.len() > 64 * 1024,
        "the writer was blocked on a full socket"
    );
    drop((stalled, unread, idle));
    assert_eq!(open_fds(), baseline);
}

#[test]
fn a_free_port_refuses_connections() {
    let _serial = process_lock();
    let addr = free_port_refused();
    let err = TcpStream::connect_timeout(&addr, WAIT).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
}

#[test]
fn url_names_the_listening_address() {
    let _serial = process_lock();
    let server = TestServer::keep_alive(b"");
    assert_eq!(
        server.url("/p?q"),
        format!("http://127.0.0.1:{}/p?q", server.addr().port())
    );
    assert!(server.addr().ip().is_loopback());
}
