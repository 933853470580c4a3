//! Faulty servers: stale idle connections, resets, truncated bodies, garbage after a
//! body, ambiguous framing, `Connection: close`, refused connects, DNS failures; and
//! the retry rule (an idempotent request that failed on a reused connection before any
//! response byte is resent once on a fresh one, a POST is not).
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a broken step should fail loudly

mod common;

use std::io::Read;

use common::{kind_of, WAIT};
use testkit::{Script, TestServer, SCRIPT_BODY, SENT_PREFIX};
use wirepool::http::Request;
use wirepool::{Body, Client, ErrorKind};

/// Which server connection each recorded request came on.
fn conns_of(server: &TestServer) -> Vec<usize> {
    server.recorded().iter().map(|r| r.conn).collect()
}

fn post(url: &str, body: &'static str) -> Request<Body> {
    Request::post(url).body(body.into()).unwrap()
}

/// The server closed the idle connection and the client saw the FIN: the connection is
/// dropped before reuse, the next GET dials, nothing is retried. (Learning is off: with
/// it, two such closes teach the pool to retire connections after one response, which
/// `policies.rs` tests; here every close must be the server's.)
#[test]
fn idle_connection_closed_by_the_server_is_not_reused() {
    let server = TestServer::scripted(Script::CloseAfterResponse(b"bye"));
    let client = Client::builder()
        .learn_server_limits(false)
        .build()
        .unwrap();
    for i in 0..5 {
        let resp = client.get(server.url("/")).send().unwrap();
        assert!(!resp.info().reused, "request {i}");
        assert_eq!(resp.text().unwrap(), "bye");
        assert!(server.wait_for_open_connections(0, WAIT));
        assert!(common::wait_until(WAIT, || client
            .stats()
            .unwrap()
            .total
            .idle
            == 0));
    }
    let stats = client.stats().unwrap();
    assert_eq!((stats.total.dials, stats.total.retries), (5, 0));
    assert_eq!(stats.total.closes.server_close, 5);
}

/// The same without waiting: whether the client sees the FIN before reusing or only
/// after writing the next request, a GET never surfaces the race as an error.
#[test]
fn stale_idle_race_never_fails_a_get() {
    let server = TestServer::scripted(Script::CloseAfterResponse(b"bye"));
    let client = Client::new().unwrap();
    for _ in 0..50 {
        let resp = client.get(server.url("/")).send().unwrap();
        assert_eq!(resp.text().unwrap(), "bye");
    }
    // A request that went out on a connection the server was closing is never read
    // there (the server answers it with a reset): the server read each GET once.
    assert_eq!(server.requests(), 50);
    assert_eq!(client.stats().unwrap().total.requests, 50);
}

/// The reused connection takes the request and closes without answering: the GET is
/// resent on a fresh connection, once, and the stats count the retry.
#[test]
fn get_on_a_stale_reused_connection_is_retried_once() {
    let server = TestServer::scripted(Script::StaleOnReuse(b"ok"));
    let client = Client::new().unwrap();
    assert_eq!(
        client.get(server.url("/1")).send().unwrap().text().unwrap(),
        "ok"
    );
    let resp = client.get(server.url("/2")).send().unwrap();
    let info = *resp.info();
    assert_eq!(resp.text().unwrap(), "ok");
    assert_eq!(info.retries, 1);
    assert!(!info.reused, "the retry went out on a fresh connection");
    let stats = client.stats().unwrap();
    assert_eq!((stats.total.requests, stats.total.retries), (2, 1));
    assert_eq!(stats.total.dials, 2);
    // /2 went out twice: on the stale connection 0 and on the fresh connection 1.
    let sent: Vec<(usize, String)> = server
        .recorded()
        .into_iter()
        .map(|r| (r.conn, r.target))
        .collect();
    assert_eq!(sent, [(0, "/1".into()), (0, "/2".into()), (1, "/2".into())]);
}

/// A reset (instead of a FIN) before any response byte is retried the same way.
#[test]
fn reset_before_response_on_reuse_is_retried() {
    let server = TestServer::start(|conn| {
        if conn.index() > 0 {
            return conn.serve_keep_alive(b"fresh");
        }
        if conn.read_request().is_some() {
            conn.respond(200, &[], b"first");
            if conn.read_request().is_some() {
                conn.reset();
            }
        }
    });
    let client = Client::new().unwrap();
    assert_eq!(
        client.get(server.url("/")).send().unwrap().text().unwrap(),
        "first"
    );
    let resp = client.get(server.url("/")).send().unwrap();
    let info = *resp.info();
    assert_eq!(resp.text().unwrap(), "fresh");
    assert_eq!(info.retries, 1);
}

