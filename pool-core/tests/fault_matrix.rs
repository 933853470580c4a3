//! The rows of the fault matrix (`docs/reliability.md`) that no other test file covers:
//! huge and over-limit heads, chunk sizes that overflow, floods of `1xx` heads, bodies
//! cut inside a chunk, servers that never read the request body or reset while it is
//! being written, and TLS alerts in the middle of a body or while a connection is idle.
//!
//! Every test checks three things about its fault: the outcome the caller sees (a
//! response, or the error kind and, where it says more, the codec's or TLS layer's own
//! kind), whether the request was resent, and that the connection is not in the pool
//! afterwards unless the exchange was clean. Most then send a known-good request to the
//! same server: it must get its own answer, on a fresh connection where the fault
//! poisoned the old one.
//!
//! Descriptor exhaustion has its own binary (`fd_exhaustion.rs`: it lowers the process's
//! limit); the rows covered elsewhere are listed in the matrix with their tests.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a broken step should fail loudly

mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use common::WAIT;
use testkit::tls::{ServerSetup, TestPki, TlsTestServer};
use testkit::{ServerConn, TestServer};
use wirepool::http::Request;
use wirepool::tls::{TlsConfig, TrustRoots};
use wirepool::{Body, Client, CloseCause, Error, ErrorKind, HeadLimits};

/// The body every "good" connection of these servers answers with.
const GOOD: &[u8] = b"good";

/// A server whose first connection runs `evil` and every later one serves [`GOOD`]
/// with keep-alive: after the fault, a request must dial anew and get the good answer.
fn first_conn_evil(evil: impl Fn(&mut ServerConn) + Send + Sync + 'static) -> TestServer {
    TestServer::start(move |conn| {
        if conn.index() == 0 {
            evil(conn);
        } else {
            conn.serve_keep_alive(GOOD);
        }
    })
}

/// The codec's own error kind in `err`'s source, if the codec refused the response.
fn codec_kind(err: &Error) -> Option<http1_codec::ErrorKind> {
    std::error::Error::source(err)?
        .downcast_ref::<http1_codec::Error>()
        .map(http1_codec::Error::kind)
}

/// The error of reading `resp`'s body to the end (it must fail), and the bytes read.
fn body_error(mut resp: wirepool::Response) -> (Error, Vec<u8>) {
    let mut body = Vec::new();
    let err = resp.body_mut().read_to_end(&mut body).unwrap_err();
    let inner = err
        .into_inner()
        .and_then(|e| e.downcast::<Error>().ok())
        .expect("a body read error carries a wirepool error");
    (*inner, body)
}

/// After a fault on the first connection: nothing idle, the connection closed once for
/// `cause`, nothing resent, and the next GET dials a fresh connection and gets the good
/// answer.
fn assert_poisoned_then_good(client: &Client, server: &TestServer, cause: CloseCause) {
    let stats = client.stats().unwrap();
    assert_eq!(stats.total.idle, 0, "the faulty connection is not pooled");
    assert_eq!(stats.total.retries, 0, "nothing is resent");
    let closes = &stats.total.closes;
    assert_eq!((closes.get(cause), closes.total()), (1, 1), "{closes:?}");
    let resp = client.get(server.url("/next")).send().unwrap();
    assert!(!resp.info().reused, "the next request dials anew");
    assert_eq!(resp.bytes().unwrap(), GOOD);
    assert_eq!(server.connections(), 2);
    assert!(server.wait_for_open_connections(1, WAIT));
}

/// `n` header fields with distinct names, `X-H-0: v` and so on.
fn many_headers(n: usize) -> Vec<u8> {
    let mut head = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n".to_vec();
    for i in 0..n {
        head.extend_from_slice(format!("X-H-{i}: v\r\n").as_bytes());
    }
    head.extend_from_slice(b"\r\nok");
    head
}

// ---- heads --------------------------------------------------------------------------------

