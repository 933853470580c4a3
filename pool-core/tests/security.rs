//! Security rules that a caller can check from outside (docs/reliability.md, "Security
//! review"): what the caller asks for cannot inject into the request head or set its
//! framing, and certificate verification is on unless turned off by name, in which case
//! the engine says so in the log.
//!
//! This binary installs a `log` backend that keeps what it is given (one per process),
//! so that the warning of a non-verifying TLS configuration can be checked.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a broken step should fail loudly

mod common;

use std::sync::{Mutex, PoisonError};

use common::WAIT;
use testkit::tls::{ServerSetup, TestPki, TlsTestServer};
use testkit::TestServer;
use wirepool::http::{HeaderValue, Method, Request};
use wirepool::tls::{TlsConfig, TrustRoots};
use wirepool::{Body, Client, Config, Engine, ErrorKind};

/// Keeps every record at warn level or above: (target, message).
struct Capture(Mutex<Vec<(String, String)>>);

impl log::Log for Capture {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Warn
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((record.target().to_owned(), record.args().to_string()));
        }
    }

    fn flush(&self) {}
}

static CAPTURE: Capture = Capture(Mutex::new(Vec::new()));

/// The warnings about TLS verification logged so far.
fn verification_warnings() -> usize {
    let _ = log::set_logger(&CAPTURE);
    log::set_max_level(log::LevelFilter::Warn);
    CAPTURE
        .0
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .filter(|(target, text)| target == "wirepool::tls" && text.contains("verification is OFF"))
        .count()
}

/// Verification is on by default (the system's roots; our test CA is not among them),
/// and on with a configured CA; the only way off is the method named for it, which
/// accepts any certificate and is logged once per engine at warn level.
#[test]
fn certificate_verification_is_on_unless_turned_off_by_name_and_then_logged() {
    let before = verification_warnings();
    let pki = TestPki::new();
    let server = TlsTestServer::keep_alive(ServerSetup::localhost(&pki), b"secret");

    // Default: the system trust store, which does not know this CA.
    let default = Client::builder().timeout(Some(WAIT)).build().unwrap();
    let err = default.get(server.url("/")).send().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls, "{err:?}");
    assert_eq!(
        server.requests(),
        0,
        "nothing was sent to an unverified server"
    );

    // With the CA added: verified, and it works.
    let verifying = TlsConfig::builder()
        .trust_roots(TrustRoots::OnlyAdded)
        .add_ca_pem(pki.ca_pem())
        .build()
        .unwrap();
    assert!(verifying.verifies_certificates());
    let client = Client::builder().tls_config(verifying).build().unwrap();
    assert_eq!(
        client.get(server.url("/")).send().unwrap().text().unwrap(),
        "secret"
    );

    // A certificate from a CA nobody trusts is refused by both...
    let stranger = TlsTestServer::keep_alive(
        ServerSetup::new(TestPki::unknown_ca_server_cert(&["127.0.0.1"])),
        b"stranger",
    );
    assert_eq!(
        client.get(stranger.url("/")).send().unwrap_err().kind(),
        ErrorKind::Tls
    );
    assert_eq!(
        verification_warnings(),
        before,
        "verifying engines say nothing"
    );

    // ...and accepted only with verification turned off, by its name, which is logged.
    let off = TlsConfig::builder()
        .danger_accept_invalid_certs_for_testing_only()
        .build()
        .unwrap();
    assert!(!off.verifies_certificates());
    let careless = Client::builder().tls_config(off.clone()).build().unwrap();
    assert_eq!(
        careless
            .get(stranger.url("/"))
            .send()
            .unwrap()
            .text()
            .unwrap(),
        "stranger"
    );
    assert_eq!(
        verification_warnings(),
        before + 1,
        "one warning per engine"
    );
    let mut config = Config::default();
    config.tls = Some(off);
    let _engine = Engine::new(config).unwrap();
    assert_eq!(verification_warnings(), before + 2);
}

/// Header injection cannot be expressed, and the framing headers belong to the encoder:
/// refused with `InvalidRequest` before any connection is made.
#[test]
fn injection_and_caller_framing_are_refused_before_any_connection() {
    // The `http` types refuse CR, LF and NUL in values, and non-tokens as methods, in safe
    // code (the codec checks again for values made with the unchecked constructors).
    assert!(HeaderValue::from_str("a\r\nX-Injected: 1").is_err());
    assert!(HeaderValue::from_bytes(b"a\nb").is_err());
    assert!(HeaderValue::from_bytes(b"a\0b").is_err());
    assert!(Method::from_bytes(b"GET /evil HTTP/1.1\r\n").is_err());
    assert!("http://h/a b".parse::<wirepool::http::Uri>().is_err());
    assert!("http://h/a\r\nb".parse::<wirepool::http::Uri>().is_err());

    let server = TestServer::keep_alive(b"never");
    let client = Client::new().unwrap();
    let framed_by_caller = [
        Request::post(server.url("/"))
            .header("Transfer-Encoding", "chunked")
            .body(Body::from("abc"))
            .unwrap(),
        Request::post(server.url("/"))
            .header("Content-Length", "99")
            .body(Body::from("abc"))
            .unwrap(),
    ];
    for req in framed_by_caller {
        let err = client.send(req).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{err:?}");
    }
    assert_eq!(client.stats().unwrap().total.dials, 0);
    assert_eq!(server.connections(), 0);
}