/// PUT and DELETE are idempotent: retried too.
#[test]
fn idempotent_methods_are_retried() {
    for method in ["PUT", "DELETE", "HEAD", "OPTIONS"] {
        let server = TestServer::scripted(Script::StaleOnReuse(b""));
        let client = Client::new().unwrap();
        client.get(server.url("/")).send().unwrap().bytes().unwrap();
        let req = Request::builder()
            .method(method)
            .uri(server.url("/"))
            .body(Body::empty())
            .unwrap();
        let resp = client.send(req).unwrap();
        let info = *resp.info();
        resp.bytes().unwrap();
        assert_eq!(info.retries, 1, "{method}");
    }
}

#[test]
fn post_on_a_stale_reused_connection_is_not_retried() {
    let server = TestServer::scripted(Script::StaleOnReuse(b"ok"));
    let client = Client::new().unwrap();
    client.get(server.url("/")).send().unwrap().bytes().unwrap();
    let err = client.send(post(&server.url("/order"), "buy")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionClosed, "{err:?}");
    assert!(
        !err.is_retry_safe(),
        "the server may have acted on the POST"
    );
    assert_eq!(client.stats().unwrap().total.retries, 0);
    let posts = server
        .recorded()
        .iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(posts, 1);
    assert_eq!(server.connections(), 1);
}

#[test]
fn post_with_idempotency_key_is_retried() {
    let server = TestServer::scripted(Script::StaleOnReuse(b"ok"));
    let client = Client::new().unwrap();
    client.get(server.url("/")).send().unwrap().bytes().unwrap();
    let req = Request::post(server.url("/order"))
        .header("Idempotency-Key", "k-1")
        .body(Body::from("buy"))
        .unwrap();
    let resp = client.send(req).unwrap();
    let info = *resp.info();
    assert_eq!(resp.text().unwrap(), "ok");
    assert_eq!(info.retries, 1);
    let posts: Vec<_> = server
        .recorded()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert_eq!(posts.len(), 2);
    assert!(
        posts.iter().all(|r| r.body == b"buy"),
        "the body is replayed"
    );
    assert_eq!(client.stats().unwrap().total.retries, 1);
}

#[test]
fn retries_can_be_disabled() {
    let server = TestServer::scripted(Script::StaleOnReuse(b"ok"));
    let client = Client::builder().max_retries(0).build().unwrap();
    client.get(server.url("/")).send().unwrap().bytes().unwrap();
    let err = client.get(server.url("/")).send().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionClosed, "{err:?}");
    assert!(err.is_retry_safe(), "a GET is safe to resend");
    assert_eq!(client.stats().unwrap().total.retries, 0);
}

/// A failure on a *fresh* connection is reported, never retried.
#[test]
fn failure_on_a_fresh_connection_is_not_retried() {
    let server = TestServer::scripted(Script::ResetBeforeResponse);
    let client = Client::new().unwrap();
    let err = client.get(server.url("/")).send().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionClosed, "{err:?}");
    assert_eq!(server.requests(), 1);
    assert_eq!(client.stats().unwrap().total.retries, 0);
}

/// Every reused connection is stale: each GET retries once and succeeds; a second
/// failure would not be retried again, but the retry always dials fresh. (Learning is
/// off: with it the pool stops reusing these connections after two failures.)
#[test]
fn every_reuse_stale_each_get_retries_once() {
    let server = TestServer::scripted(Script::StaleOnReuse(b"s"));
    let client = Client::builder()
        .learn_server_limits(false)
        .build()
        .unwrap();
    for i in 0..10 {
        let resp = client.get(server.url("/")).send().unwrap();
        let info = *resp.info();
        assert_eq!(resp.text().unwrap(), "s");
        assert_eq!(info.retries, u8::from(i > 0), "request {i}");
    }
    assert_eq!(client.stats().unwrap().total.retries, 9);
}

#[test]
fn reset_mid_body_is_connection_closed() {
    let server = TestServer::scripted(Script::ResetMidBody);
    let client = Client::new().unwrap();
    // The reset may overtake the head (then `send` fails) or come during the body.
    let err = match client.get(server.url("/")).send() {
        Err(e) => e,
        Ok(mut resp) => {
            let mut body = Vec::new();
            let err = resp.body_mut().read_to_end(&mut body).unwrap_err();
            assert!(SENT_PREFIX.starts_with(&body));
            match kind_of(&err) {
                Some(kind) => {
                    assert_eq!(kind, ErrorKind::ConnectionClosed, "{err:?}");
                    return assert_eq!(client.stats().unwrap().total.idle, 0);
                }
                None => panic!("not a wirepool error: {err:?}"),
            }
        }
    };
    assert_eq!(err.kind(), ErrorKind::ConnectionClosed, "{err:?}");
    assert_eq!(client.stats().unwrap().total.idle, 0);
}