/// A head over `max_head_bytes` is refused (`HeadTooLarge`) as soon as the limit is
/// passed, without waiting for its end; one just under the limit is fine and pooled.
#[test]
fn a_head_over_the_limit_is_refused() {
    let limit = 4096;
    let padded = |len: usize| {
        let mut head = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Pad: ".to_vec();
        head.resize(len - 4, b'p');
        head.extend_from_slice(b"\r\n\r\nok");
        head
    };
    let (fits, too_big) = (padded(limit), padded(limit + 1));
    assert_eq!(fits.len() - 2, limit);
    let server = TestServer::start(move |conn| {
        while let Some(r) = conn.read_request() {
            if r.target == "/big" {
                conn.write(&too_big);
                // Never ends the head: the client must not wait for the blank line.
                conn.wait_for_client_close();
                return;
            }
            conn.write(&fits);
        }
    });
    let limits = HeadLimits {
        max_head_bytes: limit,
        ..HeadLimits::default()
    };
    let client = Client::builder()
        .head_limits(limits)
        .timeout(Some(WAIT))
        .build()
        .unwrap();
    assert_eq!(
        client
            .get(server.url("/fits"))
            .send()
            .unwrap()
            .text()
            .unwrap(),
        "ok"
    );
    let started = Instant::now();
    let err = client.get(server.url("/big")).send().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol, "{err:?}");
    assert_eq!(codec_kind(&err), Some(http1_codec::ErrorKind::HeadTooLarge));
    assert!(
        started.elapsed() < WAIT / 2,
        "refused at the limit, not at a deadline"
    );
    let stats = client.stats().unwrap();
    assert_eq!((stats.total.idle, stats.total.retries), (0, 0));
    assert!(server.wait_for_open_connections(0, WAIT));
}

/// 100 000 header fields (~1 MB of head) with the default limits: refused as soon as
/// the head passes 64 KiB; the connection is closed and the next request dials anew.
#[test]
fn a_hundred_thousand_headers_are_refused_at_the_head_limit() {
    let server = first_conn_evil(|conn| {
        if conn.read_request().is_some() {
            conn.write(&many_headers(100_000));
            conn.wait_for_client_close();
        }
    });
    let client = Client::builder().timeout(Some(WAIT)).build().unwrap();
    let err = client.get(server.url("/")).send().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol, "{err:?}");
    assert_eq!(codec_kind(&err), Some(http1_codec::ErrorKind::HeadTooLarge));
    assert_poisoned_then_good(&client, &server, CloseCause::Error);
}

/// The same 100 000 fields with both head limits raised as far as they go
/// (`max_head_bytes` 64 MiB, `max_headers` unlimited): refused as `TooManyHeaders`.
///
/// Regression: the Client copies a head into an `http::HeaderMap`, which panics past
/// 24 576 distinct names (`HeaderMap::with_capacity` and `append` both assert). The
/// panic killed the engine thread, so this request and every later one on the Client
/// failed with `EngineFailed`. The codec now never accepts more fields than a
/// `HeaderMap` holds.
#[test]
fn a_hundred_thousand_headers_with_the_limits_raised_do_not_kill_the_engine() {
    let server = first_conn_evil(|conn| {
        if conn.read_request().is_some() {
            conn.write(&many_headers(100_000));
            conn.wait_for_client_close();
        }
    });
    let limits = HeadLimits {
        max_head_bytes: 64 << 20, // the most `Config::validate` allows
        max_headers: usize::MAX,
    };
    let client = Client::builder()
        .head_limits(limits)
        .timeout(Some(WAIT))
        .build()
        .unwrap();
    let err = client.get(server.url("/")).send().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol, "{err:?}");
    assert_eq!(
        codec_kind(&err),
        Some(http1_codec::ErrorKind::TooManyHeaders)
    );
    assert_poisoned_then_good(&client, &server, CloseCause::Error);
}

/// Below the `HeaderMap` ceiling a huge head still arrives whole when the limits allow
/// it: 20 000 distinct fields, each one in the response's headers.
#[test]
fn twenty_thousand_headers_arrive_when_the_limits_allow() {
    let server = TestServer::start(|conn| {
        while conn.read_request().is_some() {
            conn.write(&many_headers(20_000));
        }
    });
    let limits = HeadLimits {
        max_head_bytes: 1 << 20,
        max_headers: 30_000,
    };
    let client = Client::builder()
        .head_limits(limits)
        .timeout(Some(WAIT))
        .build()
        .unwrap();
    for i in 0..2 {
        let resp = client.get(server.url("/")).send().unwrap();
        assert_eq!(
            resp.headers().len(),
            20_001,
            "the fields and Content-Length"
        );
        assert_eq!(resp.headers()["x-h-19999"], "v");
        assert_eq!(resp.info().reused, i > 0);
        assert_eq!(resp.text().unwrap(), "ok");
    }
}

/// 10 000 `103 Early Hints` heads (~400 KB) before the final response: each is parsed
/// and skipped, the final response is delivered, and the connection is reused.
#[test]
fn ten_thousand_1xx_heads_before_the_final_response() {
    let server = TestServer::start(|conn| {
        while conn.read_request().is_some() {
            let mut wire = Vec::new();
            for _ in 0..10_000 {
                wire.extend_from_slice(
                    b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n",
                );
            }
            wire.extend_from_slice(&testkit::response_bytes(200, &[], b"final"));
            conn.write(&wire);
        }
    });
    let client = Client::builder().timeout(Some(WAIT)).build().unwrap();
    for i in 0..2 {
        let resp = client.get(server.url("/")).send().unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.info().reused, i > 0);
        assert_eq!(resp.text().unwrap(), "final");
    }
    assert_eq!(server.connections(), 1);
}

