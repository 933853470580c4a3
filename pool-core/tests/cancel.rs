//! Cancel: a `CancelToken` used from another thread ends a request in whatever state it
//! is — before it is sent, waiting for a connection, dialing (a TLS handshake that never
//! finishes), writing (bytes or a streamed body the server does not read), waiting for
//! the head, reading the body — with `ErrorKind::Canceled`; the connection is closed
//! (its state is unknown) and counted. The Engine's `cancel` reports the outcome.
//!
//! No timing is asserted: every server here would hold the request far past the test's
//! deadline, and the client's own timeouts are longer still, so a request that ends with
//! `Canceled` was ended by the cancel.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a broken step should fail loudly

mod common;

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{get, host_stats, wait_until, Driver, Gate, WAIT};
use testkit::tls::{ServerSetup, TestPki, TlsScript, TlsTestServer};
use testkit::{Script, TestServer};
use wirepool::{Body, CancelToken, Client, Config, Engine, Error, ErrorKind};

/// A client whose own timeouts cannot be what ends a test's request.
fn patient_client() -> Client {
    Client::builder()
        .timeout(Some(Duration::from_secs(600)))
        .response_header_timeout(Some(Duration::from_secs(600)))
        .connect_timeout(Duration::from_secs(600))
        .tls_handshake_timeout(Duration::from_secs(600))
        .build()
        .unwrap()
}

/// Cancels `token` from another thread once `ready` holds (within `WAIT`).
fn cancel_when(
    token: &CancelToken,
    ready: impl FnMut() -> bool + Send + 'static,
) -> std::thread::JoinHandle<bool> {
    let token = token.clone();
    std::thread::spawn(move || {
        let ok = wait_until(WAIT, ready);
        token.cancel();
        ok
    })
}

fn assert_canceled(result: Result<impl std::fmt::Debug, Error>) {
    match result {
        Err(e) => assert_eq!(e.kind(), ErrorKind::Canceled, "{e:?}"),
        Ok(r) => panic!("expected Canceled, got {r:?}"),
    }
}

#[test]
fn a_canceled_token_sends_nothing() {
    let server = TestServer::keep_alive(b"never");
    let client = Client::new().unwrap();
    let token = CancelToken::new();
    token.cancel();
    assert!(token.is_canceled());
    assert_canceled(client.get(server.url("/")).cancel_token(&token).send());
    assert_eq!(server.connections(), 0);
}

#[test]
fn cancel_while_waiting_for_a_connection() {
    let gate = Gate::new();
    let server = common::gated_server(&gate, b"first");
    let client = Client::builder()
        .max_conns_per_host(Some(1))
        .timeout(Some(Duration::from_secs(600)))
        .build()
        .unwrap();
    let first = {
        let (client, url) = (client.clone(), server.url("/first"));
        std::thread::spawn(move || client.get(url).send().and_then(|r| r.text()))
    };
    assert!(server.wait_for_requests(1, WAIT));
    let token = CancelToken::new();
    let canceler = {
        let client = client.clone();
        cancel_when(&token, move || {
            client
                .stats()
                .map(|s| s.total.waiting == 1)
                .unwrap_or(false)
        })
    };
    assert_canceled(
        client
            .get(server.url("/second"))
            .cancel_token(&token)
            .send(),
    );
    assert!(canceler.join().unwrap(), "the second request never queued");
    assert_eq!(client.stats().unwrap().total.waiting, 0);
    gate.open_all();
    assert_eq!(first.join().unwrap().unwrap(), "first");
    assert_eq!(server.requests(), 1, "the canceled request was never sent");
}

#[test]
fn cancel_while_dialing() {
    let pki = TestPki::new();
    let server = TlsTestServer::scripted(ServerSetup::localhost(&pki), TlsScript::NeverHandshake);
    let client = patient_client();
    let token = CancelToken::new();
    let canceler = {
        let client = client.clone();
        cancel_when(&token, move || {
            client
                .stats()
                .map(|s| s.total.connecting == 1)
                .unwrap_or(false)
        })
    };
    assert_canceled(client.get(server.url("/")).cancel_token(&token).send());
    assert!(canceler.join().unwrap(), "never saw the connection dialing");
    assert!(
        server.wait_for_open_connections(0, WAIT),
        "socket left open"
    );
    let total = client.stats().unwrap().total;
    assert_eq!((total.connecting, total.closes.canceled), (0, 1));
}

/// A server that reads the head and then nothing more, until the client closes; `head`
/// is set once it has the head.
fn reads_only_the_head(head: Arc<AtomicBool>) -> TestServer {
    TestServer::start(move |conn| {
        conn.set_io_timeout(WAIT * 3);
        if conn.read_head().is_ok() {
            head.store(true, Ordering::SeqCst);
            // Hold the socket without reading (its buffers fill up) until the client goes.
            conn.stall(WAIT * 3);
        }
    })
}

#[test]
fn cancel_while_writing_an_in_memory_body() {
    let head = Arc::new(AtomicBool::new(false));
    let server = reads_only_the_head(Arc::clone(&head));
    let client = patient_client();
    let token = CancelToken::new();
    let canceler = {
        let client = client.clone();
        cancel_when(&token, move || {
            head.load(Ordering::SeqCst)
                && client.stats().map(|s| s.total.active == 1).unwrap_or(false)
        })
    };
    let body = Body::from(vec![b'x'; 64 << 20]);
    assert_canceled(
        client
            .put(server.url("/"))
            .body(body)
            .cancel_token(&token)
            .send(),
    );
    assert!(canceler.join().unwrap());
    let total = client.stats().unwrap().total;
    assert_eq!((total.active, total.idle, total.closes.canceled), (0, 0, 1));
}