#[test]
fn truncated_body_is_a_protocol_error() {
    let server = TestServer::scripted(Script::TruncatedBody);
    let client = Client::new().unwrap();
    let mut resp = client.get(server.url("/")).send().unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = Vec::new();
    let err = resp.body_mut().read_to_end(&mut body).unwrap_err();
    assert_eq!(kind_of(&err), Some(ErrorKind::Protocol), "{err:?}");
    assert_eq!(body, SENT_PREFIX);
    let stats = client.stats().unwrap();
    assert_eq!((stats.total.idle, stats.total.active), (0, 0));
    assert_eq!(stats.total.closes.error, 1);
}

/// Bytes after a complete response: the response is fine, the connection is poisoned
/// and never carries another request.
#[test]
fn garbage_after_body_is_not_reused() {
    let server = TestServer::scripted(Script::GarbageAfterBody);
    let client = Client::new().unwrap();
    for _ in 0..3 {
        let resp = client.get(server.url("/")).send().unwrap();
        assert!(!resp.info().reused);
        assert_eq!(resp.bytes().unwrap(), SCRIPT_BODY);
    }
    assert_eq!(conns_of(&server), [0, 1, 2]);
    let stats = client.stats().unwrap();
    assert_eq!((stats.total.dials, stats.total.reuses), (3, 0));
    assert_eq!(stats.total.closes.error, 3);
    assert!(server.wait_for_open_connections(0, WAIT));
}

/// Garbage that arrives while the connection is idle also poisons it.
#[test]
fn garbage_while_idle_closes_the_connection() {
    let server = TestServer::start(|conn| {
        if conn.read_request().is_some() {
            conn.respond(200, &[], b"ok");
            conn.stall(std::time::Duration::from_millis(50));
            conn.write(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nbad");
            conn.serve_keep_alive(b"never");
        }
    });
    let client = Client::new().unwrap();
    assert_eq!(
        client.get(server.url("/")).send().unwrap().text().unwrap(),
        "ok"
    );
    assert!(common::wait_until(WAIT, || client
        .stats()
        .unwrap()
        .total
        .idle
        == 0));
    let resp = client.get(server.url("/")).send().unwrap();
    assert!(!resp.info().reused);
    assert_eq!(resp.text().unwrap(), "ok");
    assert_eq!(conns_of(&server), [0, 1]);
    assert_eq!(client.stats().unwrap().total.closes.error, 1);
}

fn assert_framing_refused(script: Script) {
    let server = TestServer::scripted(script);
    let client = Client::new().unwrap();
    for _ in 0..2 {
        let err = client.get(server.url("/")).send().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Protocol, "{err:?}");
    }
    assert_eq!(conns_of(&server), [0, 1], "never reused");
    let stats = client.stats().unwrap();
    assert_eq!((stats.total.idle, stats.total.retries), (0, 0));
    assert_eq!(stats.total.closes.error, 2);
    assert!(server.wait_for_open_connections(0, WAIT));
}

#[test]
fn content_length_with_chunked_is_refused() {
    assert_framing_refused(Script::ContentLengthAndChunked);
}

#[test]
fn conflicting_content_lengths_are_refused() {
    assert_framing_refused(Script::ConflictingContentLengths);
}

#[test]
fn malformed_head_is_a_protocol_error() {
    let server = TestServer::start(|conn| {
        if conn.read_request().is_some() {
            conn.write(b"SMTP ready\r\n\r\n");
            conn.wait_for_client_close();
        }
    });
    let client = Client::new().unwrap();
    let err = client.get(server.url("/")).send().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol, "{err:?}");
    assert!(server.wait_for_open_connections(0, WAIT));
}

#[test]
fn closed_in_the_middle_of_the_head_is_a_protocol_error() {
    let server = TestServer::start(|conn| {
        if conn.read_request().is_some() {
            conn.write(b"HTTP/1.1 200 OK\r\nContent-Le");
            conn.close();
        }
    });
    let client = Client::new().unwrap();
    let err = client.get(server.url("/")).send().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol, "{err:?}");
}