/// `1xx` heads that never end: the response-head deadline is not re-armed by interim
/// heads, so it cuts the stream off.
#[test]
fn an_endless_stream_of_1xx_heads_is_cut_by_the_head_timeout() {
    let server = first_conn_evil(|conn| {
        if conn.read_request().is_some() {
            let deadline = Instant::now() + WAIT;
            while Instant::now() < deadline
                && conn.try_write(b"HTTP/1.1 102 Processing\r\n\r\n").is_ok()
            {
                if !conn.stall(Duration::from_millis(5)) {
                    return;
                }
            }
        }
    });
    let client = Client::builder()
        .response_header_timeout(Some(Duration::from_millis(300)))
        .build()
        .unwrap();
    let started = Instant::now();
    let err = client.get(server.url("/")).send().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ResponseHeaderTimeout, "{err:?}");
    assert!(started.elapsed() < WAIT / 2);
    let stats = client.stats().unwrap();
    assert_eq!((stats.total.idle, stats.total.retries), (0, 0));
    let resp = client.get(server.url("/next")).send().unwrap();
    assert!(!resp.info().reused);
    assert_eq!(resp.bytes().unwrap(), GOOD);
}

// ---- bodies -------------------------------------------------------------------------------

/// A chunk size of 17 hex digits does not fit a `u64`: `ChunkSizeOverflow` while
/// reading the body (the head was fine), and the connection is closed.
#[test]
fn a_chunk_size_that_overflows_is_a_protocol_error() {
    let server = first_conn_evil(|conn| {
        if conn.read_request().is_some() {
            conn.write(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                  3\r\nabc\r\n10000000000000000\r\nxyz",
            );
            conn.wait_for_client_close();
        }
    });
    let client = Client::builder().timeout(Some(WAIT)).build().unwrap();
    let resp = client.get(server.url("/")).send().unwrap();
    assert_eq!(resp.status(), 200);
    let (err, body) = body_error(resp);
    assert_eq!(err.kind(), ErrorKind::Protocol, "{err:?}");
    assert_eq!(
        codec_kind(&err),
        Some(http1_codec::ErrorKind::ChunkSizeOverflow)
    );
    assert_eq!(body, b"abc", "the chunk before the bad size is delivered");
    assert_poisoned_then_good(&client, &server, CloseCause::Error);
}

/// A FIN inside a chunk: `UnexpectedEof`, after the bytes that did arrive.
#[test]
fn eof_in_the_middle_of_a_chunked_body_is_a_protocol_error() {
    let server = first_conn_evil(|conn| {
        if conn.read_request().is_some() {
            conn.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel");
            conn.close();
        }
    });
    let client = Client::builder().timeout(Some(WAIT)).build().unwrap();
    let resp = client.get(server.url("/")).send().unwrap();
    let (err, body) = body_error(resp);
    assert_eq!(err.kind(), ErrorKind::Protocol, "{err:?}");
    assert_eq!(
        codec_kind(&err),
        Some(http1_codec::ErrorKind::UnexpectedEof)
    );
    assert_eq!(body, b"hel");
    assert_poisoned_then_good(&client, &server, CloseCause::Error);
}

// ---- request bodies -----------------------------------------------------------------------

/// A POST body far larger than the socket buffers: the write blocks.
fn big_post(url: &str) -> Request<Body> {
    Request::post(url)
        .body(vec![b'x'; 16 << 20].into())
        .unwrap()
}

/// The server reads the head and never reads the body: the write stays blocked, no
/// response-head deadline runs yet (it starts when the request is written, as Go's
/// does), and the request's total deadline ends it with `Timeout`. Not resent (a POST),
/// the connection closed.
#[test]
fn a_server_that_never_reads_the_body_is_cut_by_the_total_timeout() {
    let server = first_conn_evil(|conn| {
        if conn.read_head().is_ok() {
            conn.stall(Duration::MAX);
        }
    });
    let client = Client::builder()
        .timeout(Some(Duration::from_millis(500)))
        .response_header_timeout(Some(Duration::from_millis(100)))
        .build()
        .unwrap();
    let started = Instant::now();
    let err = client.send(big_post(&server.url("/upload"))).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err:?}");
    assert!(started.elapsed() < WAIT / 2);
    assert!(!err.is_retry_safe());
    let stats = client.stats().unwrap();
    assert_eq!((stats.total.idle, stats.total.active), (0, 0));
    assert_eq!(stats.total.retries, 0);
    assert_eq!(
        server.requests(),
        0,
        "the server never read a whole request"
    );
    // The client closed its side: the server's stall ends when the server is dropped,
    // so look at the client's count of closes instead.
    assert_eq!(stats.total.closes.error, 1, "{:?}", stats.total.closes);
}