#[test]
fn cancel_while_writing_a_streamed_body() {
    let head = Arc::new(AtomicBool::new(false));
    let server = reads_only_the_head(Arc::clone(&head));
    let client = patient_client();
    let token = CancelToken::new();
    let canceler = cancel_when(&token, move || head.load(Ordering::SeqCst));
    // An endless reader: only the cancel can end this upload.
    let body = Body::from_reader(std::io::repeat(b'y'));
    assert_canceled(
        client
            .put(server.url("/"))
            .body(body)
            .cancel_token(&token)
            .send(),
    );
    assert!(canceler.join().unwrap());
    assert!(wait_until(WAIT, || {
        client
            .stats()
            .map(|s| s.total.closes.canceled == 1)
            .unwrap_or(false)
    }));
}

#[test]
fn cancel_while_waiting_for_the_head() {
    let server = TestServer::scripted(Script::NeverAnswer);
    let client = patient_client();
    let token = CancelToken::new();
    let waiter = {
        let (client, token, url) = (client.clone(), token.clone(), server.url("/"));
        std::thread::spawn(move || client.get(url).cancel_token(&token).send().map(|_| ()))
    };
    assert!(server.wait_for_requests(1, WAIT));
    token.cancel();
    assert_canceled(waiter.join().unwrap());
    assert!(
        server.wait_for_open_connections(0, WAIT),
        "the connection was closed"
    );
    assert_eq!(
        host_stats(&client.stats().unwrap(), &server)
            .closes
            .canceled,
        1
    );
}

#[test]
fn cancel_while_reading_the_body() {
    let server = TestServer::start(|conn| {
        if conn.read_request().is_some() {
            conn.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789");
            let _ = conn.wait_for_client_close();
        }
    });
    let client = patient_client();
    let token = CancelToken::new();
    let mut resp = client
        .get(server.url("/"))
        .cancel_token(&token)
        .send()
        .unwrap();
    let mut first = [0u8; 10];
    resp.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"0123456789");
    // The next read blocks: nothing more is coming. Cancel it from another thread.
    let canceler = cancel_when(&token, || true);
    let mut rest = Vec::new();
    let err = resp.read_to_end(&mut rest).unwrap_err();
    assert_eq!(Error::from_io(err).kind(), ErrorKind::Canceled);
    assert!(canceler.join().unwrap());
    // Later reads say the same, through `read_chunk` too.
    assert_eq!(
        resp.body_mut().read_chunk().unwrap_err().kind(),
        ErrorKind::Canceled
    );
    assert!(server.wait_for_open_connections(0, WAIT));
    assert_eq!(client.stats().unwrap().total.closes.canceled, 1);
}

#[test]
fn one_token_cancels_every_request_it_covers() {
    let server = TestServer::scripted(Script::NeverAnswer);
    let client = patient_client();
    let token = CancelToken::new();
    let waiters: Vec<_> = (0..3)
        .map(|i| {
            let (client, token, url) =
                (client.clone(), token.clone(), server.url(&format!("/{i}")));
            std::thread::spawn(move || client.get(url).cancel_token(&token).send().map(|_| ()))
        })
        .collect();
    assert!(server.wait_for_requests(3, WAIT));
    token.cancel();
    for w in waiters {
        assert_canceled(w.join().unwrap());
    }
    assert!(server.wait_for_open_connections(0, WAIT));
}

#[test]
fn a_cancel_after_the_end_changes_nothing() {
    let server = TestServer::keep_alive(b"done");
    let client = Client::new().unwrap();
    let token = CancelToken::new();
    let resp = client
        .get(server.url("/"))
        .cancel_token(&token)
        .send()
        .unwrap();
    assert_eq!(resp.text().unwrap(), "done");
    token.cancel();
    let total = client.stats().unwrap().total;
    assert_eq!((total.idle, total.closes.canceled), (1, 0), "still pooled");
    // The token stays canceled for later requests.
    assert_canceled(client.get(server.url("/")).cancel_token(&token).send());
}

/// `Engine::cancel` ends a request on a connection with one `Failed { Canceled }` and
/// says whether there was anything to cancel.
#[test]
fn engine_cancel_reports_the_outcome() {
    let server = TestServer::scripted(Script::NeverAnswer);
    let mut engine = Engine::new(Config::default()).unwrap();
    let mut driver = Driver::new();
    let id = engine.submit(get(&server.url("/"))).unwrap();
    driver.run_until(&mut engine, "the request to reach the server", |_, _| {
        server.requests() == 1
    });
    assert!(engine.cancel(id));
    assert!(!engine.cancel(id), "nothing left to cancel");
    driver.run_all(&mut engine, &[id]);
    assert_eq!(driver.outcome(id).error().kind(), ErrorKind::Canceled);
    assert_eq!(driver.finished.len(), 1, "exactly one event");
    assert_eq!(engine.in_flight(), 0);
    assert_eq!(engine.stats().total.closes.canceled, 1);
    assert!(server.wait_for_open_connections(0, WAIT));
}