#[test]
fn connection_close_responses_are_not_pooled() {
    let server = TestServer::scripted(Script::ConnectionClose(b"once"));
    let client = Client::new().unwrap();
    for _ in 0..3 {
        let resp = client.get(server.url("/")).send().unwrap();
        assert!(!resp.info().reused);
        assert_eq!(resp.text().unwrap(), "once");
    }
    let stats = client.stats().unwrap();
    assert_eq!(
        (stats.total.dials, stats.total.reuses, stats.total.idle),
        (3, 0, 0)
    );
    assert_eq!(stats.total.closes.not_reusable, 3);
    assert_eq!(server.connections(), 3);
}

/// A request that says `Connection: close` is not pooled either.
#[test]
fn connection_close_requests_are_not_pooled() {
    let server = TestServer::keep_alive(b"k");
    let client = Client::new().unwrap();
    for _ in 0..2 {
        let req = Request::get(server.url("/"))
            .header("Connection", "close")
            .body(Body::empty())
            .unwrap();
        assert_eq!(client.send(req).unwrap().text().unwrap(), "k");
    }
    assert_eq!(server.connections(), 2);
    assert_eq!(client.stats().unwrap().total.idle, 0);
}

#[test]
fn close_delimited_body_is_read_to_the_end_and_not_pooled() {
    let server = TestServer::start(|conn| {
        if conn.read_request().is_some() {
            conn.write(b"HTTP/1.1 200 OK\r\n\r\nuntil the end");
            conn.close();
        }
    });
    let client = Client::builder().timeout(Some(WAIT)).build().unwrap();
    for _ in 0..10 {
        let resp = client.get(server.url("/")).send().unwrap();
        assert!(!resp.info().reused);
        assert_eq!(resp.text().unwrap(), "until the end");
    }
    let stats = client.stats().unwrap();
    assert_eq!((stats.total.dials, stats.total.idle), (10, 0));
}

#[test]
fn empty_bodies_complete_and_are_reused() {
    let server = TestServer::start(|conn| {
        while let Some(r) = conn.read_request() {
            match r.target.as_str() {
                "/204" => conn.respond(204, &[], b""),
                "/304" => conn.respond(304, &[], b""),
                // The length of the body a GET would get; no body bytes follow.
                _ if r.method == "HEAD" => {
                    conn.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n");
                }
                _ => conn.respond(200, &[], b""),
            }
        }
    });
    let client = Client::builder().timeout(Some(WAIT)).build().unwrap();
    for path in ["/empty", "/204", "/304", "/head"] {
        let method = if path == "/head" { "HEAD" } else { "GET" };
        let req = Request::builder()
            .method(method)
            .uri(server.url(path))
            .body(Body::empty())
            .unwrap();
        let resp = client.send(req).unwrap();
        assert_eq!(resp.bytes().unwrap(), b"", "{path}");
    }
    assert_eq!(server.connections(), 1);
    assert_eq!(client.stats().unwrap().total.reuses, 3);
}

#[test]
fn chunked_bodies_are_read_and_reused() {
    let server = TestServer::start(|conn| {
        while conn.read_request().is_some() {
            conn.respond_chunked(200, &[b"hel", b"lo ", b"chunks"]);
        }
    });
    let client = Client::new().unwrap();
    for i in 0..3 {
        let resp = client.get(server.url("/")).send().unwrap();
        assert_eq!(resp.info().reused, i > 0);
        assert_eq!(resp.text().unwrap(), "hello chunks");
    }
    assert_eq!(server.connections(), 1);
}

#[test]
fn connect_refused_is_connect() {
    let addr = testkit::free_port_refused();
    let client = Client::new().unwrap();
    let err = client.get(format!("http://{addr}/")).send().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connect, "{err:?}");
    assert!(err.is_retry_safe());
    let stats = client.stats().unwrap();
    assert_eq!((stats.total.dials, stats.total.connecting), (1, 0));
}

#[test]
fn dns_failure_is_dns() {
    let client = Client::new().unwrap();
    let err = client
        .get("http://nonexistent.invalid/")
        .send()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Dns, "{err:?}");
    assert!(err.is_retry_safe());
    assert_eq!(client.stats().unwrap().total.connecting, 0);
}

#[test]
fn invalid_requests_fail_before_any_connection() {
    let client = Client::new().unwrap();
    for url in ["ftp://127.0.0.1/", "/relative", "http:///nohost"] {
        let err = client.get(url).send().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{url}: {err:?}");
    }
    assert_eq!(client.stats().unwrap().total.dials, 0);
}