/// The server reads the head and resets while the body is still being written: the
/// write fails (`ECONNRESET`/`EPIPE`) with nothing to read, so the POST fails as
/// `ConnectionClosed`, is not resent, and the next request dials anew.
#[test]
fn a_reset_while_the_body_is_written_is_connection_closed() {
    let server = first_conn_evil(|conn| {
        if conn.read_head().is_ok() {
            let _ = conn.read_raw(1024);
            conn.reset();
        }
    });
    let client = Client::builder().timeout(Some(WAIT)).build().unwrap();
    let err = client.send(big_post(&server.url("/upload"))).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionClosed, "{err:?}");
    assert!(!err.is_retry_safe(), "part of a POST went out");
    assert_poisoned_then_good(&client, &server, CloseCause::ServerClose);
}

// ---- TLS ----------------------------------------------------------------------------------

fn tls_client(pki: &TestPki) -> Client {
    let tls = TlsConfig::builder()
        .trust_roots(TrustRoots::OnlyAdded)
        .add_ca_pem(pki.ca_pem())
        .build()
        .unwrap();
    Client::builder()
        .tls_config(tls)
        .timeout(Some(WAIT))
        .build()
        .unwrap()
}

/// The TLS layer's own kind in `err`'s source.
fn tls_kind(err: &Error) -> Option<wirepool::tls::ErrorKind> {
    std::error::Error::source(err)?
        .downcast_ref::<wirepool::tls::Error>()
        .map(wirepool::tls::Error::kind)
}

/// A fatal alert (`bad_record_mac`) in the middle of a body: the body read fails with
/// `ErrorKind::Tls`, after the bytes that came before it; the connection is gone.
#[test]
fn a_tls_alert_in_the_middle_of_a_body_is_a_tls_error() {
    let pki = TestPki::new();
    let server = TlsTestServer::start(ServerSetup::localhost(&pki), |conn| {
        if conn.index() > 0 {
            return conn.serve_keep_alive(GOOD);
        }
        if conn.read_request().is_some() {
            conn.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nstart");
            conn.stall(Duration::from_millis(50));
            assert!(conn.send_fatal_alert());
            conn.wait_for_client_close();
        }
    });
    let client = tls_client(&pki);
    let resp = client.get(server.url("/")).send().unwrap();
    let (err, body) = body_error(resp);
    assert_eq!(err.kind(), ErrorKind::Tls, "{err:?}");
    assert_eq!(
        tls_kind(&err),
        Some(wirepool::tls::ErrorKind::Protocol),
        "{err:?}"
    );
    assert_eq!(body, b"start");
    let stats = client.stats().unwrap();
    assert_eq!((stats.total.idle, stats.total.retries), (0, 0));
    let resp = client.get(server.url("/next")).send().unwrap();
    assert!(!resp.info().reused);
    assert_eq!(resp.bytes().unwrap(), GOOD);
}

/// A fatal alert on an idle connection: the connection is dropped before anyone reuses
/// it (as unsolicited bytes are), and the next request dials anew without a retry.
#[test]
fn a_tls_alert_while_idle_drops_the_connection() {
    let pki = TestPki::new();
    let server = TlsTestServer::start(ServerSetup::localhost(&pki), |conn| {
        if conn.index() > 0 {
            return conn.serve_keep_alive(GOOD);
        }
        if conn.read_request().is_some() {
            conn.respond(200, &[], b"first");
            conn.stall(Duration::from_millis(50));
            assert!(conn.send_fatal_alert());
            conn.wait_for_client_close();
        }
    });
    let client = tls_client(&pki);
    assert_eq!(
        client.get(server.url("/")).send().unwrap().text().unwrap(),
        "first"
    );
    assert!(common::wait_until(WAIT, || client
        .stats()
        .unwrap()
        .total
        .idle
        == 0));
    let resp = client.get(server.url("/next")).send().unwrap();
    assert!(!resp.info().reused);
    assert_eq!(resp.bytes().unwrap(), GOOD);
    let stats = client.stats().unwrap();
    assert_eq!(stats.total.retries, 0);
    assert_eq!(stats.total.closes.error, 1, "{:?}", stats.total.closes);
}
